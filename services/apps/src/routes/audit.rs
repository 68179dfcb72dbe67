use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use trellis_tokens::{Access, Caller, MemberEvent, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, Paged};
use crate::error::{AppsError, AppsResult};
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

fn member_view(event: MemberEvent) -> AuditEventView {
    AuditEventView {
        id: event.id,
        actor_user_id: event.actor_user_id,
        actor_api_key_id: event.actor_api_key_id,
        action: event.action,
        target_type: event.target_type,
        target_id: event.target_id,
        details: event.details,
        client_address: event.client_address,
        created_at: event.created_at,
    }
}

/// Deepest position, `offset + limit`, that a page of the audit log may reach.
const MAX_AUDIT_WINDOW: u64 = 10_000;

/// Lists changes to members, invites, resources, apps, actions and releases, newest first
/// (admins and owners). `offset + limit` may be at most 10,000.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/audit", tag = "audit",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<AuditEventView>), (status = 400, body = trellis_problem::Problem),
              (status = 403, body = trellis_problem::Problem)))]
pub async fn list(
    state: AppsData,
    access: web::Data<Access>,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AppsResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    let window = offset.saturating_add(limit);
    if window > MAX_AUDIT_WINDOW {
        return Err(AppsError::invalid(
            "offset",
            "`offset + limit` must be at most 10000; narrow the page",
        ));
    }
    caller.require(workspace_id, Role::Admin).await?;

    // Member changes are kept by the auth service, so both logs are read up to the end of the
    // page and merged by time.
    let own = audit::list(&state.db, workspace_id, 0, window).await?;
    let members = access.directory.member_events(workspace_id, window).await?;

    let mut items: Vec<AuditEventView> = own
        .into_iter()
        .map(view)
        .chain(members.into_iter().map(member_view))
        .collect();
    items.sort_by_key(|event| std::cmp::Reverse((event.created_at, event.id)));
    let items = items
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}
