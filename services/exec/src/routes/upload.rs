use std::sync::Arc;

use actix_web::{post, web, HttpResponse};
use futures_util::StreamExt;
use trellis_tokens::{Caller, Role};
use uuid::Uuid;

use super::dto::PluginResponse;
use crate::registry::store;
use crate::{ExecError, ExecState};

/// Upload a connector component (`.wasm`, at most 20 MiB) to the workspace.
///
/// The component must implement the `trellis:connector/connector@0.1.0` world, import nothing
/// beyond WASI and the connector interfaces, and compile within the time limit.
#[utoipa::path(
    tag = "plugins",
    params(("workspace_id" = Uuid, Path, description = "Workspace id")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses(
        (status = 201, description = "The stored plugin and its manifest", body = PluginResponse),
        (status = 403, description = "The caller is not an admin", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace", body = trellis_problem::Problem),
        (status = 409, description = "This version is already uploaded", body = trellis_problem::Problem),
        (status = 413, description = "The upload is too large", body = trellis_problem::Problem),
        (status = 422, description = "The component was rejected", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/workspaces/{workspace_id}/plugins")]
pub async fn upload_plugin(
    caller: Caller,
    path: web::Path<Uuid>,
    mut payload: web::Payload,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let workspace_id = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let limit = state.settings.max_upload_bytes;
    let mut wasm = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ExecError::Validation {
            field: "body".into(),
            message: "The upload could not be read".into(),
        })?;
        if wasm.len() + chunk.len() > limit {
            return Err(ExecError::TooLarge { limit });
        }
        wasm.extend_from_slice(&chunk);
    }

    let plugin = state.runtime.load(Arc::new(wasm.clone())).await?;

    let record = store::insert_plugin(
        &state.db,
        workspace_id,
        &plugin.manifest,
        &plugin.content_hash,
        &wasm,
        caller.user_id(),
    )
    .await?;
    state.registry.remember(workspace_id, plugin);
    tracing::info!(%workspace_id, plugin_id = %record.id, connector = %record.manifest.id, "plugin uploaded");

    Ok(HttpResponse::Created().json(PluginResponse::from(record)))
}
