//! The binary stops on SIGTERM: it finishes in-flight requests, stores the run records still
//! queued, and exits 0.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{free_port, send, wait_healthy};

/// Starts `trellis serve` on the data folder and waits until `/healthz` returns 200. Run
/// records wait up to 10 seconds before they are stored unless something flushes them.
async fn serve(data: &std::path::Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .arg("serve")
        .env("TRELLIS_DATA_DIR", data)
        .env("TRELLIS_RUN_RECORD_WINDOW_MS", "10000")
        .env("TRELLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("TRELLIS_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(port).await;
    child
}

/// Sends SIGTERM, waits for the process to exit and returns its exit code.
async fn terminate(mut child: Child) -> Option<i32> {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    exit.code()
}

#[tokio::test]
async fn sigterm_finishes_requests_and_exits_zero() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = serve(data.path(), port).await;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // A sign-up spends tens of milliseconds hashing, so it is still in flight at the signal.
    let signup = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/api/v1/auth/signup");
        async move {
            client
                .post(url)
                .json(&serde_json::json!({"email": "late@example.com", "password": "violet-harbor-tram-1987"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let code = terminate(child).await;

    let status = signup
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(status, 201);
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn sigterm_keeps_run_records() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = serve(data.path(), port).await;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let signup = send(
        client
            .post(format!("{base}/auth/signup"))
            .json(&json!({"email": "records@example.com", "password": "violet-harbor-tram-1987"})),
    )
    .await;
    let token = signup["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let post = |url: String, body: Value| client.post(url).bearer_auth(&token).json(&body);
    let workspace = send(post(
        format!("{base}/workspaces"),
        json!({"name": "Records"}),
    ))
    .await;
    let workspace_url = format!("{base}/workspaces/{}", workspace["id"].as_str().unwrap());
    let resource = send(post(
        format!("{workspace_url}/resources"),
        json!({"name": "Echo", "plugin_id": "echo", "plugin_version": "0.1.0",
                "config": {"token": "echo-token-for-the-shutdown-test"}}),
    ))
    .await;
    let app = send(post(
        format!("{workspace_url}/apps"),
        json!({"name": "Records"}),
    ))
    .await;
    let app_url = format!("{workspace_url}/apps/{}", app["id"].as_str().unwrap());
    let action = send(post(
        format!("{app_url}/actions"),
        json!({"name": "Echo", "resource_id": resource["id"], "operation": "echo", "input": {}}),
    ))
    .await;
    send(post(format!("{app_url}/releases"), json!({}))).await;
    let run_url = format!("{app_url}/actions/{}/run", action["id"].as_str().unwrap());

    let mut returned = Vec::new();
    for _ in 0..5 {
        let run = send(post(run_url.clone(), json!({"params": {}}))).await;
        returned.push(run["meta"]["run_id"].as_str().unwrap().to_string());
    }
    // The signal comes right after the last response, long before the writer's window ends.
    let code = terminate(child).await;
    let child = serve(data.path(), port).await;
    let listed = send(
        client
            .get(format!("{workspace_url}/runs?limit=100"))
            .bearer_auth(&token),
    )
    .await;
    terminate(child).await;

    assert_eq!(code, Some(0));
    let mut recorded: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    returned.sort();
    recorded.sort();
    assert_eq!(recorded, returned);
}
