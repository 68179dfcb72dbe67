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
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Body as _, Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

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

/// The request body the gateway sends upstream: empty, or the client's body as it arrives.
type OutgoingBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// The address of one service: its scheme and authority, and the path prefix of its routes
/// (empty for routes at the root).
#[derive(Clone)]
struct Target {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

impl Target {
    fn parse(setting: &str, url: &str) -> Result<Self, InvalidUpstream> {
        let invalid = |reason: &str| InvalidUpstream(format!("{setting} `{url}` {reason}"));
        let uri: Uri = url
            .parse()
            .map_err(|_| invalid("is not a URL; write it as http://host:port"))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| invalid("has no scheme"))?;
        if scheme != Scheme::HTTP {
            return Err(invalid(
                "must use http: the gateway reaches services over plain HTTP",
            ));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("has no host"))?;
        if uri.query().is_some() {
            return Err(invalid("must not have a query"));
        }
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(Target {
            scheme,
            authority,
            prefix,
        })
    }
}

/// An upstream URL the gateway cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUpstream(String);

/// The services' addresses and the pooled client that reaches them, one copy per server worker
/// (see `for_worker`).
pub struct Upstreams {
    /// Indexed by `Upstream`.
    targets: [Target; 3],
    timeouts: Timeouts,
    client: Client<HttpConnector, OutgoingBody>,
}

impl Upstreams {
    /// Upstreams reached over keep-alive connections, each call bounded by its route's timeout.
    /// Fails, naming the setting, when a URL is not an `http://` URL.
    pub fn new(
        auth: &str,
        apps: &str,
        exec: &str,
        timeouts: Timeouts,
    ) -> Result<Self, InvalidUpstream> {
        let targets = [
            Target::parse("auth_url", auth)?,
            Target::parse("apps_url", apps)?,
            Target::parse("exec_url", exec)?,
        ];
        Ok(Upstreams {
            targets,
            timeouts,
            client: pooled_client(),
        })
    }

    /// Copies these upstreams with a connection pool of their own, for one server worker. A
    /// pooled connection is driven on the thread that opened it. A worker that borrowed another
    /// worker's connection would wake that thread to send the request, and the response would
    /// wake the worker again.
    pub fn for_worker(&self) -> Self {
        Upstreams {
            targets: self.targets.clone(),
            timeouts: self.timeouts,
            client: pooled_client(),
        }
    }

    /// Builds the URI of `path` and `query` at a service, under its path prefix.
    fn uri(&self, upstream: Upstream, path: &str, query: &str) -> Option<Uri> {
        let target = &self.targets[upstream as usize];
        let mut path_and_query =
            String::with_capacity(target.prefix.len() + path.len() + query.len() + 1);
        path_and_query.push_str(&target.prefix);
        path_and_query.push_str(path);
        if !query.is_empty() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        Uri::builder()
            .scheme(target.scheme.clone())
            .authority(target.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .ok()
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

/// Builds a client over keep-alive connections. A request is sent again only when its pooled
/// connection closed before any of it was written, so no service receives a request twice. Idle
/// connections are dropped before the services' own 5-second keep-alive closes them, so that
/// this seldom happens.
fn pooled_client() -> Client<HttpConnector, OutgoingBody> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(4))
        .pool_timer(TokioTimer::new())
        .build(connector)
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

    let uri = upstreams
        .uri(upstream, request.path(), request.query_string())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "The path or query is not a valid URL; percent-encode reserved characters",
            )
        })?;
    let method = http::Method::from_bytes(request.method().as_str().as_bytes()).map_err(|_| {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Unsupported method",
        )
    })?;
    let deadline =
        Instant::now() + upstreams.timeout_for(request.method().as_str(), request.path());

    let mut outgoing = http::Request::builder().method(method).uri(uri);
    let headers = outgoing
        .headers_mut()
        .expect("the method and URI were checked");
    for (name, value) in request.headers() {
        let name = name.as_str();
        if HOP_BY_HOP.contains(&name) || name == "host" || name == REQUEST_ID_HEADER {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    // The service logs the request under the gateway's id, which the client also receives.
    if let Some(RequestId(id)) = request.extensions().get::<RequestId>() {
        if let Ok(value) = HeaderValue::from_str(id) {
            headers.insert(REQUEST_ID_HEADER, value);
        }
    }
    if let Some(peer) = request.peer_addr() {
        if let Ok(value) = HeaderValue::from_str(&peer.ip().to_string()) {
            headers.insert("x-forwarded-for", value);
        }
    }

    let overflow = Arc::new(AtomicBool::new(false));
    let chunked = request.headers().contains_key("transfer-encoding");
    let body = if chunked || declared.is_some_and(|length| length > 0) {
        stream_body(payload, limit, overflow.clone())
    } else {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    };
    let outgoing = outgoing
        .body(body)
        .expect("the method, URI and headers were checked");

    let sent = tokio::time::timeout_at(deadline, upstreams.client.request(outgoing)).await;
    let response = match sent {
        Ok(Ok(response)) => response,
        Ok(Err(_)) if overflow.load(Ordering::Relaxed) => return Err(too_large(limit)),
        Ok(Err(error)) => {
            tracing::warn!(?upstream, %error, "upstream call failed");
            return Err(unavailable("The service is unavailable"));
        }
        Err(_) => {
            tracing::warn!(?upstream, "upstream call timed out");
            return Err(upstream_timeout());
        }
    };

    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != http::header::CONTENT_LENGTH {
            builder.append_header((name.as_str(), value.as_bytes()));
        }
    }
    // A small body of known length is passed on whole, keeping its Content-Length. Larger or
    // chunked ones are streamed, within the same deadline.
    let length = response.body().size_hint().exact();
    let body = response.into_body();
    if length.is_some_and(|length| length <= BUFFERED_RESPONSE_BYTES) {
        let collected = match tokio::time::timeout_at(deadline, body.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) => {
                tracing::warn!(?upstream, %error, "reading the upstream response failed");
                return Err(unavailable(
                    "The service stopped while sending its response",
                ));
            }
            Err(_) => {
                tracing::warn!(?upstream, "reading the upstream response timed out");
                return Err(upstream_timeout());
            }
        };
        return Ok(builder.body(collected));
    }
    Ok(builder.streaming(stream_response(body, deadline)))
}

fn unavailable(detail: &'static str) -> Problem {
    Problem::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", detail)
}

fn upstream_timeout() -> Problem {
    Problem::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
        "The service did not answer in time",
    )
}

/// Passes a large response's body on as it arrives. A body that fails or is still arriving at
/// the deadline ends the stream with an error, so the client's connection is closed rather
/// than the response looking complete.
fn stream_response(
    body: Incoming,
    deadline: Instant,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(None) => return None,
                Ok(Some(Err(error))) => return Some((Err(std::io::Error::other(error)), None)),
                Err(_) => {
                    let error = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the service did not finish its response in time",
                    );
                    return Some((Err(error), None));
                }
            };
            // Trailers carry no data; keep reading.
            if let Ok(data) = frame.into_data() {
                return Some((Ok(data), Some(body)));
            }
        }
    })
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
fn stream_body(payload: web::Payload, limit: usize, overflow: Arc<AtomicBool>) -> OutgoingBody {
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
        receiver
            .recv()
            .await
            .map(|item| (item.map(Frame::data), receiver))
    });
    StreamBody::new(chunks).boxed_unsync()
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

    fn timeouts() -> Timeouts {
        Timeouts {
            default: Duration::from_secs(1),
            long: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn forwarded_urls_keep_path_query_and_base_path() {
        let upstreams = Upstreams::new(
            "http://127.0.0.1:1/",
            "http://127.0.0.1:2/apps-prefix/",
            "http://127.0.0.1:3",
            timeouts(),
        )
        .unwrap();

        let auth = upstreams.uri(Upstream::Auth, "/api/v1/me", "");
        let apps = upstreams.uri(Upstream::Apps, "/api/v1/workspaces/w/apps", "limit=5");
        let exec = upstreams.uri(Upstream::Exec, "/api/v1/plugins/builtin:echo", "q=a%20b");

        assert_eq!(auth.unwrap().to_string(), "http://127.0.0.1:1/api/v1/me");
        assert_eq!(
            apps.unwrap().to_string(),
            "http://127.0.0.1:2/apps-prefix/api/v1/workspaces/w/apps?limit=5"
        );
        assert_eq!(
            exec.unwrap().to_string(),
            "http://127.0.0.1:3/api/v1/plugins/builtin:echo?q=a%20b"
        );
    }

    #[tokio::test]
    async fn worker_copy_keeps_targets() {
        let upstreams = Upstreams::new(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2/apps-prefix",
            "http://127.0.0.1:3",
            timeouts(),
        )
        .unwrap();

        let worker = upstreams.for_worker();

        let apps = worker.uri(Upstream::Apps, "/api/v1/workspaces/w/apps", "");
        assert_eq!(
            apps.unwrap().to_string(),
            "http://127.0.0.1:2/apps-prefix/api/v1/workspaces/w/apps"
        );
        let run = "/api/v1/workspaces/w/apps/a/actions/x/run";
        assert_eq!(worker.timeout_for("POST", run), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn unusable_upstream_urls_are_named() {
        let cases = [
            ("not a url", "auth_url `not a url` is not a URL"),
            ("127.0.0.1:8081", "auth_url `127.0.0.1:8081` has no scheme"),
            (
                "https://auth.internal",
                "auth_url `https://auth.internal` must use http",
            ),
            ("http://auth.internal/?x=1", "must not have a query"),
        ];
        for (url, expected) in cases {
            let error = Upstreams::new(url, "http://127.0.0.1:2", "http://127.0.0.1:3", timeouts())
                .err()
                .unwrap_or_else(|| panic!("{url} was accepted"));
            assert!(error.to_string().contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn internal_routes_are_not_forwarded() {
        assert_eq!(upstream_for("/internal/v1/api-keys/resolve"), None);
    }
}
