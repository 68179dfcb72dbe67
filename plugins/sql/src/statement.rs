//! The input of `query` and `execute`: SQL text with either `{{ }}` bindings or positional
//! parameters, and per-statement limits.

use trellis_connector_sdk::sql::{StatementOptions, Value};
use trellis_connector_sdk::{Error, Json};

use crate::Engine;

/// A statement ready for the host: placeholders for the engine and parameters in order.
#[derive(Debug)]
pub(crate) struct Statement {
    pub sql: String,
    pub params: Vec<Value>,
    pub options: StatementOptions,
}

impl Statement {
    /// Reads `sql`, `params` or `bindings`, `timeout_ms`, `max_rows` and `max_bytes`.
    ///
    /// With `bindings`, `sql` is a template whose `{{ }}` expressions were evaluated to those
    /// values in order; they are bound for the engine's placeholder syntax. Without them,
    /// `sql` is plain SQL and `params` its positional parameters.
    pub fn from_input(input: &Json, engine: Engine) -> Result<Self, Error> {
        let text: String = input.field("sql")?;
        if text.trim().is_empty() {
            return Err(Error::InvalidInput("the field `sql` is empty".into()));
        }
        let params: Option<Vec<serde_json::Value>> = input.optional("params")?;
        let bindings: Option<Vec<serde_json::Value>> = input.optional("bindings")?;

        let (sql, values) = match (bindings, params) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInput(
                    "give either `bindings` for {{ }} expressions or `params`, not both".into(),
                ))
            }
            (Some(bindings), None) => {
                let template = trellis_sql_template::parse(&text)
                    .map_err(|error| Error::InvalidInput(format!("the field `sql`: {error}")))?;
                template
                    .bind(engine.dialect(), &bindings)
                    .map_err(|error| Error::InvalidInput(format!("the field `sql`: {error}")))?
            }
            (None, params) => (text, params.unwrap_or_default()),
        };
        Ok(Statement {
            sql,
            params: values.iter().map(to_sql_value).collect(),
            options: StatementOptions {
                timeout_ms: positive(input, "timeout_ms")?,
                max_rows: positive(input, "max_rows")?,
                max_bytes: positive(input, "max_bytes")?,
            },
        })
    }
}

fn positive(input: &Json, field: &str) -> Result<Option<u32>, Error> {
    let value: Option<u64> = input.optional(field)?;
    match value {
        None => Ok(None),
        Some(0) => Err(Error::InvalidInput(format!(
            "the field `{field}` must be at least 1"
        ))),
        // Values beyond u32 are capped by the host anyway.
        Some(number) => Ok(Some(u32::try_from(number).unwrap_or(u32::MAX))),
    }
}

/// Converts a JSON parameter to a SQL value. Integers beyond `i64`, objects and arrays are
/// bound as text.
pub(crate) fn to_sql_value(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Boolean(*flag),
        serde_json::Value::Number(number) => match (number.as_i64(), number.as_f64()) {
            (Some(integer), _) => Value::Integer(integer),
            (None, Some(float)) if !number.is_u64() => Value::Float(float),
            _ => Value::Text(number.to_string()),
        },
        serde_json::Value::String(text) => Value::Text(text.clone()),
        other => Value::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn statement(input: serde_json::Value, engine: Engine) -> Result<Statement, Error> {
        Statement::from_input(&Json::input(input), engine)
    }

    #[test]
    fn bindings_become_engine_placeholders() {
        let input = json!({"sql": "SELECT {{ a }}, '{{ b }}'", "bindings": [1, "x"]});

        let postgres = statement(input.clone(), Engine::Postgres).unwrap();
        let mysql = statement(input, Engine::MySql).unwrap();

        assert_eq!(postgres.sql, "SELECT $1, $2");
        assert_eq!(mysql.sql, "SELECT ?, ?");
        assert!(matches!(postgres.params[..], [Value::Integer(1), Value::Text(ref t)] if t == "x"));
    }

    #[test]
    fn plain_sql_keeps_params() {
        let input = json!({"sql": "SELECT $1", "params": [null, true, 1.5]});

        let result = statement(input, Engine::Postgres).unwrap();

        assert_eq!(result.sql, "SELECT $1");
        assert!(matches!(
            result.params[..],
            [Value::Null, Value::Boolean(true), Value::Float(f)] if f == 1.5
        ));
    }

    #[test]
    fn both_params_and_bindings_rejected() {
        let input = json!({"sql": "SELECT 1", "params": [], "bindings": []});

        let error = statement(input, Engine::Sqlite).unwrap_err();

        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("`bindings`")),
            "{error}"
        );
    }

    #[test]
    fn identifier_binding_is_invalid_input() {
        let input = json!({"sql": "SELECT * FROM {{ t }}", "bindings": ["users"]});

        let error = statement(input, Engine::Postgres).unwrap_err();

        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("identifier")),
            "{error}"
        );
    }

    #[test]
    fn missing_sql_names_field() {
        let error = statement(json!({}), Engine::Postgres).unwrap_err();

        assert_eq!(
            error,
            Error::InvalidInput("the field `sql` is missing".into())
        );
    }

    #[test]
    fn zero_limit_rejected() {
        let error =
            statement(json!({"sql": "SELECT 1", "max_rows": 0}), Engine::Postgres).unwrap_err();

        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("`max_rows`")),
            "{error}"
        );
    }

    #[test]
    fn large_unsigned_binds_as_text() {
        let value = to_sql_value(&json!(u64::MAX));

        assert!(matches!(value, Value::Text(ref t) if t == "18446744073709551615"));
    }
}
