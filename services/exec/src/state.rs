//! The exec service's shared state and settings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::actions::ActionSource;
use crate::host::kv::KvStore;
use crate::host::network::InternalHost;
use crate::host::sql::{SqlPools, SqlSettings, TargetCache};
use crate::host::Services;
use crate::registry::{store, Registry};
use crate::runs::{Quotas, RecordWriter, SharedStore};
use crate::{ExecError, Runtime, RuntimeSettings};

/// Maximum age of a process's copy of a workspace's internal hosts. Another exec process applies
/// a change within this time.
const HOSTS_TTL: Duration = Duration::from_secs(10);

/// Maximum number of workspaces whose internal hosts are kept in memory. A full cache is
/// emptied.
const MAX_CACHED_WORKSPACES: usize = 10_000;

/// Settings of the exec service.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    pub runtime: RuntimeSettings,
    /// Redis for connector key-value data, cached results and quota counters; `None` keeps
    /// them in process memory.
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys of cached results and quota counters.
    pub redis_prefix: String,
    /// Runs each workspace may start per minute; 0 turns the quota off.
    pub quota_runs_per_minute: u64,
    /// LLM tokens each workspace may use per UTC day; 0 turns the quota off.
    pub quota_llm_tokens_per_day: u64,
    /// How long the run record writer gathers records before it stores them.
    pub run_record_window: Duration,
    /// Largest component upload, in bytes.
    pub max_upload_bytes: usize,
    /// Maximum deadline a caller may request, for every workspace.
    pub max_deadline: Duration,
    /// Hosts the operator allowed the connectors of every workspace to reach on internal
    /// addresses, such as a model server on the same machine.
    pub server_internal_hosts: Vec<InternalHost>,
    /// Folder of the SQLite files that SQL resources may name; SQLite resources are rejected
    /// when it is unset.
    pub sqlite_dir: Option<PathBuf>,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            runtime: RuntimeSettings::default(),
            redis_url: None,
            redis_prefix: "trellis".into(),
            quota_runs_per_minute: 600,
            quota_llm_tokens_per_day: 1_000_000,
            run_record_window: Duration::from_millis(20),
            max_upload_bytes: 20 << 20,
            max_deadline: Duration::from_secs(60),
            server_internal_hosts: Vec::new(),
            sqlite_dir: None,
        }
    }
}

/// State shared by the exec routes. Register it with `web::Data::new(state)`.
pub struct ExecState {
    pub runtime: Arc<Runtime>,
    pub db: DatabaseConnection,
    pub registry: Registry,
    pub settings: ExecSettings,
    /// Cached results and quota counters.
    pub shared: SharedStore,
    pub quotas: Quotas,
    actions: OnceLock<Arc<dyn ActionSource>>,
    /// JSON bodies of the built-in connector routes, serialized on first use.
    pub(crate) builtin_bodies: OnceLock<crate::routes::BuiltinBodies>,
    /// Internal hosts of each workspace as last read from the database, with the read time.
    workspace_hosts: Mutex<HashMap<Uuid, (Vec<InternalHost>, Instant)>>,
    /// Databases named by resource configs, built once per config.
    pub(crate) database_targets: TargetCache,
    /// Run record writer, which stores the records of runs that end together in one transaction.
    pub(crate) records: RecordWriter,
}

impl ExecState {
    /// Returns a handle to the run record writer, to flush it once the server has stopped.
    pub fn record_writer(&self) -> RecordWriter {
        self.records.clone()
    }

    /// Starts the runtime, connects the key-value store, loads the built-in connectors and
    /// starts the run record writer on the current Tokio runtime. The database must already
    /// be migrated with the `exec` migrations.
    pub async fn new(db: DatabaseConnection, settings: ExecSettings) -> anyhow::Result<Self> {
        let kv = match &settings.redis_url {
            Some(url) => KvStore::redis(url)
                .await
                .context("connecting to Redis for connector data")?,
            None => KvStore::memory(),
        };
        let mut services = Services::new(kv);
        services.sql = SqlPools::new(SqlSettings {
            sqlite_dir: settings.sqlite_dir.clone(),
            ..SqlSettings::default()
        });
        let runtime = Arc::new(Runtime::new(settings.runtime.clone(), services)?);
        let registry = Registry::load(&runtime).await?;
        let shared = match &settings.redis_url {
            Some(url) => SharedStore::redis(url, &settings.redis_prefix)
                .await
                .context("connecting to Redis for cached results and quotas")?,
            None => SharedStore::memory(),
        };
        let quotas = Quotas::new(
            shared.clone(),
            settings.quota_runs_per_minute,
            settings.quota_llm_tokens_per_day,
        );
        let records = RecordWriter::start(db.clone(), settings.run_record_window);
        Ok(ExecState {
            runtime,
            db,
            records,
            registry,
            settings,
            shared,
            quotas,
            actions: OnceLock::new(),
            builtin_bodies: OnceLock::new(),
            workspace_hosts: Mutex::new(HashMap::new()),
            database_targets: TargetCache::default(),
        })
    }

    /// Sets where runs load actions from. Only the first call has an effect.
    pub fn set_action_source(&self, source: Arc<dyn ActionSource>) {
        if self.actions.set(source).is_err() {
            tracing::warn!("the action source was already set; keeping the first one");
        }
    }

    /// Returns where runs load actions from.
    pub fn actions(&self) -> Result<&Arc<dyn ActionSource>, ExecError> {
        self.actions.get().ok_or_else(|| {
            ExecError::Internal(anyhow::anyhow!(
                "no action source is configured for this exec service"
            ))
        })
    }

    /// Returns the internal hosts a workspace's connectors may reach: those the operator
    /// allowed for every workspace and those the workspace's admins allowed. The workspace's
    /// list is read from the database at most once per [`HOSTS_TTL`] in each process.
    pub async fn internal_hosts(&self, workspace_id: Uuid) -> Result<Vec<InternalHost>, ExecError> {
        let mut hosts = self.settings.server_internal_hosts.clone();
        let cached = self
            .workspace_hosts
            .lock()
            .expect("internal hosts lock poisoned")
            .get(&workspace_id)
            .filter(|(_, read_at)| read_at.elapsed() < HOSTS_TTL)
            .map(|(list, _)| list.clone());
        let workspace = match cached {
            Some(list) => list,
            None => {
                let stored = store::list_internal_hosts(&self.db, workspace_id).await?;
                let list: Vec<InternalHost> = stored
                    .iter()
                    .filter_map(|text| InternalHost::parse(text))
                    .collect();
                self.remember_internal_hosts(workspace_id, list.clone());
                list
            }
        };
        hosts.extend(workspace);
        Ok(hosts)
    }

    /// Replaces this process's cached copy of a workspace's internal hosts.
    pub fn remember_internal_hosts(&self, workspace_id: Uuid, hosts: Vec<InternalHost>) {
        let mut cache = self
            .workspace_hosts
            .lock()
            .expect("internal hosts lock poisoned");
        if cache.len() >= MAX_CACHED_WORKSPACES {
            cache.clear();
        }
        cache.insert(workspace_id, (hosts, Instant::now()));
    }
}
