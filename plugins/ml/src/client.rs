//! Sending requests within a call's time budget, reading the error bodies of model servers,
//! and naming the step of a failed connection test.

use std::time::{Duration, Instant};

use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::{serde_json, Error, Value};

use crate::config::Config;

/// Characters of an error message kept from a response body.
const ERROR_CHARS: usize = 4_000;

/// The time allowed for a whole call, waits for a loading model included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    started: Instant,
    total: Duration,
}

impl Budget {
    pub fn new(total: Duration) -> Self {
        Budget {
            started: Instant::now(),
            total,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.total.saturating_sub(self.started.elapsed())
    }

    pub fn total_ms(&self) -> u128 {
        self.total.as_millis()
    }
}

/// Sends requests with the resource's headers and authentication.
pub(crate) struct Client<'a> {
    pub config: &'a Config,
    pub budget: Budget,
}

impl Client<'_> {
    /// Sends one request; `body` is sent as JSON. Any status counts as success here.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Response, Error> {
        let remaining = self.budget.remaining();
        if remaining.is_zero() {
            return Err(Error::TimedOut(format!(
                "the call's time budget of {} ms ran out",
                self.budget.total_ms()
            )));
        }
        let mut request = Request::new(method, url)
            .header("accept", "application/json")
            .timeout_ms(u32::try_from(remaining.as_millis()).unwrap_or(u32::MAX));
        for (name, value) in self.config.request_headers() {
            request = request.header(&name, &value);
        }
        for (name, value) in extra_headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.json(body)?;
        }
        request.send()
    }

    pub fn get(&self, url: &str) -> Result<Response, Error> {
        self.send("GET", url, None, &[])
    }
}

/// Reads a JSON body, or fails with the status and the start of the body.
pub(crate) fn json_body(response: &Response, what: &str) -> Result<Value, Error> {
    if response.bytes().iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(response.bytes()).map_err(|error| Error::Upstream {
        status: Some(response.status()),
        message: format!(
            "{what} returned {} with a body that is not JSON ({error}): {}",
            response.status(),
            excerpt(&response.text())
        ),
    })
}

/// Builds the error of a 4xx or 5xx response, carrying the status and the server's own message.
pub(crate) fn status_error(response: &Response, what: &str) -> Error {
    Error::Upstream {
        status: Some(response.status()),
        message: format!(
            "{what} returned {}: {}",
            response.status(),
            error_detail(response)
        ),
    }
}

/// The message in an error body: `{"error": "..."}` (KServe, MLServer, Hugging Face),
/// `{"error": {"message": ...}}`, `{"detail": ...}` (FastAPI validation), `{"message": ...}`,
/// the last line of a Python traceback, or the start of the text.
pub(crate) fn error_detail(response: &Response) -> String {
    let text = response.text();
    if text.trim().is_empty() {
        return "(empty body)".into();
    }
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        let found = match &value {
            Value::Object(object) => ["error", "detail", "message"]
                .iter()
                .find_map(|key| object.get(*key))
                .map(|found| match found {
                    Value::String(message) => message.clone(),
                    Value::Object(inner) => match inner.get("message") {
                        Some(Value::String(message)) => message.clone(),
                        _ => found.to_string(),
                    },
                    Value::Array(items) if items.iter().all(Value::is_string) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                }),
            _ => None,
        };
        return excerpt(&found.unwrap_or(text));
    }
    if text.contains("Traceback (most recent call last)") {
        if let Some(line) = text.lines().rev().find(|line| !line.trim().is_empty()) {
            return excerpt(line.trim());
        }
    }
    excerpt(text.trim())
}

fn excerpt(text: &str) -> String {
    if text.chars().count() > ERROR_CHARS {
        format!("{}...", text.chars().take(ERROR_CHARS).collect::<String>())
    } else {
        text.to_string()
    }
}

/// Connection steps, each named by the prefix of the host's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
];

/// Sends a connection test's request and names the failed step: DNS, connect or TLS for a
/// transport failure, authentication for 401 and 403, request for any other error status.
/// `accept` decides which statuses pass.
pub(crate) fn probe(
    client: &Client,
    url: &str,
    accept: impl Fn(u16) -> bool,
) -> Result<Response, Error> {
    let response = match client.get(url) {
        Ok(response) => response,
        Err(Error::Upstream { status, message }) => {
            let step = CONNECTION_STEPS
                .iter()
                .find(|(prefix, _)| message.starts_with(prefix))
                .map_or("request", |(_, step)| step);
            return Err(Error::Upstream {
                status,
                message: format!("the connection test failed at the {step} step: {message}"),
            });
        }
        Err(Error::TimedOut(message)) => {
            return Err(Error::TimedOut(format!(
                "the connection test timed out at the connect or request step: {message}"
            )))
        }
        Err(other) => return Err(other),
    };
    let status = response.status();
    if matches!(status, 401 | 403) {
        return Err(step_error(&response, "authentication", url));
    }
    if !accept(status) {
        return Err(step_error(&response, "request", url));
    }
    Ok(response)
}

/// Builds a connection test's failure at `step` for a response with an error status.
pub(crate) fn step_error(response: &Response, step: &str, url: &str) -> Error {
    Error::Upstream {
        status: Some(response.status()),
        message: format!(
            "the connection test failed at the {step} step: GET {url} returned {}: {}",
            response.status(),
            error_detail(response)
        ),
    }
}

/// Percent-encodes a path segment, leaving only RFC 3986's unreserved characters.
pub(crate) fn encode_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Checks a model name used as one path segment and encodes it.
pub(crate) fn name_segment(name: &str, field: &str) -> Result<String, Error> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::InvalidInput(format!(
            "the field `{field}` must be a model name, not `{name}`"
        )));
    }
    Ok(encode_segment(name))
}
