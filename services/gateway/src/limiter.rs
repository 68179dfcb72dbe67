//! Generic cell rate algorithm (GCRA) limiter, kept in Redis (one round trip per decision) or
//! in process memory.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// Time allowed for one Redis round trip before the limiter falls back or refuses.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Most keys the in-memory limiter keeps before it drops the ones that are idle.
const MEMORY_KEYS: usize = 100_000;

/// GCRA in Redis: the stored value is the theoretical arrival time (TAT) in milliseconds of
/// Redis server time. Arguments: emission interval and delay tolerance, in milliseconds.
/// Returns `{allowed, remaining or retry-after, reset}`.
const SCRIPT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, tat - tolerance - now, tat - now}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return {1, math.floor((tolerance + interval - (next_tat - now)) / interval), next_tat - now}
";

/// The script with its SHA-1, computed once rather than on every check.
static GCRA_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// A rate: `limit` requests per `period`, all of which may come at once.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(limit: u32) -> Quota {
        Quota {
            limit: limit.max(1),
            period: Duration::from_secs(60),
        }
    }

    fn interval_ms(self) -> u64 {
        (self.period.as_millis() as u64 / u64::from(self.limit)).max(1)
    }

    fn tolerance_ms(self) -> u64 {
        self.interval_ms() * u64::from(self.limit - 1)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full quota is available again.
    pub reset_seconds: u64,
    /// Seconds to wait before the next request is allowed, when this one was not.
    pub retry_after_seconds: u64,
}

/// Error when no decision could be made.
#[derive(Debug, thiserror::Error)]
#[error("the rate limiter's Redis is unavailable: {0}")]
pub struct Unavailable(pub String);

/// A limiter in memory, or in Redis with a memory fallback for callers that accept one.
pub struct Limiter {
    memory: Mutex<HashMap<String, Instant>>,
    redis: Option<(ConnectionManager, String)>,
}

impl Limiter {
    /// Creates a limiter kept in this process.
    pub fn in_memory() -> Limiter {
        Limiter {
            memory: Mutex::new(HashMap::new()),
            redis: None,
        }
    }

    /// Creates a limiter shared through Redis, its keys starting with `prefix`.
    pub fn redis(connection: ConnectionManager, prefix: &str) -> Limiter {
        let redis = Some((connection, prefix.to_string()));
        Limiter {
            memory: Mutex::new(HashMap::new()),
            redis,
        }
    }

    /// Decides on one request, in Redis when configured.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, Unavailable> {
        let Some((connection, prefix)) = &self.redis else {
            return Ok(self.check_memory(key, quota));
        };

        let mut connection = connection.clone();
        let mut invocation = GCRA_SCRIPT.key(format!("{prefix}:rate:{key}"));
        invocation
            .arg(quota.interval_ms())
            .arg(quota.tolerance_ms());
        let call = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        let (allowed, value, reset) = match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => return Err(Unavailable(error.to_string())),
            Err(_) => return Err(Unavailable("timed out".into())),
        };
        Ok(decision(
            quota,
            allowed == 1,
            value.max(0) as u64,
            reset.max(0) as u64,
        ))
    }

    /// Decides on one request in this process only.
    pub fn check_memory(&self, key: &str, quota: Quota) -> Decision {
        let mut memory = self.memory.lock().expect("rate limiter lock poisoned");
        let now = Instant::now();
        if memory.len() > MEMORY_KEYS {
            memory.retain(|_, tat| *tat > now);
        }

        let interval = Duration::from_millis(quota.interval_ms());
        let tolerance = Duration::from_millis(quota.tolerance_ms());
        let tat = memory
            .get(key)
            .copied()
            .filter(|tat| *tat > now)
            .unwrap_or(now);
        let ahead = tat - now;
        if ahead > tolerance {
            let retry = (ahead - tolerance).as_millis() as u64;
            return decision(quota, false, retry, ahead.as_millis() as u64);
        }

        let next = tat + interval;
        memory.insert(key.to_string(), next);
        let ahead = (next - now).as_millis() as u64;
        let remaining = (quota.tolerance_ms() + quota.interval_ms()).saturating_sub(ahead)
            / quota.interval_ms();
        decision(quota, true, remaining, ahead)
    }
}

/// Builds a decision from milliseconds: `value` is the remaining count when allowed and the
/// wait in milliseconds when not.
fn decision(quota: Quota, allowed: bool, value: u64, reset_ms: u64) -> Decision {
    let seconds = |ms: u64| ms.div_ceil(1000);
    if allowed {
        Decision {
            allowed,
            limit: quota.limit,
            remaining: value.min(u64::from(quota.limit)) as u32,
            reset_seconds: seconds(reset_ms),
            retry_after_seconds: 0,
        }
    } else {
        Decision {
            allowed,
            limit: quota.limit,
            remaining: 0,
            reset_seconds: seconds(reset_ms),
            retry_after_seconds: seconds(value).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_allows_burst_then_refuses() {
        let limiter = Limiter::in_memory();
        let quota = Quota::per_minute(3);

        let decisions: Vec<Decision> = (0..4).map(|_| limiter.check_memory("k", quota)).collect();

        assert!(decisions[0].allowed);
        assert_eq!(decisions[0].remaining, 2);
        assert_eq!(decisions[2].remaining, 0);
        assert!(!decisions[3].allowed);
        assert!(decisions[3].retry_after_seconds >= 19, "{:?}", decisions[3]);
        assert!(decisions[3].retry_after_seconds <= 20, "{:?}", decisions[3]);
    }

    #[test]
    fn memory_keys_are_independent() {
        let limiter = Limiter::in_memory();
        let quota = Quota::per_minute(1);

        assert!(limiter.check_memory("a", quota).allowed);
        assert!(limiter.check_memory("b", quota).allowed);
        assert!(!limiter.check_memory("a", quota).allowed);
    }
}
