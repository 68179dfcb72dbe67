//! The auth service's one error type and its mapping to problem documents.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use trellis_problem::Problem;
use trellis_tokens::AccessError;

/// Every way an auth request can fail.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid field {field}: {message}")]
    Validation {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("too many failed attempts")]
    Throttled { retry_after: u64 },
    #[error("{0} was not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AuthError {
    /// Builds a validation error on one field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AuthError::Validation {
            field,
            message: message.into(),
        }
    }

    /// Builds a conflict with a stable code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AuthError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Converts the error to its problem document. This is the only place statuses are chosen.
    pub fn to_problem(&self) -> Problem {
        match self {
            AuthError::Validation { field, message } => Problem::validation(field, message.clone()),
            AuthError::Unauthenticated(message) => {
                Problem::new(StatusCode::UNAUTHORIZED, "unauthenticated", message.clone())
            }
            AuthError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The email or password is wrong",
            ),
            AuthError::Throttled { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("Too many failed sign-in attempts; try again in {retry_after} seconds"),
            )
            .with_retry_after(*retry_after),
            AuthError::NotFound(what) => Problem::not_found(what),
            AuthError::Forbidden(message) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", message.clone())
            }
            AuthError::Conflict { code, message } => {
                Problem::new(StatusCode::CONFLICT, code, message.clone())
            }
            AuthError::Access(error) => error.to_problem(),
            AuthError::Unavailable(what) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{what} is unavailable; try again shortly"),
            ),
            AuthError::Internal(_) => Problem::internal(),
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        self.to_problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if let AuthError::Internal(error) = self {
            tracing::error!(error = format!("{error:#}"), "auth request failed");
        }
        self.to_problem().error_response()
    }
}

impl From<sea_orm::DbErr> for AuthError {
    fn from(error: sea_orm::DbErr) -> Self {
        AuthError::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Result of auth service functions.
pub type AuthResult<T> = Result<T, AuthError>;
