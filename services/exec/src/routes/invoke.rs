use std::time::Duration;

use actix_web::{post, web, HttpResponse};
use trellis_problem::Json;
use trellis_tokens::{Caller, Role};
use uuid::Uuid;

use super::dto::{InvokeRequest, InvokeResponse};
use crate::calls::{call_context, ResolvedPlugin};
use crate::registry::store;
use crate::runtime::CallLimits;
use crate::{CallRequest, ExecError, ExecState};

/// Run one operation of a plugin with the given config and input.
///
/// `plugin_id` is a workspace plugin's id or a built-in's id such as `builtin:echo`. Errors
/// from the connector come back as problem documents whose code names the kind
/// (`connector_timed_out`, `connector_limit_exceeded`, ...).
#[utoipa::path(
    tag = "plugins",
    params(
        ("workspace_id" = Uuid, Path, description = "Workspace id"),
        ("plugin_id" = String, Path, description = "Plugin id, or `builtin:<id>`"),
    ),
    request_body = InvokeRequest,
    responses(
        (status = 200, description = "The operation's output and logs", body = InvokeResponse),
        (status = 403, description = "The caller is not an editor", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace or plugin", body = trellis_problem::Problem),
        (status = 422, description = "The connector rejected the call or hit a limit", body = trellis_problem::Problem),
        (status = 502, description = "The upstream service failed", body = trellis_problem::Problem),
        (status = 503, description = "The runtime is busy", body = trellis_problem::Problem),
        (status = 504, description = "The call timed out", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/workspaces/{workspace_id}/plugins/{plugin_id}/invoke")]
pub async fn invoke_plugin(
    caller: Caller,
    path: web::Path<(Uuid, String)>,
    body: Json<InvokeRequest>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let (workspace_id, plugin_id) = path.into_inner();
    let request = body.0;
    let deadline = parse_deadline(request.timeout_ms, state.settings.max_deadline)?;

    caller.require(workspace_id, Role::Editor).await?;

    let resolved = match plugin_id.strip_prefix("builtin:") {
        Some(builtin) => {
            let plugin = state
                .registry
                .builtin(builtin)
                .ok_or(ExecError::NotFound("The plugin"))?;
            ResolvedPlugin {
                plugin,
                namespace: plugin_id.clone(),
            }
        }
        None => {
            let id: Uuid = plugin_id
                .parse()
                .map_err(|_| ExecError::NotFound("The plugin"))?;
            let record = store::get_plugin(&state.db, workspace_id, id).await?;
            let record = record.ok_or(ExecError::NotFound("The plugin"))?;
            let plugin = state
                .registry
                .workspace_plugin(&state.runtime, &state.db, workspace_id, &record)
                .await?;
            ResolvedPlugin {
                plugin,
                namespace: id.to_string(),
            }
        }
    };
    let manifest = &resolved.plugin.manifest;
    // A connector with an operation list also takes the operations it lists for the config.
    if manifest.operation(&request.operation).is_none() && manifest.operation_list().is_none() {
        return Err(ExecError::Validation {
            field: "operation".into(),
            message: format!("The connector has no operation `{}`", request.operation),
        });
    }

    // A direct call has no resource, so its pools are keyed by the nil resource id and the
    // config's fingerprint.
    let call = call_context(
        &state,
        workspace_id,
        Uuid::nil(),
        &resolved,
        &request.config,
        deadline,
    )
    .await?;
    let run_id = call.run_id;
    let call_request = CallRequest::Execute {
        config: request.config,
        operation: request.operation,
        input: request.input,
    };
    let report = state
        .runtime
        .call(&resolved.plugin, call, &call_request)
        .await;

    let output = report.result.map_err(ExecError::Run)?;
    Ok(HttpResponse::Ok().json(InvokeResponse {
        run_id,
        output,
        logs: report.logs,
        logs_dropped: report.logs_dropped,
        duration_ms: report.duration.as_millis() as u64,
    }))
}

fn parse_deadline(timeout_ms: Option<u64>, maximum: Duration) -> Result<Duration, ExecError> {
    let Some(milliseconds) = timeout_ms else {
        return Ok(CallLimits::default().deadline.min(maximum));
    };
    let deadline = Duration::from_millis(milliseconds);
    if milliseconds == 0 || deadline > maximum {
        return Err(ExecError::Validation {
            field: "timeout_ms".into(),
            message: format!("`timeout_ms` must be between 1 and {}", maximum.as_millis()),
        });
    }
    Ok(deadline)
}
