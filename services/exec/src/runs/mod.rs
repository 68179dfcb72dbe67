//! Action runs: load, validate, render, call the connector, transform, cache and record.

mod meta;
mod quota;
pub mod records;
mod shared;
pub mod template;
pub mod transform;
mod writer;

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use trellis_apps::runs::ActionForRun;
use uuid::Uuid;

pub use meta::Usage;
pub use quota::Quotas;
pub use shared::SharedStore;
pub use writer::RecordWriter;

use self::records::RunRecord;
use crate::calls::{call_context, resolve_by_key};
use crate::{CallRequest, ExecError, ExecState};

/// The principal that started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunCaller {
    User(Uuid),
    ApiKey(Uuid),
    /// Someone without an account, through a public app's link.
    Public,
}

/// The result of a run, as the API returns it.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub run_id: Uuid,
    pub data: Value,
    pub duration_ms: u64,
    pub truncated: bool,
    pub cached: bool,
    pub usage: Option<Usage>,
}

/// The connector's result after the transformer, before the run is recorded.
struct Executed {
    data: Value,
    truncated: bool,
    cached: bool,
    usage: Option<Usage>,
}

/// Runs a loaded action with the caller's parameters and records the run, whatever its
/// outcome. The caller must already be allowed to run it.
pub async fn run_action(
    state: &ExecState,
    loaded: &ActionForRun,
    params: Value,
    caller: RunCaller,
) -> Result<RunOutput, ExecError> {
    state.quotas.check_runs(loaded.workspace_id).await?;

    let run_id = Uuid::now_v7();
    let started_at = Utc::now();
    let started = Instant::now();
    let result = execute(state, loaded, params).await;
    let duration_ms = started.elapsed().as_millis() as u64;

    let record = build_record(loaded, caller, run_id, started_at, duration_ms, &result);
    let tokens = record.input_tokens.unwrap_or(0) + record.output_tokens.unwrap_or(0);
    if let Err(error) = state.records.submit(record).await {
        tracing::error!(%run_id, error = %error, "queueing a run record failed");
    }
    if tokens > 0 {
        state
            .quotas
            .add_tokens(loaded.workspace_id, tokens as u64)
            .await;
    }

    let executed = result?;
    Ok(RunOutput {
        run_id,
        data: executed.data,
        duration_ms,
        truncated: executed.truncated,
        cached: executed.cached,
        usage: executed.usage,
    })
}

fn build_record(
    loaded: &ActionForRun,
    caller: RunCaller,
    run_id: Uuid,
    started_at: chrono::DateTime<Utc>,
    duration_ms: u64,
    result: &Result<Executed, ExecError>,
) -> RunRecord {
    let (user_id, api_key_id, caller_kind) = match caller {
        RunCaller::User(id) => (Some(id), None, "user"),
        RunCaller::ApiKey(id) => (None, Some(id), "api_key"),
        RunCaller::Public => (None, None, "public"),
    };
    let (outcome, error_code, executed) = match result {
        Ok(executed) => ("ok", None, Some(executed)),
        Err(error) => ("error", Some(error.to_problem().code), None),
    };
    // A cached result cost no tokens this time, so it counts none.
    let usage = executed
        .filter(|executed| !executed.cached)
        .and_then(|executed| executed.usage.clone());
    let tokens = |count: Option<u64>| count.map(|count| count.min(i64::MAX as u64) as i64);
    RunRecord {
        id: run_id,
        workspace_id: loaded.workspace_id,
        app_id: loaded.app_id,
        action_id: loaded.action.id,
        resource_id: loaded.resource.id,
        plugin_id: loaded.resource.plugin_id.clone(),
        release: loaded.release,
        user_id,
        api_key_id,
        caller: caller_kind.into(),
        day: records::day_of(started_at),
        started_at,
        duration_ms: duration_ms.min(i64::MAX as u64) as i64,
        outcome: outcome.into(),
        error_code,
        cached: executed.is_some_and(|executed| executed.cached),
        truncated: executed.is_some_and(|executed| executed.truncated),
        input_tokens: tokens(usage.as_ref().and_then(|usage| usage.input_tokens)),
        output_tokens: tokens(usage.as_ref().and_then(|usage| usage.output_tokens)),
        model: usage.and_then(|usage| usage.model),
    }
}

async fn execute(
    state: &ExecState,
    loaded: &ActionForRun,
    params: Value,
) -> Result<Executed, ExecError> {
    let action = &loaded.action;
    let resource = &loaded.resource;
    let params = validate_params(action.params_schema.as_ref(), params)?;

    let resolved = resolve_by_key(
        state,
        loaded.workspace_id,
        &resource.plugin_id,
        &resource.plugin_version,
    )
    .await?
    .ok_or(ExecError::NotFound("The action's connector"))?;
    let manifest = &resolved.plugin.manifest;
    // An operation the manifest does not name may be one of the resource's config-dependent
    // operations (`operation_list`); the connector itself rejects a name it does not know.
    let sql_fields = match manifest.operation(&action.operation) {
        Some(operation) => sql_fields(&operation.input_schema),
        None if manifest.operation_list().is_some() => Vec::new(),
        None => {
            return Err(ExecError::Validation {
                field: "operation".into(),
                message: format!(
                    "The connector {} {} has no operation `{}`; edit the action",
                    resource.plugin_id, resource.plugin_version, action.operation
                ),
            })
        }
    };

    let input = template::render_input(&action.input, &params, &sql_fields).map_err(|error| {
        ExecError::Validation {
            field: error.field,
            message: error.message,
        }
    })?;

    let cache_key = (action.cache_ttl_seconds > 0).then(|| cache_key(loaded, &input));
    if let Some(key) = &cache_key {
        if let Some(hit) = meta::cached(&state.shared, key).await {
            return Ok(Executed {
                data: hit.data,
                truncated: hit.truncated,
                cached: true,
                usage: hit.usage,
            });
        }
    }

    state.quotas.check_tokens(loaded.workspace_id).await?;

    let deadline = Duration::from_millis(action.timeout_ms).min(state.settings.max_deadline);
    let config = resource.config.expose();
    let call = call_context(
        state,
        loaded.workspace_id,
        resource.id,
        &resolved,
        config,
        deadline,
    )
    .await?;
    let request = CallRequest::Execute {
        config: config.clone(),
        operation: action.operation.clone(),
        input,
    };
    let report = state.runtime.call(&resolved.plugin, call, &request).await;
    let output = report.result.map_err(ExecError::Run)?;

    let truncated = meta::truncated(&output);
    let usage = meta::usage(&output);
    let data = match &action.transformer {
        Some(code) => transform::apply_with_timeout(code.clone(), output, deadline)
            .await
            .map_err(ExecError::Transformer)?,
        None => output,
    };

    if let Some(key) = &cache_key {
        let ttl = Duration::from_secs(action.cache_ttl_seconds);
        meta::store(&state.shared, key, &data, truncated, usage.as_ref(), ttl).await;
    }
    Ok(Executed {
        data,
        truncated,
        cached: false,
        usage,
    })
}

/// Checks the parameters against the action's JSON Schema. Errors name the field as
/// `params.<dotted path>`.
fn validate_params(schema: Option<&Value>, params: Value) -> Result<Map<String, Value>, ExecError> {
    let not_object = || ExecError::Validation {
        field: "params".into(),
        message: "`params` must be a JSON object".into(),
    };
    if !params.is_object() {
        return Err(not_object());
    }

    if let Some(schema) = schema {
        let validator = trellis_apps::domain::compile_schema(schema).map_err(|error| {
            ExecError::Internal(anyhow::anyhow!(
                "a stored parameter schema does not compile: {error}"
            ))
        })?;
        let first_error = validator.iter_errors(&params).next();
        if let Some(error) = first_error {
            let mut field = error.instance_path.to_string().replace('/', ".");
            if let jsonschema::error::ValidationErrorKind::Required { property } = &error.kind {
                field.push('.');
                field.push_str(property.as_str().unwrap_or_default());
            }
            let field = format!("params{field}");
            return Err(ExecError::Validation {
                message: format!("`{field}` is invalid: {error}"),
                field,
            });
        }
    }

    match params {
        Value::Object(params) => Ok(params),
        _ => Err(not_object()),
    }
}

/// Returns the top-level input properties the connector marks as SQL.
fn sql_fields(input_schema: &Value) -> Vec<String> {
    let Some(properties) = input_schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .filter(|(_, property)| property.get("x-trellis-sql") == Some(&Value::Bool(true)))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Builds the cache key of a run: the workspace, action, release (or draft), and a hash of the
/// operation, the rendered input and the transformer. The resource config is part of the hash
/// too, so a changed connection never returns another connection's result.
fn cache_key(loaded: &ActionForRun, input: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(loaded.action.operation.as_bytes());
    hasher.update([0]);
    hasher.update(input.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(
        loaded
            .action
            .transformer
            .as_deref()
            .unwrap_or("")
            .as_bytes(),
    );
    hasher.update([0]);
    hasher.update(loaded.resource.config.expose().to_string().as_bytes());
    let release = loaded
        .release
        .map_or_else(|| "draft".to_string(), |number| number.to_string());
    format!(
        "run-cache:{}:{}:{release}:{}",
        loaded.workspace_id,
        loaded.action.id,
        hex::encode(hasher.finalize())
    )
}
