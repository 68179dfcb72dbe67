//! The built-in REST connector against a loopback API started by each test: path joining,
//! query encoding, authentication, bodies, response decoding and errors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, LoadedPlugin, RunError, Runtime};
use uuid::Uuid;

use crate::support::{runtime, tls_server};

const CLIENT_ID: &str = "client id";
const CLIENT_SECRET: &str = "s3cret:+/";

/// Returns what the API received: method, path, raw query, headers and body.
async fn echo(request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), Value::String(value))
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "method": request.method().as_str(),
        "path": request.path(),
        "query": request.query_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn status(code: web::Path<u16>) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(code.into_inner()).unwrap();
    HttpResponse::build(status)
        .content_type("text/plain")
        .body(format!("failure body {}", status.as_u16()))
}

async fn latin1() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=iso-8859-1")
        .body(vec![0x63, 0x61, 0x66, 0xE9])
}

async fn binary() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/png")
        .body(vec![0, 255, 1])
}

/// Issues `token-<n>` for the client credentials grant, counting the grants.
async fn token(
    request: HttpRequest,
    body: web::Bytes,
    grants: web::Data<AtomicUsize>,
) -> HttpResponse {
    // RFC 6749 form-encodes the client id and secret before Basic authentication.
    let expected = format!(
        "Basic {}",
        base64_encode(&format!(
            "{}:{}",
            form_encode(CLIENT_ID),
            form_encode(CLIENT_SECRET)
        ))
    );
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    if authorization != Some(expected.as_str())
        || body.as_ref() != b"grant_type=client_credentials&scope=read%20write"
    {
        return HttpResponse::Unauthorized().body("bad client");
    }
    let number = grants.fetch_add(1, Ordering::SeqCst) + 1;
    HttpResponse::Ok().json(json!({
        "access_token": format!("token-{number}"),
        "token_type": "Bearer",
        "expires_in": 3600
    }))
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

struct Api {
    port: u16,
    grants: web::Data<AtomicUsize>,
}

impl Api {
    async fn start() -> Self {
        let grants = web::Data::new(AtomicUsize::new(0));
        let data = grants.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/api/status/{code}", web::get().to(status))
                .route("/api/latin1", web::get().to(latin1))
                .route("/api/binary", web::get().to(binary))
                .route("/oauth/token", web::post().to(token))
                .default_service(web::to(echo))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Api { port, grants }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }
}

struct Harness {
    runtime: Runtime,
    plugin: Arc<LoadedPlugin>,
    workspace_id: Uuid,
    internal: Vec<InternalHost>,
}

impl Harness {
    async fn new(api: &Api) -> Self {
        let runtime = runtime();
        let (_, bytes) = BUILTIN_COMPONENTS
            .iter()
            .find(|(name, _)| *name == "rest")
            .expect("the rest connector is a built-in");
        let plugin = runtime.load(Arc::new(bytes.to_vec())).await.unwrap();
        let internal = vec![InternalHost::parse(&format!("127.0.0.1:{}", api.port)).unwrap()];
        Harness {
            runtime,
            plugin,
            workspace_id: Uuid::new_v4(),
            internal,
        }
    }

    fn call(&self, config: &Value) -> CallContext {
        let mut call = CallContext::new(self.workspace_id, "builtin:rest");
        call.network = NetworkPolicy::from_config(
            &self.plugin.manifest.base_url_fields,
            config,
            &self.internal,
        );
        call
    }

    async fn request(&self, config: &Value, input: Value) -> Result<Value, RunError> {
        let request = CallRequest::Execute {
            config: config.clone(),
            operation: "request".into(),
            input,
        };
        self.runtime
            .call(&self.plugin, self.call(config), &request)
            .await
            .result
    }

    async fn test_connection(&self, config: &Value) -> Result<Value, RunError> {
        let request = CallRequest::TestConnection {
            config: config.clone(),
        };
        self.runtime
            .call(&self.plugin, self.call(config), &request)
            .await
            .result
    }
}

#[tokio::test]
async fn request_joins_path_and_encodes_query_once() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({ "base_url": api.base_url(), "query": { "v": "2 0" } });

    let output = harness
        .request(
            &config,
            json!({"path": "users/@me", "query": {"q": "a b&c=d%", "tag": ["x", "y"]}}),
        )
        .await
        .unwrap();

    assert_eq!(output["status"], json!(200));
    assert_eq!(output["body_encoding"], json!("json"));
    assert_eq!(output["body"]["path"], json!("/api/users/@me"));
    assert_eq!(
        output["body"]["query"],
        json!("v=2%200&q=a%20b%26c%3Dd%25&tag=x&tag=y")
    );
}

#[tokio::test]
async fn pre_encoded_query_is_not_encoded_again() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({ "base_url": api.base_url() });

    let output = harness
        .request(
            &config,
            json!({"query": {"q": "a%20b%2Fc"}, "encoded_query": true}),
        )
        .await
        .unwrap();

    assert_eq!(output["body"]["query"], json!("q=a%20b%2Fc"));
}

#[tokio::test]
async fn path_cannot_change_host() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({ "base_url": api.base_url() });

    for path in [
        "//127.0.0.2/api/x".to_string(),
        format!("http://localhost:{}/api/x", api.port),
        "http://169.254.169.254/latest".to_string(),
        "../admin".to_string(),
    ] {
        let result = harness.request(&config, json!({ "path": path })).await;

        assert!(
            matches!(result, Err(RunError::InvalidInput { .. })),
            "{path}: {result:?}"
        );
    }
}

#[tokio::test]
async fn auth_headers_and_api_key_query() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let basic = json!({
        "base_url": api.base_url(), "auth_type": "basic", "username": "ada", "password": "p:w"
    });
    let bearer =
        json!({ "base_url": api.base_url(), "auth_type": "bearer", "bearer_token": "t0k" });
    let header_key = json!({
        "base_url": api.base_url(), "auth_type": "api_key", "api_key_name": "x-api-key",
        "api_key": "k 1"
    });
    let query_key = json!({
        "base_url": api.base_url(), "auth_type": "api_key", "api_key_name": "key",
        "api_key": "k 1", "api_key_in": "query"
    });

    let basic = harness.request(&basic, json!({})).await.unwrap();
    let bearer = harness.request(&bearer, json!({})).await.unwrap();
    let header_key = harness.request(&header_key, json!({})).await.unwrap();
    let query_key = harness.request(&query_key, json!({})).await.unwrap();

    assert_eq!(
        basic["body"]["headers"]["authorization"],
        json!("Basic YWRhOnA6dw==")
    );
    assert_eq!(
        bearer["body"]["headers"]["authorization"],
        json!("Bearer t0k")
    );
    assert_eq!(header_key["body"]["headers"]["x-api-key"], json!("k 1"));
    assert_eq!(query_key["body"]["query"], json!("key=k%201"));
}

#[tokio::test]
async fn oauth2_token_is_cached() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({
        "base_url": api.base_url(), "auth_type": "oauth2_client_credentials",
        "oauth2_token_url": format!("http://127.0.0.1:{}/oauth/token", api.port),
        "oauth2_client_id": CLIENT_ID, "oauth2_client_secret": CLIENT_SECRET,
        "oauth2_scope": "read write"
    });

    let first = harness.request(&config, json!({})).await.unwrap();
    let second = harness.request(&config, json!({})).await.unwrap();

    assert_eq!(
        first["body"]["headers"]["authorization"],
        json!("Bearer token-1")
    );
    assert_eq!(
        second["body"]["headers"]["authorization"],
        json!("Bearer token-1")
    );
    assert_eq!(api.grants.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bodies_are_encoded_by_type() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({ "base_url": api.base_url(), "headers": { "x-team": "core" } });

    let json_body = harness
        .request(
            &config,
            json!({"method": "POST", "body": {"a": [1, "two"]}}),
        )
        .await
        .unwrap();
    let form = harness
        .request(
            &config,
            json!({"method": "PUT", "body": {"name": "a b", "n": 1}, "body_type": "form"}),
        )
        .await
        .unwrap();
    let raw = harness
        .request(
            &config,
            json!({"method": "PATCH", "body": "plain text", "body_type": "raw",
                   "headers": {"content-type": "text/csv", "x-team": "other"}}),
        )
        .await
        .unwrap();
    let multipart = harness
        .request(
            &config,
            json!({"method": "POST", "body": {"note": "hi"}, "body_type": "multipart"}),
        )
        .await
        .unwrap();

    assert_eq!(json_body["body"]["body"], json!("{\"a\":[1,\"two\"]}"));
    assert_eq!(
        json_body["body"]["headers"]["content-type"],
        json!("application/json")
    );
    assert_eq!(json_body["body"]["headers"]["x-team"], json!("core"));
    assert_eq!(form["body"]["method"], json!("PUT"));
    assert_eq!(form["body"]["body"], json!("n=1&name=a%20b"));
    assert_eq!(raw["body"]["body"], json!("plain text"));
    assert_eq!(raw["body"]["headers"]["content-type"], json!("text/csv"));
    assert_eq!(raw["body"]["headers"]["x-team"], json!("other"));
    let content_type = multipart["body"]["headers"]["content-type"]
        .as_str()
        .unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    assert!(
        multipart["body"]["body"]
            .as_str()
            .unwrap()
            .contains("name=\"note\"\r\n\r\nhi\r\n"),
        "{multipart}"
    );
}

#[tokio::test]
async fn responses_decoded_by_charset() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({ "base_url": api.base_url() });

    let text = harness
        .request(&config, json!({"path": "latin1"}))
        .await
        .unwrap();
    let binary = harness
        .request(&config, json!({"path": "binary"}))
        .await
        .unwrap();

    assert_eq!(text["body"], json!("café"));
    assert_eq!(text["body_encoding"], json!("text"));
    assert_eq!(binary["body"], json!("AP8B"));
    assert_eq!(binary["body_encoding"], json!("base64"));
    assert_eq!(binary["headers"]["content-type"], json!("image/png"));
}

#[tokio::test]
async fn error_carries_status_and_body() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let config = json!({ "base_url": api.base_url() });

    let result = harness
        .request(&config, json!({"path": "status/418"}))
        .await;

    let Err(RunError::Upstream { status, message }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert_eq!(status, Some(418));
    assert!(message.contains("failure body 418"), "{message}");
}

#[tokio::test]
async fn connection_test_names_failed_step() {
    let api = Api::start().await;
    let harness = Harness::new(&api).await;
    let refused = {
        // Bind and drop a listener to find a loopback port with nothing behind it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let unauthorized =
        json!({ "base_url": format!("http://127.0.0.1:{}/api/status/401", api.port) });
    let closed = json!({ "base_url": format!("http://127.0.0.1:{refused}/api") });
    let mut closed_harness = Harness::new(&api).await;
    closed_harness.internal = vec![InternalHost::parse(&format!("127.0.0.1:{refused}")).unwrap()];

    let ok = harness
        .test_connection(&json!({ "base_url": api.base_url() }))
        .await;
    let auth = harness.test_connection(&unauthorized).await;
    let connect = closed_harness.test_connection(&closed).await;

    assert!(ok.is_ok(), "{ok:?}");
    let Err(RunError::Upstream { message, .. }) = auth else {
        panic!("expected an upstream error, got {auth:?}");
    };
    assert!(message.contains("at the authentication step"), "{message}");
    let Err(RunError::Upstream { message, .. }) = connect else {
        panic!("expected an upstream error, got {connect:?}");
    };
    assert!(message.contains("at the connect step"), "{message}");
}

/// Builds a harness whose network policy allows the HTTPS server's loopback port.
async fn tls_harness(port: u16) -> Harness {
    let api = Api {
        port,
        grants: web::Data::new(AtomicUsize::new(0)),
    };
    Harness::new(&api).await
}

#[tokio::test]
async fn custom_ca_verifies_private_certificate() {
    let port = tls_server::start().await;
    let harness = tls_harness(port).await;
    let config = json!({
        "base_url": format!("https://127.0.0.1:{port}"),
        "tls_ca_cert": include_str!("../data/tls/ca.pem"),
    });

    let output = harness
        .request(&config, json!({"method": "GET", "path": "/status"}))
        .await
        .unwrap();

    assert_eq!(output["status"], 200);
    assert_eq!(output["body"], json!({"secure": true}));
}

#[tokio::test]
async fn unknown_ca_fails_at_tls_step() {
    let port = tls_server::start().await;
    let harness = tls_harness(port).await;
    let config = json!({ "base_url": format!("https://127.0.0.1:{port}") });

    let request = harness
        .request(&config, json!({"method": "GET", "path": "/status"}))
        .await;
    let test = harness.test_connection(&config).await;

    let request = format!("{:?}", request.unwrap_err());
    assert!(request.contains("TLS"), "{request}");
    let test = format!("{:?}", test.unwrap_err());
    assert!(test.contains("TLS step"), "{test}");
}

#[tokio::test]
async fn skip_verify_accepts_unknown_ca() {
    let port = tls_server::start().await;
    let harness = tls_harness(port).await;
    let config = json!({
        "base_url": format!("https://127.0.0.1:{port}"),
        "tls_skip_verify": true,
    });

    let output = harness
        .request(&config, json!({"method": "GET", "path": "/status"}))
        .await
        .unwrap();

    assert_eq!(output["status"], 200);
}

#[tokio::test]
async fn malformed_ca_is_invalid_config() {
    let port = tls_server::start().await;
    let harness = tls_harness(port).await;
    let config = json!({
        "base_url": format!("https://127.0.0.1:{port}"),
        "tls_ca_cert": "not a certificate",
    });

    let error = harness
        .request(&config, json!({"method": "GET", "path": "/status"}))
        .await
        .unwrap_err();

    let error = format!("{error:?}");
    assert!(error.contains("tls_ca_cert"), "{error}");
}
