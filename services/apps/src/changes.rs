//! Follows changes that other apps processes commit to the shared PostgreSQL database. A trigger
//! on the resources, apps, actions and releases tables sends the workspace's id on the
//! `trellis_apps_changed` channel, and this process drops its cached actions for that workspace.

use tokio::sync::watch;
use trellis_notify::{Channel, Follower};
use uuid::Uuid;

use crate::run_cache::RunCache;

/// Channel that the apps tables' trigger notifies.
pub const CHANNEL: Channel = Channel {
    name: "trellis_apps_changed",
    subject: "app changes",
};

impl Follower for RunCache {
    fn set_enabled(&self, enabled: bool) {
        RunCache::set_enabled(self, enabled);
    }

    fn notified(&self, payload: &str) {
        match payload.parse::<Uuid>() {
            Ok(workspace_id) => self.invalidate(workspace_id),
            Err(_) => RunCache::clear(self),
        }
    }

    fn clear(&self) {
        RunCache::clear(self);
    }

    fn alive(&self) -> watch::Receiver<()> {
        RunCache::alive(self)
    }
}
