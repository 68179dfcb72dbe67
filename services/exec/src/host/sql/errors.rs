//! Maps sqlx errors to WIT SQL errors.
//!
//! A failure to reach the database starts with the step that failed, as `DNS lookup failed:`,
//! `connecting failed:`, `TLS handshake failed:` or `authentication failed:`, so a connection
//! test can name it. Any other message is the database's own.

use std::time::Duration;

use crate::runtime_bindings::sql::SqlError;

/// Prefixes of the messages for each connection step, in the order the steps run.
pub const DNS_FAILED: &str = "DNS lookup failed";
pub const CONNECT_FAILED: &str = "connecting failed";
pub const TLS_FAILED: &str = "TLS handshake failed";
pub const AUTHENTICATION_FAILED: &str = "authentication failed";

/// SQLSTATE classes 28 (invalid authorization) as PostgreSQL and MySQL report them.
const AUTHENTICATION_CODES: &[&str] = &["28000", "28P01"];

/// Runs `work` under the statement timeout. The server cancels first; the extra second covers
/// a server that does not.
pub(super) async fn with_timeout<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, SqlError>>,
) -> Result<T, SqlError> {
    match tokio::time::timeout(timeout + Duration::from_secs(1), work).await {
        Ok(result) => result,
        Err(_) => Err(SqlError::TimedOut),
    }
}

/// The cause of a failure, read from either sqlx version's error.
enum Failure<'a> {
    Database { code: String, message: &'a str },
    PoolTimedOut,
    Io(&'a std::io::Error),
    Tls(String),
    Other(String),
}

impl From<sqlx::Error> for SqlError {
    fn from(error: sqlx::Error) -> Self {
        let failure = match &error {
            sqlx::Error::Database(database) => Failure::Database {
                code: database.code().unwrap_or_default().into_owned(),
                message: database.message(),
            },
            sqlx::Error::PoolTimedOut => Failure::PoolTimedOut,
            sqlx::Error::Io(io) => Failure::Io(io),
            sqlx::Error::Tls(tls) => Failure::Tls(tls.to_string()),
            other => Failure::Other(other.to_string()),
        };
        database_error(failure)
    }
}

impl From<sqlx_mysql::Error> for SqlError {
    fn from(error: sqlx_mysql::Error) -> Self {
        let failure = match &error {
            sqlx_mysql::Error::Database(database) => Failure::Database {
                code: database.code().unwrap_or_default().into_owned(),
                message: database.message(),
            },
            sqlx_mysql::Error::PoolTimedOut => Failure::PoolTimedOut,
            sqlx_mysql::Error::Io(io) => Failure::Io(io),
            sqlx_mysql::Error::Tls(tls) => Failure::Tls(tls.to_string()),
            other => Failure::Other(other.to_string()),
        };
        database_error(failure)
    }
}

fn database_error(failure: Failure<'_>) -> SqlError {
    let message = match failure {
        Failure::Database { code, message } => {
            let text = message.to_ascii_lowercase();
            // PostgreSQL 57014 and MariaDB 1969 / MySQL 3024 are statement timeouts.
            if code == "57014"
                || code == "70100"
                || text.contains("max_statement_time")
                || text.contains("maximum statement execution time")
            {
                return SqlError::TimedOut;
            }
            if AUTHENTICATION_CODES.contains(&code.as_str()) {
                format!("{AUTHENTICATION_FAILED}: {message}")
            } else if code == "3D000" {
                format!("{CONNECT_FAILED}: {message}")
            } else {
                message.to_string()
            }
        }
        Failure::PoolTimedOut => format!(
            "{CONNECT_FAILED}: no database connection was free or could be opened in time; \
             check the host and port"
        ),
        Failure::Io(io) if io.to_string().contains("lookup address") => {
            format!("{DNS_FAILED}: the database host name did not resolve")
        }
        Failure::Io(io) => format!("{CONNECT_FAILED}: {}", io.kind()),
        Failure::Tls(tls) => format!("{TLS_FAILED}: {tls}"),
        Failure::Other(other) => other,
    };
    SqlError::Database(message)
}
