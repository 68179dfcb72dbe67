//! The outcome of one connector call and how failures are classified.

use serde::Serialize;
use utoipa::ToSchema;
use wasmtime::Trap;

use super::bindings::trellis::connector::types::ConnectorError;
use super::limits::Limit;

/// The reason a call failed. Connector errors keep the connector's message. Host-detected
/// failures name the limit that fired or how the sandbox trapped, never host error text.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunError {
    #[error("the config is invalid: {message}")]
    InvalidConfig { message: String },
    #[error("the input is invalid: {message}")]
    InvalidInput { message: String },
    #[error("the upstream service failed: {message}")]
    Upstream {
        status: Option<u16>,
        message: String,
    },
    #[error("the request was denied: {message}")]
    Denied { message: String },
    #[error("the call timed out: {message}")]
    TimedOut { message: String },
    #[error("the {} limit was exceeded: {message}", limit.as_str())]
    LimitExceeded { limit: Limit, message: String },
    /// The connector trapped, for example because it panicked.
    #[error("the connector crashed: {message}")]
    Crashed { message: String },
    #[error("the connector failed: {message}")]
    Internal { message: String },
}

impl RunError {
    /// Stable snake_case name of the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::InvalidConfig { .. } => "invalid_config",
            RunError::InvalidInput { .. } => "invalid_input",
            RunError::Upstream { .. } => "upstream",
            RunError::Denied { .. } => "denied",
            RunError::TimedOut { .. } => "timed_out",
            RunError::LimitExceeded { .. } => "limit_exceeded",
            RunError::Crashed { .. } => "crashed",
            RunError::Internal { .. } => "internal",
        }
    }

    pub(crate) fn limit(limit: Limit, message: impl Into<String>) -> Self {
        RunError::LimitExceeded {
            limit,
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        RunError::Internal {
            message: message.into(),
        }
    }
}

impl From<ConnectorError> for RunError {
    fn from(error: ConnectorError) -> Self {
        match error {
            ConnectorError::InvalidConfig(message) => RunError::InvalidConfig { message },
            ConnectorError::InvalidInput(message) => RunError::InvalidInput { message },
            ConnectorError::Upstream(upstream) => RunError::Upstream {
                status: upstream.status,
                message: upstream.message,
            },
            ConnectorError::Denied(message) => RunError::Denied { message },
            ConnectorError::TimedOut(message) => RunError::TimedOut { message },
            ConnectorError::LimitExceeded(message) => RunError::LimitExceeded {
                limit: Limit::Reported,
                message,
            },
            ConnectorError::Internal(message) => RunError::Internal { message },
        }
    }
}

/// Classifies a failed call. A limit recorded by the limiter wins over the trap it caused,
/// because a guest whose allocation fails traps with a bare `unreachable`.
pub(crate) fn classify_failure(
    error: &wasmtime::Error,
    fired: Option<Limit>,
    stderr: &str,
) -> RunError {
    if let Some(limit) = fired {
        return RunError::limit(limit, limit_message(limit));
    }

    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => RunError::TimedOut {
            message: "the connector ran past its deadline and was stopped".into(),
        },
        Some(Trap::StackOverflow) => {
            RunError::limit(Limit::Stack, "the connector exhausted its call stack")
        }
        Some(Trap::UnreachableCodeReached) => RunError::Crashed {
            message: panic_message(stderr),
        },
        Some(trap) => RunError::Crashed {
            message: format!("the connector trapped: {trap}"),
        },
        None => RunError::internal("the call failed inside the host; the run id identifies it"),
    }
}

fn limit_message(limit: Limit) -> &'static str {
    match limit {
        Limit::Memory => "the connector tried to use more memory than the call allows",
        Limit::Table => "the connector tried to grow a table beyond the allowed size",
        _ => "the connector reached a limit",
    }
}

/// Extracts the panic message a Rust guest wrote to stderr, or returns a generic one. Rust prints
/// `thread '…' panicked at FILE:LINE:COLUMN:` and the message on the next line.
fn panic_message(stderr: &str) -> String {
    let mut lines = stderr.lines();
    let Some(header) = lines.find(|line| line.contains("panicked at")) else {
        return "the connector aborted (panic or `unreachable`)".into();
    };
    let location = header
        .split_once("panicked at")
        .map_or(header, |(_, rest)| rest)
        .trim();
    let message = lines.next().unwrap_or_default().trim();
    let text = format!("panicked at {location} {message}");
    text.chars().take(500).collect()
}
