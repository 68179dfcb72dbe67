//! The `sql` import: sqlx pools for PostgreSQL, MySQL/MariaDB and SQLite keyed by workspace
//! and resource, a statement timeout that the server enforces, and row and byte caps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{Column, Database, Executor, Row, TypeInfo, ValueRef};
use uuid::Uuid;

use crate::runtime::HostState;
use crate::runtime_bindings::sql::{Host, Rows, SqlError, Value};

/// Limits of SQL access.
#[derive(Debug, Clone, Copy)]
pub struct SqlSettings {
    /// Maximum run time of one statement, after which the server cancels it.
    pub statement_timeout: Duration,
    pub max_rows: usize,
    /// Bytes of row data returned per query, estimated from the decoded values.
    pub max_bytes: usize,
    pub max_connections_per_pool: u32,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            statement_timeout: Duration::from_secs(5),
            max_rows: 1_000,
            max_bytes: 4 << 20,
            max_connections_per_pool: 5,
        }
    }
}

/// The database a call may use: the resource's connection URL.
#[derive(Clone)]
pub struct DatabaseTarget {
    pub resource_id: Uuid,
    /// `postgres://`, `mysql://`, `mariadb://` or `sqlite:` URL; it may hold a password.
    pub url: String,
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseTarget")
            .field("resource_id", &self.resource_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// Pools keyed by workspace, resource and connection URL, so tenants never share one.
#[derive(Default)]
pub struct SqlPools {
    settings: SqlSettings,
    pools: Mutex<HashMap<(Uuid, Uuid, String), Pool>>,
}

impl SqlPools {
    pub fn new(settings: SqlSettings) -> Self {
        SqlPools {
            settings,
            pools: Mutex::default(),
        }
    }

    // TODO: pools are never closed; evict idle ones once resources can be deleted.
    fn pool(&self, workspace_id: Uuid, target: &DatabaseTarget) -> Result<Pool, SqlError> {
        let key = (workspace_id, target.resource_id, target.url.clone());
        if let Some(pool) = self.pools.lock().expect("sql pool lock poisoned").get(&key) {
            return Ok(pool.clone());
        }
        let pool = self.connect(&target.url)?;
        self.pools
            .lock()
            .expect("sql pool lock poisoned")
            .insert(key, pool.clone());
        Ok(pool)
    }

    // TODO: check the database host with the SSRF guard, as the http import does, once
    // resources carry a per-workspace allow-list for internal databases.
    fn connect(&self, url: &str) -> Result<Pool, SqlError> {
        let settings = self.settings;
        let millis = settings.statement_timeout.as_millis();
        let invalid = |error: sqlx::Error| {
            SqlError::Unavailable(format!("the database URL is invalid: {error}"))
        };

        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections_per_pool)
                .acquire_timeout(Duration::from_secs(5))
                .after_connect(move |connection, _| {
                    Box::pin(async move {
                        connection
                            .execute(format!("SET statement_timeout = {millis}").as_str())
                            .await?;
                        Ok(())
                    })
                })
                .connect_lazy(url)
                .map_err(invalid)?;
            return Ok(Pool::Postgres(pool));
        }
        if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let seconds = settings.statement_timeout.as_secs_f64();
            let pool = MySqlPoolOptions::new()
                .max_connections(settings.max_connections_per_pool)
                .acquire_timeout(Duration::from_secs(5))
                .after_connect(move |connection, _| {
                    Box::pin(async move {
                        // MariaDB names the limit max_statement_time (seconds, every
                        // statement); MySQL names it max_execution_time (ms, SELECT only).
                        let mariadb = format!("SET SESSION max_statement_time = {seconds}");
                        if connection.execute(mariadb.as_str()).await.is_err() {
                            let mysql = format!("SET SESSION max_execution_time = {millis}");
                            connection.execute(mysql.as_str()).await?;
                        }
                        Ok(())
                    })
                })
                .connect_lazy(&url)
                .map_err(invalid)?;
            return Ok(Pool::MySql(pool));
        }
        if url.starts_with("sqlite:") {
            // NOTE: SQLite has no server to cancel a statement; the host's own timeout drops
            // the future, and the statement stops at its next step.
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections_per_pool)
                .connect_lazy(url)
                .map_err(invalid)?;
            return Ok(Pool::Sqlite(pool));
        }
        Err(SqlError::Unavailable(
            "the database URL must start with postgres://, mysql://, mariadb:// or sqlite:".into(),
        ))
    }
}

impl HostState {
    fn sql_pool(&self) -> Result<Pool, SqlError> {
        let target = self.call.database.as_ref().ok_or_else(|| {
            SqlError::Unavailable("this call has no database; bind a SQL resource".into())
        })?;
        self.services.sql.pool(self.call.workspace_id, target)
    }
}

impl Host for HostState {
    async fn query(&mut self, statement: String, params: Vec<Value>) -> Result<Rows, SqlError> {
        let pool = self.sql_pool()?;
        let settings = self.services.sql.settings;
        let caps = Caps {
            rows: settings.max_rows,
            bytes: settings.max_bytes,
        };

        let work = async {
            match &pool {
                Pool::Postgres(pool) => {
                    let query = bind_all(sqlx::query(&statement), params);
                    collect(query.fetch(pool), caps).await
                }
                Pool::MySql(pool) => {
                    let query = bind_all(sqlx::query(&statement), params);
                    collect(query.fetch(pool), caps).await
                }
                Pool::Sqlite(pool) => {
                    let query = bind_all(sqlx::query(&statement), params);
                    collect(query.fetch(pool), caps).await
                }
            }
        };
        with_timeout(settings.statement_timeout, work).await
    }

    async fn execute(&mut self, statement: String, params: Vec<Value>) -> Result<u64, SqlError> {
        let pool = self.sql_pool()?;
        let settings = self.services.sql.settings;

        let work = async {
            let affected = match &pool {
                Pool::Postgres(pool) => bind_all(sqlx::query(&statement), params)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                Pool::MySql(pool) => bind_all(sqlx::query(&statement), params)
                    .execute(pool)
                    .await?
                    .rows_affected(),
                Pool::Sqlite(pool) => bind_all(sqlx::query(&statement), params)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            };
            Ok(affected)
        };
        with_timeout(settings.statement_timeout, work).await
    }
}

#[derive(Clone, Copy)]
struct Caps {
    rows: usize,
    bytes: usize,
}

async fn with_timeout<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, SqlError> {
    // The server cancels first; the extra second covers a server that does not.
    match tokio::time::timeout(timeout + Duration::from_secs(1), work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(database_error(error)),
        Err(_) => Err(SqlError::TimedOut),
    }
}

fn database_error(error: sqlx::Error) -> SqlError {
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
            database.message().to_string()
        }
        sqlx::Error::PoolTimedOut => "no database connection was free in time".to_string(),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => "connecting to the database failed".to_string(),
        other => other.to_string(),
    };
    SqlError::Database(message)
}

fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>,
    params: Vec<Value>,
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<String>),
            Value::Boolean(flag) => query.bind(flag),
            Value::Integer(number) => query.bind(number),
            Value::Float(number) => query.bind(number),
            Value::Text(text) => query.bind(text),
            Value::Bytes(bytes) => query.bind(bytes),
        };
    }
    query
}

async fn collect<R, S>(mut stream: S, caps: Caps) -> Result<Rows, sqlx::Error>
where
    R: Row + DecodeRow,
    S: futures_util::Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;

    while let Some(row) = stream.try_next().await? {
        if columns.is_empty() {
            columns = row
                .columns()
                .iter()
                .map(|column| column.name().to_string())
                .collect();
        }
        if rows.len() >= caps.rows {
            truncated = true;
            break;
        }
        let values: Vec<Value> = (0..row.len())
            .map(|index| row.decode_value(index))
            .collect();
        bytes += values.iter().map(value_size).sum::<usize>();
        if bytes > caps.bytes {
            truncated = true;
            break;
        }
        rows.push(values);
    }
    Ok(Rows {
        columns,
        rows,
        truncated,
    })
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Text(text) => text.len(),
        Value::Bytes(bytes) => bytes.len(),
        _ => 8,
    }
}

/// Decodes one column into a WIT value by its database type; types without a mapping become
/// a text note asking for a cast.
trait DecodeRow {
    fn decode_value(&self, index: usize) -> Value;
}

fn unsupported(type_name: &str) -> Value {
    Value::Text(format!(
        "<unsupported type {type_name}; cast the column to text>"
    ))
}

impl DecodeRow for sqlx::postgres::PgRow {
    fn decode_value(&self, index: usize) -> Value {
        let Ok(raw) = self.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let name = raw.type_info().name().to_string();
        let decoded = match name.as_str() {
            "BOOL" => self.try_get::<bool, _>(index).map(Value::Boolean),
            "INT2" => self
                .try_get::<i16, _>(index)
                .map(|n| Value::Integer(n.into())),
            "INT4" => self
                .try_get::<i32, _>(index)
                .map(|n| Value::Integer(n.into())),
            "INT8" => self.try_get::<i64, _>(index).map(Value::Integer),
            "FLOAT4" => self
                .try_get::<f32, _>(index)
                .map(|n| Value::Float(n.into())),
            "FLOAT8" => self.try_get::<f64, _>(index).map(Value::Float),
            "BYTEA" => self.try_get::<Vec<u8>, _>(index).map(Value::Bytes),
            "JSON" | "JSONB" => self
                .try_get::<serde_json::Value, _>(index)
                .map(|json| Value::Text(json.to_string())),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => {
                self.try_get::<String, _>(index).map(Value::Text)
            }
            _ => return unsupported(&name),
        };
        decoded.unwrap_or_else(|_| unsupported(&name))
    }
}

impl DecodeRow for sqlx::mysql::MySqlRow {
    fn decode_value(&self, index: usize) -> Value {
        let Ok(raw) = self.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let name = raw.type_info().name().to_string();
        let decoded = match name.as_str() {
            "BOOLEAN" => self.try_get::<bool, _>(index).map(Value::Boolean),
            "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => {
                self.try_get::<i64, _>(index).map(Value::Integer)
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "INT UNSIGNED" | "MEDIUMINT UNSIGNED"
            | "BIGINT UNSIGNED" => self
                .try_get::<u64, _>(index)
                .map(|n| i64::try_from(n).map_or(Value::Text(n.to_string()), Value::Integer)),
            "FLOAT" => self
                .try_get::<f32, _>(index)
                .map(|n| Value::Float(n.into())),
            "DOUBLE" => self.try_get::<f64, _>(index).map(Value::Float),
            "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" => {
                self.try_get::<String, _>(index).map(Value::Text)
            }
            "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" => {
                self.try_get::<Vec<u8>, _>(index).map(Value::Bytes)
            }
            "JSON" => self
                .try_get::<serde_json::Value, _>(index)
                .map(|json| Value::Text(json.to_string())),
            _ => return unsupported(&name),
        };
        decoded.unwrap_or_else(|_| unsupported(&name))
    }
}

impl DecodeRow for sqlx::sqlite::SqliteRow {
    fn decode_value(&self, index: usize) -> Value {
        let Ok(raw) = self.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let name = raw.type_info().name().to_string();
        let decoded = match name.as_str() {
            "BOOLEAN" => self.try_get::<bool, _>(index).map(Value::Boolean),
            "INTEGER" | "INT8" | "BIGINT" => self.try_get::<i64, _>(index).map(Value::Integer),
            "REAL" => self.try_get::<f64, _>(index).map(Value::Float),
            "TEXT" => self.try_get::<String, _>(index).map(Value::Text),
            "BLOB" => self.try_get::<Vec<u8>, _>(index).map(Value::Bytes),
            _ => return unsupported(&name),
        };
        decoded.unwrap_or_else(|_| unsupported(&name))
    }
}
