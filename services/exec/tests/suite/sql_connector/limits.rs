//! Row and byte caps and the statement timeout, against real servers.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Row;
use trellis_exec::host::sql::SqlSettings;
use trellis_exec::RunError;

use super::{postgres_admin, postgres_config, unique, Harness};

/// Counts the server sessions whose query text contains `marker`, other than the asking one.
async fn sessions_running(marker: &str) -> i64 {
    let mut admin = postgres_admin().await;
    let row = sqlx::query(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid() AND state = 'active'",
    )
    .bind(marker)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    row.get(0)
}

#[tokio::test]
async fn two_million_rows_stop_at_cap() {
    let harness = Harness::new().await;
    let marker = unique("cap");
    let sql = format!(
        "SELECT n, 'row ' || n AS label FROM generate_series(1, 2000000) AS n /* {marker} */"
    );
    let started = Instant::now();

    let output = harness
        .run(&postgres_config(), "query", json!({ "sql": sql }))
        .await
        .unwrap();

    let took = started.elapsed();
    assert_eq!(output["row_count"], json!(1000));
    assert_eq!(output["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(output["rows"][999], json!({"n": 1000, "label": "row 1000"}));
    assert_eq!(output["truncated"], json!(true));
    // The host stops reading at the cap instead of buffering two million rows.
    assert!(took < Duration::from_secs(5), "{took:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while sessions_running(&marker).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sessions_running(&marker).await, 0);
}

#[tokio::test]
async fn input_max_rows_lowers_cap() {
    let harness = Harness::new().await;
    let input = json!({"sql": "SELECT n FROM generate_series(1, 50) AS n", "max_rows": 10});

    let output = harness
        .run(&postgres_config(), "query", input)
        .await
        .unwrap();

    assert_eq!(output["row_count"], json!(10));
    assert_eq!(output["truncated"], json!(true));
}

#[tokio::test]
async fn byte_cap_truncates() {
    let harness = Harness::new().await;
    let input = json!({
        "sql": "SELECT repeat('x', 1000) AS filler FROM generate_series(1, 100)",
        "max_bytes": 10_000
    });

    let output = harness
        .run(&postgres_config(), "query", input)
        .await
        .unwrap();

    assert_eq!(output["row_count"], json!(10));
    assert_eq!(output["truncated"], json!(true));
}

#[tokio::test]
async fn input_cannot_raise_host_cap() {
    let settings = SqlSettings {
        max_rows: 5,
        ..SqlSettings::default()
    };
    let harness = Harness::with_settings(settings).await;
    let input = json!({"sql": "SELECT n FROM generate_series(1, 50) AS n", "max_rows": 40});

    let output = harness
        .run(&postgres_config(), "query", input)
        .await
        .unwrap();

    assert_eq!(output["row_count"], json!(5));
}

#[tokio::test]
async fn pg_sleep_is_cancelled_on_server() {
    let harness = Harness::new().await;
    let marker = unique("sleep");
    let input = json!({"sql": format!("SELECT pg_sleep(60) /* {marker} */"), "timeout_ms": 2000});
    let started = Instant::now();

    let result = harness.run(&postgres_config(), "query", input).await;

    let took = started.elapsed();
    assert!(
        matches!(result, Err(RunError::TimedOut { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    let deadline = started + Duration::from_secs(5);
    while sessions_running(&marker).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sessions_running(&marker).await,
        0,
        "still running after 5 s"
    );
}

#[tokio::test]
async fn custom_timeout_does_not_leak_to_pool() {
    let harness = Harness::new().await;
    let config = postgres_config();
    let short = json!({"sql": "SELECT pg_sleep(0.01)", "timeout_ms": 1});
    let _ = harness.run(&config, "query", short).await;

    let output = harness
        .run(&config, "query", json!({"sql": "SHOW statement_timeout"}))
        .await
        .unwrap();

    assert_eq!(output["rows"][0]["statement_timeout"], json!("5s"));
}
