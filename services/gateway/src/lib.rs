//! The API gateway: in distributed mode it forwards each public route to the service that owns
//! it. In embedded mode every service is mounted in one app and no forwarding happens.

mod limiter;
mod rate_limit;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
pub use limiter::{Decision, Limiter, Quota, Unavailable};
pub use rate_limit::{rate_limit, RateLimits};
use trellis_problem::{read_limited, BodyLimit, Problem, DEFAULT_BODY_LIMIT};

/// Headers that describe one connection and are never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The service that owns a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Auth,
    Apps,
    Exec,
}

/// Base URLs of the services and the pooled client that reaches them.
pub struct Upstreams {
    pub auth: String,
    pub apps: String,
    pub exec: String,
    client: reqwest::Client,
}

impl Upstreams {
    /// Upstreams reached over keep-alive connections, each call bounded by `timeout`.
    pub fn new(auth: &str, apps: &str, exec: &str, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default settings builds");
        let trim = |url: &str| url.trim_end_matches('/').to_string();
        Upstreams {
            auth: trim(auth),
            apps: trim(apps),
            exec: trim(exec),
            client,
        }
    }

    fn base(&self, upstream: Upstream) -> &str {
        match upstream {
            Upstream::Auth => &self.auth,
            Upstream::Apps => &self.apps,
            Upstream::Exec => &self.exec,
        }
    }
}

/// Picks the service that owns a public path; internal and unknown paths have none.
pub fn upstream_for(path: &str) -> Option<Upstream> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [".well-known", "jwks.json"] => Some(Upstream::Auth),
        ["api", "v1", "auth", ..] | ["api", "v1", "me"] | ["api", "v1", "invites", ..] => {
            Some(Upstream::Auth)
        }
        ["api", "v1", "plugins", ..] => Some(Upstream::Exec),
        ["api", "v1", "public", "apps", _] => Some(Upstream::Apps),
        ["api", "v1", "public", "apps", _, "actions", _, "run"] => Some(Upstream::Exec),
        ["api", "v1", "workspaces"] | ["api", "v1", "workspaces", _] => Some(Upstream::Auth),
        ["api", "v1", "workspaces", _, area, rest @ ..] => match *area {
            "members" | "invites" | "api-keys" => Some(Upstream::Auth),
            "plugins" | "runs" | "usage" => Some(Upstream::Exec),
            "apps" if rest.len() >= 4 && rest[1] == "actions" && rest[3] == "run" => {
                Some(Upstream::Exec)
            }
            "resources" | "apps" | "audit" => Some(Upstream::Apps),
            _ => None,
        },
        _ => None,
    }
}

/// Forwards a request to the owning service and streams its response back.
pub async fn forward(
    request: HttpRequest,
    payload: web::Payload,
    upstreams: web::Data<Upstreams>,
) -> Result<HttpResponse, Problem> {
    let upstream = upstream_for(request.path()).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No route matches this path; see /docs",
        )
    })?;
    let limit = request
        .app_data::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0);

    // TODO: stream request bodies; they are buffered up to the body limit for now.
    let body = read_limited(&mut payload.into_inner(), limit).await?;

    let query = request.query_string();
    let mut url = format!("{}{}", upstreams.base(upstream), request.path());
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    let method =
        reqwest::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Unsupported method",
            )
        })?;
    let mut outgoing = upstreams.client.request(method, &url).body(body);
    for (name, value) in request.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name.as_str() != "host" {
            outgoing = outgoing.header(name.as_str(), value.as_bytes());
        }
    }
    if let Some(peer) = request.peer_addr() {
        outgoing = outgoing.header("x-forwarded-for", peer.ip().to_string());
    }

    let response = outgoing.send().await.map_err(|error| {
        tracing::warn!(?upstream, %error, "upstream call failed");
        if error.is_timeout() {
            Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                "The service did not answer in time",
            )
        } else {
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "The service is unavailable",
            )
        }
    })?;

    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name.as_str() != "content-length" {
            builder.insert_header((name.as_str(), value.as_bytes()));
        }
    }
    Ok(builder.streaming(response.bytes_stream()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_routes_go_to_auth() {
        assert_eq!(upstream_for("/api/v1/auth/login"), Some(Upstream::Auth));
        assert_eq!(upstream_for("/api/v1/workspaces"), Some(Upstream::Auth));
        assert_eq!(
            upstream_for("/api/v1/workspaces/abc/members/def"),
            Some(Upstream::Auth)
        );
        assert_eq!(upstream_for("/.well-known/jwks.json"), Some(Upstream::Auth));
    }

    #[test]
    fn action_runs_go_to_exec() {
        assert_eq!(
            upstream_for("/api/v1/workspaces/w/apps/a/actions/x/run"),
            Some(Upstream::Exec)
        );
        assert_eq!(
            upstream_for("/api/v1/workspaces/w/apps/a/actions/x"),
            Some(Upstream::Apps)
        );
    }

    #[test]
    fn public_app_links_go_to_apps() {
        assert_eq!(
            upstream_for("/api/v1/public/apps/0190c0de-0000-7000-8000-000000000000"),
            Some(Upstream::Apps)
        );
    }

    #[test]
    fn public_action_runs_go_to_exec() {
        assert_eq!(
            upstream_for("/api/v1/public/apps/p/actions/x/run"),
            Some(Upstream::Exec)
        );
    }

    #[test]
    fn internal_routes_are_not_forwarded() {
        assert_eq!(upstream_for("/internal/v1/api-keys/resolve"), None);
    }
}
