//! Internal routes that other Trellis services call with the service token. They are not part
//! of the public API and the gateway never forwards them.

use actix_web::{web, HttpRequest, HttpResponse};
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
