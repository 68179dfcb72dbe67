//! SQL on the resource's database. Values travel as bound parameters, never as spliced text.

use crate::bindings::trellis::connector::sql as wit;
pub use crate::bindings::trellis::connector::sql::{Column, StatementOptions, Value};
use crate::Error;

/// Rows returned by [`query`].
#[derive(Debug, Clone)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    /// True when the host dropped rows beyond its row or byte cap.
    pub truncated: bool,
}

impl Rows {
    /// Returns the rows as JSON objects keyed by column name.
    pub fn to_json(&self) -> serde_json::Value {
        let objects = self.rows.iter().map(|row| {
            let fields = self
                .columns
                .iter()
                .cloned()
                .zip(row.iter().map(value_to_json));
            serde_json::Value::Object(fields.collect())
        });
        serde_json::Value::Array(objects.collect())
    }
}

/// Converts one SQL value to JSON; bytes become an array of numbers.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Boolean(flag) => (*flag).into(),
        Value::Integer(number) => (*number).into(),
        Value::Float(number) => (*number).into(),
        Value::Text(text) => text.clone().into(),
        Value::Bytes(bytes) => bytes.clone().into(),
    }
}

/// Runs a statement that returns rows.
pub fn query(statement: &str, params: &[Value]) -> Result<Rows, Error> {
    let result = wit::query(statement, params).map_err(from_wit)?;
    Ok(Rows {
        columns: result.columns,
        rows: result.rows,
        truncated: result.truncated,
    })
}

/// Runs a statement and returns the number of rows it affected.
pub fn execute(statement: &str, params: &[Value]) -> Result<u64, Error> {
    wit::execute(statement, params).map_err(from_wit)
}

/// Rows with their column types, returned by [`query_with_options`].
#[derive(Debug, Clone)]
pub struct TypedRows {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// True when the host dropped rows beyond the row or byte cap.
    pub truncated: bool,
}

/// Runs a statement that returns rows, with per-statement limits that the host caps at its
/// own, and returns the column types with the rows.
pub fn query_with_options(
    statement: &str,
    params: &[Value],
    options: StatementOptions,
) -> Result<TypedRows, Error> {
    let result = wit::query_with_options(statement, params, options).map_err(from_wit)?;
    Ok(TypedRows {
        columns: result.columns,
        rows: result.rows,
        truncated: result.truncated,
    })
}

/// Runs a statement with per-statement limits and returns the number of rows it affected.
pub fn execute_with_options(
    statement: &str,
    params: &[Value],
    options: StatementOptions,
) -> Result<u64, Error> {
    wit::execute_with_options(statement, params, options).map_err(from_wit)
}

fn from_wit(error: wit::SqlError) -> Error {
    match error {
        wit::SqlError::Unavailable(message) => Error::InvalidConfig(message),
        wit::SqlError::Database(message) => Error::Upstream {
            status: None,
            message,
        },
        wit::SqlError::TimedOut => Error::TimedOut("the SQL statement timed out".into()),
    }
}
