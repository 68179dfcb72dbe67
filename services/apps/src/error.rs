//! The apps service's one error type and its mapping to problem documents.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use trellis_problem::Problem;
use trellis_tokens::AccessError;

/// Every way an apps request can fail.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    #[error("invalid field {field}: {message}")]
    Validation { field: String, message: String },
    #[error("{0} was not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("the connector catalog is unavailable: {0}")]
    CatalogUnavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppsError {
    /// Builds a validation error on one field, named by its dotted path.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppsError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Builds a conflict with a stable code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppsError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Converts the error to its problem document; the only place statuses are chosen.
    pub fn to_problem(&self) -> Problem {
        match self {
            AppsError::Validation { field, message } => Problem::validation(field, message.clone()),
            AppsError::NotFound(what) => Problem::not_found(what),
            AppsError::Forbidden(message) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", message.clone())
            }
            AppsError::Conflict { code, message } => {
                Problem::new(StatusCode::CONFLICT, code, message.clone())
            }
            AppsError::TooLarge(message) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                message.clone(),
            ),
            AppsError::Access(error) => error.to_problem(),
            AppsError::CatalogUnavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The connector catalog is unavailable; try again shortly",
            ),
            AppsError::Internal(_) => Problem::internal(),
        }
    }
}

impl ResponseError for AppsError {
    fn status_code(&self) -> StatusCode {
        self.to_problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppsError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "apps request failed");
            }
            AppsError::CatalogUnavailable(reason) => {
                tracing::warn!(%reason, "connector catalog call failed");
            }
            _ => {}
        }
        self.to_problem().error_response()
    }
}

impl From<sea_orm::DbErr> for AppsError {
    fn from(error: sea_orm::DbErr) -> Self {
        AppsError::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Result of apps service functions.
pub type AppsResult<T> = Result<T, AppsError>;
