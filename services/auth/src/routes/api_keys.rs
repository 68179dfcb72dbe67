use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trellis_problem::Json;
use trellis_tokens::{Caller, Role, API_KEY_PREFIX};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{require_user, Page, Paged};
use crate::domain::parse_name;
use crate::error::{AuthError, AuthResult};
use crate::storage::api_keys;
use crate::{secrets, AuthData};

/// Characters of a key kept in listings so people can tell keys apart.
const SHOWN_PREFIX_CHARS: usize = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// A name that says what uses the key.
    pub name: String,
    /// The key's role; at most the creator's own.
    pub role: Role,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The first characters of the key.
    pub prefix: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// Last use, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new API key with its secret, which is shown only this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    pub api_key: ApiKeyView,
    /// Send as `Authorization: Bearer <key>`.
    pub key: String,
}

fn view(row: crate::storage::entities::api_key::Model) -> ApiKeyView {
    ApiKeyView {
        id: row.id,
        name: row.name,
        role: Role::parse(&row.role).unwrap_or(Role::Viewer),
        prefix: row.prefix,
        created_by: row.created_by,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
    }
}

/// Creates an API key (admins and owners).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/api-keys", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path)), request_body = ApiKeyRequest,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem)))]
pub async fn create(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
    body: Json<ApiKeyRequest>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let body = body.0;
    let caller_role = caller.require(workspace_id, Role::Admin).await?;
    let creator = require_user(&caller)?;
    let name = parse_name("name", &body.name)?;
    if body.role > caller_role {
        return Err(AuthError::Forbidden(format!(
            "Your role is {}; a key cannot have the higher role {}",
            caller_role.as_str(),
            body.role.as_str()
        )));
    }

    let key = secrets::generate(API_KEY_PREFIX);
    let prefix: String = key.chars().take(SHOWN_PREFIX_CHARS).collect();
    let row = api_keys::insert(
        &state.db,
        api_keys::NewApiKey {
            workspace_id,
            name: &name,
            role: body.role,
            key_hash: &secrets::hash(&key),
            prefix: &prefix,
            created_by: creator,
        },
    )
    .await?;

    tracing::info!(workspace_id = %workspace_id, api_key_id = %row.id, "API key created");
    Ok(HttpResponse::Created().json(CreatedApiKey {
        api_key: view(row),
        key,
    }))
}

/// Lists active API keys (admins and owners).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/api-keys", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<ApiKeyView>), (status = 403, body = trellis_problem::Problem)))]
pub async fn list(
    state: AuthData,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AuthResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Admin).await?;

    let rows = api_keys::list_active(&state.db, workspace_id, offset, limit).await?;

    let items = rows.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Revokes an API key (admins and owners).
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/api-keys/{key_id}", tag = "workspaces",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = trellis_problem::Problem)))]
pub async fn revoke(
    state: AuthData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> AuthResult<HttpResponse> {
    let (workspace_id, key_id) = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let revoked = api_keys::revoke(&state.db, workspace_id, key_id).await?;
    if revoked == 0 {
        return Err(AuthError::NotFound("The API key"));
    }

    tracing::info!(workspace_id = %workspace_id, api_key_id = %key_id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}
