//! Internal routes that other Trellis services call with the service token. They are not part
//! of the public API and the gateway never forwards them.

use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;
use trellis_tokens::{ApiKeyLookup, Directory, RoleAnswer, SERVICE_TOKEN_HEADER};
use uuid::Uuid;

use crate::error::{AuthError, AuthResult};
use crate::LocalDirectory;

/// The token other services must present; `None` disables the internal routes.
#[derive(Clone)]
pub struct ServiceToken(pub Option<String>);

fn check(request: &HttpRequest) -> AuthResult<()> {
    let expected = request
        .app_data::<web::Data<ServiceToken>>()
        .and_then(|t| t.0.clone());
    let presented = request
        .headers()
        .get(SERVICE_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    match (expected, presented) {
        (Some(expected), Some(presented))
            if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(AuthError::Unauthenticated(
            "A valid service token is required".into(),
        )),
    }
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
