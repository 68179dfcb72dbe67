use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use trellis_problem::Json;
use trellis_tokens::{Actor, Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, Paged};
use crate::error::{AuthError, AuthResult};
use crate::storage::member_events::{self, Change};
use crate::storage::{members, users, workspaces};
use crate::AuthData;

/// A member of a workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberUpdate {
    /// The new role: viewer, editor, admin or owner.
    pub role: Role,
}

/// Lists the members of a workspace.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/members", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<MemberView>), (status = 404, body = trellis_problem::Problem)))]
pub async fn list(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Viewer).await?;

    let rows = members::list(&state.db, workspace_id, offset, limit).await?;

    let items = rows
        .into_iter()
        .filter_map(|(member, user)| {
            Role::parse(&member.role).map(|role| MemberView {
                user_id: user.id,
                email: user.email,
                display_name: user.display_name,
                role,
                joined_at: member.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Changes a member's role (admins and owners).
#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/members/{user_id}", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = MemberUpdate,
    responses((status = 200, body = MemberView), (status = 403, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem),
              (status = 409, description = "The last owner would be demoted", body = trellis_problem::Problem)))]
pub async fn update(
    state: AuthData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<MemberUpdate>,
) -> AuthResult<HttpResponse> {
    let (workspace_id, user_id) = path.into_inner();
    let new_role = body.0.role;
    let caller_role = caller.require(workspace_id, Role::Admin).await?;

    let transaction = state.db.begin().await?;
    workspaces::lock(&transaction, workspace_id).await?;
    let member = members::find(&transaction, workspace_id, user_id)
        .await?
        .ok_or(AuthError::NotFound("The member"))?;
    let old_role = Role::parse(&member.role).unwrap_or(Role::Viewer);

    // Only owners grant ownership or change an owner.
    if caller_role < Role::Owner && (new_role == Role::Owner || old_role == Role::Owner) {
        return Err(AuthError::Forbidden(
            "Only an owner can make someone owner or change an owner's role".into(),
        ));
    }
    // At least one owner must remain.
    if old_role == Role::Owner
        && new_role != Role::Owner
        && members::count_owners(&transaction, workspace_id).await? <= 1
    {
        return Err(AuthError::conflict(
            "last_owner",
            "The last owner cannot be demoted; make another member owner first",
        ));
    }
    members::set_role(&transaction, workspace_id, user_id, new_role).await?;
    let change = Change {
        action: "member.role_change",
        target_type: "member",
        target_id: user_id,
        details: json!({"from": old_role, "to": new_role}),
    };
    member_events::record(
        &transaction,
        workspace_id,
        &Actor::of(&caller, &request),
        change,
    )
    .await?;
    transaction.commit().await?;
    state.roles.changed();

    tracing::info!(workspace_id = %workspace_id, user_id = %user_id, role = new_role.as_str(), "member role changed");
    let user = users::find(&state.db, user_id)
        .await?
        .ok_or(AuthError::NotFound("The member"))?;
    Ok(HttpResponse::Ok().json(MemberView {
        user_id,
        email: user.email,
        display_name: user.display_name,
        role: new_role,
        joined_at: member.created_at,
    }))
}

/// Removes a member (admins and owners), or lets a member leave.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/members/{user_id}", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), (status = 403, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem),
              (status = 409, description = "The last owner would leave", body = trellis_problem::Problem)))]
pub async fn remove(
    state: AuthData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> AuthResult<HttpResponse> {
    let (workspace_id, user_id) = path.into_inner();
    let caller_role = caller.require(workspace_id, Role::Viewer).await?;
    let leaving = caller.user_id() == Some(user_id);
    if !leaving && caller_role < Role::Admin {
        return Err(AuthError::Forbidden(format!(
            "Your role is {}; removing another member needs admin or higher",
            caller_role.as_str()
        )));
    }

    let transaction = state.db.begin().await?;
    workspaces::lock(&transaction, workspace_id).await?;
    let member = members::find(&transaction, workspace_id, user_id)
        .await?
        .ok_or(AuthError::NotFound("The member"))?;
    let role = Role::parse(&member.role).unwrap_or(Role::Viewer);
    if role == Role::Owner && !leaving && caller_role < Role::Owner {
        return Err(AuthError::Forbidden(
            "Only an owner can remove an owner".into(),
        ));
    }
    // At least one owner must remain.
    if role == Role::Owner && members::count_owners(&transaction, workspace_id).await? <= 1 {
        return Err(AuthError::conflict(
            "last_owner",
            "The last owner cannot leave; make another member owner or delete the workspace",
        ));
    }
    members::delete(&transaction, workspace_id, user_id).await?;
    let change = Change {
        action: if leaving {
            "member.leave"
        } else {
            "member.remove"
        },
        target_type: "member",
        target_id: user_id,
        details: json!({"role": role}),
    };
    member_events::record(
        &transaction,
        workspace_id,
        &Actor::of(&caller, &request),
        change,
    )
    .await?;
    transaction.commit().await?;
    state.roles.changed();

    tracing::info!(workspace_id = %workspace_id, user_id = %user_id, "member removed");
    Ok(HttpResponse::NoContent().finish())
}
