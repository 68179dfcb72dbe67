use actix_web::{get, web, HttpResponse};
use trellis_tokens::{Caller, Role};
use uuid::Uuid;

use super::dto::{PageQuery, PluginPage, PluginResponse};
use crate::registry::store;
use crate::{ExecError, ExecState};

/// Largest page size.
const MAX_LIMIT: u64 = 100;

/// List the workspace's uploaded plugins, newest first.
#[utoipa::path(
    tag = "plugins",
    params(("workspace_id" = Uuid, Path, description = "Workspace id"), PageQuery),
    responses(
        (status = 200, description = "A page of plugins", body = PluginPage),
        (status = 403, description = "The caller is not an editor", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/workspaces/{workspace_id}/plugins")]
pub async fn list_plugins(
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<PageQuery>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let workspace_id = path.into_inner();
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ExecError::Validation {
            field: "limit".into(),
            message: format!("`limit` must be between 1 and {MAX_LIMIT}"),
        });
    }

    caller.require(workspace_id, Role::Editor).await?;

    let (records, total) = store::list_plugins(&state.db, workspace_id, offset, limit).await?;

    let items = records.into_iter().map(PluginResponse::from).collect();
    Ok(HttpResponse::Ok().json(PluginPage {
        items,
        total,
        offset,
        limit,
    }))
}
