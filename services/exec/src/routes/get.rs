use actix_web::{get, web, HttpResponse};
use trellis_tokens::{Caller, Role};
use uuid::Uuid;

use super::dto::PluginResponse;
use crate::registry::store;
use crate::{ExecError, ExecState};

/// Describe one of the workspace's plugins.
#[utoipa::path(
    tag = "plugins",
    params(
        ("workspace_id" = Uuid, Path, description = "Workspace id"),
        ("plugin_id" = Uuid, Path, description = "Plugin id"),
    ),
    responses(
        (status = 200, description = "The plugin and its manifest", body = PluginResponse),
        (status = 403, description = "The caller is not an editor", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace or plugin", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/workspaces/{workspace_id}/plugins/{plugin_id}")]
pub async fn get_plugin(
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let (workspace_id, plugin_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let record = store::get_plugin(&state.db, workspace_id, plugin_id).await?;
    let record = record.ok_or(ExecError::NotFound("The plugin"))?;

    Ok(HttpResponse::Ok().json(PluginResponse::from(record)))
}
