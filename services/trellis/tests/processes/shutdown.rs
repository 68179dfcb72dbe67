//! The binary stops on SIGTERM: it finishes in-flight requests and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_port;

#[tokio::test]
async fn sigterm_finishes_requests_and_exits_zero() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .arg("serve")
        .env("TRELLIS_DATA_DIR", data.path())
        .env("TRELLIS_LISTEN", format!("127.0.0.1:{port}"))
        .env("TRELLIS_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

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
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let status = signup
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(status, 201);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
}
