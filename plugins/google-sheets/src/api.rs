//! Requests to the Sheets API with the access token, one new token after a 401, and Google's
//! error shape turned into upstream errors.

use std::cell::RefCell;
use std::time::Duration;

use serde::Deserialize;
use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::retry::{self, Budget};
use trellis_connector_sdk::{serde_json, Error, Value};

use crate::auth::{self, Token};
use crate::config::Config;

/// Time for a whole call, retries and their waits included. The guest cannot read the host's
/// deadline, so a shorter action timeout ends the call first.
const CALL_BUDGET: Duration = Duration::from_secs(30);

/// Characters of a response body kept in an error message when it is not Google's error shape.
const ERROR_BODY_CHARS: usize = 4_000;

/// Google's error body, such as
/// `{"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED"}}`.
#[derive(Deserialize)]
struct GoogleError {
    error: GoogleErrorBody,
}

#[derive(Deserialize)]
struct GoogleErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// Sends the requests of one call, reusing its token across them.
pub(crate) struct Client<'a> {
    config: &'a Config,
    token: RefCell<Option<Token>>,
    budget: Budget,
}

impl<'a> Client<'a> {
    pub fn new(config: &'a Config) -> Self {
        Client {
            config,
            token: RefCell::new(None),
            budget: Budget::new(CALL_BUDGET),
        }
    }

    /// Sends a request to a path under `/v4/spreadsheets` and returns the JSON response, or an
    /// upstream error with Google's status and message.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
        let response = self.send_raw(method, path, body)?;
        if response.status() >= 400 {
            return Err(upstream_error(&response));
        }
        if response.bytes().is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        response.json()
    }

    /// Sends a request and returns the response whatever its status. A 401 to a token that
    /// this call did not fetch drops that token and sends the request once more with a new one.
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, Error> {
        let url = self.config.spreadsheets_url(path);
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|error| Error::Internal(format!("serializing the request failed: {error}")))?;

        let token = self.token()?;
        let response = self.send_retrying(method, &url, &token.value, body.as_deref())?;
        if response.status() != 401 || token.fresh {
            return Ok(response);
        }
        auth::forget(self.config, &token)?;
        let token = auth::new_token(self.config)?;
        *self.token.borrow_mut() = Some(token.clone());
        self.send_retrying(method, &url, &token.value, body.as_deref())
    }

    /// Sends one request. A 429 (Google's per-minute quota) is retried because Google did not
    /// run the request. A 5xx is retried only for reads and updates, because an append or a
    /// batch update may have run.
    fn send_retrying(
        &self,
        method: &str,
        url: &str,
        token: &str,
        body: Option<&[u8]>,
    ) -> Result<Response, Error> {
        let repeatable = matches!(method, "GET" | "PUT");
        let retryable = |status: u16| status == 429 || (repeatable && (500..600).contains(&status));
        let build = || request(method, url, token, body);
        retry::send_retrying(build, self.config.max_attempts, self.budget, retryable)
            .map_err(denied_hint)
    }

    fn token(&self) -> Result<Token, Error> {
        if let Some(token) = self.token.borrow().as_ref() {
            return Ok(token.clone());
        }
        let token = auth::access_token(self.config)?;
        *self.token.borrow_mut() = Some(token.clone());
        Ok(token)
    }
}

fn request(method: &str, url: &str, token: &str, body: Option<&[u8]>) -> Request {
    let request = Request::new(method, url)
        .bearer(token)
        .header("accept", "application/json");
    match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(body.to_vec()),
        None => request,
    }
}

/// Adds to a refused destination which origins the connector may reach.
pub(crate) fn denied_hint(error: Error) -> Error {
    match error {
        Error::Denied(message) => Error::Denied(format!(
            "{message}; this connector reaches only the origins of `base_url` and `token_url`"
        )),
        other => other,
    }
}

/// Turns a 4xx or 5xx response into an upstream error carrying Google's status name and
/// message, or the start of the body when it is not Google's error shape.
pub(crate) fn upstream_error(response: &Response) -> Error {
    Error::Upstream {
        status: Some(response.status()),
        message: error_message(response),
    }
}

/// Returns the message of a 4xx or 5xx response, such as `the Google Sheets API returned 403
/// PERMISSION_DENIED: The caller does not have permission`.
pub(crate) fn error_message(response: &Response) -> String {
    let status = response.status();
    let detail = match response.json::<GoogleError>() {
        Ok(GoogleError {
            error:
                GoogleErrorBody {
                    message,
                    status: Some(name),
                },
        }) => {
            format!(" {name}: {}", message.unwrap_or_default())
        }
        Ok(GoogleError {
            error:
                GoogleErrorBody {
                    message: Some(message),
                    status: None,
                },
        }) => {
            format!(": {message}")
        }
        _ => {
            let body: String = response.text().chars().take(ERROR_BODY_CHARS).collect();
            format!(": {body}")
        }
    };
    format!("the Google Sheets API returned {status}{detail}")
}
