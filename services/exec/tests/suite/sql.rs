//! The `sql` import against real PostgreSQL, MariaDB and SQLite: bound parameters, the
//! statement timeout and the row cap.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;
use trellis_exec::host::kv::KvStore;
use trellis_exec::host::sql::{DatabaseTarget, SqlPools, SqlSettings};
use trellis_exec::host::Services;
use trellis_exec::{CallContext, RunError, Runtime};
use uuid::Uuid;

use crate::support::{execute, hostile};

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

fn runtime() -> Runtime {
    let settings = SqlSettings {
        statement_timeout: Duration::from_secs(1),
        max_rows: 100,
        ..SqlSettings::default()
    };
    let services = Services {
        sql: SqlPools::new(settings),
        ..Services::new(KvStore::memory())
    };
    Runtime::new(crate::support::runtime_settings(), services).unwrap()
}

async fn query(
    runtime: &Runtime,
    url: &str,
    statement: &str,
    params: Value,
) -> Result<Value, RunError> {
    timed_query(runtime, url, statement, params).await.0
}

/// Runs a query and returns its result and how long the call itself took.
async fn timed_query(
    runtime: &Runtime,
    url: &str,
    statement: &str,
    params: Value,
) -> (Result<Value, RunError>, Duration) {
    let plugin = hostile(runtime).await;
    let mut call = CallContext::new(Uuid::new_v4(), "hostile");
    call.database = Some(DatabaseTarget::from_url(Uuid::new_v4(), url).unwrap());
    let input = json!({ "statement": statement, "params": params });
    let report = execute(runtime, &plugin, call, "sql-query", input).await;
    (report.result, report.duration)
}

#[tokio::test]
async fn postgres_binds_parameters_as_data() {
    let table = format!("exec_sql_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(POSTGRES_URL)
        .await
        .expect("PostgreSQL must run");
    sqlx::query(&format!("CREATE TABLE {table} (id INT8, name TEXT)"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {table} VALUES (1, 'ada'), (2, 'grace')"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let runtime = runtime();

    let statement = format!("SELECT id, name FROM {table} WHERE name = $1");
    let found = query(&runtime, POSTGRES_URL, &statement, json!(["grace"])).await;
    let injected = query(&runtime, POSTGRES_URL, &statement, json!(["x' OR '1'='1"])).await;

    sqlx::query(&format!("DROP TABLE {table}"))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(
        found,
        Ok(json!({"rows": [{"id": 2, "name": "grace"}], "truncated": false}))
    );
    assert_eq!(injected, Ok(json!({"rows": [], "truncated": false})));
}

#[tokio::test]
async fn postgres_statement_timeout_cancels_on_server() {
    let runtime = runtime();

    let (result, took) = timed_query(&runtime, POSTGRES_URL, "SELECT pg_sleep(5)", json!([])).await;

    assert!(
        matches!(result, Err(RunError::TimedOut { .. })),
        "{result:?}"
    );
    // The server cancels after the 1 s statement timeout, before the host's own 2 s backstop.
    assert!(took < Duration::from_millis(1900), "{took:?}");
}

#[tokio::test]
async fn postgres_rows_beyond_cap_are_truncated() {
    let runtime = runtime();

    let statement = "SELECT n FROM generate_series(1, 500) AS n";
    let result = query(&runtime, POSTGRES_URL, statement, json!([]))
        .await
        .unwrap();

    assert_eq!(result["rows"].as_array().unwrap().len(), 100);
    assert_eq!(result["truncated"], true);
}

#[tokio::test]
async fn mariadb_query_and_statement_timeout() {
    let runtime = runtime();

    let rows = query(
        &runtime,
        MARIADB_URL,
        "SELECT ? + 1 AS answer, ? AS name",
        json!([41, "x"]),
    )
    .await;
    let (slow, slow_took) = timed_query(&runtime, MARIADB_URL, "SELECT SLEEP(5)", json!([])).await;

    assert_eq!(
        rows,
        Ok(json!({"rows": [{"answer": 42, "name": "x"}], "truncated": false}))
    );
    assert!(matches!(slow, Err(RunError::TimedOut { .. })), "{slow:?}");
    assert!(slow_took < Duration::from_millis(1900), "{slow_took:?}");
}

#[tokio::test]
async fn sqlite_query_returns_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("data.sqlite").display()
    );
    let runtime = runtime();

    let result = query(
        &runtime,
        &url,
        "SELECT 1 AS one, 'two' AS two, NULL AS empty",
        json!([]),
    )
    .await;

    assert_eq!(
        result,
        Ok(json!({"rows": [{"one": 1, "two": "two", "empty": null}], "truncated": false}))
    );
}

#[tokio::test]
async fn call_without_database_is_refused() {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    let call = CallContext::new(Uuid::new_v4(), "hostile");

    let input = json!({ "statement": "SELECT 1" });
    let report = execute(&runtime, &plugin, call, "sql-query", input).await;

    assert!(
        matches!(report.result, Err(RunError::InvalidConfig { .. })),
        "{:?}",
        report.result
    );
}
