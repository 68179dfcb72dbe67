//! `/readyz` follows the database: a PostgreSQL restart makes the server not ready while it is
//! down, and it recovers without a restart of its own.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use trellis_config::Secret;
use trellis_tests::postgres::PrivatePostgres;
use trellis_tests::TestServer;

async fn readiness(server: &TestServer) -> StatusCode {
    server
        .client
        .get(format!("http://{}/readyz", server.address))
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls `/readyz` until it returns `want`, for at most `limit`.
async fn wait_for(server: &TestServer, want: StatusCode, limit: Duration) {
    let started = Instant::now();
    loop {
        let status = readiness(server).await;
        if status == want {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "/readyz answered {status}, not {want}, for {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn readyz_follows_postgres_restart() {
    let Some(database) = PrivatePostgres::start() else {
        panic!("PostgreSQL's server programs are not installed; see scripts/test");
    };
    let url = database.url();
    let server = TestServer::start_with(|s| s.database_url = Some(Secret::new(url))).await;
    assert_eq!(readiness(&server).await, StatusCode::OK);

    database.halt();
    wait_for(
        &server,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(10),
    )
    .await;
    let health = server
        .client
        .get(format!("http://{}/healthz", server.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    database.resume();
    wait_for(&server, StatusCode::OK, Duration::from_secs(15)).await;
    let owner = server.signup("after-restart").await;
    assert!(!owner.access.is_empty());
    server.stop().await;
}
