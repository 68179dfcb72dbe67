//! The apps service in its own process, behind the gateway, resolving callers through the
//! auth service's internal API.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use trellis_config::{Secret, Settings};
use trellis_tests::catalog::TestCatalog;
use trellis_tests::TestServer;

const SERVICE_TOKEN: &str = "test-service-token-0123456789";

#[tokio::test]
async fn apps_process_serves_through_gateway() {
    let auth = TestServer::start_with(|s| s.service_token = Some(Secret::new(SERVICE_TOKEN))).await;
    let apps_settings = Settings {
        auth_url: format!("http://{}", auth.address),
        ..auth.settings.clone()
    };
    let apps = trellis::start_with_catalog(
        apps_settings,
        trellis::Role::Apps,
        trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        Arc::new(TestCatalog::default()),
    )
    .await
    .unwrap();
    let gateway_settings = Settings {
        auth_url: format!("http://{}", auth.address),
        apps_url: format!("http://{}", apps.address),
        ..Settings::default()
    };
    let gateway = trellis::server::start_gateway(
        gateway_settings,
        trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
    )
    .await
    .unwrap();
    let owner = auth.signup("owner").await;
    let workspace = auth.workspace(&owner, "Acme").await;
    let client = reqwest::Client::new();
    let base = format!("http://{}/api/v1/workspaces/{workspace}", gateway.address);
    let send = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&owner.access);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    let resource = send(
        Method::POST,
        "/resources",
        Some(
            json!({"name": "db", "plugin_id": "sql", "plugin_version": "1.0.0",
            "config": {"host": "h", "database": "d", "password": "gateway-secret"}}),
        ),
    )
    .await
    .unwrap();
    let app = send(
        Method::POST,
        "/apps",
        Some(json!({"name": "Public", "access": {"public": true}})),
    )
    .await
    .unwrap();
    let app: serde_json::Value = app.json().await.unwrap();
    let release = send(
        Method::POST,
        &format!("/apps/{}/releases", app["id"].as_str().unwrap()),
        None,
    )
    .await
    .unwrap();
    let public = client
        .get(format!(
            "http://{}/api/v1/public/apps/{}",
            gateway.address,
            app["public_id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();

    let audit: serde_json::Value = send(Method::GET, "/audit", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "release.create",
            "app.create",
            "resource.create",
            "member.join"
        ],
        "the apps log merged with the members log that auth keeps"
    );
    assert_eq!(resource.status(), StatusCode::CREATED);
    assert!(!resource.text().await.unwrap().contains("gateway-secret"));
    assert_eq!(release.status(), StatusCode::CREATED);
    assert_eq!(public.status(), StatusCode::OK);
    gateway.stop().await;
    apps.stop().await;
    auth.stop().await;
}
