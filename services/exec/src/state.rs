//! The exec service's shared state and settings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::host::kv::KvStore;
use crate::host::network::InternalHost;
use crate::host::Services;
use crate::registry::Registry;
use crate::{Runtime, RuntimeSettings};

/// Settings of the exec service.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    pub runtime: RuntimeSettings,
    /// Redis for connector key-value data; `None` keeps it in process memory.
    pub redis_url: Option<String>,
    /// Largest component upload, in bytes.
    pub max_upload_bytes: usize,
    /// Maximum deadline a caller may request, for every workspace.
    pub max_deadline: Duration,
    /// Hosts each workspace's admins allowed connectors to reach on internal addresses.
    // TODO: read these from workspace settings once admins can edit them through the API.
    pub internal_hosts: HashMap<Uuid, Vec<InternalHost>>,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            runtime: RuntimeSettings::default(),
            redis_url: None,
            max_upload_bytes: 20 << 20,
            max_deadline: Duration::from_secs(60),
            internal_hosts: HashMap::new(),
        }
    }
}

/// State shared by the exec routes. Register it with `web::Data::new(state)`.
pub struct ExecState {
    pub runtime: Arc<Runtime>,
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub settings: ExecSettings,
}

impl ExecState {
    /// Starts the runtime, connects the key-value store and loads the built-in connectors.
    /// The database must already be migrated with the `exec` migrations.
    pub async fn new(db: DatabaseConnection, settings: ExecSettings) -> anyhow::Result<Self> {
        let kv = match &settings.redis_url {
            Some(url) => KvStore::redis(url)
                .await
                .context("connecting to Redis for connector data")?,
            None => KvStore::memory(),
        };
        let runtime = Arc::new(Runtime::new(settings.runtime.clone(), Services::new(kv))?);
        let registry = Registry::load(&runtime).await?;
        Ok(ExecState {
            runtime,
            db,
            registry,
            settings,
        })
    }

    /// Returns the internal hosts a workspace's admins allowed.
    pub fn internal_hosts(&self, workspace_id: Uuid) -> &[InternalHost] {
        self.settings
            .internal_hosts
            .get(&workspace_id)
            .map_or(&[], Vec::as_slice)
    }
}
