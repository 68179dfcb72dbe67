use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use trellis_problem::Json;
use trellis_tokens::{Actor, Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::require_user;
use crate::domain::parse_name;
use crate::error::{AuthError, AuthResult};
use crate::storage::member_events::{self, Change};
use crate::storage::{members, workspaces};
use crate::AuthData;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceRequest {
    /// Name of the workspace, 1 to 100 characters.
    pub name: String,
}

/// A workspace and the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

fn view(row: crate::storage::entities::workspace::Model, role: Role) -> WorkspaceView {
    WorkspaceView {
        id: row.id,
        name: row.name,
        role,
        created_at: row.created_at,
    }
}

/// Creates a workspace whose owner is the caller.
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces", request_body = WorkspaceRequest,
    security(("bearer" = [])),
    responses((status = 201, body = WorkspaceView), (status = 400, body = trellis_problem::Problem)))]
pub async fn create(
    state: AuthData,
    caller: Caller,
    request: HttpRequest,
    body: Json<WorkspaceRequest>,
) -> AuthResult<HttpResponse> {
    let user_id = require_user(&caller)?;
    let name = parse_name("name", &body.0.name)?;

    let transaction = state.db.begin().await?;
    let workspace = workspaces::insert(&transaction, &name).await?;
    members::insert(&transaction, workspace.id, user_id, Role::Owner).await?;
    let change = Change {
        action: "member.join",
        target_type: "member",
        target_id: user_id,
        details: json!({"role": Role::Owner}),
    };
    member_events::record(
        &transaction,
        workspace.id,
        &Actor::of(&caller, &request),
        change,
    )
    .await?;
    transaction.commit().await?;
    state.roles.changed();

    tracing::info!(workspace_id = %workspace.id, user_id = %user_id, "workspace created");
    Ok(HttpResponse::Created().json(view(workspace, Role::Owner)))
}

/// Lists the caller's workspaces.
#[utoipa::path(get, path = "/api/v1/workspaces", tag = "workspaces", security(("bearer" = [])),
    responses((status = 200, body = super::Paged<WorkspaceView>)))]
pub async fn list(state: AuthData, caller: Caller) -> AuthResult<HttpResponse> {
    let items: Vec<WorkspaceView> = match caller.user_id() {
        Some(user_id) => workspaces::list_for_user(&state.db, user_id)
            .await?
            .into_iter()
            .filter_map(|(w, m)| Role::parse(&m.role).map(|role| view(w, role)))
            .collect(),
        // An API key sees the one workspace it belongs to.
        None => {
            let trellis_tokens::Principal::ApiKey(key) = &caller.principal else {
                return Err(AuthError::Forbidden("Unknown caller".into()));
            };
            workspaces::find(&state.db, key.workspace_id)
                .await?
                .map(|w| view(w, key.role))
                .into_iter()
                .collect()
        }
    };

    Ok(HttpResponse::Ok().json(super::Paged {
        items,
        next_offset: None,
    }))
}

/// Reads a workspace.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}", tag = "workspaces", security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path)),
    responses((status = 200, body = WorkspaceView), (status = 404, body = trellis_problem::Problem)))]
pub async fn get(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let role = caller.require(workspace_id, Role::Viewer).await?;

    let workspace = workspaces::find(&state.db, workspace_id)
        .await?
        .ok_or(AuthError::NotFound("The workspace"))?;

    Ok(HttpResponse::Ok().json(view(workspace, role)))
}

/// Renames a workspace (owners only).
#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}", tag = "workspaces", security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path)), request_body = WorkspaceRequest,
    responses((status = 200, body = WorkspaceView), (status = 403, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem)))]
pub async fn rename(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
    body: Json<WorkspaceRequest>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let role = caller.require(workspace_id, Role::Owner).await?;
    let name = parse_name("name", &body.0.name)?;

    let workspace = workspaces::rename(&state.db, workspace_id, &name).await?;

    tracing::info!(workspace_id = %workspace_id, "workspace renamed");
    Ok(HttpResponse::Ok().json(view(workspace, role)))
}

/// Deletes a workspace with its members, invites and API keys (owners only).
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}", tag = "workspaces", security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem)))]
pub async fn delete(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    caller.require(workspace_id, Role::Owner).await?;

    let transaction = state.db.begin().await?;
    workspaces::delete(&transaction, workspace_id).await?;
    transaction.commit().await?;
    state.roles.changed();

    tracing::info!(workspace_id = %workspace_id, "workspace deleted");
    Ok(HttpResponse::NoContent().finish())
}
