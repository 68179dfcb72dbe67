//! Pooled connections that the database server closed while they sat idle.

use std::time::Duration;

use serde_json::{json, Value};
use trellis_exec::host::sql::PING_AFTER_IDLE;

use super::{admin, mariadb_admin, mariadb_config, postgres_admin, postgres_config, Harness};

/// Returns the one column of the one row a query returned.
fn single(output: &Value, column: &str) -> i64 {
    output["rows"][0][column]
        .as_i64()
        .unwrap_or_else(|| panic!("no number in {output}"))
}

#[tokio::test]
async fn postgres_connection_closed_by_the_server_is_replaced() {
    let harness = Harness::new().await;
    let config = postgres_config();
    let pid_query = json!({"sql": "SELECT pg_backend_pid()::int8 AS pid"});
    let first = harness
        .run(&config, "query", pid_query.clone())
        .await
        .unwrap();
    let pid = single(&first, "pid");

    // This is the pool's only connection; the server ends it while it is idle.
    admin(
        &mut postgres_admin().await,
        &[format!("SELECT pg_terminate_backend({pid})")],
    )
    .await;
    tokio::time::sleep(PING_AFTER_IDLE + Duration::from_millis(300)).await;
    let second = harness.run(&config, "query", pid_query).await.unwrap();

    assert_ne!(single(&second, "pid"), pid);
}

#[tokio::test]
async fn mariadb_connection_closed_by_the_server_is_replaced() {
    let harness = Harness::new().await;
    let config = mariadb_config("test");
    let id_query = json!({"sql": "SELECT CONNECTION_ID() AS id"});
    let first = harness
        .run(&config, "query", id_query.clone())
        .await
        .unwrap();
    let id = single(&first, "id");

    admin(
        &mut mariadb_admin().await,
        &[format!("KILL CONNECTION {id}")],
    )
    .await;
    tokio::time::sleep(PING_AFTER_IDLE + Duration::from_millis(300)).await;
    let second = harness.run(&config, "query", id_query).await.unwrap();

    assert_ne!(single(&second, "id"), id);
}
