//! Caller identity and the caller's role in a workspace.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use serde::{Deserialize, Serialize};
use trellis_problem::Problem;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Verifier;

/// Prefix of every API key, so a bearer token is distinguished from a JWT at a glance.
pub const API_KEY_PREFIX: &str = "trk_";

/// A member's role in a workspace, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

impl Role {
    /// Returns the role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a stored role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

/// Identity behind an API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyIdentity {
    pub key_id: Uuid,
    pub workspace_id: Uuid,
    /// The key's role, already capped by its creator's current role.
    pub role: Role,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    User { user_id: Uuid },
    ApiKey(ApiKeyIdentity),
}

/// Reason a caller is denied.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("authentication is required")]
    Unauthenticated(String),
    #[error("not found")]
    NotFound,
    #[error("the role {have:?} may not do this; {need:?} or higher is required")]
    Forbidden { have: Role, need: Role },
    #[error("the directory is unavailable: {0}")]
    Unavailable(String),
}

impl AccessError {
    /// Converts the error to its problem document.
    pub fn to_problem(&self) -> Problem {
        match self {
            AccessError::Unauthenticated(detail) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail.clone())
            }
            AccessError::NotFound => Problem::not_found("The workspace"),
            AccessError::Forbidden { have, need } => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "Your role is {}; this needs {} or higher",
                    have.as_str(),
                    need.as_str()
                ),
            ),
            AccessError::Unavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The identity service is unavailable; try again shortly",
            ),
        }
    }
}

/// Lookups of API keys and memberships, served by the auth service.
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    /// Resolves an API key to its identity, or `None` when it is unknown or revoked.
    async fn api_key(&self, key: &str) -> Result<Option<ApiKeyIdentity>, AccessError>;

    /// Returns the user's role in the workspace, or `None` when they are not a member.
    async fn role_of(&self, workspace_id: Uuid, user_id: Uuid)
        -> Result<Option<Role>, AccessError>;

    /// Returns the workspace's latest `limit` changes to members and invites, newest first.
    async fn member_events(
        &self,
        workspace_id: Uuid,
        limit: u64,
    ) -> Result<Vec<MemberEvent>, AccessError>;
}

/// One recorded change to a workspace's members or invites, kept by the auth service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberEvent {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    /// Kind of change, such as `member.role_change` or `invite.create`.
    pub action: String,
    /// `member` or `invite`.
    pub target_type: String,
    pub target_id: Uuid,
    /// Facts about the change, such as the old and new role.
    pub details: serde_json::Value,
    pub client_address: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What the [`Caller`] extractor needs, registered as app data.
#[derive(Clone)]
pub struct Access {
    pub verifier: Arc<Verifier>,
    pub directory: Arc<dyn Directory>,
}

/// The user or API key behind a change, and the client address it came from, for audit logs.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub client_address: Option<String>,
}

impl Actor {
    /// Returns the caller of a request as the actor of its changes.
    // TODO: behind the gateway the peer is the gateway; take the client address from its
    // forwarded header once the gateway is a configured trusted proxy.
    pub fn of(caller: &Caller, request: &HttpRequest) -> Actor {
        let (user_id, api_key_id) = match &caller.principal {
            Principal::User { user_id } => (Some(*user_id), None),
            Principal::ApiKey(identity) => (None, Some(identity.key_id)),
        };
        Actor {
            user_id,
            api_key_id,
            client_address: request.peer_addr().map(|address| address.ip().to_string()),
        }
    }
}

/// The authenticated caller of a request.
#[derive(Clone)]
pub struct Caller {
    pub principal: Principal,
    directory: Arc<dyn Directory>,
}

impl Caller {
    /// Returns the user id, when the caller is a signed-in user rather than an API key.
    pub fn user_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::User { user_id } => Some(*user_id),
            Principal::ApiKey(_) => None,
        }
    }

    /// Returns the caller's role in the workspace, or [`AccessError::NotFound`] when the caller is
    /// not a member, so workspace ids cannot be probed.
    pub async fn role_in(&self, workspace_id: Uuid) -> Result<Role, AccessError> {
        match &self.principal {
            Principal::User { user_id } => self
                .directory
                .role_of(workspace_id, *user_id)
                .await?
                .ok_or(AccessError::NotFound),
            Principal::ApiKey(key) if key.workspace_id == workspace_id => Ok(key.role),
            Principal::ApiKey(_) => Err(AccessError::NotFound),
        }
    }

    /// Returns the caller's role in the workspace when it is at least `need`.
    pub async fn require(&self, workspace_id: Uuid, need: Role) -> Result<Role, AccessError> {
        let have = self.role_in(workspace_id).await?;
        if have < need {
            return Err(AccessError::Forbidden { have, need });
        }
        Ok(have)
    }
}

impl FromRequest for Caller {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let access = request.app_data::<web::Data<Access>>().cloned();
        let bearer = bearer_token(request);

        Box::pin(async move {
            let access = access.ok_or_else(Problem::internal)?;
            let token = bearer.map_err(|e| e.to_problem())?;
            let principal = authenticate(&access, &token)
                .await
                .map_err(|e| e.to_problem())?;
            Ok(Caller {
                principal,
                directory: access.directory.clone(),
            })
        })
    }
}

/// Turns a bearer token (a JWT or an API key) into a principal.
pub async fn authenticate(access: &Access, token: &str) -> Result<Principal, AccessError> {
    if token.starts_with(API_KEY_PREFIX) {
        let identity = access.directory.api_key(token).await?;
        return identity.map(Principal::ApiKey).ok_or_else(|| {
            AccessError::Unauthenticated("The API key is unknown or revoked".into())
        });
    }

    match access.verifier.verify(token).await {
        Ok(claims) => Ok(Principal::User {
            user_id: claims.sub,
        }),
        Err(error) => Err(AccessError::Unauthenticated(format!(
            "The access token is invalid: {error}"
        ))),
    }
}

/// Reads the `Authorization: Bearer` token of a request.
pub fn bearer_token(request: &HttpRequest) -> Result<String, AccessError> {
    let missing = || {
        AccessError::Unauthenticated(
            "Send an access token or API key as `Authorization: Bearer <token>`".into(),
        )
    };
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim().to_string())
}
