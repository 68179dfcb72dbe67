use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use trellis_problem::Json;
use trellis_tokens::{Actor, Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{require_user, Page, Paged};
use crate::domain::Email;
use crate::error::{AuthError, AuthResult};
use crate::storage::member_events::{self, Change};
use crate::storage::{invites, members, users};
use crate::{secrets, AuthData};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Email of the person invited; they accept while signed in with it.
    pub email: String,
    /// Role they get on accepting; at most the inviter's own.
    pub role: Role,
}

/// An open invite.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A new invite with its token, which is shown only this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    pub invite: InviteView,
    /// Send this to the invitee; they accept at `POST /api/v1/invites/{token}/accept`.
    pub token: String,
}

/// The membership an accepted invite created.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedInvite {
    pub workspace_id: Uuid,
    pub role: Role,
}

fn view(row: crate::storage::entities::invite::Model) -> InviteView {
    InviteView {
        id: row.id,
        email: row.email,
        role: Role::parse(&row.role).unwrap_or(Role::Viewer),
        invited_by: row.invited_by,
        expires_at: row.expires_at,
        created_at: row.created_at,
    }
}

/// Invites someone by email (admins and owners).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/invites", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path)), request_body = InviteRequest,
    responses((status = 201, body = CreatedInvite), (status = 403, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem)))]
pub async fn create(
    state: AuthData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<Uuid>,
    body: Json<InviteRequest>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let body = body.0;
    let caller_role = caller.require(workspace_id, Role::Admin).await?;
    let inviter = require_user(&caller)?;
    let email = Email::parse("email", &body.email)?;
    // Only owners grant ownership, and no member grants a role above their own.
    if body.role > caller_role || (body.role == Role::Owner && caller_role < Role::Owner) {
        return Err(AuthError::Forbidden(format!(
            "Your role is {}; you cannot invite someone as {}",
            caller_role.as_str(),
            body.role.as_str()
        )));
    }

    let token = secrets::generate(secrets::INVITE_PREFIX);
    let transaction = state.db.begin().await?;
    let row = invites::insert(
        &transaction,
        invites::NewInvite {
            workspace_id,
            email: email.as_str(),
            role: body.role,
            token_hash: &secrets::hash(&token),
            invited_by: inviter,
            expires_at: Utc::now() + state.settings.invite_ttl,
        },
    )
    .await?;
    let change = Change {
        action: "invite.create",
        target_type: "invite",
        target_id: row.id,
        details: json!({"email": row.email, "role": body.role}),
    };
    member_events::record(
        &transaction,
        workspace_id,
        &Actor::of(&caller, &request),
        change,
    )
    .await?;
    transaction.commit().await?;

    tracing::info!(workspace_id = %workspace_id, invite_id = %row.id, "invite created");
    Ok(HttpResponse::Created().json(CreatedInvite {
        invite: view(row),
        token,
    }))
}

/// Lists open invites (admins and owners).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/invites", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<InviteView>), (status = 403, body = trellis_problem::Problem)))]
pub async fn list(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Admin).await?;

    let rows = invites::list_open(&state.db, workspace_id, offset, limit).await?;

    let items = rows.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Revokes an open invite (admins and owners).
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/invites/{invite_id}", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("invite_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = trellis_problem::Problem)))]
pub async fn revoke(
    state: AuthData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> AuthResult<HttpResponse> {
    let (workspace_id, invite_id) = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let transaction = state.db.begin().await?;
    let revoked = invites::revoke(&transaction, workspace_id, invite_id).await?;
    if revoked == 0 {
        return Err(AuthError::NotFound("The invite"));
    }
    let change = Change {
        action: "invite.revoke",
        target_type: "invite",
        target_id: invite_id,
        details: json!({}),
    };
    member_events::record(
        &transaction,
        workspace_id,
        &Actor::of(&caller, &request),
        change,
    )
    .await?;
    transaction.commit().await?;

    tracing::info!(workspace_id = %workspace_id, invite_id = %invite_id, "invite revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts an invite as the signed-in user whose email it was sent to.
#[utoipa::path(post, path = "/api/v1/invites/{token}/accept", tag = "workspaces",
    security(("bearer" = [])), params(("token" = String, Path)),
    responses((status = 200, body = AcceptedInvite), (status = 404, body = trellis_problem::Problem),
              (status = 409, description = "Already a member", body = trellis_problem::Problem)))]
pub async fn accept(
    state: AuthData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<String>,
) -> AuthResult<HttpResponse> {
    let token = path.into_inner();
    let user_id = require_user(&caller)?;
    // Wrong, used, revoked and expired tokens and another person's invite all look alike.
    let unknown = AuthError::NotFound("The invite");

    let invite = invites::find_by_token_hash(&state.db, &secrets::hash(&token))
        .await?
        .ok_or(unknown)?;
    let user = users::find(&state.db, user_id)
        .await?
        .ok_or(AuthError::NotFound("The invite"))?;
    let open = invite.accepted_at.is_none()
        && invite.revoked_at.is_none()
        && invite.expires_at > Utc::now();
    if !open || user.email != invite.email {
        return Err(AuthError::NotFound("The invite"));
    }
    let role = Role::parse(&invite.role).unwrap_or(Role::Viewer);

    let transaction = state.db.begin().await?;
    if members::find(&transaction, invite.workspace_id, user_id)
        .await?
        .is_some()
    {
        return Err(AuthError::conflict(
            "already_member",
            "You are already a member of this workspace",
        ));
    }
    if !invites::mark_accepted(&transaction, invite.workspace_id, invite.id).await? {
        return Err(AuthError::NotFound("The invite"));
    }
    members::insert(&transaction, invite.workspace_id, user_id, role).await?;
    let change = Change {
        action: "member.join",
        target_type: "member",
        target_id: user_id,
        details: json!({"role": role, "invite_id": invite.id}),
    };
    let actor = Actor::of(&caller, &request);
    member_events::record(&transaction, invite.workspace_id, &actor, change).await?;
    transaction.commit().await?;
    state.roles.changed();

    tracing::info!(workspace_id = %invite.workspace_id, user_id = %user_id, "invite accepted");
    Ok(HttpResponse::Ok().json(AcceptedInvite {
        workspace_id: invite.workspace_id,
        role,
    }))
}
