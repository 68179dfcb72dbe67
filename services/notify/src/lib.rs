//! Keeps the data a process caches in memory in step with changes that any process commits to
//! a shared PostgreSQL database. A trigger sends a notification on a channel after each change,
//! and a task here listens on one pooled connection and passes every notification on.
//!
//! A notification reaches the other processes a moment after the commit, so for that moment
//! they may still use the previous data. While no connection listens, a change could go
//! unnoticed, so the follower is turned off until listening starts again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use tokio::sync::watch;

/// Delay before listening again after the database could not be reached.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// An in-memory copy of database rows that notifications keep current.
pub trait Follower: Send + Sync + 'static {
    /// Enables the cache while a connection listens and disables it while none does. Either way
    /// it must drop every copy, and keep out every read that started before the call.
    fn set_enabled(&self, enabled: bool);

    /// Drops the copies that a notification's payload names.
    fn notified(&self, payload: &str);

    /// Drops every copy, because notifications may have been lost.
    fn clear(&self);

    /// Returns a receiver whose `changed` fails once the follower is dropped, which ends its
    /// listening task.
    fn alive(&self) -> watch::Receiver<()>;
}

/// What a follower listens to: the channel that its tables' trigger notifies, and a name for
/// log lines, such as "app changes".
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    pub name: &'static str,
    pub subject: &'static str,
}

/// Builds a follower for the platform database `db` with `new(enabled)`. On SQLite, whose
/// database belongs to this process, it is enabled from the start. On PostgreSQL it starts
/// disabled and is turned on once its task listens on `channel`, so this must run inside a Tokio
/// runtime.
pub fn follower_for<F: Follower>(
    db: &DatabaseConnection,
    channel: Channel,
    new: impl FnOnce(bool) -> F,
) -> Arc<F> {
    let backend = db.get_database_backend();
    let follower = Arc::new(new(backend == DatabaseBackend::Sqlite));
    if backend == DatabaseBackend::Postgres {
        follow(
            channel,
            &follower,
            db.get_postgres_connection_pool().clone(),
        );
    }
    follower
}

/// Starts the task that passes the channel's notifications to `follower`, turning it on once
/// it is listening. The task ends when the follower is dropped.
fn follow<F: Follower>(channel: Channel, follower: &Arc<F>, pool: PgPool) {
    let mut alive = follower.alive();
    let follower = Arc::downgrade(follower);
    tokio::spawn(async move {
        tokio::select! {
            _ = alive.changed() => {}
            _ = listen(channel, follower, pool) => {}
        }
    });
}

/// Listens on the channel until the follower is dropped, and keeps it off whenever no
/// connection listens.
async fn listen<F: Follower>(channel: Channel, follower: Weak<F>, pool: PgPool) {
    let subject = channel.subject;
    loop {
        match start_listening(&pool, channel.name).await {
            Ok(mut listener) => {
                let Some(live) = follower.upgrade() else {
                    return;
                };
                live.set_enabled(true);
                drop(live);

                if let Err(error) = receive(&follower, &mut listener, subject).await {
                    tracing::warn!(%error, "the connection listening for {subject} failed, so in-memory copies are off until it reconnects");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "listening for {subject} failed, so in-memory copies are off until the database is reachable");
            }
        }

        let Some(live) = follower.upgrade() else {
            return;
        };
        live.set_enabled(false);
        drop(live);
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

async fn start_listening(pool: &PgPool, channel: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Passes each notification on. Returns when the follower is dropped, or with the error that
/// ended the connection.
async fn receive<F: Follower>(
    follower: &Weak<F>,
    listener: &mut PgListener,
    subject: &str,
) -> Result<(), sea_orm::sqlx::Error> {
    loop {
        let notification = listener.try_recv().await?;
        let Some(live) = follower.upgrade() else {
            return Ok(());
        };

        match notification {
            Some(notification) => live.notified(notification.payload()),
            // The listener lost its connection and opened a new one, so notifications sent in
            // between are lost.
            None => {
                tracing::warn!("reconnected the connection listening for {subject} and dropped every in-memory copy, because notifications may have been lost");
                live.clear();
            }
        }
    }
}
