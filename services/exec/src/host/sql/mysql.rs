//! MySQL and MariaDB, through sqlx 0.9.
//!
//! The server marks a text column with a binary collation, such as `utf8mb4_bin`, with the same
//! BINARY flag as a BLOB. Only the column's character set distinguishes them, and sqlx 0.9 keeps
//! it. MariaDB also stores JSON as LONGTEXT with a binary collation and a `json_valid` check,
//! and its result metadata does not say JSON, so the host looks up those checks once per table
//! and names such columns `JSON`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx_mysql::mysql::{
    MySql, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow,
    MySqlTypeInfo,
};
use sqlx_mysql::{
    AssertSqlSafe, Column as _, ColumnOrigin, Executor, Row, SqlSafeStr, SqlStr, Statement, Type,
    TypeInfo, ValueRef,
};

use super::decode::{rfc3339_local, rfc3339_utc, text, unsupported, DecodeRow};
use super::{collect, Limits, SqlSettings, PING_AFTER_IDLE};
use crate::runtime_bindings::sql::{Column, SqlError, TypedRows, Value};

/// How long the JSON columns found for a table are trusted before they are looked up again.
const JSON_COLUMNS_LIFETIME: Duration = Duration::from_secs(60);

/// JSON column names per `schema.table`, with the time they were looked up.
type JsonColumnCache = Mutex<HashMap<Arc<str>, (Instant, Arc<HashSet<String>>)>>;

/// A MySQL or MariaDB pool and the JSON columns found in its tables.
#[derive(Clone)]
pub(super) struct MySqlTarget {
    pool: MySqlPool,
    json_columns: Arc<JsonColumnCache>,
}

impl MySqlTarget {
    /// Creates a lazy pool whose connections carry the server's statement timeout.
    pub(super) fn connect(options: MySqlConnectOptions, settings: &SqlSettings) -> Self {
        let timeout = settings.statement_timeout;
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.max_connections_per_pool)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_AFTER_IDLE {
                        sqlx_mysql::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |connection, _| Box::pin(set_timeout(connection, timeout)))
            .connect_lazy_with(options);
        MySqlTarget {
            pool,
            json_columns: Arc::default(),
        }
    }

    pub(super) async fn query(
        &self,
        statement: String,
        params: Vec<Value>,
        limits: Limits,
    ) -> Result<TypedRows, SqlError> {
        let mut connection = self.pool.acquire().await?;
        if limits.custom_timeout {
            // The session keeps the timeout, so the connection is closed after use.
            connection.close_on_drop();
            set_timeout(&mut connection, limits.timeout).await?;
        }
        let statement = AssertSqlSafe(statement).into_sql_str();

        // The prepared statement gives each column's table before the query runs. sqlx caches
        // it, so the query below does not prepare it again.
        let prepared = (&mut *connection).prepare(statement.clone()).await?;
        let json = self.json_columns(&mut connection, prepared.columns()).await;

        // Types come from the rows' own metadata. A result without rows has only the
        // statement's.
        let query = bind_all(statement, params);
        let mut rows = collect(query.fetch(&mut *connection), limits).await?;
        if rows.columns.is_empty() {
            rows.columns = prepared.columns().iter().map(column_of).collect();
        }
        for (column, is_json) in rows.columns.iter_mut().zip(json) {
            if is_json {
                column.type_name = "JSON".into();
            }
        }
        if rows.truncated {
            // The pool would read the rest of the result before reusing the connection.
            connection.close_on_drop();
        }
        Ok(rows)
    }

    pub(super) async fn execute(
        &self,
        statement: String,
        params: Vec<Value>,
        limits: Limits,
    ) -> Result<u64, SqlError> {
        let mut connection = self.pool.acquire().await?;
        if limits.custom_timeout {
            connection.close_on_drop();
            set_timeout(&mut connection, limits.timeout).await?;
        }
        let query = bind_all(AssertSqlSafe(statement).into_sql_str(), params);
        Ok(query.execute(&mut *connection).await?.rows_affected())
    }

    /// Returns, for each column, whether it is a MariaDB JSON column: text from a table whose
    /// `json_valid` column check names it. A failed lookup leaves the column text. MySQL sends
    /// JSON columns with their own type, so only MariaDB needs the lookup.
    async fn json_columns(
        &self,
        connection: &mut MySqlConnection,
        columns: &[sqlx_mysql::mysql::MySqlColumn],
    ) -> Vec<bool> {
        let mut found = Vec::with_capacity(columns.len());
        for column in columns {
            let origin = match column.origin() {
                ColumnOrigin::Table(origin) if may_hold_json(column.type_info()) => origin,
                _ => {
                    found.push(false);
                    continue;
                }
            };
            let names = self.table_json_columns(connection, &origin.table).await;
            found.push(names.contains(origin.name.as_ref()));
        }
        found
    }

    async fn table_json_columns(
        &self,
        connection: &mut MySqlConnection,
        table: &Arc<str>,
    ) -> Arc<HashSet<String>> {
        let cached = self
            .json_columns
            .lock()
            .expect("JSON column cache lock poisoned")
            .get(table)
            .filter(|(looked_up, _)| looked_up.elapsed() < JSON_COLUMNS_LIFETIME)
            .map(|(_, names)| names.clone());
        if let Some(names) = cached {
            return names;
        }

        let (schema, name) = table.split_once('.').unwrap_or(("", table));
        let checks: Vec<(String, String)> = sqlx_mysql::query_as(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
        )
        .bind(schema)
        .bind(name)
        .fetch_all(&mut *connection)
        .await
        .unwrap_or_default();
        let names: HashSet<String> = checks
            .into_iter()
            .filter(|(column, clause)| *clause == format!("json_valid(`{column}`)"))
            .map(|(column, _)| column)
            .collect();

        let names = Arc::new(names);
        self.json_columns
            .lock()
            .expect("JSON column cache lock poisoned")
            .insert(table.clone(), (Instant::now(), names.clone()));
        names
    }
}

/// Sets the session's statement timeout. MariaDB names the limit max_statement_time (seconds,
/// every statement); MySQL names it max_execution_time (milliseconds, SELECT only).
async fn set_timeout(
    connection: &mut MySqlConnection,
    timeout: Duration,
) -> Result<(), sqlx_mysql::Error> {
    let seconds = timeout.as_secs_f64();
    let mariadb = format!("SET SESSION max_statement_time = {seconds}");
    if connection.execute(AssertSqlSafe(mariadb)).await.is_err() {
        let millis = timeout.as_millis();
        let mysql = format!("SET SESSION max_execution_time = {millis}");
        connection.execute(AssertSqlSafe(mysql)).await?;
    }
    Ok(())
}

fn bind_all(
    statement: SqlStr,
    params: Vec<Value>,
) -> sqlx_mysql::query::Query<'static, MySql, sqlx_mysql::mysql::MySqlArguments> {
    let mut query = sqlx_mysql::query(statement);
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

/// Returns whether a column contains text, which is any collation but `binary`.
fn is_text(type_info: &MySqlTypeInfo) -> bool {
    <str as Type<MySql>>::compatible(type_info)
}

/// Returns whether a column could be MariaDB JSON: a TEXT or BLOB type containing text. A
/// prepared statement's metadata may name a JSON column TEXT where its rows name it LONGBLOB.
fn may_hold_json(type_info: &MySqlTypeInfo) -> bool {
    let name = type_info.name();
    (name.ends_with("TEXT") || name.ends_with("BLOB")) && is_text(type_info)
}

/// Returns a column's name and type, naming text with a binary collation as text, not binary.
fn column_of(column: &sqlx_mysql::mysql::MySqlColumn) -> Column {
    let type_info = column.type_info();
    let name = type_info.name();
    let type_name = match name {
        "BINARY" if is_text(type_info) => "CHAR",
        "VARBINARY" if is_text(type_info) => "VARCHAR",
        "TINYBLOB" if is_text(type_info) => "TINYTEXT",
        "BLOB" if is_text(type_info) => "TEXT",
        "MEDIUMBLOB" if is_text(type_info) => "MEDIUMTEXT",
        "LONGBLOB" if is_text(type_info) => "LONGTEXT",
        other => other,
    };
    Column {
        name: column.name().to_string(),
        type_name: type_name.to_string(),
    }
}

impl DecodeRow for MySqlRow {
    fn column_list(&self) -> Vec<Column> {
        self.columns().iter().map(column_of).collect()
    }

    fn width(&self) -> usize {
        self.len()
    }

    fn decode_value(&self, index: usize, type_name: &str) -> Value {
        let Ok(raw) = self.try_get_raw(index) else {
            return Value::Null;
        };
        if raw.is_null() {
            return Value::Null;
        }
        let decoded = match type_name {
            "BOOLEAN" => self.try_get::<bool, _>(index).map(Value::Boolean),
            "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => {
                self.try_get::<i64, _>(index).map(Value::Integer)
            }
            "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "INT UNSIGNED" | "MEDIUMINT UNSIGNED"
            | "BIGINT UNSIGNED" => self
                .try_get::<u64, _>(index)
                .map(|n| i64::try_from(n).map_or(Value::Text(n.to_string()), Value::Integer)),
            "YEAR" => self
                .try_get::<u16, _>(index)
                .map(|n| Value::Integer(n.into())),
            "FLOAT" => self
                .try_get::<f32, _>(index)
                .map(|n| Value::Float(n.into())),
            "DOUBLE" => self.try_get::<f64, _>(index).map(Value::Float),
            "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" => {
                self.try_get::<Vec<u8>, _>(index).map(Value::Bytes)
            }
            "DATE" => self.try_get::<NaiveDate, _>(index).map(text),
            "TIME" => self.try_get::<NaiveTime, _>(index).map(text),
            "DATETIME" => self
                .try_get::<NaiveDateTime, _>(index)
                .map(|t| Value::Text(rfc3339_local(t))),
            "TIMESTAMP" => self
                .try_get::<DateTime<Utc>, _>(index)
                .map(|t| Value::Text(rfc3339_utc(t))),
            // Text, JSON as its text, DECIMAL as its exact digits (MySQL sends them as text
            // even in the binary protocol), and other types the server sends as text, such as
            // SET and MariaDB's UUID.
            _ => self.try_get_unchecked::<String, _>(index).map(Value::Text),
        };
        decoded.unwrap_or_else(|_| unsupported(type_name))
    }
}
