use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use trellis_tokens::{Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, Paged};
use crate::error::AppsResult;
use crate::storage::audit;
use crate::storage::entities::audit_event;
use crate::AppsData;

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    /// The user who made the change, when a person did.
    pub actor_user_id: Option<Uuid>,
    /// The API key that made the change, when one did.
    pub actor_api_key_id: Option<Uuid>,
    /// Kind of change, such as `resource.create` or `release.rollback`.
    pub action: String,
    pub target_type: String,
    pub target_id: Uuid,
    #[schema(value_type = Object)]
    pub details: Value,
    /// Network address the request came from.
    pub client_address: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn view(row: audit_event::Model) -> AuditEventView {
    AuditEventView {
        id: row.id,
        actor_user_id: row.actor_user_id,
        actor_api_key_id: row.actor_api_key_id,
        action: row.action,
        target_type: row.target_type,
        target_id: row.target_id,
        details: row.details,
        client_address: row.client_address,
        created_at: row.created_at,
    }
}

/// Lists changes to resources, apps, actions and releases, newest first (admins and owners).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/audit", tag = "audit",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<AuditEventView>), (status = 403, body = trellis_problem::Problem)))]
pub async fn list(
    state: AppsData,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AppsResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Admin).await?;

    let rows = audit::list(&state.db, workspace_id, offset, limit).await?;

    let items = rows.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}
