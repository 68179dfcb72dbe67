//! Ports and start-up checks shared by the process tests.

use std::time::{Duration, Instant};

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `/healthz` on the port returns 200, for at most 30 seconds.
pub async fn wait_healthy(port: u16) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    loop {
        if let Ok(reply) = reqwest::get(&url).await {
            if reply.status().is_success() {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the process on port {port} did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a request, checks that it succeeded and returns its JSON body.
pub async fn send(request: reqwest::RequestBuilder) -> serde_json::Value {
    let reply = request.send().await.unwrap();
    let url = reply.url().to_string();
    let status = reply.status();
    let text = reply.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}
