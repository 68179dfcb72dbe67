//! Issuing access tokens and refresh-token families.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use trellis_tokens::Claims;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AuthResult;
use crate::storage::refresh_tokens;
use crate::{secrets, AuthState};

/// An access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Signed JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque token for `POST /api/v1/auth/refresh`; each one works once.
    pub refresh_token: String,
    /// When the refresh-token family ends and the user must sign in again.
    pub refresh_expires_at: DateTime<Utc>,
}

/// Signs an access token for the user with the current key.
pub fn sign_access_token(state: &AuthState, user_id: Uuid) -> AuthResult<String> {
    let now = Utc::now();
    let claims = Claims {
        iss: state.settings.issuer.clone(),
        aud: state.settings.audience.clone(),
        sub: user_id,
        exp: (now + state.settings.access_token_ttl).timestamp(),
        nbf: now.timestamp(),
        iat: now.timestamp(),
        jti: Uuid::new_v4(),
    };
    let keys = state.keys.read().expect("key ring lock poisoned");
    Ok(keys.sign(&claims)?)
}

/// Issues tokens for a user, starting a new refresh family when `family` is `None`.
pub async fn issue(
    state: &AuthState,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    family: Option<(Uuid, DateTime<Utc>)>,
) -> AuthResult<TokenPair> {
    let (family_id, family_expires_at) = family.unwrap_or_else(|| {
        (
            Uuid::now_v7(),
            Utc::now() + state.settings.refresh_token_ttl,
        )
    });
    let refresh_token = secrets::generate(secrets::REFRESH_PREFIX);
    refresh_tokens::insert(
        db,
        user_id,
        family_id,
        &secrets::hash(&refresh_token),
        family_expires_at,
    )
    .await?;

    Ok(TokenPair {
        access_token: sign_access_token(state, user_id)?,
        token_type: "Bearer",
        expires_in: state.settings.access_token_ttl.num_seconds(),
        refresh_token,
        refresh_expires_at: family_expires_at,
    })
}
