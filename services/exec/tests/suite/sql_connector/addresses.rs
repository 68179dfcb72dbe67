//! The address guard on database hosts: a tenant's config reaches a database on an internal
//! address only when that host is in the internal hosts setting.

use serde_json::{json, Value};
use trellis_exec::host::network::InternalHost;
use trellis_exec::RunError;

use super::{postgres_config, Harness};

/// Returns the message of a call that failed upstream, or fails the test.
fn upstream_message(result: Result<Value, RunError>) -> String {
    match result {
        Err(RunError::Upstream { message, .. }) => message,
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

#[tokio::test]
async fn loopback_database_is_rejected() {
    let mut harness = Harness::new().await;
    harness.internal_hosts.clear();

    let result = harness
        .run(
            &postgres_config(),
            "query",
            json!({"sql": "SELECT 1 AS one"}),
        )
        .await;

    let message = upstream_message(result);
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(message.contains("a loopback address"), "{message}");
    assert!(message.contains("internal hosts"), "{message}");
}

#[tokio::test]
async fn name_resolving_to_loopback_is_rejected() {
    let mut harness = Harness::new().await;
    harness.internal_hosts.clear();
    let mut config = postgres_config();
    config["host"] = json!("localhost");

    let result = harness.test_connection(&config).await;

    let message = upstream_message(result);
    assert!(message.contains("at the connect step"), "{message}");
    assert!(message.contains("localhost resolves to"), "{message}");
}

#[tokio::test]
async fn allowed_host_on_other_port_is_rejected() {
    let mut harness = Harness::new().await;
    // The MariaDB port is allowed, the PostgreSQL port is not.
    harness.internal_hosts = vec![InternalHost::parse("127.0.0.1:3306").unwrap()];

    let postgres = harness
        .run(
            &postgres_config(),
            "query",
            json!({"sql": "SELECT 1 AS one"}),
        )
        .await;

    let message = upstream_message(postgres);
    assert!(message.contains("a loopback address"), "{message}");
}

#[tokio::test]
async fn allowed_internal_host_connects() {
    let harness = Harness::new().await;

    let result = harness
        .run(
            &postgres_config(),
            "query",
            json!({"sql": "SELECT 1 AS one"}),
        )
        .await;

    assert_eq!(result.unwrap()["rows"], json!([{"one": 1}]));
}
