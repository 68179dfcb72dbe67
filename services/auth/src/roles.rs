//! Members' roles kept in memory, so that a role check does not read the database on every
//! request.
//!
//! Every route that commits a change to memberships calls [`RoleCache::changed`] after the
//! commit. A lookup reads the change counter before it reads the database and keeps its result
//! only if no change was committed in between, so a lookup that raced a change cannot leave a
//! stale role behind.
//!
//! On SQLite the database belongs to this process, so the cache is always on. On PostgreSQL
//! several auth processes may share the members table: a trigger announces each change on the
//! `trellis_members_changed` channel, and the cache is on only while this process listens to it
//! (see [`trellis_notify`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;
use trellis_notify::{Channel, Follower};
use trellis_tokens::Role;
use uuid::Uuid;

/// Channel that the members table's trigger notifies.
pub const CHANNEL: Channel = Channel {
    name: "trellis_members_changed",
    subject: "member changes",
};

/// Maximum number of (workspace, user) pairs kept; past it the cache starts over.
const CACHED_ROLES: usize = 65_536;

type Entries = HashMap<(Uuid, Uuid), (Option<Role>, u64)>;

/// Roles by workspace and user, as of a change count.
pub struct RoleCache {
    enabled: AtomicBool,
    changes: AtomicU64,
    entries: Mutex<Entries>,
    /// Dropped with the cache, which ends the task that follows database changes.
    alive: watch::Sender<()>,
}

impl RoleCache {
    /// Creates a cache that keeps roles when `enabled`, and otherwise keeps nothing.
    pub fn new(enabled: bool) -> Self {
        RoleCache {
            enabled: AtomicBool::new(enabled),
            changes: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            alive: watch::Sender::new(()),
        }
    }

    /// Enables or disables keeping roles. Either way it marks every kept role and every lookup
    /// in progress out of date, because they may have missed a change.
    pub fn set_enabled(&self, enabled: bool) {
        self.changed();
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Returns the change count to pass to [`RoleCache::store`], read before the database is.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Returns the role kept for a member (`Some(None)` for a known non-member), if it is
    /// still current.
    pub fn get(&self, workspace_id: Uuid, user_id: Uuid) -> Option<Option<Role>> {
        if !self.is_enabled() {
            return None;
        }
        let current = self.changes();
        let entries = self.lock();
        let (role, as_of) = entries.get(&(workspace_id, user_id))?;
        (*as_of == current).then_some(*role)
    }

    /// Keeps a role read from the database, unless a change was committed since `as_of`.
    pub fn store(&self, workspace_id: Uuid, user_id: Uuid, role: Option<Role>, as_of: u64) {
        if !self.is_enabled() {
            return;
        }
        let mut entries = self.lock();
        if self.changes() != as_of {
            return;
        }
        if entries.len() >= CACHED_ROLES {
            entries.clear();
        }
        entries.insert((workspace_id, user_id), (role, as_of));
    }

    /// Marks every kept role as out of date. Call it after committing a membership change.
    pub fn changed(&self) {
        let mut entries = self.lock();
        self.changes.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().expect("role cache lock poisoned")
    }
}

/// Every notification marks all kept roles out of date: membership changes are rare, and the
/// counter that keeps racing lookups out is shared by all workspaces.
impl Follower for RoleCache {
    fn set_enabled(&self, enabled: bool) {
        RoleCache::set_enabled(self, enabled);
    }

    fn notified(&self, _payload: &str) {
        self.changed();
    }

    fn clear(&self) {
        self.changed();
    }

    fn alive(&self) -> watch::Receiver<()> {
        self.alive.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_role_returned_until_change() {
        let cache = RoleCache::new(true);
        let (workspace, user) = (Uuid::now_v7(), Uuid::now_v7());

        let as_of = cache.changes();
        cache.store(workspace, user, Some(Role::Editor), as_of);
        assert_eq!(cache.get(workspace, user), Some(Some(Role::Editor)));
        assert_eq!(cache.get(workspace, Uuid::now_v7()), None);

        cache.changed();
        assert_eq!(cache.get(workspace, user), None);
    }

    #[test]
    fn raced_lookup_not_kept() {
        let cache = RoleCache::new(true);
        let (workspace, user) = (Uuid::now_v7(), Uuid::now_v7());

        let as_of = cache.changes();
        // The database was read here, and then a change was committed.
        cache.changed();
        cache.store(workspace, user, Some(Role::Admin), as_of);

        assert_eq!(cache.get(workspace, user), None);
    }

    #[test]
    fn non_members_are_kept_too() {
        let cache = RoleCache::new(true);
        let (workspace, user) = (Uuid::now_v7(), Uuid::now_v7());

        cache.store(workspace, user, None, cache.changes());

        assert_eq!(cache.get(workspace, user), Some(None));
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let cache = RoleCache::new(false);
        let (workspace, user) = (Uuid::now_v7(), Uuid::now_v7());

        cache.store(workspace, user, Some(Role::Owner), cache.changes());

        assert_eq!(cache.get(workspace, user), None);
    }

    #[test]
    fn switching_drops_kept_roles() {
        let cache = RoleCache::new(true);
        let (workspace, user) = (Uuid::now_v7(), Uuid::now_v7());
        let as_of = cache.changes();
        cache.store(workspace, user, Some(Role::Viewer), as_of);

        cache.set_enabled(false);
        let while_off = cache.get(workspace, user);
        cache.set_enabled(true);
        // A lookup that read the database before listening started again.
        cache.store(workspace, user, Some(Role::Viewer), as_of);

        assert_eq!(while_off, None);
        assert_eq!(cache.get(workspace, user), None);
    }
}
