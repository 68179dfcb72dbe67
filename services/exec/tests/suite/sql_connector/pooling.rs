//! Pooled connections: reused after a statement, replaced when the server closed them while
//! they were idle, closed when a call ended before its statement did, and kept apart per
//! worker thread.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use trellis_exec::host::sql::{SqlSettings, PING_AFTER_IDLE};
use trellis_exec::RunError;

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

/// The statement that returns the PostgreSQL server's id for the connection.
const POSTGRES_PID: &str = "SELECT pg_backend_pid()::int8 AS id";

async fn postgres_pid(harness: &Harness) -> i64 {
    let output = harness
        .run(&postgres_config(), "query", json!({ "sql": POSTGRES_PID }))
        .await
        .unwrap();
    first_number(&output, "id")
}

#[tokio::test]
async fn postgres_rejected_statement() {
    let harness = Harness::new().await;
    let before = postgres_pid(&harness).await;

    let rejected = harness
        .run(
            &postgres_config(),
            "query",
            json!({ "sql": "SELECT * FROM no_such_table_in_this_database" }),
        )
        .await;
    let after = postgres_pid(&harness).await;

    let error = rejected.expect_err("the server rejects an unknown table");
    assert!(error.to_string().contains("no_such_table"), "{error}");
    assert_eq!(after, before, "the pool's only connection was replaced");
}

#[tokio::test]
async fn postgres_cut_off_call() {
    let harness = Harness::new().await;
    let before = postgres_pid(&harness).await;

    // The call's deadline ends long before the statement, so the host drops the statement
    // while the server is still running it on the pool's only connection.
    let cut_off = harness
        .run_within(
            &postgres_config(),
            "query",
            json!({ "sql": "SELECT pg_sleep(3)" }),
            Duration::from_millis(300),
        )
        .await;
    let started = std::time::Instant::now();
    let after = postgres_pid(&harness).await;

    assert!(
        matches!(cut_off, Err(RunError::TimedOut { .. })),
        "{cut_off:?}"
    );
    assert_ne!(after, before, "the cut-off connection was handed out again");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the next statement waited for the cut-off one: {:?}",
        started.elapsed()
    );
}

/// Runs `calls` concurrent calls on a single-threaded runtime of a new thread, as an HTTP
/// worker does, and returns the connection ids they used.
fn pids_on_own_thread(harness: Arc<Harness>, calls: usize) -> std::thread::JoinHandle<Vec<i64>> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let runs = (0..calls).map(|_| postgres_pid(&harness));
            futures_util::future::join_all(runs).await
        })
    })
}

#[tokio::test]
async fn postgres_pool_per_worker_thread() {
    let harness = Arc::new(Harness::new().await);
    let limit = SqlSettings::default().max_connections_per_pool as usize;

    let first = pids_on_own_thread(harness.clone(), 4 * limit);
    let second = pids_on_own_thread(harness.clone(), 4 * limit);
    let first: HashSet<i64> = first.join().unwrap().into_iter().collect();
    let second: HashSet<i64> = second.join().unwrap().into_iter().collect();

    assert!(first.len() <= limit, "{first:?}");
    assert!(second.len() <= limit, "{second:?}");
    assert!(
        first.is_disjoint(&second),
        "two threads shared a connection: {first:?} and {second:?}"
    );
}
