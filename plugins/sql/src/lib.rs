//! Built-in SQL connector for PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! The host opens the connection from the resource config's structured fields. This component
//! validates input, binds templated SQL for the engine's placeholder syntax, runs statements
//! through the host's `sql` import and turns rows into JSON.

mod introspect;
mod rows;
mod statement;

use trellis_connector_sdk::sql::{self, StatementOptions};
use trellis_connector_sdk::Value;
use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};
use trellis_sql_template::Dialect;

use crate::statement::Statement;

struct Sql;

/// The database engine named by the config's `engine` field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Engine {
    Postgres,
    MySql,
    Sqlite,
}

impl Engine {
    fn from_config(config: &Json) -> Result<Self, Error> {
        let engine: String = config.field("engine")?;
        match engine.as_str() {
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            "mysql" | "mariadb" => Ok(Engine::MySql),
            "sqlite" => Ok(Engine::Sqlite),
            other => Err(Error::InvalidConfig(format!(
                "`engine` must be postgres, mysql, mariadb or sqlite, not `{other}`"
            ))),
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Engine::Postgres => Dialect::Postgres,
            Engine::MySql => Dialect::MySql,
            Engine::Sqlite => Dialect::Sqlite,
        }
    }
}

/// Steps of reaching the database, each named by the prefix of the host's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
    ("authentication failed", "authentication"),
];

impl Connector for Sql {
    fn manifest() -> Manifest {
        Manifest::new("sql", "SQL database", env!("CARGO_PKG_VERSION"))
            .description("Query PostgreSQL, MySQL/MariaDB and SQLite with bound parameters.")
            .config_schema(config_schema())
            .secret_field("password")
            .secret_field("tls_client_key")
            .operation(
                Operation::new("query", statement_schema())
                    .description("Runs a statement and returns its rows as JSON objects"),
            )
            .operation(
                Operation::new("execute", statement_schema())
                    .description("Runs a statement and returns the number of rows it affected"),
            )
            .operation(
                Operation::new("introspect", introspect_schema())
                    .description("Lists schemas, tables, columns, primary keys and foreign keys")
                    .read_only(),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        Engine::from_config(&config)?;
        let options = StatementOptions {
            timeout_ms: Some(5_000),
            max_rows: Some(1),
            max_bytes: None,
        };
        match sql::query_with_options("SELECT 1", &[], options) {
            Ok(_) => Ok(()),
            Err(Error::Upstream { status, message }) => {
                let step = CONNECTION_STEPS
                    .iter()
                    .find(|(prefix, _)| message.starts_with(prefix))
                    .map_or("request", |(_, step)| step);
                Err(Error::Upstream {
                    status,
                    message: format!("the connection test failed at the {step} step: {message}"),
                })
            }
            Err(Error::TimedOut(_)) => Err(Error::TimedOut(
                "the connection test timed out at the request step".into(),
            )),
            Err(other) => Err(other),
        }
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let engine = Engine::from_config(&config)?;
        match operation {
            "query" => {
                let statement = Statement::from_input(&input, engine)?;
                let rows =
                    sql::query_with_options(&statement.sql, &statement.params, statement.options)?;
                Ok(rows::to_json(rows))
            }
            "execute" => {
                let statement = Statement::from_input(&input, engine)?;
                let affected = sql::execute_with_options(
                    &statement.sql,
                    &statement.params,
                    statement.options,
                )?;
                Ok(json!({ "rows_affected": affected }))
            }
            "introspect" => {
                let schema: Option<String> = input.optional("schema")?;
                introspect::run(engine, schema.as_deref())
            }
            other => Err(Error::unknown_operation(other)),
        }
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["engine"],
        "additionalProperties": false,
        "properties": {
            "engine": { "enum": ["postgres", "mysql", "mariadb", "sqlite"] },
            "host": { "type": "string", "description": "Host name or IP address" },
            "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
            "database": {
                "type": "string",
                "description": "Database name; for SQLite, a file name in the server's SQLite folder"
            },
            "user": { "type": "string" },
            "password": { "type": "string" },
            "tls_mode": {
                "enum": ["disable", "require", "verify-ca", "verify-full"],
                "default": "verify-full"
            },
            "tls_ca_cert": { "type": "string", "description": "PEM of the certificate authority" },
            "tls_client_cert": { "type": "string", "description": "PEM of the client certificate" },
            "tls_client_key": { "type": "string", "description": "PEM of the client key" }
        }
    })
}

fn statement_schema() -> Value {
    json!({
        "type": "object",
        "required": ["sql"],
        "additionalProperties": false,
        "properties": {
            "sql": {
                "type": "string",
                "description": "SQL text; {{ }} expressions become bound parameters",
                "x-trellis-sql": true
            },
            "params": {
                "type": "array",
                "description": "Positional parameters for SQL without {{ }} bindings"
            },
            "bindings": {
                "type": "array",
                "description": "Values of the {{ }} expressions in order, set by the runner"
            },
            "timeout_ms": {
                "type": "integer", "minimum": 1,
                "description": "Statement timeout in milliseconds, capped by the server"
            },
            "max_rows": { "type": "integer", "minimum": 1, "description": "Capped by the server" },
            "max_bytes": { "type": "integer", "minimum": 1, "description": "Capped by the server" }
        }
    })
}

fn introspect_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "schema": { "type": "string", "description": "Only this schema (database in MySQL)" }
        }
    })
}

export_connector!(Sql);
