//! The built-in SQL connector end to end: the embedded component, the host's `sql` import and
//! real PostgreSQL, MariaDB and SQLite databases.

mod addresses;
mod injection;
mod introspect;
mod limits;
mod pooling;
mod types;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;
use sqlx_mysql::Connection as _;
use trellis_exec::host::kv::KvStore;
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::host::sql::{DatabaseTarget, SqlPools, SqlSettings};
use trellis_exec::host::Services;
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, LoadedPlugin, RunError, Runtime};
use uuid::Uuid;

pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

/// A runtime with the SQL connector loaded and SQLite files kept in a temporary folder.
pub struct Harness {
    pub runtime: Runtime,
    pub plugin: Arc<LoadedPlugin>,
    /// Kept so the SQLite folder lives as long as the harness.
    _sqlite_dir: tempfile::TempDir,
    /// One workspace and resource for every call, so calls share the resource's pool.
    workspace_id: Uuid,
    resource_id: Uuid,
    /// Hosts the calls may reach on internal addresses: the local PostgreSQL and MariaDB.
    pub internal_hosts: Vec<InternalHost>,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_settings(SqlSettings::default()).await
    }

    pub async fn with_settings(settings: SqlSettings) -> Self {
        let sqlite_dir = tempfile::tempdir().unwrap();
        let settings = SqlSettings {
            sqlite_dir: Some(sqlite_dir.path().to_path_buf()),
            ..settings
        };
        let services = Services {
            sql: SqlPools::new(settings),
            ..Services::new(KvStore::memory())
        };
        let runtime = Runtime::new(crate::support::runtime_settings(), services).unwrap();
        let (_, bytes) = BUILTIN_COMPONENTS
            .iter()
            .find(|(name, _)| *name == "sql")
            .expect("the sql connector is a built-in");
        let plugin = runtime.load(Arc::new(bytes.to_vec())).await.unwrap();
        Harness {
            runtime,
            plugin,
            _sqlite_dir: sqlite_dir,
            workspace_id: Uuid::new_v4(),
            resource_id: Uuid::new_v4(),
            internal_hosts: ["127.0.0.1:5432", "127.0.0.1:3306"]
                .iter()
                .map(|host| InternalHost::parse(host).unwrap())
                .collect(),
        }
    }

    fn call(&self, config: &Value, deadline: Duration) -> CallContext {
        let mut call = CallContext::new(self.workspace_id, "builtin:sql");
        call.limits.deadline = deadline;
        call.network = NetworkPolicy::from_config(&[], config, &self.internal_hosts);
        // An invalid config leaves the call without a database, so the connector reports it.
        call.database = DatabaseTarget::from_config(self.resource_id, config)
            .ok()
            .flatten();
        call
    }

    /// Runs one operation of the connector.
    pub async fn run(
        &self,
        config: &Value,
        operation: &str,
        input: Value,
    ) -> Result<Value, RunError> {
        self.run_within(config, operation, input, Duration::from_secs(20))
            .await
    }

    /// Runs one operation of the connector with a call deadline of `deadline`.
    pub async fn run_within(
        &self,
        config: &Value,
        operation: &str,
        input: Value,
        deadline: Duration,
    ) -> Result<Value, RunError> {
        let request = CallRequest::Execute {
            config: config.clone(),
            operation: operation.into(),
            input,
        };
        let report = self
            .runtime
            .call(&self.plugin, self.call(config, deadline), &request)
            .await;
        report.result
    }

    /// Runs the connector's connection test.
    pub async fn test_connection(&self, config: &Value) -> Result<Value, RunError> {
        let request = CallRequest::TestConnection {
            config: config.clone(),
        };
        let report = self
            .runtime
            .call(
                &self.plugin,
                self.call(config, Duration::from_secs(20)),
                &request,
            )
            .await;
        report.result
    }
}

pub fn postgres_config() -> Value {
    json!({
        "engine": "postgres", "host": "127.0.0.1", "port": 5432, "database": "postgres",
        "user": "postgres", "tls_mode": "disable"
    })
}

pub fn mariadb_config(database: &str) -> Value {
    json!({
        "engine": "mariadb", "host": "127.0.0.1", "port": 3306, "database": database,
        "user": "root", "password": "", "tls_mode": "disable"
    })
}

pub fn sqlite_config(file: &str) -> Value {
    json!({ "engine": "sqlite", "database": file })
}

/// Returns a unique lowercase name for a table, schema or database.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

pub async fn postgres_admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(POSTGRES_URL)
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432")
}

pub async fn mariadb_admin() -> sqlx_mysql::MySqlConnection {
    sqlx_mysql::MySqlConnection::connect(MARIADB_URL)
        .await
        .expect("MariaDB must run on 127.0.0.1:3306")
}

/// An admin connection of either sqlx version: PostgreSQL goes through sqlx 0.8 and MariaDB
/// through 0.9, as in the host.
pub trait AdminConnection {
    /// Runs one statement as given, with the text protocol.
    fn run<'a>(
        &'a mut self,
        statement: &'a str,
    ) -> impl std::future::Future<Output = Result<(), String>> + 'a;
}

impl AdminConnection for sqlx::PgConnection {
    async fn run(&mut self, statement: &str) -> Result<(), String> {
        sqlx::raw_sql(statement)
            .execute(self)
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    }
}

impl AdminConnection for sqlx_mysql::MySqlConnection {
    async fn run(&mut self, statement: &str) -> Result<(), String> {
        sqlx_mysql::raw_sql(sqlx_mysql::AssertSqlSafe(statement.to_string()))
            .execute(self)
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    }
}

/// Runs statements on an admin connection, panicking on the first failure.
pub async fn admin<C: AdminConnection, S: AsRef<str>>(connection: &mut C, statements: &[S]) {
    for statement in statements {
        let statement = statement.as_ref();
        connection
            .run(statement)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

#[tokio::test]
async fn execute_returns_rows_affected() {
    let harness = Harness::new().await;
    let config = sqlite_config("affected.db");
    harness
        .run(
            &config,
            "execute",
            json!({"sql": "CREATE TABLE t (id INTEGER)"}),
        )
        .await
        .unwrap();

    let inserted = harness
        .run(
            &config,
            "execute",
            json!({"sql": "INSERT INTO t VALUES ({{ a }}), ({{ b }}), (3)", "bindings": [1, 2]}),
        )
        .await;
    let deleted = harness
        .run(
            &config,
            "execute",
            json!({"sql": "DELETE FROM t WHERE id > ?1", "params": [1]}),
        )
        .await;

    assert_eq!(inserted, Ok(json!({"rows_affected": 3})));
    assert_eq!(deleted, Ok(json!({"rows_affected": 2})));
}

#[tokio::test]
async fn connection_test_names_connect_step() {
    let mut harness = Harness::new().await;
    harness
        .internal_hosts
        .push(InternalHost::parse("127.0.0.1:1").unwrap());
    // Nothing listens on port 1 of the loopback address, so the connection is refused.
    let config = json!({
        "engine": "mariadb", "host": "127.0.0.1", "port": 1, "user": "root",
        "tls_mode": "disable"
    });

    let result = harness.test_connection(&config).await;

    let Err(RunError::Upstream { message, .. }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert!(message.contains("at the connect step"), "{message}");
}

#[tokio::test]
async fn connection_test_names_tls_step() {
    let harness = Harness::new().await;
    let mut config = mariadb_config("mysql");
    config["tls_mode"] = json!("verify-full");

    let result = harness.test_connection(&config).await;

    let Err(RunError::Upstream { message, .. }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert!(message.contains("at the TLS step"), "{message}");
}

#[tokio::test]
async fn connection_test_names_authentication_step() {
    let harness = Harness::new().await;
    let mut config = mariadb_config("mysql");
    config["password"] = json!("wrong password");

    let result = harness.test_connection(&config).await;

    let Err(RunError::Upstream { message, .. }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert!(message.contains("at the authentication step"), "{message}");
}

#[tokio::test]
async fn connection_test_passes() {
    let harness = Harness::new().await;

    let postgres = harness.test_connection(&postgres_config()).await;
    let mariadb = harness.test_connection(&mariadb_config("mysql")).await;
    let sqlite = harness.test_connection(&sqlite_config("ok.db")).await;

    assert!(postgres.is_ok(), "{postgres:?}");
    assert!(mariadb.is_ok(), "{mariadb:?}");
    assert!(sqlite.is_ok(), "{sqlite:?}");
}

#[tokio::test]
async fn password_with_special_characters_connects() {
    let user = unique("trellis_pw");
    let password = "p@ss:w/rd %41+ with spaces";
    let mut root = mariadb_admin().await;
    let hosts = ["%", "localhost", "127.0.0.1"];
    for host in hosts {
        let create = format!("CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'");
        admin(&mut root, &[&create]).await;
    }
    let harness = Harness::new().await;
    let config = json!({
        "engine": "mariadb", "host": "127.0.0.1", "user": user, "password": password,
        "tls_mode": "disable"
    });

    let result = harness
        .run(&config, "query", json!({"sql": "SELECT 1 AS one"}))
        .await;

    for host in hosts {
        admin(&mut root, &[&format!("DROP USER '{user}'@'{host}'")]).await;
    }
    assert_eq!(result.unwrap()["rows"], json!([{"one": 1}]));
}

#[tokio::test]
async fn invalid_config_names_field() {
    let harness = Harness::new().await;
    let config = json!({"engine": "oracle"});

    let result = harness.test_connection(&config).await;

    let Err(RunError::InvalidConfig { message }) = result else {
        panic!("expected an invalid config, got {result:?}");
    };
    assert!(message.contains("`engine`"), "{message}");
}
