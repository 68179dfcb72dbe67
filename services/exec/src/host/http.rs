//! The `http` import: a typed fetch through reqwest with the allow-list, the SSRF guard on
//! every hop, timeouts and a response size cap.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode, Url};

use super::guard::{self, GuardError};
use super::network::{NetworkPolicy, Origin};
use crate::runtime::HostState;
use crate::runtime_bindings::http::{Host, HttpError, Request, Response, TlsOptions};

/// Limits of outbound HTTP.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// Maximum total time for one fetch, redirects included. The call's deadline may cut it
    /// shorter.
    pub total_timeout: Duration,
    pub max_response_bytes: usize,
    pub max_request_bytes: usize,
    pub max_redirects: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_response_bytes: 10 << 20,
            max_request_bytes: 10 << 20,
            max_redirects: 5,
        }
    }
}

/// Request headers the guest may not set: the host sets them from the vetted URL and body.
const FORBIDDEN_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// Headers dropped when a redirect leaves the original origin.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

impl Host for HostState {
    async fn fetch(&mut self, request: Request) -> Result<Response, HttpError> {
        self.fetch_logged(request, Tls::default()).await
    }

    async fn fetch_with_tls(
        &mut self,
        request: Request,
        tls: TlsOptions,
    ) -> Result<Response, HttpError> {
        let tls = Tls::from_options(tls)?;
        self.fetch_logged(request, tls).await
    }
}

/// TLS settings of one fetch, checked.
#[derive(Default)]
struct Tls {
    certificates: Vec<reqwest::Certificate>,
    skip_verification: bool,
}

impl Tls {
    fn from_options(options: TlsOptions) -> Result<Self, HttpError> {
        let certificates = match options.ca_certificates {
            Some(pem) => {
                reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|error| {
                    HttpError::InvalidRequest(format!(
                        "the CA certificates are not valid PEM: {error}"
                    ))
                })?
            }
            None => Vec::new(),
        };
        Ok(Tls {
            certificates,
            skip_verification: options.skip_verification,
        })
    }
}

impl HostState {
    async fn fetch_logged(&mut self, request: Request, tls: Tls) -> Result<Response, HttpError> {
        let settings = self.services.http;
        let started = Instant::now();
        let remaining = self.deadline.saturating_duration_since(started);
        let requested = request
            .timeout_ms
            .map(|ms| Duration::from_millis(ms.into()));
        let budget = requested
            .unwrap_or(settings.total_timeout)
            .min(settings.total_timeout);
        let budget = budget.min(remaining);

        let outcome = self
            .fetch_with_redirects(request, &tls, settings, started + budget)
            .await;
        if let Err(error) = &outcome {
            tracing::info!(
                run_id = %self.call.run_id,
                workspace_id = %self.call.workspace_id,
                plugin = %self.call.plugin,
                error.type = http_error_kind(error),
                "a connector's fetch failed"
            );
        }
        outcome
    }

    async fn fetch_with_redirects(
        &mut self,
        request: Request,
        tls: &Tls,
        settings: super::http::HttpSettings,
        deadline: Instant,
    ) -> Result<Response, HttpError> {
        let mut method = parse_method(&request.method)?;
        let mut url = Url::parse(&request.url)
            .map_err(|error| HttpError::InvalidRequest(format!("the URL is invalid: {error}")))?;
        let mut headers = request.headers;
        let mut body = request.body;
        if body
            .as_ref()
            .is_some_and(|body| body.len() > settings.max_request_bytes)
        {
            return Err(HttpError::InvalidRequest(format!(
                "the request body is larger than {} bytes",
                settings.max_request_bytes
            )));
        }
        headers
            .retain(|(name, _)| !FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
        let first_origin = Origin::of(&url);

        for _ in 0..=settings.max_redirects {
            let hop = Hop {
                method: &method,
                url: &url,
                headers: &headers,
                body: &body,
            };
            let response = send_once(&self.call.network, hop, tls, settings, deadline).await?;
            let Some(next) = redirect_target(&url, &response)? else {
                return read_response(response, settings.max_response_bytes, deadline).await;
            };

            // 303, and 301/302 after POST, turn into a GET without a body, as browsers do.
            let status = response.status();
            if status == StatusCode::SEE_OTHER
                || (method == Method::POST && matches!(status.as_u16(), 301 | 302))
            {
                method = Method::GET;
                body = None;
            }
            if Origin::of(&next) != first_origin {
                headers.retain(|(name, _)| {
                    !CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                });
            }
            url = next;
        }
        Err(HttpError::Connection(format!(
            "more than {} redirects",
            settings.max_redirects
        )))
    }
}

/// One request of a redirect chain.
struct Hop<'a> {
    method: &'a Method,
    url: &'a Url,
    headers: &'a [(String, String)],
    body: &'a Option<Vec<u8>>,
}

/// Checks one hop against the allow-list and the guard, then connects only to the vetted
/// addresses.
async fn send_once(
    network: &NetworkPolicy,
    hop: Hop<'_>,
    tls: &Tls,
    settings: HttpSettings,
    deadline: Instant,
) -> Result<reqwest::Response, HttpError> {
    let Hop {
        method,
        url,
        headers,
        body,
    } = hop;
    let origin = Origin::of(url).ok_or_else(|| {
        HttpError::InvalidRequest(format!("{url} is not an absolute http or https URL"))
    })?;
    if !network.allows_origin(&origin) {
        return Err(HttpError::Denied(format!(
            "{}://{}:{} is not one of the resource's base URLs",
            url.scheme(),
            origin.host(),
            origin.port()
        )));
    }

    let remaining = deadline.saturating_duration_since(Instant::now());
    let allow_internal = network.allows_internal(&origin);
    let addresses = guard::resolve(origin.host(), origin.port(), allow_internal, remaining)
        .await
        .map_err(|error| match error {
            GuardError::Rejected(message) => HttpError::Denied(message),
            GuardError::Resolve(message) => {
                HttpError::Connection(format!("{DNS_FAILED}: {message}"))
            }
        })?;

    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.connect_timeout.min(remaining))
        .timeout(remaining)
        .resolve_to_addrs(origin.host(), &addresses)
        .danger_accept_invalid_certs(tls.skip_verification);
    for certificate in &tls.certificates {
        builder = builder.add_root_certificate(certificate.clone());
    }
    let client = builder
        .build()
        .map_err(|error| HttpError::Connection(format!("building the client failed: {error}")))?;

    let mut builder = client.request(method.clone(), url.clone());
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = body {
        builder = builder.body(body.clone());
    }
    builder.send().await.map_err(map_reqwest_error)
}

fn parse_method(text: &str) -> Result<Method, HttpError> {
    match text.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        "HEAD" => Ok(Method::HEAD),
        other => Err(HttpError::InvalidRequest(format!(
            "the method {other} is not supported"
        ))),
    }
}

fn redirect_target(url: &Url, response: &reqwest::Response) -> Result<Option<Url>, HttpError> {
    if !response.status().is_redirection() {
        return Ok(None);
    }
    let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
        return Ok(None);
    };
    let location = location
        .to_str()
        .map_err(|_| HttpError::Connection("the redirect location is not text".into()))?;
    let next = url.join(location).map_err(|error| {
        HttpError::Connection(format!("the redirect location is invalid: {error}"))
    })?;
    Ok(Some(next))
}

async fn read_response(
    mut response: reqwest::Response,
    max_bytes: usize,
    deadline: Instant,
) -> Result<Response, HttpError> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();

    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(HttpError::TooLarge(max_bytes as u64));
    }
    let mut body = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(remaining, response.chunk())
            .await
            .map_err(|_| HttpError::TimedOut)?
            .map_err(map_reqwest_error)?;
        let Some(chunk) = chunk else {
            break;
        };
        if body.len() + chunk.len() > max_bytes {
            return Err(HttpError::TooLarge(max_bytes as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Prefixes of connection failures, naming the step that failed so a connection test can
/// report it.
const DNS_FAILED: &str = "DNS lookup failed";
const CONNECT_FAILED: &str = "connecting failed";
const TLS_FAILED: &str = "TLS handshake failed";

fn map_reqwest_error(error: reqwest::Error) -> HttpError {
    if error.is_timeout() {
        return HttpError::TimedOut;
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    // NOTE: rustls errors reach here wrapped in io::Error, whose source chain skips them, so
    // TLS failures are recognised by their text.
    let lower = message.to_ascii_lowercase();
    let tls = ["certificate", "tls", "handshake"]
        .iter()
        .any(|word| lower.contains(word));
    if tls && error.is_connect() {
        return HttpError::Connection(format!("{TLS_FAILED}: {message}"));
    }
    if error.is_connect() {
        return HttpError::Connection(format!("{CONNECT_FAILED}: {message}"));
    }
    HttpError::Connection(message)
}

fn http_error_kind(error: &HttpError) -> &'static str {
    match error {
        HttpError::InvalidRequest(_) => "invalid_request",
        HttpError::Denied(_) => "denied",
        HttpError::TimedOut => "timed_out",
        HttpError::TooLarge(_) => "too_large",
        HttpError::Connection(_) => "connection",
    }
}
