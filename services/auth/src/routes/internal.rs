//! Internal routes that other Trellis services call with the service token. They are not part
//! of the public API and the gateway never forwards them.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use trellis_tokens::{has_service_token, ApiKeyLookup, Directory, RoleAnswer};
use uuid::Uuid;

use crate::error::{AuthError, AuthResult};
use crate::LocalDirectory;

fn check(request: &HttpRequest) -> AuthResult<()> {
    if has_service_token(request) {
        return Ok(());
    }
    Err(AuthError::Unauthenticated(
        "A valid service token is required".into(),
    ))
}

pub async fn resolve_api_key(
    request: HttpRequest,
    directory: web::Data<LocalDirectory>,
    body: trellis_problem::Json<ApiKeyLookup>,
) -> AuthResult<HttpResponse> {
    check(&request)?;

    let identity = directory.api_key(&body.0.key).await?;

    Ok(HttpResponse::Ok().json(identity))
}

pub async fn role_of(
    request: HttpRequest,
    directory: web::Data<LocalDirectory>,
    path: web::Path<(Uuid, Uuid)>,
) -> AuthResult<HttpResponse> {
    check(&request)?;
    let (workspace_id, user_id) = path.into_inner();

    let role = directory.role_of(workspace_id, user_id).await?;

    Ok(HttpResponse::Ok().json(RoleAnswer { role }))
}

/// Query of the member-events lookup.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    limit: u64,
}

/// Largest number of member events one lookup returns.
pub const MAX_MEMBER_EVENTS: u64 = 10_000;

pub async fn member_events(
    request: HttpRequest,
    directory: web::Data<LocalDirectory>,
    path: web::Path<Uuid>,
    query: web::Query<EventsQuery>,
) -> AuthResult<HttpResponse> {
    check(&request)?;
    let workspace_id = path.into_inner();
    let limit = query.limit.min(MAX_MEMBER_EVENTS);

    let events = directory.member_events(workspace_id, limit).await?;

    Ok(HttpResponse::Ok().json(events))
}
