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
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, SqlError> {
    match tokio::time::timeout(timeout + Duration::from_secs(1), work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(database_error(error)),
        Err(_) => Err(SqlError::TimedOut),
    }
}

pub(super) fn database_error(error: sqlx::Error) -> SqlError {
    let message = match &error {
        sqlx::Error::Database(database) => {
            let text = database.message().to_ascii_lowercase();
            // PostgreSQL 57014 and MariaDB 1969 / MySQL 3024 are statement timeouts.
            let code = database.code().unwrap_or_default();
            if code == "57014"
                || code == "70100"
                || text.contains("max_statement_time")
                || text.contains("maximum statement execution time")
            {
                return SqlError::TimedOut;
            }
            if AUTHENTICATION_CODES.contains(&code.as_ref()) {
                format!("{AUTHENTICATION_FAILED}: {}", database.message())
            } else if code == "3D000" {
                format!("{CONNECT_FAILED}: {}", database.message())
            } else {
                database.message().to_string()
            }
        }
        sqlx::Error::PoolTimedOut => format!(
            "{CONNECT_FAILED}: no database connection was free or could be opened in time; \
             check the host and port"
        ),
        sqlx::Error::Io(io) if io.to_string().contains("lookup address") => {
            format!("{DNS_FAILED}: the database host name did not resolve")
        }
        sqlx::Error::Io(io) => format!("{CONNECT_FAILED}: {}", io.kind()),
        sqlx::Error::Tls(tls) => format!("{TLS_FAILED}: {tls}"),
        other => other.to_string(),
    };
    SqlError::Database(message)
}
