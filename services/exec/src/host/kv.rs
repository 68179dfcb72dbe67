//! The `kv` import: Redis when configured, process memory otherwise. Keys are namespaced by
//! workspace and plugin, so no connector can read another's data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;

use crate::runtime::HostState;
use crate::runtime_bindings::kv::{Host, KvError};

/// Maximum length of a connector's key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value a connector may store, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Maximum number of entries the in-memory store keeps across all tenants.
// TODO: give each workspace its own share, so one tenant cannot fill the in-memory store.
const MAX_MEMORY_ENTRIES: usize = 100_000;
/// Maximum time one Redis command may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Storage of connector key-value data.
#[derive(Clone)]
pub enum KvStore {
    Redis(redis::aio::ConnectionManager),
    Memory(Arc<Mutex<HashMap<String, MemoryEntry>>>),
}

/// A value in the in-memory store.
#[derive(Clone)]
pub struct MemoryEntry {
    value: Vec<u8>,
    expires_at: Option<Instant>,
}

impl KvStore {
    /// Creates an empty in-memory store, for the embedded mode and tests.
    pub fn memory() -> Self {
        KvStore::Memory(Arc::default())
    }

    /// Connects to Redis at `url`, such as `redis://127.0.0.1:6379`.
    pub async fn redis(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let manager = redis::aio::ConnectionManager::new(client).await?;
        Ok(KvStore::Redis(manager))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            KvStore::Redis(manager) => {
                let mut connection = manager.clone();
                redis_call(connection.get::<_, Option<Vec<u8>>>(key)).await
            }
            KvStore::Memory(map) => {
                let mut map = map.lock().expect("kv lock poisoned");
                let expired = map
                    .get(key)
                    .and_then(|entry| entry.expires_at)
                    .is_some_and(|at| at <= Instant::now());
                if expired {
                    map.remove(key);
                }
                Ok(map.get(key).map(|entry| entry.value.clone()))
            }
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<u32>) -> Result<(), KvError> {
        match self {
            KvStore::Redis(manager) => {
                let mut connection = manager.clone();
                match ttl {
                    Some(seconds) => {
                        redis_call(connection.set_ex::<_, _, ()>(key, value, seconds.into())).await
                    }
                    None => redis_call(connection.set::<_, _, ()>(key, value)).await,
                }
            }
            KvStore::Memory(map) => {
                let mut map = map.lock().expect("kv lock poisoned");
                if map.len() >= MAX_MEMORY_ENTRIES && !map.contains_key(key) {
                    let now = Instant::now();
                    map.retain(|_, entry| entry.expires_at.is_none_or(|at| at > now));
                }
                if map.len() >= MAX_MEMORY_ENTRIES && !map.contains_key(key) {
                    return Err(KvError::Unavailable("the in-memory store is full".into()));
                }
                let expires_at =
                    ttl.map(|seconds| Instant::now() + Duration::from_secs(seconds.into()));
                map.insert(
                    key.to_string(),
                    MemoryEntry {
                        value: value.to_vec(),
                        expires_at,
                    },
                );
                Ok(())
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        match self {
            KvStore::Redis(manager) => {
                let mut connection = manager.clone();
                let removed: u64 = redis_call(connection.del(key)).await?;
                Ok(removed > 0)
            }
            KvStore::Memory(map) => {
                let mut map = map.lock().expect("kv lock poisoned");
                Ok(map.remove(key).is_some())
            }
        }
    }
}

async fn redis_call<T>(
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, KvError> {
    match tokio::time::timeout(REDIS_TIMEOUT, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "a connector's Redis command failed");
            Err(KvError::Unavailable("the key-value store failed".into()))
        }
        Err(_) => Err(KvError::Unavailable("the key-value store timed out".into())),
    }
}

impl HostState {
    /// The storage key for a connector's key: `trellis:kv:<workspace>:<plugin>:<key>`.
    fn kv_key(&self, key: &str) -> Result<String, KvError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(KvError::Invalid(format!(
                "keys must be 1 to {MAX_KEY_BYTES} bytes long"
            )));
        }
        Ok(format!(
            "trellis:kv:{}:{}:{key}",
            self.call.workspace_id, self.call.plugin
        ))
    }
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.kv_key(&key)?;
        self.services.kv.get(&key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl: Option<u32>) -> Result<(), KvError> {
        let key = self.kv_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::Invalid(format!(
                "values may be at most {MAX_VALUE_BYTES} bytes; this one is {}",
                value.len()
            )));
        }
        if ttl == Some(0) {
            return Err(KvError::Invalid("a TTL must be at least one second".into()));
        }
        self.services.kv.set(&key, &value, ttl).await
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        let key = self.kv_key(&key)?;
        self.services.kv.delete(&key).await
    }
}
