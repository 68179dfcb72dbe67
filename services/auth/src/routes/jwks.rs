use actix_web::HttpResponse;
use trellis_tokens::Jwks;

use crate::error::AuthResult;
use crate::AuthData;

/// Public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set", body = Jwks)))]
pub async fn jwks(state: AuthData) -> AuthResult<HttpResponse> {
    let jwks = state.keys.read().expect("key ring lock poisoned").jwks()?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(jwks))
}
