//! Failed-login counting per account and per client address, in Redis when configured and in
//! memory otherwise. A key that reaches the limit within the window is refused until the
//! window ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::error::{AuthError, AuthResult};

/// Time allowed for one Redis round trip before the throttle counts as unavailable.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

enum Store {
    Memory(Mutex<HashMap<String, (u32, Instant)>>),
    Redis {
        connection: ConnectionManager,
        prefix: String,
    },
}

/// Counts failures per key within a fixed window.
pub struct Throttle {
    store: Store,
    limit: u32,
    window: Duration,
}

impl Throttle {
    /// Creates a throttle kept in this process.
    pub fn in_memory(limit: u32, window: Duration) -> Self {
        Throttle {
            store: Store::Memory(Mutex::new(HashMap::new())),
            limit,
            window,
        }
    }

    /// Creates a throttle shared through Redis by every auth process.
    pub fn redis(
        connection: ConnectionManager,
        prefix: &str,
        limit: u32,
        window: Duration,
    ) -> Self {
        let store = Store::Redis {
            connection,
            prefix: prefix.to_string(),
        };
        Throttle {
            store,
            limit,
            window,
        }
    }

    /// Refuses with the seconds left when any key has reached the limit.
    pub async fn check(&self, keys: &[String]) -> AuthResult<()> {
        for key in keys {
            if let Some(retry_after) = self.blocked_for(key).await? {
                return Err(AuthError::Throttled { retry_after });
            }
        }
        Ok(())
    }

    /// Counts a failure against every key.
    pub async fn record_failure(&self, keys: &[String]) -> AuthResult<()> {
        for key in keys {
            self.increment(key).await?;
        }
        Ok(())
    }

    /// Forgets the failures of one key, after a successful sign-in.
    pub async fn reset(&self, key: &str) -> AuthResult<()> {
        match &self.store {
            Store::Memory(map) => {
                map.lock().expect("throttle lock poisoned").remove(key);
                Ok(())
            }
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let mut command = redis::cmd("DEL");
                command.arg(redis_key(prefix, key));
                with_timeout(command.query_async::<()>(&mut connection)).await
            }
        }
    }

    async fn blocked_for(&self, key: &str) -> AuthResult<Option<u64>> {
        match &self.store {
            Store::Memory(map) => {
                let map = map.lock().expect("throttle lock poisoned");
                let Some((count, started)) = map.get(key) else {
                    return Ok(None);
                };
                let elapsed = started.elapsed();
                if *count < self.limit || elapsed >= self.window {
                    return Ok(None);
                }
                Ok(Some((self.window - elapsed).as_secs().max(1)))
            }
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let key = redis_key(prefix, key);
                let mut pipe = redis::pipe();
                pipe.get(&key).ttl(&key);
                let (count, ttl) =
                    with_timeout(pipe.query_async::<(Option<u32>, i64)>(&mut connection)).await?;
                if count.unwrap_or(0) < self.limit {
                    return Ok(None);
                }
                Ok(Some(ttl.max(1) as u64))
            }
        }
    }

    async fn increment(&self, key: &str) -> AuthResult<()> {
        match &self.store {
            Store::Memory(map) => {
                let mut map = map.lock().expect("throttle lock poisoned");
                let now = Instant::now();
                let entry = map.entry(key.to_string()).or_insert((0, now));
                if entry.1.elapsed() >= self.window {
                    *entry = (0, now);
                }
                entry.0 += 1;
                // Bound memory: drop windows that have ended once the map grows large.
                if map.len() > 100_000 {
                    let window = self.window;
                    map.retain(|_, (_, started)| started.elapsed() < window);
                }
                Ok(())
            }
            Store::Redis { connection, prefix } => {
                let mut connection = connection.clone();
                let key = redis_key(prefix, key);
                // The window starts at the first failure: EXPIRE NX sets it only once.
                let mut pipe = redis::pipe();
                pipe.incr(&key, 1).ignore();
                pipe.cmd("EXPIRE")
                    .arg(&key)
                    .arg(self.window.as_secs())
                    .arg("NX")
                    .ignore();
                with_timeout(pipe.query_async::<()>(&mut connection)).await
            }
        }
    }
}

fn redis_key(prefix: &str, key: &str) -> String {
    format!("{prefix}:auth:login-failures:{key}")
}

async fn with_timeout<T>(
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> AuthResult<T> {
    match tokio::time::timeout(REDIS_TIMEOUT, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the login throttle could not reach Redis");
            Err(AuthError::Unavailable("Sign-in"))
        }
        Err(_) => {
            tracing::warn!("the login throttle timed out waiting for Redis");
            Err(AuthError::Unavailable("Sign-in"))
        }
    }
}
