//! Bad input gets a 4xx that names the field and changes nothing. Responses never contain
//! stored hashes, and request ids are echoed.

use reqwest::StatusCode;
use serde_json::json;
use trellis_tests::TestServer;

async fn raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let response = server
        .client
        .post(server.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_bodies_answer_4xx_naming_the_field() {
    let server = TestServer::start().await;
    let signup = "/api/v1/auth/signup";

    let (status, body) = raw(
        &server,
        signup,
        "application/json",
        b"{\"email\": ".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "malformed_json");

    let (status, body) = raw(
        &server,
        signup,
        "application/json",
        br#"{"email": 42, "password": "x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "email");

    let (status, body) = raw(
        &server,
        signup,
        "application/json",
        br#"{"email": "a@example.com"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "password");

    let (status, body) = raw(
        &server,
        signup,
        "application/json",
        br#"{"email": "a@example.com", "password": "violet-harbor-tram-1987", "role": "owner"}"#
            .to_vec(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused: {body}"
    );

    let (status, body) = raw(&server, signup, "text/plain", b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "unsupported_media_type");

    let (status, body) = raw(&server, signup, "application/json", b"".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = raw(
        &server,
        "/api/v1/auth/login",
        "application/json",
        br#"{"email": "not-an-email", "password": "x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "email");

    // Nothing was created by any of the above.
    let db = trellis_tests::auth_db(&server).await;
    use sea_orm::{ConnectionTrait, Statement};
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM users",
        ))
        .await
        .unwrap()
        .unwrap();
    let count: i64 = row.try_get("", "n").unwrap();
    assert_eq!(count, 0);
    server.stop().await;
}

#[tokio::test]
async fn body_over_limit_answers_413() {
    let server = TestServer::start().await;
    let padding = "a".repeat(1024 * 1024 + 10);
    let body =
        serde_json::to_vec(&json!({"email": "big@example.com", "password": padding})).unwrap();

    let (status, problem) = raw(&server, "/api/v1/auth/signup", "application/json", body).await;

    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["code"], "payload_too_large");
    server.stop().await;
}

#[tokio::test]
async fn wrong_role_value_names_the_field() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;

    let reply = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/invites"),
            Some(&owner.access),
            json!({"email": "x@example.com", "role": "superuser"}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["field"], "role");
    server.stop().await;
}

#[tokio::test]
async fn request_id_is_echoed_or_generated() {
    let server = TestServer::start().await;

    let given = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-abc-123");

    let hostile = server
        .client
        .get(server.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let generated = hostile.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let problem = server
        .client
        .get(server.url("/api/v1/me"))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = problem.json().await.unwrap();
    assert_eq!(body["request_id"], "req-42");
    server.stop().await;
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let server = TestServer::start().await;

    let health = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn unknown_route_answers_problem_404() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    server.stop().await;
}

#[tokio::test]
async fn no_response_contains_a_stored_hash() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let member = server.member(&owner, workspace, "admin").await;
    let key = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/api-keys"),
            Some(&owner.access),
            json!({"name": "k", "role": "viewer"}),
        )
        .await;
    let invite = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/invites"),
            Some(&owner.access),
            json!({"email": "later@example.com", "role": "viewer"}),
        )
        .await;
    let refreshed = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": owner.refresh}),
        )
        .await;

    // Collect every stored hash straight from the database.
    use sea_orm::{ConnectionTrait, Statement};
    let db = trellis_tests::auth_db(&server).await;
    let backend = db.get_database_backend();
    let mut hashes = Vec::new();
    for (table, column) in [
        ("users", "password_hash"),
        ("refresh_tokens", "token_hash"),
        ("api_keys", "key_hash"),
        ("invites", "token_hash"),
    ] {
        let rows = db
            .query_all(Statement::from_string(
                backend,
                format!("SELECT {column} AS h FROM {table}"),
            ))
            .await
            .unwrap();
        for row in rows {
            hashes.push(row.try_get::<String>("", "h").unwrap());
        }
    }
    assert!(hashes.len() >= 6);

    let login = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": member.email, "password": trellis_tests::PASSWORD}),
        )
        .await;
    let base = format!("/api/v1/workspaces/{workspace}");
    let mut replies = vec![key, invite, refreshed, login];
    for path in [
        "/api/v1/me".to_string(),
        "/api/v1/workspaces".into(),
        base.clone(),
        format!("{base}/members"),
        format!("{base}/invites"),
        format!("{base}/api-keys"),
    ] {
        replies.push(server.get(&path, &owner.access).await);
    }
    for reply in &replies {
        assert!(reply.status.is_success(), "{}", reply.text);
        for hash in &hashes {
            assert!(
                !reply.text.contains(hash.as_str()),
                "a stored hash leaked in {}",
                reply.text
            );
        }
        assert!(!reply.text.contains("$argon2"), "{}", reply.text);
    }
    server.stop().await;
}
