//! Problem details (RFC 9457) shared by every service, and the request id they carry.
//!
//! Each service keeps its own error enum and maps it to a [`Problem`] in one place. The request
//! id middleware in `trellis-telemetry` sets [`REQUEST_ID`] around each request, so a problem
//! built anywhere inside the handler carries the id of the request that caused it.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

mod json;

pub use json::{
    json_config, parse_body, path_config, query_config, read_limited, BodyLimit, Json,
    DEFAULT_BODY_LIMIT,
};

tokio::task_local! {
    /// Request id of the request being served on this task.
    pub static REQUEST_ID: String;
}

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document with a stable machine-readable `code`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference that names the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence and what to do about it.
    pub detail: String,
    /// Stable error code, for example `validation_failed` or `not_found`.
    pub code: String,
    /// The request field at fault, as a dotted path, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Id of the request, as echoed in the `X-Request-Id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds to wait before retrying, on throttled requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// Builds a problem with the given status, stable code and detail message.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        Problem {
            kind: format!("https://trellis.dev/problems/{code}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            field: None,
            request_id: current_request_id(),
            retry_after: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a `Retry-After` in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Builds a 400 naming the field and what is wrong with it.
    pub fn validation(field: &str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "validation_failed", detail).with_field(field)
    }

    /// Builds a 404 for a resource that does not exist or that the caller may not know about.
    pub fn not_found(what: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} was not found"),
        )
    }

    /// Builds a 500 whose detail hides the cause, which goes to the log instead.
    pub fn internal() -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The server failed to complete the request; the request id identifies it in the logs",
        )
    }

    /// Status as an actix status code.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(Problem::status_code(self));
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(self)
    }
}

/// Returns the request id of the request served on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}
