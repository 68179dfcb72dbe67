//! A run whose query would return two million rows returns the capped result, and the server
//! process's peak memory stays close to where it was before the run.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{free_port, send, wait_healthy};

/// Growth of the server's peak resident memory that the capped run may cause. Two million rows
/// as JSON values would take hundreds of MiB.
const MAX_PEAK_GROWTH_KIB: u64 = 64 * 1024;

/// Returns the peak resident set size of a process, in KiB, from `/proc/{pid}/status`.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("Linux reports VmHWM");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    send(client.post(&url).bearer_auth(token).json(&body)).await
}

#[tokio::test]
async fn two_million_row_run_capped() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .arg("serve")
        .env("TRELLIS_DATA_DIR", data.path())
        .env("TRELLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("TRELLIS_LOG_LEVEL", "warn")
        .env("TRELLIS_EXEC_INTERNAL_HOSTS", "[127.0.0.1:5432]")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port).await;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let signup: Value = client
        .post(format!("{base}/auth/signup"))
        .json(&json!({"email": "rows@example.com", "password": "violet-harbor-tram-1987"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let workspace = post(
        &client,
        format!("{base}/workspaces"),
        &token,
        json!({"name": "Rows"}),
    )
    .await;
    let workspace_url = format!("{base}/workspaces/{}", workspace["id"].as_str().unwrap());
    let resource = post(
        &client,
        format!("{workspace_url}/resources"),
        &token,
        json!({"name": "Local PostgreSQL", "plugin_id": "sql", "plugin_version": "0.1.0",
            "config": {"engine": "postgres", "host": "127.0.0.1", "port": 5432,
                "database": "postgres", "user": "postgres", "tls_mode": "disable"}}),
    )
    .await;
    let app = post(
        &client,
        format!("{workspace_url}/apps"),
        &token,
        json!({"name": "Rows"}),
    )
    .await;
    let app_url = format!("{workspace_url}/apps/{}", app["id"].as_str().unwrap());
    let action = post(
        &client,
        format!("{app_url}/actions"),
        &token,
        json!({"name": "Two million", "resource_id": resource["id"], "operation": "query",
            "input": {"sql": "SELECT n, 'row ' || n AS label FROM generate_series(1, 2000000) AS n"}}),
    )
    .await;
    post(&client, format!("{app_url}/releases"), &token, json!({})).await;
    let run_url = format!("{app_url}/actions/{}/run", action["id"].as_str().unwrap());
    let small = "SELECT 1 AS n";
    let warm_up = post(
        &client,
        format!("{app_url}/actions"),
        &token,
        json!({"name": "One", "resource_id": resource["id"], "operation": "query",
            "input": {"sql": small}}),
    )
    .await;
    post(&client, format!("{app_url}/releases"), &token, json!({})).await;
    // One small run first, so the connector, the pool and the sandbox are in place.
    let warm_url = format!("{app_url}/actions/{}/run", warm_up["id"].as_str().unwrap());
    post(&client, warm_url, &token, json!({"params": {}})).await;
    let before = peak_rss_kib(child.id());

    let run = post(&client, run_url, &token, json!({"params": {}})).await;

    let after = peak_rss_kib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run["meta"]["truncated"], json!(true));
    assert_eq!(run["data"]["truncated"], json!(true));
    assert_eq!(run["data"]["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(
        run["data"]["rows"][999],
        json!({"n": 1000, "label": "row 1000"})
    );
    // The kernel sums its memory counters per CPU, so a later reading can come out a little
    // lower; that counts as no growth.
    assert!(
        after.saturating_sub(before) < MAX_PEAK_GROWTH_KIB,
        "peak memory grew from {before} KiB to {after} KiB"
    );
}
