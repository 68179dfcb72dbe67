//! Outbound HTTP through the host. The host only lets a request through to the origins named by
//! the manifest's base URL fields, rejects private and loopback addresses, and caps the time
//! and the response size.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::trellis::connector::http as wit;
pub use crate::bindings::trellis::connector::http::TlsOptions;
use crate::Error;

/// An outbound request, sent with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    inner: wit::Request,
}

impl Request {
    /// A request with the given method, such as `GET` or `POST`, to an absolute URL.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            inner: wit::Request {
                method: method.into(),
                url: url.into(),
                headers: Vec::new(),
                body: None,
                timeout_ms: None,
            },
        }
    }

    /// Starts a `GET` request.
    pub fn get(url: &str) -> Self {
        Request::new("GET", url)
    }

    /// Starts a `POST` request.
    pub fn post(url: &str) -> Self {
        Request::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets a raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.inner.body = Some(body);
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: Serialize>(self, body: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body).map_err(|error| {
            Error::Internal(format!("serializing the request body failed: {error}"))
        })?;
        Ok(self.header("content-type", "application/json").body(bytes))
    }

    /// Sets the total time allowed, in milliseconds; the host caps it.
    pub fn timeout_ms(mut self, milliseconds: u32) -> Self {
        self.inner.timeout_ms = Some(milliseconds);
        self
    }

    /// Sends the request. Any status counts as success here; see
    /// [`Response::error_for_status`].
    pub fn send(self) -> Result<Response, Error> {
        wit::fetch(&self.inner).map(Response).map_err(from_wit)
    }

    /// Sends the request with TLS settings: extra trusted CA certificates, or no certificate
    /// verification at all when the resource's admin asked for it.
    pub fn send_with_tls(self, tls: &TlsOptions) -> Result<Response, Error> {
        wit::fetch_with_tls(&self.inner, tls)
            .map(Response)
            .map_err(from_wit)
    }
}

/// A response, after any redirects.
#[derive(Debug, Clone)]
pub struct Response(wit::Response);

impl Response {
    /// Returns the HTTP status code.
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// Returns the first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .0
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name));
        found.map(|(_, value)| value.as_str())
    }

    /// Returns every header in the order received; names are lowercase.
    pub fn headers(&self) -> &[(String, String)] {
        &self.0.headers
    }

    /// Returns the body bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0.body
    }

    /// Returns the body as text, replacing invalid UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.body).into_owned()
    }

    /// Deserializes a JSON body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.0.body).map_err(|error| Error::Upstream {
            status: Some(self.0.status),
            message: format!("the response is not the expected JSON: {error}"),
        })
    }

    /// Turns a 4xx or 5xx response into [`Error::Upstream`] carrying the start of the body.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.0.status < 400 {
            return Ok(self);
        }
        let text = self.text();
        let message: String = text.chars().take(500).collect();
        Err(Error::Upstream {
            status: Some(self.0.status),
            message,
        })
    }
}

fn from_wit(error: wit::HttpError) -> Error {
    match error {
        wit::HttpError::InvalidRequest(message) => Error::InvalidInput(message),
        wit::HttpError::Denied(message) => Error::Denied(message),
        wit::HttpError::TimedOut => Error::TimedOut("the HTTP request timed out".into()),
        wit::HttpError::TooLarge(limit) => {
            Error::LimitExceeded(format!("the HTTP response is larger than {limit} bytes"))
        }
        wit::HttpError::Connection(message) => Error::Upstream {
            status: None,
            message,
        },
    }
}
