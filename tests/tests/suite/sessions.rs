//! Sign-up, sign-in, refresh rotation, logout and throttling.

use reqwest::StatusCode;
use serde_json::json;
use trellis_config::Secret;
use trellis_tests::{redis_url, TestServer, PASSWORD};

#[tokio::test]
async fn signup_normalizes_email_and_signs_in() {
    let server = TestServer::start().await;

    let reply = server
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "  Grace@Example.COM ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.json()["user"]["email"], "grace@example.com");
    let login = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "GRACE@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let access = login.json()["access_token"].as_str().unwrap().to_string();
    let me = server.get("/api/v1/me", &access).await;
    assert_eq!(me.json()["user"]["email"], "grace@example.com");
    server.stop().await;
}

#[tokio::test]
async fn duplicate_signup_answers_conflict() {
    let server = TestServer::start().await;
    let body = json!({"email": "dup@example.com", "password": PASSWORD});

    let first = server.post("/api/v1/auth/signup", None, body.clone()).await;
    let second = server
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "DUP@example.com", "password": PASSWORD}),
        )
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.json()["code"], "email_taken");
    server.stop().await;
}

#[tokio::test]
async fn weak_passwords_are_refused_naming_field() {
    let server = TestServer::start().await;
    for password in ["short-pass", "password1234", "qwertyuiop123"] {
        let reply = server
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"email": "weak@example.com", "password": password}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{password}");
        assert_eq!(reply.json()["field"], "password", "{password}");
    }
    server.stop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_family() {
    let server = TestServer::start().await;
    let session = server.signup("rotate").await;

    let first = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let rotated = first.json()["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, session.refresh);

    // The spent token comes back: the whole family ends, the newest token included.
    let reuse = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    let after = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": rotated}),
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn logout_revokes_refresh_token() {
    let server = TestServer::start().await;
    let session = server.signup("logout").await;

    let logout = server
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let refresh = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn refresh_family_ends_at_absolute_lifetime() {
    let server = TestServer::start().await;
    let session = server.signup("expiry").await;
    let db = trellis_tests::auth_db(&server).await;

    use sea_orm::ConnectionTrait;
    db.execute_unprepared("UPDATE refresh_tokens SET family_expires_at = '2020-01-01T00:00:00Z'")
        .await
        .unwrap();
    let reply = server
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

async fn throttles_after_five_failures(server: &TestServer) {
    let session = server.signup("throttle").await;
    let wrong = json!({"email": session.email, "password": "not-the-password-123"});

    for attempt in 0..5 {
        let reply = server.post("/api/v1/auth/login", None, wrong.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let blocked = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": session.email, "password": PASSWORD}),
        )
        .await;

    assert_eq!(
        blocked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        blocked.text
    );
    let retry_after: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0, "{retry_after}");
    assert!(retry_after <= 900, "{retry_after}");
    assert_eq!(blocked.json()["code"], "too_many_attempts");
}

#[tokio::test]
async fn login_throttled_in_memory() {
    let server = TestServer::start().await;
    throttles_after_five_failures(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn login_throttled_in_redis() {
    let server = TestServer::start_with(|s| s.redis_url = Some(Secret::new(redis_url()))).await;
    throttles_after_five_failures(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn throttle_counts_per_client_address() {
    let server = TestServer::start().await;

    // Five different unknown accounts from one address exhaust the address's budget.
    for attempt in 0..5 {
        let body = json!({"email": format!("nobody{attempt}@example.com"), "password": "whatever-password"});
        let reply = server.post("/api/v1/auth/login", None, body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let session_less = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "fresh@example.com", "password": "whatever-password"}),
        )
        .await;
    assert_eq!(session_less.status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test]
async fn login_rehashes_when_parameters_change() {
    let server = TestServer::start_with(|s| {
        s.argon2_memory_kib = 1024;
        s.argon2_iterations = 1;
    })
    .await;
    let session = server.signup("rehash").await;
    let server = server
        .restart_with(|s| {
            s.argon2_memory_kib = 19 * 1024;
            s.argon2_iterations = 2;
        })
        .await;
    let login = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": session.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);

    use sea_orm::{ConnectionTrait, Statement};
    let db = trellis_tests::auth_db(&server).await;
    let backend = db.get_database_backend();
    let row = db
        .query_one(Statement::from_string(
            backend,
            "SELECT password_hash FROM users",
        ))
        .await
        .unwrap()
        .unwrap();
    let hash: String = row.try_get("", "password_hash").unwrap();
    assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
    server.stop().await;
}
