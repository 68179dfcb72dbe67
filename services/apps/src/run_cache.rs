//! Actions loaded for runs, kept in process memory so that repeated runs of the same action skip
//! the database.
//!
//! Each apps route that commits a change to a workspace's apps, actions, releases or resources
//! invalidates that workspace's entries afterwards. On SQLite, which one process owns, that is
//! every change. On PostgreSQL several apps processes may share the data, so the database also
//! announces each change (see [`crate::changes`]) and every process invalidates the workspace
//! when the announcement arrives. There the cache stays off until this process is listening, and
//! it is emptied whenever the listening connection is lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::runs::{ActionForRun, Stage};

/// Maximum number of cached actions. A full cache is emptied.
const MAX_ENTRIES: usize = 10_000;

/// Identifies a cached action: app, action and stage, within a workspace.
type ActionKey = (Uuid, Uuid, Stage);

/// Cached actions with the bookkeeping that keeps a load racing an invalidation out of the
/// cache. Invalidations are numbered from one counter, and a load records the counter's value
/// before it reads the database.
#[derive(Default)]
struct Inner {
    counter: u64,
    /// Number of the latest invalidation of each workspace seen since the last reset.
    invalidated: HashMap<Uuid, u64>,
    /// Counter value at the last time the cache was emptied. It is the invalidation number of
    /// every workspace that `invalidated` does not name.
    reset_at: u64,
    entries: HashMap<Uuid, HashMap<ActionKey, Arc<ActionForRun>>>,
    /// Number of cached actions across all workspaces.
    len: usize,
}

/// The counter value a load read before it went to the database.
#[derive(Debug, Clone, Copy)]
pub struct LoadTicket(u64);

/// In-memory cache of actions loaded for runs.
pub struct RunCache {
    enabled: AtomicBool,
    inner: Mutex<Inner>,
    /// Dropped with the cache, which ends the task that follows database changes.
    alive: tokio::sync::watch::Sender<()>,
}

impl RunCache {
    /// Creates a cache that stores entries only while it is enabled.
    pub fn new(enabled: bool) -> Self {
        RunCache {
            enabled: AtomicBool::new(enabled),
            inner: Mutex::new(Inner::default()),
            alive: tokio::sync::watch::Sender::new(()),
        }
    }

    /// Turns storing on or off, and empties the cache either way, because entries and loads from
    /// before the switch may have missed a change.
    pub fn set_enabled(&self, enabled: bool) {
        self.clear();
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Returns whether new entries are stored.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Returns a receiver whose `changed` fails once the cache is dropped.
    pub(crate) fn alive(&self) -> tokio::sync::watch::Receiver<()> {
        self.alive.subscribe()
    }

    /// Returns the cached action, shared rather than copied, or a ticket to pass to
    /// [`RunCache::store`] after loading it.
    pub fn lookup(
        &self,
        workspace_id: Uuid,
        key: ActionKey,
    ) -> Result<Arc<ActionForRun>, LoadTicket> {
        let inner = self.inner.lock().expect("run cache lock poisoned");
        let hit = inner
            .entries
            .get(&workspace_id)
            .and_then(|actions| actions.get(&key));
        match hit {
            Some(action) => Ok(Arc::clone(action)),
            None => Err(LoadTicket(inner.counter)),
        }
    }

    /// Stores a loaded action unless the workspace was invalidated after the ticket was taken,
    /// in which case the load may have read data that has since changed.
    pub fn store(&self, ticket: LoadTicket, key: ActionKey, action: &Arc<ActionForRun>) {
        if !self.is_enabled() {
            return;
        }
        let mut inner = self.inner.lock().expect("run cache lock poisoned");
        let workspace_id = action.workspace_id;
        let last = inner
            .invalidated
            .get(&workspace_id)
            .copied()
            .unwrap_or(inner.reset_at);
        if last > ticket.0 {
            return;
        }

        if inner.len >= MAX_ENTRIES {
            inner.entries.clear();
            inner.invalidated.clear();
            inner.reset_at = inner.counter;
            inner.len = 0;
        }
        let previous = inner
            .entries
            .entry(workspace_id)
            .or_default()
            .insert(key, Arc::clone(action));
        if previous.is_none() {
            inner.len += 1;
        }
    }

    /// Drops the workspace's cached actions. Call it after a change to the workspace's apps,
    /// actions, releases or resources is committed.
    pub fn invalidate(&self, workspace_id: Uuid) {
        let mut inner = self.inner.lock().expect("run cache lock poisoned");
        inner.counter += 1;
        let number = inner.counter;
        inner.invalidated.insert(workspace_id, number);
        if let Some(actions) = inner.entries.remove(&workspace_id) {
            inner.len -= actions.len();
        }
    }

    /// Drops every cached action, and keeps out every load that started before this call.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().expect("run cache lock poisoned");
        inner.counter += 1;
        inner.reset_at = inner.counter;
        inner.invalidated.clear();
        inner.entries.clear();
        inner.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::domain::access::AppAccess;
    use crate::domain::action::FrozenAction;
    use crate::domain::config::SecretConfig;
    use crate::runs::ResourceForRun;

    fn action(workspace_id: Uuid, sql: &str) -> ActionForRun {
        let action = FrozenAction {
            id: Uuid::nil(),
            name: "One row".into(),
            resource_id: Uuid::nil(),
            operation: "query".into(),
            input: json!({"sql": sql}),
            transformer: None,
            params_schema: None,
            timeout_ms: 10_000,
            cache_ttl_seconds: 0,
            requires_confirmation: false,
        };
        ActionForRun {
            workspace_id,
            app_id: Uuid::nil(),
            release: Some(1),
            action,
            resource: ResourceForRun {
                id: Uuid::nil(),
                name: "Database".into(),
                plugin_id: "sql".into(),
                plugin_version: "1.0.0".into(),
                config: SecretConfig::new(json!({})),
            },
            access: AppAccess::default(),
        }
    }

    fn key() -> ActionKey {
        (Uuid::nil(), Uuid::nil(), Stage::LatestRelease)
    }

    /// Loads an action the way a run does on a miss: takes a ticket, then stores the result.
    fn load(cache: &RunCache, workspace_id: Uuid, sql: &str) {
        let ticket = cache
            .lookup(workspace_id, key())
            .expect_err("not cached yet");
        cache.store(ticket, key(), &Arc::new(action(workspace_id, sql)));
    }

    fn cached_sql(cache: &RunCache, workspace_id: Uuid) -> Option<Value> {
        cache
            .lookup(workspace_id, key())
            .ok()
            .map(|action| action.action.input["sql"].clone())
    }

    #[test]
    fn stored_action_is_returned() {
        let cache = RunCache::new(true);
        let workspace = Uuid::now_v7();

        load(&cache, workspace, "SELECT 1");

        assert_eq!(cached_sql(&cache, workspace), Some(json!("SELECT 1")));
    }

    #[test]
    fn invalidation_drops_the_workspace_only() {
        let cache = RunCache::new(true);
        let changed = Uuid::now_v7();
        let other = Uuid::now_v7();
        for workspace in [changed, other] {
            load(&cache, workspace, "SELECT 1");
        }

        cache.invalidate(changed);

        assert_eq!(cached_sql(&cache, changed), None);
        assert_eq!(cached_sql(&cache, other), Some(json!("SELECT 1")));
    }

    #[test]
    fn load_older_than_invalidation_is_not_stored() {
        let cache = RunCache::new(true);
        let workspace = Uuid::now_v7();
        let ticket = cache.lookup(workspace, key()).expect_err("empty cache");

        // A change commits and invalidates while the load is reading the old rows.
        cache.invalidate(workspace);
        cache.store(ticket, key(), &Arc::new(action(workspace, "SELECT 'old'")));

        assert_eq!(cached_sql(&cache, workspace), None);
        load(&cache, workspace, "SELECT 'new'");
        assert_eq!(cached_sql(&cache, workspace), Some(json!("SELECT 'new'")));
    }

    #[test]
    fn load_older_than_reset_is_not_stored() {
        let cache = RunCache::new(true);
        let workspace = Uuid::now_v7();
        let ticket = cache.lookup(workspace, key()).expect_err("empty cache");
        cache.invalidate(workspace);

        // Filling the cache empties it, which clears the record of the workspace's invalidation.
        for _ in 0..MAX_ENTRIES + 1 {
            load(&cache, Uuid::now_v7(), "SELECT 1");
        }
        cache.store(ticket, key(), &Arc::new(action(workspace, "SELECT 'old'")));

        assert_eq!(cached_sql(&cache, workspace), None);
    }

    #[test]
    fn disabled_cache_stores_nothing() {
        let cache = RunCache::new(false);
        let workspace = Uuid::now_v7();

        load(&cache, workspace, "SELECT 1");

        assert_eq!(cached_sql(&cache, workspace), None);
    }

    #[test]
    fn clear_drops_entries_and_earlier_loads() {
        let cache = RunCache::new(true);
        let cached = Uuid::now_v7();
        let loading = Uuid::now_v7();
        load(&cache, cached, "SELECT 1");
        let ticket = cache.lookup(loading, key()).expect_err("not cached yet");

        cache.clear();
        cache.store(ticket, key(), &Arc::new(action(loading, "SELECT 'old'")));

        assert_eq!(cached_sql(&cache, cached), None);
        assert_eq!(cached_sql(&cache, loading), None);
    }

    #[test]
    fn disabling_empties_the_cache() {
        let cache = RunCache::new(true);
        let workspace = Uuid::now_v7();
        load(&cache, workspace, "SELECT 1");

        cache.set_enabled(false);

        assert_eq!(cached_sql(&cache, workspace), None);
        assert!(!cache.is_enabled());
    }
}
