//! Edge rate limits: headers, 429s, and behaviour while Redis is down.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use trellis_config::Secret;
use trellis_tests::{redis_url, TestServer, PASSWORD};

fn header(reply: &trellis_tests::Reply, name: &str) -> u64 {
    reply.headers[name].to_str().unwrap().parse().unwrap()
}

async fn auth_routes_limit_per_address(server: &TestServer) {
    let body = json!({"email": "nobody@example.com", "password": "whatever-password"});

    let first = server
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": "x"}))
        .await;
    let second = server
        .post("/api/v1/auth/refresh", None, json!({"refresh_token": "x"}))
        .await;
    let third = server.post("/api/v1/auth/login", None, body.clone()).await;
    let fourth = server.post("/api/v1/auth/login", None, body).await;

    assert_eq!(header(&first, "ratelimit-limit"), 3);
    assert_eq!(header(&first, "ratelimit-remaining"), 2);
    assert_eq!(header(&second, "ratelimit-remaining"), 1);
    assert_eq!(third.status, StatusCode::UNAUTHORIZED);
    assert_eq!(fourth.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fourth.json()["code"], "rate_limited");
    assert!(header(&fourth, "retry-after") >= 1);
    assert_eq!(header(&fourth, "ratelimit-remaining"), 0);
}

#[tokio::test]
async fn auth_routes_limited_in_memory() {
    let server = TestServer::start_with(|s| s.rate_limit_auth_per_minute = 3).await;
    auth_routes_limit_per_address(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn auth_routes_limited_in_redis() {
    let server = TestServer::start_with(|s| {
        s.rate_limit_auth_per_minute = 3;
        s.redis_url = Some(Secret::new(redis_url()));
    })
    .await;
    auth_routes_limit_per_address(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn workspace_and_api_key_limits_apply() {
    let server = TestServer::start_with(|s| {
        s.rate_limit_workspace_per_minute = 4;
        s.rate_limit_api_key_per_minute = 2;
    })
    .await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let members = format!("/api/v1/workspaces/{workspace}/members");
    let key = server.api_key(&owner, workspace, "viewer").await;

    // The key creation spent one of the workspace's four requests.
    let statuses: Vec<StatusCode> = {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(server.get(&members, &owner.access).await.status);
        }
        statuses
    };
    let key_first = server.get(&members, &key).await;
    let key_second = server.get(&members, &key).await;
    let key_third = server.get(&members, &key).await;

    assert_eq!(statuses[..3], [StatusCode::OK; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(key_first.status, StatusCode::OK);
    assert_eq!(header(&key_first, "ratelimit-limit"), 2);
    assert_eq!(key_second.status, StatusCode::OK);
    assert_eq!(key_third.status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test]
async fn user_limit_applies_outside_workspaces() {
    let server = TestServer::start_with(|s| {
        s.rate_limit_user_per_minute = 3;
        s.rate_limit_api_key_per_minute = 2;
    })
    .await;
    let owner = server.signup("owner").await;
    let other = server.signup("other").await;
    let workspace = server.workspace(&owner, "w").await;
    let key = server.api_key(&owner, workspace, "viewer").await;

    // Creating the workspace spent one of the owner's three requests.
    let me = server.get("/api/v1/me", &owner.access).await;
    let plugins = server.get("/api/v1/plugins", &owner.access).await;
    let over = server.get("/api/v1/me", &owner.access).await;
    let members = server
        .get(
            &format!("/api/v1/workspaces/{workspace}/members"),
            &owner.access,
        )
        .await;
    let other_me = server.get("/api/v1/me", &other.access).await;
    let stranger = server.get("/api/v1/me", "not-a-token").await;
    let key_replies = [
        server.get("/api/v1/plugins", &key).await,
        server.get("/api/v1/plugins", &key).await,
        server.get("/api/v1/plugins", &key).await,
    ];

    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(header(&me, "ratelimit-limit"), 3);
    assert_eq!(header(&me, "ratelimit-remaining"), 1);
    assert_eq!(plugins.status, StatusCode::OK);
    assert_eq!(header(&plugins, "ratelimit-remaining"), 0);
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(over.json()["detail"]
        .as_str()
        .unwrap()
        .contains("3 requests per minute"));
    assert!(header(&over, "retry-after") >= 1);
    // Workspace routes count against the workspace, not the user.
    assert_eq!(members.status, StatusCode::OK);
    assert_eq!(header(&members, "ratelimit-limit"), 3000);
    assert_eq!(other_me.status, StatusCode::OK);
    assert_eq!(header(&other_me, "ratelimit-remaining"), 2);
    // An unverified token spends no one's quota.
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    assert!(!stranger.headers.contains_key("ratelimit-limit"));
    // An API key is limited on every route, not only on its workspace's.
    assert_eq!(key_replies[0].status, StatusCode::OK);
    assert_eq!(header(&key_replies[0], "ratelimit-limit"), 2);
    assert_eq!(key_replies[1].status, StatusCode::OK);
    assert_eq!(key_replies[2].status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

/// A Redis server owned by one test on a free port, so stopping it affects no other test.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        PrivateRedis { port, child }
    }

    async fn wait_ready(&self) {
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the private Redis did not start");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_outage_closes_sign_in_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut redis = PrivateRedis::start(port);
    redis.wait_ready().await;
    let server = TestServer::start_with(|s| {
        s.redis_url = Some(Secret::new(format!("redis://127.0.0.1:{port}")))
    })
    .await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let members = format!("/api/v1/workspaces/{workspace}/members");

    redis.stop();
    let tenant = server.get(&members, &owner.access).await;
    let login = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": owner.email, "password": PASSWORD}),
        )
        .await;

    assert_eq!(tenant.status, StatusCode::OK, "{}", tenant.text);
    assert!(tenant.headers.contains_key("ratelimit-remaining"));
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.text
    );
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("rate_limit_local_fallback_total"),
        "{metrics}"
    );

    // Recovery needs no restart: the connection comes back with Redis.
    let redis = PrivateRedis::start(port);
    redis.wait_ready().await;
    let mut recovered = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..30 {
        let login = server
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": owner.email, "password": PASSWORD}),
            )
            .await;
        recovered = login.status;
        if recovered == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(recovered, StatusCode::OK);
    server.stop().await;
    drop(redis);
}
