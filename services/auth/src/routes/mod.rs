//! HTTP routes of the auth service.

mod api_keys;
mod internal;
mod invites;
mod jwks;
mod members;
mod session;
mod workspaces;

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::error::{AuthError, AuthResult};

pub use trellis_tokens::ServiceToken;

/// The auth service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        session::signup,
        session::login,
        session::refresh,
        session::logout,
        session::me,
        jwks::jwks,
        workspaces::create,
        workspaces::list,
        workspaces::get,
        workspaces::rename,
        workspaces::delete,
        members::list,
        members::update,
        members::remove,
        invites::create,
        invites::list,
        invites::revoke,
        invites::accept,
        api_keys::create,
        api_keys::list,
        api_keys::revoke,
    ),
    components(schemas(trellis_problem::Problem, trellis_tokens::Role)),
    tags((name = "auth", description = "Accounts and sessions"),
         (name = "workspaces", description = "Workspaces, members, invites and API keys")),
    modifiers(&BearerScheme)
)]
pub struct AuthApi;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Mounts the auth routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/.well-known/jwks.json", web::get().to(jwks::jwks))
        .route("/api/v1/auth/signup", web::post().to(session::signup))
        .route("/api/v1/auth/login", web::post().to(session::login))
        .route("/api/v1/auth/refresh", web::post().to(session::refresh))
        .route("/api/v1/auth/logout", web::post().to(session::logout))
        .route("/api/v1/me", web::get().to(session::me))
        .route("/api/v1/workspaces", web::get().to(workspaces::list))
        .route("/api/v1/workspaces", web::post().to(workspaces::create))
        .route(
            "/api/v1/workspaces/{workspace_id}",
            web::get().to(workspaces::get),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}",
            web::patch().to(workspaces::rename),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}",
            web::delete().to(workspaces::delete),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/members",
            web::get().to(members::list),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/members/{user_id}",
            web::patch().to(members::update),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/members/{user_id}",
            web::delete().to(members::remove),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/invites",
            web::get().to(invites::list),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/invites",
            web::post().to(invites::create),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/invites/{invite_id}",
            web::delete().to(invites::revoke),
        )
        .route(
            "/api/v1/invites/{token}/accept",
            web::post().to(invites::accept),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/api-keys",
            web::get().to(api_keys::list),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/api-keys",
            web::post().to(api_keys::create),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/api-keys/{key_id}",
            web::delete().to(api_keys::revoke),
        )
        .route(
            "/internal/v1/api-keys/resolve",
            web::post().to(internal::resolve_api_key),
        )
        .route(
            "/internal/v1/workspaces/{workspace_id}/members/{user_id}/role",
            web::get().to(internal::role_of),
        )
        .route(
            "/internal/v1/workspaces/{workspace_id}/member-events",
            web::get().to(internal::member_events),
        );
}

/// Page of a list: `offset` items skipped, at most `limit` returned.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Items to skip (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Items to return, 1 to 200 (default 50).
    #[serde(default = "default_limit")]
    pub limit: u64,
}

fn default_limit() -> u64 {
    50
}

impl Page {
    /// Checks the bounds of the page.
    pub fn checked(&self) -> AuthResult<(u64, u64)> {
        if !(1..=200).contains(&self.limit) {
            return Err(AuthError::invalid(
                "limit",
                "`limit` must be between 1 and 200",
            ));
        }
        Ok((self.offset, self.limit))
    }
}

/// One page of items and the offset of the next, when there is one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}

impl<T> Paged<T> {
    /// Wraps a page; a full page suggests there may be more.
    pub fn new(items: Vec<T>, offset: u64, limit: u64) -> Self {
        let next_offset = (items.len() as u64 == limit).then_some(offset + limit);
        Paged { items, next_offset }
    }
}

/// Requires a signed-in user rather than an API key, for actions tied to a person.
pub fn require_user(caller: &trellis_tokens::Caller) -> AuthResult<uuid::Uuid> {
    caller.user_id().ok_or_else(|| {
        AuthError::Forbidden("This needs a signed-in user; API keys cannot do it".into())
    })
}
