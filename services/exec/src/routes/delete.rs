use actix_web::{delete, web, HttpResponse};
use trellis_tokens::{Caller, Role};
use uuid::Uuid;

use crate::registry::store;
use crate::{ExecError, ExecState};

/// Delete one of the workspace's plugins.
#[utoipa::path(
    tag = "plugins",
    params(
        ("workspace_id" = Uuid, Path, description = "Workspace id"),
        ("plugin_id" = Uuid, Path, description = "Plugin id"),
    ),
    responses(
        (status = 204, description = "The plugin was deleted"),
        (status = 403, description = "The caller is not an admin", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace or plugin", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[delete("/api/v1/workspaces/{workspace_id}/plugins/{plugin_id}")]
pub async fn delete_plugin(
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let (workspace_id, plugin_id) = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let deleted = store::delete_plugin(&state.db, workspace_id, plugin_id).await?;
    let deleted = deleted.ok_or(ExecError::NotFound("The plugin"))?;

    state.registry.forget(workspace_id, &deleted.content_hash);
    tracing::info!(%workspace_id, %plugin_id, "plugin deleted");
    Ok(HttpResponse::NoContent().finish())
}
