//! The `http` import against the allow-list and the SSRF guard. Every server here listens on
//! loopback; private and metadata addresses must be refused before any packet is sent.

use serde_json::{json, Value};
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::{CallContext, RunError};
use uuid::Uuid;

use crate::support::http_server;
use crate::support::{execute_with_config, hostile, runtime};

/// Builds a call whose allow-list contains `base_url` and whose admin allowed `internal`.
fn call(base_url: &str, internal: &[&str]) -> (CallContext, Value) {
    let config = json!({ "base_url": base_url });
    let internal: Vec<InternalHost> = internal
        .iter()
        .map(|host| InternalHost::parse(host).unwrap())
        .collect();
    let fields = vec!["base_url".to_string()];
    let mut call = CallContext::new(Uuid::new_v4(), "hostile");
    call.network = NetworkPolicy::from_config(&fields, &config, &internal);
    (call, config)
}

async fn fetch(base_url: &str, internal: &[&str], url: &str) -> Result<Value, RunError> {
    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    let (call, config) = call(base_url, internal);
    let input = json!({ "url": url });
    execute_with_config(&runtime, &plugin, call, "fetch", config, input)
        .await
        .result
}

fn assert_denied(result: Result<Value, RunError>, expected: &str) {
    match result {
        Err(RunError::Denied { message }) => {
            assert!(
                message.contains(expected),
                "`{message}` should mention `{expected}`"
            )
        }
        other => panic!("expected a denial mentioning `{expected}`, got {other:?}"),
    }
}

#[tokio::test]
async fn fetch_reaches_allowed_internal_host() {
    let server = http_server::start(200, vec![], b"hello".to_vec()).await;
    let host = format!("127.0.0.1:{}", server.port);

    let result = fetch(&server.url(), &[&host], &format!("{}/path", server.url())).await;

    assert_eq!(result, Ok(json!({"status": 200, "body": "hello"})));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn fetch_to_loopback_is_refused() {
    let server = http_server::start(200, vec![], b"secret".to_vec()).await;

    let result = fetch(&server.url(), &[], &format!("{}/", server.url())).await;

    assert_denied(result, "loopback");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn fetch_to_ipv6_loopback_is_refused() {
    let result = fetch("http://[::1]:9", &[], "http://[::1]:9/").await;
    assert_denied(result, "loopback");
}

#[tokio::test]
async fn fetch_to_private_address_is_refused() {
    // The guard refuses the literal before any connection is attempted.
    let result = fetch("http://10.0.0.1", &[], "http://10.0.0.1/").await;
    assert_denied(result, "private");
}

#[tokio::test]
async fn fetch_to_metadata_address_is_refused() {
    let base = "http://169.254.169.254";
    let result = fetch(base, &[], "http://169.254.169.254/latest/meta-data/").await;
    assert_denied(result, "metadata");
}

#[tokio::test]
async fn fetch_to_name_resolving_to_loopback_is_refused() {
    let server = http_server::start(200, vec![], b"secret".to_vec()).await;
    let url = format!("http://localhost:{}", server.port);

    let result = fetch(&url, &[], &format!("{url}/")).await;

    assert_denied(result, "loopback");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn fetch_outside_allow_list_is_refused() {
    let server = http_server::start(200, vec![], b"secret".to_vec()).await;
    let host = format!("127.0.0.1:{}", server.port);

    let result = fetch(
        "https://api.example.test",
        &[&host],
        &format!("{}/", server.url()),
    )
    .await;

    assert_denied(result, "not one of the resource's base URLs");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn redirect_to_loopback_is_refused() {
    // An admin allowed the first server explicitly. It redirects to a name that resolves to
    // loopback and is on the allow-list but not allowed as internal. So the address check
    // must reject the second hop.
    let target = http_server::start(200, vec![], b"secret".to_vec()).await;
    let target_url = format!("http://localhost:{}", target.port);
    let location = vec![("location".to_string(), format!("{target_url}/secret"))];
    let redirector = http_server::start(302, location, Vec::new()).await;

    let runtime = runtime();
    let plugin = hostile(&runtime).await;
    let config = json!({ "base_url": redirector.url(), "other_url": target_url });
    let internal = vec![InternalHost::parse(&format!("127.0.0.1:{}", redirector.port)).unwrap()];
    let fields = vec!["base_url".to_string(), "other_url".to_string()];
    let mut call = CallContext::new(Uuid::new_v4(), "hostile");
    call.network = NetworkPolicy::from_config(&fields, &config, &internal);
    let input = json!({ "url": format!("{}/start", redirector.url()) });

    let report = execute_with_config(&runtime, &plugin, call, "fetch", config, input).await;

    assert_denied(report.result, "loopback");
    assert_eq!(redirector.hits(), 1);
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn redirect_to_literal_loopback_is_refused() {
    let target = http_server::start(200, vec![], b"secret".to_vec()).await;
    let location = vec![(
        "location".to_string(),
        format!("http://127.0.0.1:{}/", target.port),
    )];
    let redirector = http_server::start(301, location, Vec::new()).await;
    let host = format!("127.0.0.1:{}", redirector.port);

    let result = fetch(
        &redirector.url(),
        &[&host],
        &format!("{}/", redirector.url()),
    )
    .await;

    assert_denied(result, "not one of the resource's base URLs");
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn oversized_response_is_cut_off() {
    let body = vec![b'x'; 11 << 20];
    let server = http_server::start(200, vec![], body).await;
    let host = format!("127.0.0.1:{}", server.port);

    let result = fetch(&server.url(), &[&host], &format!("{}/", server.url())).await;

    match result {
        Err(RunError::LimitExceeded { .. }) => {}
        other => panic!("expected the response size limit, got {other:?}"),
    }
}
