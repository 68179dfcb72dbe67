//! Rate limits at the edge: per client address on the auth routes, per public app on anonymous
//! runs, per workspace on tenant routes, per API key, and per user on a signed-in user's other
//! routes. Responses carry `RateLimit-*` headers, and rejected requests get 429 with
//! `Retry-After`.

use std::net::IpAddr;
use std::sync::OnceLock;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use sha2::{Digest, Sha256};
use trellis_problem::Problem;
use trellis_tokens::{bearer_token, Access, API_KEY_PREFIX};
use uuid::Uuid;

use crate::edge::EdgeIdentity;
use crate::limiter::{Decision, Limiter, Quota};

/// Limiter and quotas, registered as app data.
pub struct RateLimits {
    pub limiter: Limiter,
    pub auth: Quota,
    pub workspace: Quota,
    pub api_key: Quota,
    /// A signed-in user's requests outside workspace routes.
    pub user: Quota,
    /// Anonymous runs of public apps' actions, per client address.
    pub public_run: Quota,
}

/// Behaviour when Redis cannot decide.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fallback {
    /// Decide in this process and raise the fallback metric.
    Local,
    /// Refuse with 503: sign-in routes must never run unthrottled.
    Refuse,
}

fn fallback_counter() -> &'static prometheus::IntCounter {
    static COUNTER: OnceLock<prometheus::IntCounter> = OnceLock::new();
    COUNTER.get_or_init(|| {
        trellis_telemetry::Metrics::global().counter(
            "rate_limit_local_fallback_total",
            "Rate-limit decisions made in process memory because Redis was unavailable",
        )
    })
}

/// Returns the workspace id of a tenant route.
fn workspace_in(path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/api/v1/workspaces/")?;
    rest.split('/').next()?.parse().ok()
}

/// Returns a short, stable name for an API key that does not reveal it.
fn key_fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Returns the public id of the app when a path runs a public app's action.
fn public_run_app(path: &str) -> Option<&str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "v1", "public", "apps", public_id, "actions", _, "run"] => Some(public_id),
        _ => None,
    }
}

async fn checks(request: &ServiceRequest, limits: &RateLimits) -> Vec<(String, Quota, Fallback)> {
    let path = request.path();
    let address = request
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if path.starts_with("/api/v1/auth/") {
        return vec![(format!("address:{address}"), limits.auth, Fallback::Refuse)];
    }
    if let Some(public_id) = public_run_app(path) {
        let name = format!("public-app:{public_id}");
        return vec![(name, limits.public_run, Fallback::Local)];
    }
    let Ok(token) = bearer_token(request.request()) else {
        return Vec::new();
    };

    if token.starts_with(API_KEY_PREFIX) {
        let name = format!("api-key:{}", key_fingerprint(&token));
        return vec![(name, limits.api_key, Fallback::Local)];
    }
    // Only verified callers count, so strangers cannot spend a workspace's or a user's quota.
    // NOTE: a signed-in user who is not a member still counts against the workspace until the
    // handler rejects them.
    let Some(user_id) = verified_user(request, &token).await else {
        return Vec::new();
    };
    match workspace_in(path) {
        Some(workspace_id) => vec![(
            format!("workspace:{workspace_id}"),
            limits.workspace,
            Fallback::Local,
        )],
        None => vec![(format!("user:{user_id}"), limits.user, Fallback::Local)],
    }
}

/// Returns the user an access token was issued to, once the token is verified. Behind the edge
/// check the token is already verified, and in one process it is verified here.
async fn verified_user(request: &ServiceRequest, token: &str) -> Option<Uuid> {
    if let Some(EdgeIdentity::User(user_id)) = request.extensions().get::<EdgeIdentity>() {
        return Some(*user_id);
    }
    let access = request.app_data::<web::Data<Access>>()?;
    access
        .verifier
        .verify(token)
        .await
        .ok()
        .map(|claims| claims.sub)
}

fn set_headers(headers: &mut actix_web::http::header::HeaderMap, decision: &Decision) {
    let pairs = [
        ("ratelimit-limit", decision.limit.to_string()),
        ("ratelimit-remaining", decision.remaining.to_string()),
        ("ratelimit-reset", decision.reset_seconds.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// Middleware function for `actix_web::middleware::from_fn`.
pub async fn rate_limit(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(limits) = request.app_data::<web::Data<RateLimits>>().cloned() else {
        return Ok(next.call(request).await?.map_into_left_body());
    };

    let mut tightest: Option<Decision> = None;
    for (key, quota, fallback) in checks(&request, &limits).await {
        let decision = match limits.limiter.check(&key, quota).await {
            Ok(decision) => decision,
            Err(error) if fallback == Fallback::Local => {
                tracing::warn!(%error, "rate limiting in process memory until Redis returns");
                fallback_counter().inc();
                limits.limiter.check_memory(&key, quota)
            }
            Err(error) => {
                tracing::warn!(%error, "refusing a sign-in request because Redis is unavailable");
                let problem = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Sign-in is unavailable because its rate limiter cannot be reached; try again shortly",
                );
                return Ok(request
                    .into_response(problem.error_response())
                    .map_into_right_body());
            }
        };
        if !decision.allowed {
            let problem = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "The rate limit of {} requests per minute is used up; retry in {} seconds",
                    decision.limit, decision.retry_after_seconds
                ),
            )
            .with_retry_after(decision.retry_after_seconds);
            let mut response = problem.error_response();
            set_headers(response.headers_mut(), &decision);
            return Ok(request.into_response(response).map_into_right_body());
        }
        if tightest.is_none_or(|t| decision.remaining < t.remaining) {
            tightest = Some(decision);
        }
    }

    let mut response = next.call(request).await?;
    if let Some(decision) = tightest {
        set_headers(response.headers_mut(), &decision);
    }
    Ok(response.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_is_read_from_tenant_paths() {
        let id = Uuid::new_v4();
        assert_eq!(
            workspace_in(&format!("/api/v1/workspaces/{id}/members")),
            Some(id)
        );
        assert_eq!(workspace_in("/api/v1/workspaces"), None);
        assert_eq!(workspace_in("/api/v1/workspaces/not-a-uuid/members"), None);
    }

    #[test]
    fn public_run_paths_are_recognized() {
        let id = Uuid::new_v4();
        let path = format!("/api/v1/public/apps/p-1/actions/{id}/run");
        assert_eq!(public_run_app(&path), Some("p-1"));
        assert_eq!(public_run_app(&format!("/api/v1/public/apps/{id}")), None);
    }

    #[test]
    fn fingerprint_hides_the_key() {
        let fingerprint = key_fingerprint("trk_secret-value");
        assert_eq!(fingerprint.len(), 24);
        assert!(!fingerprint.contains("secret"));
    }
}
