//! Pooled connections that the database server closed while they were idle.

use std::time::Duration;

use serde_json::{json, Value};
use trellis_exec::host::sql::PING_AFTER_IDLE;

use super::{
    admin, mariadb_admin, mariadb_config, postgres_admin, postgres_config, AdminConnection, Harness,
};

/// Returns the number in `column` of a result's first row.
fn first_number(output: &Value, column: &str) -> i64 {
    output["rows"][0][column]
        .as_i64()
        .unwrap_or_else(|| panic!("no number in {output}"))
}

/// Runs `sql`, which returns the server's id for the connection, ends that connection with the
/// statement `kill` builds while it is idle, and returns the connection ids before and after.
async fn ids_around_kill<C: AdminConnection>(
    config: Value,
    sql: &str,
    mut admin_connection: C,
    kill: fn(i64) -> String,
) -> (i64, i64) {
    let harness = Harness::new().await;
    let query = json!({ "sql": sql });
    let first = harness.run(&config, "query", query.clone()).await.unwrap();
    let before = first_number(&first, "id");

    // This is the pool's only connection, and the server ends it while it is idle.
    admin(&mut admin_connection, &[kill(before)]).await;
    tokio::time::sleep(PING_AFTER_IDLE + Duration::from_millis(300)).await;
    let second = harness.run(&config, "query", query).await.unwrap();

    (before, first_number(&second, "id"))
}

#[tokio::test]
async fn postgres_closed_connection_is_replaced() {
    let (before, after) = ids_around_kill(
        postgres_config(),
        "SELECT pg_backend_pid()::int8 AS id",
        postgres_admin().await,
        |id| format!("SELECT pg_terminate_backend({id})"),
    )
    .await;

    assert_ne!(after, before);
}

#[tokio::test]
async fn mariadb_closed_connection_is_replaced() {
    let (before, after) = ids_around_kill(
        mariadb_config("test"),
        "SELECT CONNECTION_ID() AS id",
        mariadb_admin().await,
        |id| format!("KILL CONNECTION {id}"),
    )
    .await;

    assert_ne!(after, before);
}
