//! Run metadata beside the data: truncation and usage read from the connector's output, and
//! cached results.
//!
//! A connector reports them in its output object: `"truncated": true` when it capped the
//! result, and `"usage"` with token counts (`input_tokens`/`output_tokens`, or the
//! OpenAI-style `prompt_tokens`/`completion_tokens`) beside a top-level `"model"` name or
//! one inside `usage`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::SharedStore;

/// Largest result kept in the result cache, in bytes of JSON.
const MAX_CACHED_BYTES: usize = 1 << 20;

/// Resources a run used, as the connector reported them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub model: Option<String>,
}

/// Returns whether the connector reported that it capped its result.
pub fn truncated(output: &Value) -> bool {
    output.get("truncated") == Some(&Value::Bool(true))
}

/// Reads the usage a connector reported, if any.
pub fn usage(output: &Value) -> Option<Usage> {
    let reported = output.get("usage")?.as_object()?;
    let count = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|name| reported.get(*name).and_then(Value::as_u64))
    };
    let model = reported
        .get("model")
        .or_else(|| output.get("model"))
        .and_then(Value::as_str)
        .map(|model| model.chars().take(200).collect());
    let usage = Usage {
        input_tokens: count(["input_tokens", "prompt_tokens"]),
        output_tokens: count(["output_tokens", "completion_tokens"]),
        model,
    };
    let empty = usage.input_tokens.is_none() && usage.output_tokens.is_none();
    (!empty || usage.model.is_some()).then_some(usage)
}

/// A result kept in the result cache.
#[derive(Debug, Serialize, Deserialize)]
pub struct CachedResult {
    pub data: Value,
    pub truncated: bool,
    pub usage: Option<Usage>,
}

/// Returns the cached result under `key`. An unreachable cache counts as a miss.
pub async fn cached(store: &SharedStore, key: &str) -> Option<CachedResult> {
    let bytes = match store.get(key).await {
        Ok(bytes) => bytes?,
        Err(error) => {
            tracing::warn!(error = %error, "reading the result cache failed; running the action");
            return None;
        }
    };
    serde_json::from_slice(&bytes).ok()
}

/// Stores a result in the cache, unless it is larger than the cache's limit.
pub async fn store(
    store: &SharedStore,
    key: &str,
    data: &Value,
    truncated: bool,
    usage: Option<&Usage>,
    ttl: Duration,
) {
    let entry = CachedResult {
        data: data.clone(),
        truncated,
        usage: usage.cloned(),
    };
    let Ok(bytes) = serde_json::to_vec(&entry) else {
        return;
    };
    if bytes.len() > MAX_CACHED_BYTES {
        return;
    }
    if let Err(error) = store.set(key, bytes, ttl).await {
        tracing::warn!(error = %error, "writing the result cache failed");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openai_usage_is_read() {
        let output = json!({"model": "m", "usage": {"prompt_tokens": 3, "completion_tokens": 4}});
        let usage = usage(&output).unwrap();
        assert_eq!(usage.input_tokens, Some(3));
        assert_eq!(usage.output_tokens, Some(4));
        assert_eq!(usage.model.as_deref(), Some("m"));
    }

    #[test]
    fn output_without_usage_has_none() {
        assert_eq!(usage(&json!([1, 2])), None);
        assert!(!truncated(&json!([1, 2])));
    }
}
