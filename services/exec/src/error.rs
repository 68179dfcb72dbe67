//! The exec service's error type and its one mapping to problem documents.

use actix_web::http::StatusCode;
use actix_web::ResponseError;
use trellis_problem::Problem;
use trellis_tokens::AccessError;

use crate::runtime::{Limit, RunError};

/// Everything that can go wrong in the exec service.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0} was not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("the upload is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the component was rejected: {0}")]
    InvalidComponent(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the runtime is busy")]
    Busy,
    #[error("the connector call failed: {0}")]
    Run(RunError),
    #[error("the workspace quota {quota} of {limit} is used up")]
    QuotaExceeded {
        quota: &'static str,
        limit: u64,
        retry_after: u64,
    },
    #[error("{0}")]
    Transformer(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ExecError {
    /// Converts the error to its problem document.
    pub fn to_problem(&self) -> Problem {
        match self {
            ExecError::Access(error) => error.to_problem(),
            ExecError::NotFound(what) => Problem::not_found(what),
            ExecError::Validation { field, message } => Problem::validation(field, message.clone()),
            ExecError::TooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The upload is larger than the limit of {limit} bytes"),
            ),
            ExecError::InvalidComponent(message) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_component",
                format!("The component was rejected: {message}"),
            ),
            ExecError::Conflict(message) => {
                Problem::new(StatusCode::CONFLICT, "conflict", message.clone())
            }
            ExecError::Busy => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The connector runtime is busy; try again shortly",
            )
            .with_retry_after(1),
            ExecError::Run(error) => run_problem(error),
            ExecError::QuotaExceeded {
                quota,
                limit,
                retry_after,
            } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "quota_exceeded",
                format!(
                    "The workspace quota `{quota}` ({limit}) is used up; retry in {retry_after} seconds"
                ),
            )
            .with_retry_after(*retry_after),
            ExecError::Transformer(message) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "transformer_failed",
                format!("The action's transformer failed: {message}"),
            ),
            ExecError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "exec request failed");
                Problem::internal()
            }
        }
    }
}

fn run_problem(error: &RunError) -> Problem {
    let (status, code) = match error {
        RunError::InvalidConfig { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "connector_invalid_config")
        }
        RunError::InvalidInput { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "connector_invalid_input")
        }
        RunError::Upstream { .. } => (StatusCode::BAD_GATEWAY, "connector_upstream_failed"),
        RunError::Denied { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "connector_denied"),
        RunError::TimedOut { .. } => (StatusCode::GATEWAY_TIMEOUT, "connector_timed_out"),
        RunError::LimitExceeded {
            limit: Limit::Concurrency,
            ..
        } => {
            return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "busy", error.to_string())
                .with_retry_after(1)
        }
        RunError::LimitExceeded { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "connector_limit_exceeded")
        }
        RunError::Crashed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "connector_crashed"),
        RunError::Internal { .. } => (StatusCode::BAD_GATEWAY, "connector_failed"),
    };
    Problem::new(status, code, error.to_string())
}

impl ResponseError for ExecError {
    fn status_code(&self) -> StatusCode {
        self.to_problem().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.to_problem().error_response()
    }
}
