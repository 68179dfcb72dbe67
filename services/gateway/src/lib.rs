//! The API gateway: in distributed mode it forwards each public route to the service that owns
//! it. In embedded mode every service is mounted in one app and no forwarding happens.

mod edge;
mod limiter;
mod rate_limit;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::StreamExt;

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
pub use edge::{authenticate, EdgeAuth, EdgeIdentity, API_KEY_HEADER, USER_HEADER};
pub use limiter::{Decision, Limiter, Quota, Unavailable};
pub use rate_limit::{rate_limit, RateLimits};

use trellis_problem::{BodyLimit, Problem, DEFAULT_BODY_LIMIT};
use trellis_telemetry::{RequestId, REQUEST_ID_HEADER};

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
    Auth = 0,
    Apps = 1,
    Exec = 2,
}

/// Time limits for a service's response to a forwarded request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Most routes.
    pub default: Duration,
    /// Action runs, direct plugin calls and plugin uploads, which may take up to the exec
    /// service's longest deadline or a compilation.
    pub long: Duration,
}

/// Base URLs of the services and the pooled client that reaches them.
pub struct Upstreams {
    pub auth: String,
    pub apps: String,
    pub exec: String,
    /// The base URLs that name no path of their own, parsed once so that a forwarded request
    /// only sets its path and query. Indexed by `Upstream`.
    root_urls: [Option<reqwest::Url>; 3],
    timeouts: Timeouts,
    client: reqwest::Client,
}

impl Upstreams {
    /// Upstreams reached over keep-alive connections, each call bounded by its route's timeout.
    pub fn new(auth: &str, apps: &str, exec: &str, timeouts: Timeouts) -> Self {
        // A failed request is never sent again. reqwest's default policy would resend one that
        // an HTTP/2 server declined, and to be able to, it copies every request's headers.
        let no_retries = reqwest::retry::never().max_retries_per_request(0);
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .retry(no_retries)
            .build()
            .expect("an HTTP client with default settings builds");
        let trim = |url: &str| url.trim_end_matches('/').to_string();
        let parse = |url: &str| {
            reqwest::Url::parse(url)
                .ok()
                .filter(|url| url.path() == "/")
        };
        Upstreams {
            auth: trim(auth),
            apps: trim(apps),
            exec: trim(exec),
            root_urls: [parse(auth), parse(apps), parse(exec)],
            timeouts,
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

    /// Builds the URL of `path` and `query` at a service. A base URL with a path of its own is
    /// joined as text and parsed.
    fn url(&self, upstream: Upstream, path: &str, query: &str) -> Option<reqwest::Url> {
        let query = (!query.is_empty()).then_some(query);
        if let Some(root) = &self.root_urls[upstream as usize] {
            let mut url = root.clone();
            url.set_path(path);
            url.set_query(query);
            return Some(url);
        }

        let mut url = format!("{}{path}", self.base(upstream));
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        reqwest::Url::parse(&url).ok()
    }

    /// Returns the timeout of one route: the long one for runs, plugin calls and uploads.
    pub fn timeout_for(&self, method: &str, path: &str) -> Duration {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let long = match segments.as_slice() {
            [.., "actions", _, "run"] | [.., "plugins", _, "invoke"] => true,
            ["api", "v1", "workspaces", _, "plugins"] => method == "POST",
            _ => false,
        };
        if long {
            self.timeouts.long
        } else {
            self.timeouts.default
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
            "plugins" | "runs" | "usage" | "internal-hosts" => Some(Upstream::Exec),
            "apps" if rest.len() >= 4 && rest[1] == "actions" && rest[3] == "run" => {
                Some(Upstream::Exec)
            }
            "resources" | "apps" | "audit" => Some(Upstream::Apps),
            _ => None,
        },
        _ => None,
    }
}

/// Maximum size, in bytes, of an upstream response that the gateway reads whole before sending.
const BUFFERED_RESPONSE_BYTES: u64 = 256 * 1024;

/// Forwards a request to the owning service and returns its response, streaming large ones.
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
    let declared = declared_length(&request)?;
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }

    let url = upstreams
        .url(upstream, request.path(), request.query_string())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "The path or query is not a valid URL; percent-encode reserved characters",
            )
        })?;
    let method =
        reqwest::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Unsupported method",
            )
        })?;
    let timeout = upstreams.timeout_for(request.method().as_str(), request.path());
    let mut outgoing = upstreams.client.request(method, url).timeout(timeout);
    for (name, value) in request.headers() {
        let name = name.as_str();
        if !HOP_BY_HOP.contains(&name) && name != "host" && name != REQUEST_ID_HEADER {
            outgoing = outgoing.header(name, value.as_bytes());
        }
    }
    // The service logs the request under the gateway's id, which the client also receives.
    if let Some(RequestId(id)) = request.extensions().get::<RequestId>() {
        outgoing = outgoing.header(REQUEST_ID_HEADER, id.as_str());
    }
    if let Some(peer) = request.peer_addr() {
        outgoing = outgoing.header("x-forwarded-for", peer.ip().to_string());
    }
    let overflow = Arc::new(AtomicBool::new(false));
    let chunked = request.headers().contains_key("transfer-encoding");
    if chunked || declared.is_some_and(|length| length > 0) {
        outgoing = outgoing.body(stream_body(payload, limit, overflow.clone()));
    }

    let response = outgoing.send().await.map_err(|error| {
        if overflow.load(Ordering::Relaxed) {
            return too_large(limit);
        }
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
    // A small body of known length is passed on whole, keeping its Content-Length. Larger or
    // chunked ones are streamed.
    if response
        .content_length()
        .is_some_and(|length| length <= BUFFERED_RESPONSE_BYTES)
    {
        let body = response.bytes().await.map_err(|error| {
            tracing::warn!(?upstream, %error, "reading the upstream response failed");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "upstream_unavailable",
                "The service stopped while sending its response",
            )
        })?;
        return Ok(builder.body(body));
    }
    Ok(builder.streaming(response.bytes_stream()))
}

/// Reads `Content-Length`, refusing a value that is not a number.
fn declared_length(request: &HttpRequest) -> Result<Option<usize>, Problem> {
    let Some(value) = request.headers().get("content-length") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_header",
                "Content-Length must be a whole number of bytes",
            )
        })
}

fn too_large(limit: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("The request body is larger than the limit of {limit} bytes; send a smaller body"),
    )
}

/// Streams the request body to the service as it arrives. The payload lives on this worker's
/// thread, so a local task moves its chunks through a channel. Passing `limit` ends the
/// stream with an error and sets `overflow`.
fn stream_body(payload: web::Payload, limit: usize, overflow: Arc<AtomicBool>) -> reqwest::Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    actix_web::rt::spawn(async move {
        let mut payload = payload.into_inner();
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    total += bytes.len();
                    if total > limit {
                        overflow.store(true, Ordering::Relaxed);
                        Err(std::io::Error::other("the request body is over the limit"))
                    } else {
                        Ok(bytes)
                    }
                }
                Err(error) => Err(std::io::Error::other(error.to_string())),
            };
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    reqwest::Body::wrap_stream(chunks)
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
    fn internal_hosts_go_to_exec() {
        assert_eq!(
            upstream_for("/api/v1/workspaces/w/internal-hosts"),
            Some(Upstream::Exec)
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
    fn forwarded_urls_keep_path_query_and_base_path() {
        let timeouts = Timeouts {
            default: Duration::from_secs(1),
            long: Duration::from_secs(2),
        };
        let upstreams = Upstreams::new(
            "http://127.0.0.1:1/",
            "http://127.0.0.1:2/apps-prefix/",
            "http://127.0.0.1:3",
            timeouts,
        );

        let auth = upstreams.url(Upstream::Auth, "/api/v1/me", "");
        let apps = upstreams.url(Upstream::Apps, "/api/v1/workspaces/w/apps", "limit=5");
        let exec = upstreams.url(Upstream::Exec, "/api/v1/plugins/builtin:echo", "q=a%20b");

        assert_eq!(auth.unwrap().as_str(), "http://127.0.0.1:1/api/v1/me");
        assert_eq!(
            apps.unwrap().as_str(),
            "http://127.0.0.1:2/apps-prefix/api/v1/workspaces/w/apps?limit=5"
        );
        assert_eq!(
            exec.unwrap().as_str(),
            "http://127.0.0.1:3/api/v1/plugins/builtin:echo?q=a%20b"
        );
    }

    #[test]
    fn internal_routes_are_not_forwarded() {
        assert_eq!(upstream_for("/internal/v1/api-keys/resolve"), None);
    }
}
