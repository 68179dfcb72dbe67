//! Services in separate processes: the gateway forwards to auth, and other services reach the
//! auth service's directory over its internal API with the service token.

use reqwest::StatusCode;
use serde_json::json;
use trellis_config::{Secret, Settings};
use trellis_tests::{TestServer, PASSWORD};
use trellis_tokens::{Directory, HttpDirectory, Role};

const SERVICE_TOKEN: &str = "test-service-token-0123456789";

async fn auth_process() -> TestServer {
    TestServer::start_with(|s| s.service_token = Some(Secret::new(SERVICE_TOKEN))).await
}

#[tokio::test]
async fn gateway_forwards_public_routes_to_auth() {
    let auth = auth_process().await;
    let settings = Settings {
        auth_url: format!("http://{}", auth.address),
        ..Settings::default()
    };
    let listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let gateway = trellis::server::start_gateway(settings, listener)
        .await
        .unwrap();
    let base = format!("http://{}", gateway.address);
    let client = reqwest::Client::new();

    let signup = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({"email": "via-gateway@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);
    let body: serde_json::Value = signup.json().await.unwrap();
    let token = body["tokens"]["access_token"].as_str().unwrap();
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    // Internal routes are never reachable through the gateway.
    let internal = client
        .post(format!("{base}/internal/v1/api-keys/resolve"))
        .header("x-trellis-service-token", SERVICE_TOKEN)
        .json(&json!({"key": "trk_x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), StatusCode::NOT_FOUND);
    gateway.stop().await;
    auth.stop().await;
}

#[tokio::test]
async fn gateway_answers_502_when_upstream_is_down() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap();
    drop(listener);
    let settings = Settings {
        auth_url: format!("http://{dead}"),
        ..Settings::default()
    };
    let gateway = trellis::server::start_gateway(
        settings,
        trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
    )
    .await
    .unwrap();

    let reply = reqwest::get(format!("http://{}/api/v1/me", gateway.address))
        .await
        .unwrap();

    assert_eq!(reply.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(reply.headers()["content-type"], "application/problem+json");
    gateway.stop().await;
}

#[tokio::test]
async fn remote_directory_resolves_roles_and_keys() {
    let auth = auth_process().await;
    let owner = auth.signup("owner").await;
    let workspace = auth.workspace(&owner, "w").await;
    let created = auth
        .post(
            &format!("/api/v1/workspaces/{workspace}/api-keys"),
            Some(&owner.access),
            json!({"name": "k", "role": "editor"}),
        )
        .await;
    let key = created.json()["key"].as_str().unwrap().to_string();
    let base = format!("http://{}", auth.address);

    let directory = HttpDirectory::new(&base, SERVICE_TOKEN);
    assert_eq!(
        directory.role_of(workspace, owner.user_id).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(
        directory
            .role_of(uuid::Uuid::new_v4(), owner.user_id)
            .await
            .unwrap(),
        None
    );
    let identity = directory.api_key(&key).await.unwrap().unwrap();
    assert_eq!(identity.workspace_id, workspace);
    assert_eq!(identity.role, Role::Editor);
    assert!(directory.api_key("trk_unknown").await.unwrap().is_none());

    let impostor = HttpDirectory::new(&base, "wrong-token");
    assert!(impostor.role_of(workspace, owner.user_id).await.is_err());
    auth.stop().await;
}

#[tokio::test]
async fn separate_service_verifies_tokens_with_auth_jwks() {
    let auth = auth_process().await;
    let owner = auth.signup("owner").await;
    // The apps process keeps its data beside the auth process's, in the test's own folder.
    let settings = Settings {
        auth_url: format!("http://{}", auth.address),
        service_token: Some(Secret::new(SERVICE_TOKEN)),
        ..auth.settings.clone()
    };

    let listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let apps = trellis::start(settings, trellis::Role::Apps, listener)
        .await
        .unwrap();
    let health = reqwest::get(format!("http://{}/healthz", apps.address))
        .await
        .unwrap();

    assert_eq!(health.status(), StatusCode::OK);
    assert!(!owner.access.is_empty());
    apps.stop().await;
    auth.stop().await;
}
