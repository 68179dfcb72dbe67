use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trellis_problem::Json;
use trellis_tokens::{Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::require_user;
use crate::domain::{parse_name, Email, Password};
use crate::error::{AuthError, AuthResult};
use crate::sessions::{self, TokenPair};
use crate::storage::{is_unique_violation, refresh_tokens, users, workspaces};
use crate::{secrets, AuthData};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Email address; it is trimmed and lower-cased.
    pub email: String,
    /// At least 12 characters and not a common password.
    pub password: String,
    /// Name shown to other members; defaults to the part of the email before `@`.
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last sign-in or refresh.
    pub refresh_token: String,
}

/// The signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
}

/// A workspace the user belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    pub workspaces: Vec<MembershipView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignupResponse {
    pub user: UserView,
    pub tokens: TokenPair,
}

fn user_view(row: crate::storage::entities::user::Model) -> UserView {
    UserView {
        id: row.id,
        email: row.email,
        display_name: row.display_name,
        created_at: row.created_at,
    }
}

/// Returns the client's address for throttling. Forwarded headers are not trusted here.
fn client_address(request: &HttpRequest) -> String {
    request
        .peer_addr()
        .map(|addr| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = SignupResponse),
              (status = 400, body = trellis_problem::Problem),
              (status = 409, description = "The email is already registered", body = trellis_problem::Problem)))]
pub async fn signup(state: AuthData, body: Json<SignupRequest>) -> AuthResult<HttpResponse> {
    let body = body.0;
    let email = Email::parse("email", &body.email)?;
    let password = Password::parse_new("password", body.password, &email)?;
    let default_name = email
        .as_str()
        .split('@')
        .next()
        .unwrap_or("member")
        .to_string();
    let display_name = parse_name(
        "display_name",
        body.display_name.as_deref().unwrap_or(&default_name),
    )?;

    let hash = state.hasher.hash(&password).await?;

    let user = match users::insert(&state.db, email.as_str(), &hash, &display_name).await {
        Ok(user) => user,
        Err(error) if is_unique_violation(&error) => {
            return Err(AuthError::conflict(
                "email_taken",
                "An account with this email already exists; sign in instead",
            ))
        }
        Err(error) => return Err(error.into()),
    };
    let tokens = sessions::issue(&state, &state.db, user.id, None).await?;

    tracing::info!(user_id = %user.id, "account created");
    Ok(HttpResponse::Created().json(SignupResponse {
        user: user_view(user),
        tokens,
    }))
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair),
              (status = 401, body = trellis_problem::Problem),
              (status = 429, description = "Too many failures; see Retry-After", body = trellis_problem::Problem)))]
pub async fn login(
    state: AuthData,
    request: HttpRequest,
    body: Json<LoginRequest>,
) -> AuthResult<HttpResponse> {
    let body = body.0;
    let email = Email::parse("email", &body.email)?;
    let password = Password::parse_existing("password", body.password)?;
    let account_key = format!("account:{}", email.as_str());
    let keys = [
        account_key.clone(),
        format!("address:{}", client_address(&request)),
    ];

    state.throttle.check(&keys).await?;

    // An unknown email still costs one verification, so timing does not reveal accounts.
    let user = users::find_by_email(&state.db, email.as_str()).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.hasher.verify(&password, stored).await?;
    let Some(user) = user.filter(|_| verified.matches) else {
        state.throttle.record_failure(&keys).await?;
        tracing::info!("sign-in rejected: wrong email or password");
        return Err(AuthError::InvalidCredentials);
    };

    if let Some(new_hash) = verified.rehashed {
        users::update_password_hash(&state.db, user.id, &new_hash).await?;
        tracing::info!(user_id = %user.id, "password rehashed with current parameters");
    }
    state.throttle.reset(&account_key).await?;
    let tokens = sessions::issue(&state, &state.db, user.id, None).await?;

    tracing::info!(user_id = %user.id, "signed in");
    Ok(HttpResponse::Ok().json(tokens))
}

/// Trades a refresh token for a new pair. Each refresh token works once: presenting a spent
/// one revokes every token of its family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = trellis_problem::Problem)))]
pub async fn refresh(state: AuthData, body: Json<RefreshRequest>) -> AuthResult<HttpResponse> {
    let refused = || {
        AuthError::Unauthenticated("The refresh token is invalid or expired; sign in again".into())
    };
    let hash = secrets::hash(body.0.refresh_token.trim());

    let token = refresh_tokens::find_by_hash(&state.db, &hash)
        .await?
        .ok_or_else(refused)?;
    if token.revoked_at.is_some() || token.family_expires_at <= Utc::now() {
        return Err(refused());
    }

    // A second use means the token leaked: end the whole family.
    let first_use =
        token.used_at.is_none() && refresh_tokens::mark_used(&state.db, token.id).await?;
    if !first_use {
        refresh_tokens::revoke_family(&state.db, token.family_id).await?;
        tracing::warn!(user_id = %token.user_id, family_id = %token.family_id, "refresh token reused; family revoked");
        return Err(AuthError::Unauthenticated(
            "This refresh token was already used, so its session has been ended; sign in again"
                .into(),
        ));
    }
    let family = Some((token.family_id, token.family_expires_at));
    let tokens = sessions::issue(&state, &state.db, token.user_id, family).await?;

    Ok(HttpResponse::Ok().json(tokens))
}

/// Ends the session of a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "The session is ended")))]
pub async fn logout(state: AuthData, body: Json<RefreshRequest>) -> AuthResult<HttpResponse> {
    let hash = secrets::hash(body.0.refresh_token.trim());

    // An unknown token gets the same response, so logout reveals nothing.
    if let Some(token) = refresh_tokens::find_by_hash(&state.db, &hash).await? {
        refresh_tokens::revoke_family(&state.db, token.family_id).await?;
        tracing::info!(user_id = %token.user_id, "signed out");
    }

    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user and their workspaces.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = trellis_problem::Problem)))]
pub async fn me(state: AuthData, caller: Caller) -> AuthResult<HttpResponse> {
    let user_id = require_user(&caller)?;

    let user = users::find(&state.db, user_id)
        .await?
        .ok_or_else(|| AuthError::Unauthenticated("The account no longer exists".into()))?;
    let memberships = workspaces::list_for_user(&state.db, user_id).await?;

    let workspaces = memberships
        .into_iter()
        .filter_map(|(workspace, member)| {
            Role::parse(&member.role).map(|role| MembershipView {
                workspace_id: workspace.id,
                workspace_name: workspace.name,
                role,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(MeResponse {
        user: user_view(user),
        workspaces,
    }))
}
