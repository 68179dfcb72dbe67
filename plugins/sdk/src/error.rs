use std::fmt;

use crate::bindings::trellis::connector::types::{ConnectorError, UpstreamError};

/// Why a connection test or an operation failed. The host shows the message to the user who
/// ran the operation, so it should say what failed and what to change.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The resource's config is missing a field or has a wrong value.
    InvalidConfig(String),
    /// The operation is unknown or its input is missing a field or has a wrong value.
    InvalidInput(String),
    /// The upstream service returned an error.
    Upstream {
        status: Option<u16>,
        message: String,
    },
    /// The host refused a request, for example a fetch outside the allow-list.
    Denied(String),
    /// A deadline passed.
    TimedOut(String),
    /// A size, memory or rate limit was reached.
    LimitExceeded(String),
    /// Anything else.
    Internal(String),
}

impl Error {
    /// An error for an operation name the connector does not offer.
    pub fn unknown_operation(operation: &str) -> Self {
        Error::InvalidInput(format!("unknown operation `{operation}`"))
    }

    pub(crate) fn into_wit(self) -> ConnectorError {
        match self {
            Error::InvalidConfig(message) => ConnectorError::InvalidConfig(message),
            Error::InvalidInput(message) => ConnectorError::InvalidInput(message),
            Error::Upstream { status, message } => {
                ConnectorError::Upstream(UpstreamError { status, message })
            }
            Error::Denied(message) => ConnectorError::Denied(message),
            Error::TimedOut(message) => ConnectorError::TimedOut(message),
            Error::LimitExceeded(message) => ConnectorError::LimitExceeded(message),
            Error::Internal(message) => ConnectorError::Internal(message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(message) => write!(f, "invalid config: {message}"),
            Error::InvalidInput(message) => write!(f, "invalid input: {message}"),
            Error::Upstream {
                status: Some(status),
                message,
            } => {
                write!(f, "upstream error {status}: {message}")
            }
            Error::Upstream {
                status: None,
                message,
            } => write!(f, "upstream error: {message}"),
            Error::Denied(message) => write!(f, "denied: {message}"),
            Error::TimedOut(message) => write!(f, "timed out: {message}"),
            Error::LimitExceeded(message) => write!(f, "limit exceeded: {message}"),
            Error::Internal(message) => write!(f, "internal error: {message}"),
        }
    }
}

impl std::error::Error for Error {}
