//! The plugin registry: built-in connectors, workspace uploads in the database, and the
//! loaded (compiled and pre-instantiated) components kept in memory.

mod builtins;
mod entity;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

pub use builtins::BUILTIN_COMPONENTS;
pub use store::PluginRecord;

use crate::{ExecError, LoadedPlugin, Runtime};

/// Maximum number of workspace plugins kept loaded at once. Beyond it the oldest is dropped
/// and loaded again from the database and the artifact cache on its next call.
const MAX_LOADED: usize = 512;

/// Built-ins and loaded workspace plugins.
pub struct Registry {
    builtins: Vec<Arc<LoadedPlugin>>,
    loaded: Mutex<LoadedSet>,
}

#[derive(Default)]
struct LoadedSet {
    order: Vec<(Uuid, String)>,
    plugins: HashMap<(Uuid, String), Arc<LoadedPlugin>>,
}

impl Registry {
    /// Loads every embedded built-in connector.
    pub async fn load(runtime: &Runtime) -> anyhow::Result<Self> {
        let mut builtins = Vec::new();
        for (name, bytes) in BUILTIN_COMPONENTS {
            let plugin = runtime
                .load(Arc::new(bytes.to_vec()))
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))
                .with_context(|| format!("loading the built-in connector {name}"))?;
            builtins.push(plugin);
        }
        Ok(Registry {
            builtins,
            loaded: Mutex::default(),
        })
    }

    /// Returns the built-in connectors.
    pub fn builtins(&self) -> &[Arc<LoadedPlugin>] {
        &self.builtins
    }

    /// Returns the built-in connector with this manifest id.
    pub fn builtin(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.builtins
            .iter()
            .find(|plugin| plugin.manifest.id == id)
            .cloned()
    }

    /// Remembers a plugin loaded for a workspace.
    pub fn remember(&self, workspace_id: Uuid, plugin: Arc<LoadedPlugin>) {
        let key = (workspace_id, plugin.content_hash.clone());
        let mut loaded = self.loaded.lock().expect("registry lock poisoned");
        if loaded.plugins.insert(key.clone(), plugin).is_none() {
            loaded.order.push(key);
        }
        if loaded.order.len() > MAX_LOADED {
            let oldest = loaded.order.remove(0);
            loaded.plugins.remove(&oldest);
        }
    }

    /// Forgets a workspace's loaded plugin, after its deletion.
    pub fn forget(&self, workspace_id: Uuid, content_hash: &str) {
        let key = (workspace_id, content_hash.to_string());
        let mut loaded = self.loaded.lock().expect("registry lock poisoned");
        loaded.plugins.remove(&key);
        loaded.order.retain(|entry| entry != &key);
    }

    /// Returns the workspace's plugin, loaded from memory or else from the database.
    pub async fn workspace_plugin(
        &self,
        runtime: &Runtime,
        db: &DatabaseConnection,
        workspace_id: Uuid,
        record: &PluginRecord,
    ) -> Result<Arc<LoadedPlugin>, ExecError> {
        let key = (workspace_id, record.content_hash.clone());
        let cached = self
            .loaded
            .lock()
            .expect("registry lock poisoned")
            .plugins
            .get(&key)
            .cloned();
        if let Some(plugin) = cached {
            return Ok(plugin);
        }

        let bytes = store::component_bytes(db, workspace_id, &record.content_hash).await?;
        let bytes = bytes.ok_or(ExecError::NotFound("The plugin's component"))?;
        let plugin = runtime.load(Arc::new(bytes)).await?;
        self.remember(workspace_id, plugin.clone());
        Ok(plugin)
    }
}
