//! Authentication at the edge: the gateway checks the bearer credential of every request before
//! forwarding it. Access tokens are verified against the auth service's JWKS. API keys are
//! resolved through the auth service and cached for a short time. An invalid credential is
//! rejected here with 401, and the verified identity is forwarded in `x-trellis-*` headers. The
//! services still verify the credential themselves, so the headers only serve their logs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use sha2::{Digest, Sha256};
use trellis_problem::Problem;
use trellis_tokens::{bearer_token, ApiKeyIdentity, Directory, Verifier, API_KEY_PREFIX};
use uuid::Uuid;

/// Cached API-key lookups by SHA-256 of the key: expiry and identity.
type KeyCache = HashMap<[u8; 32], (Instant, Option<ApiKeyIdentity>)>;

/// Header naming the user an access token was issued to.
pub const USER_HEADER: &str = "x-trellis-user-id";
/// Header naming the API key a request was made with.
pub const API_KEY_HEADER: &str = "x-trellis-api-key-id";

/// Time a resolved API key is cached before the auth service is queried again.
const KEY_TTL: Duration = Duration::from_secs(30);
/// Time an unknown API key is cached as unknown.
const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(5);
/// Maximum number of cached keys. A full cache is cleared.
const MAX_KEYS: usize = 10_000;

/// The verified caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeIdentity {
    User(Uuid),
    ApiKey { key_id: Uuid, workspace_id: Uuid },
}

/// Credential checks at the edge: the token verifier, the API-key directory and the key cache.
/// Registered as app data.
pub struct EdgeAuth {
    verifier: Arc<Verifier>,
    directory: Arc<dyn Directory>,
    keys: Mutex<KeyCache>,
}

impl EdgeAuth {
    pub fn new(verifier: Arc<Verifier>, directory: Arc<dyn Directory>) -> Self {
        EdgeAuth {
            verifier,
            directory,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies one bearer credential and returns the caller.
    async fn identify(&self, credential: &str) -> Result<EdgeIdentity, Problem> {
        if credential.starts_with(API_KEY_PREFIX) {
            let identity = self.api_key(credential).await?;
            return identity
                .map(|key| EdgeIdentity::ApiKey {
                    key_id: key.key_id,
                    workspace_id: key.workspace_id,
                })
                .ok_or_else(|| unauthorized("The API key is unknown or revoked"));
        }

        let claims =
            self.verifier.verify(credential).await.map_err(|error| {
                unauthorized(&format!("The access token is not valid: {error}"))
            })?;
        Ok(EdgeIdentity::User(claims.sub))
    }

    /// Resolves an API key from the cache, or from the auth service when the entry is missing or
    /// expired.
    async fn api_key(&self, key: &str) -> Result<Option<ApiKeyIdentity>, Problem> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let now = Instant::now();
        if let Some((expires, identity)) = self.keys.lock().expect("key cache lock").get(&digest) {
            if *expires > now {
                return Ok(identity.clone());
            }
        }

        let identity = self.directory.api_key(key).await.map_err(|error| {
            tracing::warn!(%error, "API-key lookup at the auth service failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "API keys cannot be checked right now; try again shortly",
            )
        })?;

        let ttl = if identity.is_some() {
            KEY_TTL
        } else {
            UNKNOWN_KEY_TTL
        };
        let mut keys = self.keys.lock().expect("key cache lock");
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(digest, (now + ttl, identity.clone()));
        Ok(identity)
    }
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// Checks the request's credential, for `actix_web::middleware::from_fn`. Requests without a
/// credential pass unchanged, because sign-up, sign-in and public apps need none.
pub async fn authenticate(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Identity headers come from the edge only, so a client's own are dropped.
    let headers = request.headers_mut();
    headers.remove(USER_HEADER);
    headers.remove(API_KEY_HEADER);

    let edge = request.app_data::<web::Data<EdgeAuth>>().cloned();
    let credential = bearer_token(request.request()).ok();
    let (Some(edge), Some(credential)) = (edge, credential) else {
        return Ok(next.call(request).await?.map_into_left_body());
    };

    let identity = match edge.identify(&credential).await {
        Ok(identity) => identity,
        Err(problem) => {
            let response = problem.error_response();
            return Ok(request.into_response(response).map_into_right_body());
        }
    };

    let (name, value) = match identity {
        EdgeIdentity::User(user_id) => (USER_HEADER, user_id),
        EdgeIdentity::ApiKey { key_id, .. } => (API_KEY_HEADER, key_id),
    };
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        request
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
    request.extensions_mut().insert(identity);
    Ok(next.call(request).await?.map_into_left_body())
}
