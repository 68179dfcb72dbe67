//! Runs with the apps and exec services in their own processes behind the gateway: apps
//! reaches the connector catalog through exec's internal API, and exec loads actions through
//! apps' internal API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_config::{Secret, Settings};
use trellis_tests::runs::{ECHO_TOKEN, ECHO_VERSION};
use trellis_tests::TestServer;

const SERVICE_TOKEN: &str = "test-service-token-0123456789";

#[tokio::test]
async fn run_crosses_service_processes() {
    let auth = TestServer::start_with(|s| s.service_token = Some(Secret::new(SERVICE_TOKEN))).await;
    let apps_listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let exec_listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let apps_url = format!("http://{}", apps_listener.local_addr().unwrap());
    let exec_url = format!("http://{}", exec_listener.local_addr().unwrap());
    let settings = Settings {
        auth_url: format!("http://{}", auth.address),
        apps_url: apps_url.clone(),
        exec_url: exec_url.clone(),
        ..auth.settings.clone()
    };
    let apps = trellis::start(settings.clone(), trellis::Role::Apps, apps_listener)
        .await
        .unwrap();
    let exec = trellis::start(settings.clone(), trellis::Role::Exec, exec_listener)
        .await
        .unwrap();
    let gateway = trellis::server::start_gateway(
        Settings {
            service_token: None,
            ..settings.clone()
        },
        trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
    )
    .await
    .unwrap();
    let owner = auth.signup("owner").await;
    let workspace = auth.workspace(&owner, "Acme").await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", gateway.address);
    let send = |method: Method, path: String, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&owner.access);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let tenant = format!("/api/v1/workspaces/{workspace}");

    let resource = send(
        Method::POST,
        format!("{tenant}/resources"),
        Some(
            json!({"name": "Echo", "plugin_id": "echo", "plugin_version": ECHO_VERSION,
            "config": {"token": ECHO_TOKEN}}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(resource.status(), StatusCode::CREATED);
    let resource: Value = resource.json().await.unwrap();
    let tested = send(
        Method::POST,
        format!(
            "{tenant}/resources/{}/test",
            resource["id"].as_str().unwrap()
        ),
        Some(json!({})),
    )
    .await
    .unwrap();
    let tested: Value = tested.json().await.unwrap();
    let app: Value = send(
        Method::POST,
        format!("{tenant}/apps"),
        Some(json!({"name": "Public", "access": {"public": true}})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let app_id = app["id"].as_str().unwrap();
    let action: Value = send(
        Method::POST,
        format!("{tenant}/apps/{app_id}/actions"),
        Some(
            json!({"name": "Echo", "resource_id": resource["id"], "operation": "echo",
            "input": {"s": "{{ s }}"}}),
        ),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let action_id = action["id"].as_str().unwrap();
    let release = send(
        Method::POST,
        format!("{tenant}/apps/{app_id}/releases"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(release.status(), StatusCode::CREATED);

    let run = send(
        Method::POST,
        format!("{tenant}/apps/{app_id}/actions/{action_id}/run"),
        Some(json!({"params": {"s": "hello"}})),
    )
    .await
    .unwrap();
    let run_status = run.status();
    let run_text = run.text().await.unwrap();
    let public = client
        .post(format!(
            "{base}/api/v1/public/apps/{}/actions/{action_id}/run",
            app["public_id"].as_str().unwrap()
        ))
        .json(&json!({"params": {"s": "anonymous"}}))
        .send()
        .await
        .unwrap();
    let public_status = public.status();
    let public_body: Value = public.json().await.unwrap();
    let runs: Value = send(Method::GET, format!("{tenant}/runs"), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let internal = client
        .get(format!(
            "{exec_url}/internal/v1/workspaces/{workspace}/connectors/echo/{ECHO_VERSION}"
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(tested["ok"], json!(true), "{tested}");
    assert_eq!(run_status, StatusCode::OK, "{run_text}");
    assert!(run_text.contains("hello"));
    assert!(!run_text.contains(ECHO_TOKEN));
    assert_eq!(public_status, StatusCode::OK, "{public_body}");
    assert_eq!(public_body["data"], json!({"s": "anonymous"}));
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(2), "{runs}");
    assert_eq!(internal.status(), StatusCode::UNAUTHORIZED);
    gateway.stop().await;
    exec.stop().await;
    apps.stop().await;
    auth.stop().await;
}
