//! State that runs share across exec processes: cached results and quota counters. Redis
//! when configured, process memory otherwise.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;

/// Maximum time a Redis command may take before the run goes on without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// Maximum entries kept in process memory, cached results and counters together.
const MAX_MEMORY_ENTRIES: usize = 10_000;

/// The store of cached results and quota counters.
#[derive(Clone)]
pub enum SharedStore {
    Redis {
        connection: redis::aio::ConnectionManager,
        prefix: String,
    },
    Memory(Arc<Mutex<HashMap<String, Entry>>>),
}

/// A value in process memory.
pub struct Entry {
    value: Value,
    expires_at: Instant,
}

enum Value {
    Bytes(Vec<u8>),
    Count(u64),
}

impl SharedStore {
    /// Creates an empty store in process memory.
    pub fn memory() -> Self {
        SharedStore::Memory(Arc::default())
    }

    /// Connects to Redis at `url`; every key starts with `prefix`.
    pub async fn redis(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(REDIS_TIMEOUT);
        let connection = redis::aio::ConnectionManager::new_with_config(client, config).await?;
        Ok(SharedStore::Redis {
            connection,
            prefix: prefix.to_string(),
        })
    }

    /// Returns the bytes stored under `key`, if they have not expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, redis::RedisError> {
        match self {
            SharedStore::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                bounded(connection.get(format!("{prefix}:{key}"))).await
            }
            SharedStore::Memory(map) => {
                let map = map.lock().expect("shared store lock poisoned");
                let bytes = map.get(key).and_then(|entry| match &entry.value {
                    Value::Bytes(bytes) if entry.expires_at > Instant::now() => Some(bytes.clone()),
                    _ => None,
                });
                Ok(bytes)
            }
        }
    }

    /// Stores bytes under `key` for `ttl`.
    pub async fn set(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), redis::RedisError> {
        match self {
            SharedStore::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let seconds = ttl.as_secs().max(1);
                bounded(connection.set_ex(format!("{prefix}:{key}"), bytes, seconds)).await
            }
            SharedStore::Memory(map) => {
                let mut map = map.lock().expect("shared store lock poisoned");
                if make_room(&mut map) {
                    let entry = Entry {
                        value: Value::Bytes(bytes),
                        expires_at: Instant::now() + ttl,
                    };
                    map.insert(key.to_string(), entry);
                }
                Ok(())
            }
        }
    }

    /// Adds `amount` to the counter under `key` and returns its new total. A new counter
    /// expires after `window`.
    pub async fn add(
        &self,
        key: &str,
        amount: u64,
        window: Duration,
    ) -> Result<u64, redis::RedisError> {
        match self {
            SharedStore::Redis { connection, prefix } => {
                let key = format!("{prefix}:{key}");
                let seconds = window.as_secs().max(1) as i64;
                let mut connection = connection.clone();
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .incr(&key, amount)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(seconds)
                    .arg("NX")
                    .ignore();
                let (total,): (u64,) = bounded(pipe.query_async(&mut connection)).await?;
                Ok(total)
            }
            SharedStore::Memory(map) => {
                let mut map = map.lock().expect("shared store lock poisoned");
                let now = Instant::now();
                let current = match map.get(key) {
                    Some(Entry {
                        value: Value::Count(count),
                        expires_at,
                    }) if *expires_at > now => Some((*count, *expires_at)),
                    _ => None,
                };
                let (total, expires_at) = match current {
                    Some((count, expires_at)) => (count + amount, expires_at),
                    None => (amount, now + window),
                };
                // Counters are stored even in a full map, so cached results cannot turn a
                // quota off.
                make_room(&mut map);
                let entry = Entry {
                    value: Value::Count(total),
                    expires_at,
                };
                map.insert(key.to_string(), entry);
                Ok(total)
            }
        }
    }

    /// Returns the counter under `key`, 0 when it is missing or expired.
    pub async fn count(&self, key: &str) -> Result<u64, redis::RedisError> {
        match self {
            SharedStore::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let count: Option<u64> = bounded(connection.get(format!("{prefix}:{key}"))).await?;
                Ok(count.unwrap_or(0))
            }
            SharedStore::Memory(map) => {
                let map = map.lock().expect("shared store lock poisoned");
                let count = match map.get(key) {
                    Some(Entry {
                        value: Value::Count(count),
                        expires_at,
                    }) if *expires_at > Instant::now() => *count,
                    _ => 0,
                };
                Ok(count)
            }
        }
    }
}

/// Runs one Redis command for at most `REDIS_TIMEOUT`. While Redis is down, the connection
/// manager may wait on its reconnection attempts far longer than the response timeout.
async fn bounded<T>(
    command: impl std::future::Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, redis::RedisError> {
    match tokio::time::timeout(REDIS_TIMEOUT, command).await {
        Ok(result) => result,
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "the Redis command timed out",
        ))),
    }
}

/// Drops expired entries when the map is full. Returns whether a new cached result fits.
fn make_room(map: &mut HashMap<String, Entry>) -> bool {
    if map.len() < MAX_MEMORY_ENTRIES {
        return true;
    }
    let now = Instant::now();
    map.retain(|_, entry| entry.expires_at > now);
    map.len() < MAX_MEMORY_ENTRIES
}
