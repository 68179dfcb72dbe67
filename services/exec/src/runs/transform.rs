//! The jq transformer an action applies to its connector's result, run with jaq.

use std::time::Duration;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, RcIter};
use jaq_json::Val;
use serde_json::Value;

/// Maximum outputs a transformer may produce before it is stopped.
const MAX_OUTPUTS: usize = 100_000;

/// Applies a jq program to a value. One output is returned as it is, several as an array, and
/// none as null.
pub fn apply(code: &str, input: Value) -> Result<Value, String> {
    let arena = Arena::default();
    let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errors| format!("the transformer does not parse ({} errors)", errors.len()))?;
    let filter = Compiler::<_, Native<Val>>::default()
        .with_funs(jaq_std::funs().chain(jaq_json::funs()))
        .compile(modules)
        .map_err(|errors| format!("the transformer does not compile ({} errors)", errors.len()))?;

    let inputs = RcIter::new(core::iter::empty());
    let mut outputs = Vec::new();
    for output in filter.run((Ctx::new([], &inputs), Val::from(input))) {
        let output = output.map_err(|error| format!("the transformer failed: {error}"))?;
        if outputs.len() == MAX_OUTPUTS {
            return Err(format!(
                "the transformer produced more than {MAX_OUTPUTS} outputs"
            ));
        }
        outputs.push(Value::from(output));
    }

    Ok(match outputs.len() {
        0 => Value::Null,
        1 => outputs.pop().unwrap_or(Value::Null),
        _ => Value::Array(outputs),
    })
}

/// Applies a jq program on a blocking thread, giving up after `timeout`.
// NOTE: jaq cannot be interrupted, so a transformer that loops forever keeps its blocking
// thread after the timeout, but the run still returns in time.
pub async fn apply_with_timeout(
    code: String,
    input: Value,
    timeout: Duration,
) -> Result<Value, String> {
    let task = tokio::task::spawn_blocking(move || apply(&code, input));
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("the transformer crashed".into()),
        Err(_) => Err(format!(
            "the transformer did not finish within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn single_output_is_returned_as_is() {
        let output = apply("map(.n * 2)", json!([{"n": 1}, {"n": 2}])).unwrap();
        assert_eq!(output, json!([2, 4]));
    }

    #[test]
    fn several_outputs_become_an_array() {
        assert_eq!(apply(".[]", json!([1, 2])).unwrap(), json!([1, 2]));
        assert_eq!(apply("empty", json!(1)).unwrap(), Value::Null);
    }

    #[test]
    fn runtime_error_is_reported() {
        assert!(apply(".a", json!([1])).is_err());
    }
}
