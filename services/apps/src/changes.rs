//! Follows changes that other apps processes commit to the shared PostgreSQL database. A trigger
//! on the resources, apps, actions and releases tables sends the workspace's id on the
//! `trellis_apps_changed` channel, and this process drops its cached actions for that workspace.
//!
//! A notification reaches the other processes a moment after the commit, so for that moment a
//! run there may still use the previous definition.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use uuid::Uuid;

use crate::run_cache::RunCache;

/// Channel that the apps tables' trigger notifies.
pub const CHANNEL: &str = "trellis_apps_changed";

/// Delay before listening again after the database could not be reached.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Starts the task that keeps `cache` in step with changes committed by any process, and turns
/// the cache on once it is listening. The task ends when the cache is dropped.
pub fn follow_changes(cache: &Arc<RunCache>, pool: PgPool) {
    let mut alive = cache.alive();
    let cache = Arc::downgrade(cache);
    tokio::spawn(async move {
        tokio::select! {
            _ = alive.changed() => {}
            _ = listen_and_invalidate(cache, pool) => {}
        }
    });
}

/// Listens on the channel until the cache is dropped. While no connection listens, the cache is
/// off, because a change could go unnoticed.
async fn listen_and_invalidate(cache: Weak<RunCache>, pool: PgPool) {
    loop {
        match start_listening(&pool).await {
            Ok(mut listener) => {
                let Some(live) = cache.upgrade() else { return };
                live.set_enabled(true);
                drop(live);

                if let Err(error) = receive(&cache, &mut listener).await {
                    tracing::warn!(%error, "lost the database connection that reports app changes; cached actions are off until it is back");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "listening for app changes failed; cached actions are off until the database is reachable");
            }
        }

        let Some(live) = cache.upgrade() else { return };
        live.set_enabled(false);
        drop(live);
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

async fn start_listening(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Invalidates the workspace of each notification. Returns when the cache is dropped, or with the
/// error that ended the connection.
async fn receive(
    cache: &Weak<RunCache>,
    listener: &mut PgListener,
) -> Result<(), sea_orm::sqlx::Error> {
    loop {
        let notification = listener.try_recv().await?;
        let Some(live) = cache.upgrade() else {
            return Ok(());
        };

        match notification {
            Some(notification) => match notification.payload().parse::<Uuid>() {
                Ok(workspace_id) => live.invalidate(workspace_id),
                Err(_) => live.clear(),
            },
            // The listener lost its connection and opened a new one, so notifications sent in
            // between are lost.
            None => {
                tracing::warn!("reconnected the database connection that reports app changes; dropped every cached action");
                live.clear();
            }
        }
    }
}
