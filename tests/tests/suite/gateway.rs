//! The gateway in front of real auth and a loopback upstream that reports what reached it:
//! edge authentication, forwarded identity, streamed bodies, per-route timeouts, no retries
//! and CORS.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use trellis_config::{Secret, Settings};
use trellis_tests::TestServer;
use uuid::Uuid;

const SERVICE_TOKEN: &str = "gateway-test-service-token-0123";

/// Returns each request's path, headers and body length, after sleeping for `?sleep_ms=`
/// milliseconds when the query sets it. `?bytes=N` returns N bytes with two cookies instead,
/// and `?slow_chunks=N` sends N chunks of 1 KiB, 300 ms apart.
async fn report(request: HttpRequest, mut body: web::Payload) -> HttpResponse {
    let query = request.query_string();
    if let Some(size) = query.strip_prefix("bytes=").and_then(|n| n.parse().ok()) {
        return HttpResponse::Ok()
            .append_header(("set-cookie", "first=1"))
            .append_header(("set-cookie", "second=2"))
            .body(vec![b'z'; size]);
    }
    if let Some(count) = query
        .strip_prefix("slow_chunks=")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let chunks = futures_util::stream::unfold(0usize, move |sent| async move {
            if sent == count {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some((
                Ok::<_, std::io::Error>(web::Bytes::from(vec![b'y'; 1024])),
                sent + 1,
            ))
        });
        return HttpResponse::Ok().streaming(chunks);
    }

    let mut length = 0usize;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => length += bytes.len(),
            Err(_) => return HttpResponse::BadRequest().finish(),
        }
    }
    let sleep = request
        .query_string()
        .strip_prefix("sleep_ms=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(sleep)).await;
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("").to_string();
            (name.as_str().to_string(), value)
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "path": request.path(),
        "headers": headers,
        "body_length": length,
    }))
}

/// Starts the reporting upstream on a free loopback port.
fn start_upstream() -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .default_service(web::to(report))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{address}"), handle)
}

struct Edge {
    auth: TestServer,
    gateway: trellis::server::Running,
    upstream: actix_web::dev::ServerHandle,
    base: String,
}

impl Edge {
    /// Real auth, the reporting upstream in place of apps and exec, and a gateway in front.
    async fn start(adjust: impl FnOnce(&mut Settings)) -> Edge {
        let auth =
            TestServer::start_with(|s| s.service_token = Some(Secret::new(SERVICE_TOKEN))).await;
        let (upstream_url, upstream) = start_upstream();
        let mut settings = Settings {
            auth_url: format!("http://{}", auth.address),
            apps_url: upstream_url.clone(),
            exec_url: upstream_url,
            service_token: Some(Secret::new(SERVICE_TOKEN)),
            ..Settings::default()
        };
        adjust(&mut settings);
        let listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let gateway = trellis::server::start_gateway(settings, listener)
            .await
            .unwrap();
        let base = format!("http://{}", gateway.address);
        Edge {
            auth,
            gateway,
            upstream,
            base,
        }
    }

    async fn stop(self) {
        self.gateway.stop().await;
        self.upstream.stop(false).await;
        self.auth.stop().await;
    }
}

#[tokio::test]
async fn edge_refuses_bad_credentials_and_forwards_identity() {
    let edge = Edge::start(|_| {}).await;
    let owner = edge.auth.signup("edge-owner").await;
    let workspace = edge.auth.workspace(&owner, "edge").await;
    let key = edge
        .auth
        .post(
            &format!("/api/v1/workspaces/{workspace}/api-keys"),
            Some(&owner.access),
            json!({"name": "edge", "role": "viewer"}),
        )
        .await
        .json();
    let client = reqwest::Client::new();
    let runs = format!("{}/api/v1/workspaces/{workspace}/runs", edge.base);

    let forged = client
        .get(&runs)
        .bearer_auth(&owner.access)
        .header("x-trellis-user-id", Uuid::nil().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    let seen: Value = forged.json().await.unwrap();
    assert_eq!(
        seen["headers"]["x-trellis-user-id"],
        owner.user_id.to_string()
    );

    let with_key = client
        .get(&runs)
        .bearer_auth(key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let seen: Value = with_key.json().await.unwrap();
    assert_eq!(
        seen["headers"]["x-trellis-api-key-id"],
        key["api_key"]["id"]
    );
    assert!(seen["headers"].get("x-trellis-user-id").is_none());

    for credential in [
        "not-a-token",
        "trk_unknown-key",
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    ] {
        let rejected = client
            .get(&runs)
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED, "{credential}");
        assert_eq!(
            rejected.headers()["content-type"],
            "application/problem+json"
        );
    }

    // Anonymous routes pass the edge untouched.
    let public = client
        .get(format!(
            "{}/api/v1/public/apps/{}",
            edge.base,
            Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    edge.stop().await;
}

#[tokio::test]
async fn bodies_stream_through_up_to_the_limit() {
    let limit = 4 * 1024 * 1024;
    let edge = Edge::start(|s| s.max_body_bytes = limit).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/workspaces/{}/apps", edge.base, Uuid::new_v4());

    // Sent in chunks with no declared length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..48).map(|_| Ok(vec![b'a'; 64 * 1024])).collect();
    let streamed = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::OK);
    let seen: Value = streamed.json().await.unwrap();
    assert_eq!(seen["body_length"], 48 * 64 * 1024);

    let declared = client
        .post(&url)
        .body(vec![b'b'; limit + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b'c'; 64 * 1024])).collect();
    let oversized = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    // The gateway returns 413, or closes the connection while the client is still sending.
    if let Ok(reply) = oversized {
        assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    let alive = client.post(&url).body("small").send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    edge.stop().await;
}

#[tokio::test]
async fn timeouts_long_for_runs_only() {
    let edge = Edge::start(|s| {
        s.upstream_timeout_seconds = 1;
        s.upstream_long_timeout_seconds = 5;
    })
    .await;
    let client = reqwest::Client::new();
    let workspace = Uuid::new_v4();
    let app = Uuid::new_v4();
    let action = Uuid::new_v4();

    let short = client
        .get(format!(
            "{}/api/v1/workspaces/{workspace}/apps?sleep_ms=2500",
            edge.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), StatusCode::GATEWAY_TIMEOUT);
    let problem: Value = short.json().await.unwrap();
    assert_eq!(problem["code"], "upstream_timeout");

    let run = client
        .post(format!(
            "{}/api/v1/workspaces/{workspace}/apps/{app}/actions/{action}/run?sleep_ms=2500",
            edge.base
        ))
        .json(&json!({"params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), StatusCode::OK);
    edge.stop().await;
}

#[tokio::test]
async fn large_responses_stream_with_every_header() {
    let edge = Edge::start(|_| {}).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/workspaces/{}/apps", edge.base, Uuid::new_v4());

    for size in [1000, 3 * 1024 * 1024] {
        let reply = client
            .get(format!("{url}?bytes={size}"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let cookies: Vec<&str> = reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        assert_eq!(cookies, ["first=1", "second=2"], "{size} bytes");
        let body = reply.bytes().await.unwrap();
        assert_eq!(body.len(), size);
        assert!(body.iter().all(|byte| *byte == b'z'));
    }
    edge.stop().await;
}

#[tokio::test]
async fn slow_stream_cut_at_timeout() {
    let edge = Edge::start(|s| s.upstream_timeout_seconds = 1).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/workspaces/{}/apps", edge.base, Uuid::new_v4());

    let quick = client
        .get(format!("{url}?slow_chunks=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(quick.bytes().await.unwrap().len(), 2 * 1024);

    // Ten chunks take three seconds; the client must see an error, not a short body.
    let slow = client
        .get(format!("{url}?slow_chunks=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    assert!(slow.bytes().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
    edge.stop().await;
}

#[tokio::test]
async fn forwarding_never_retries_post() {
    // An upstream that accepts connections and closes them without a response.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    let settings = Settings {
        apps_url: format!("http://{address}"),
        ..Settings::default()
    };
    let gateway = trellis::server::start_gateway(
        settings,
        trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
    )
    .await
    .unwrap();

    let reply = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/workspaces/{}/apps",
            gateway.address,
            Uuid::new_v4()
        ))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), StatusCode::BAD_GATEWAY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let edge = Edge::start(|s| {
        s.cors_allowed_origins = vec!["https://tools.example.com".into()];
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/me", edge.base);

    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://tools.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://tools.example.com"
    );

    let stranger = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://elsewhere.example.net")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(stranger
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    edge.stop().await;
}

#[tokio::test]
async fn embedded_server_without_origins_ignores_origin_headers() {
    let server = TestServer::start().await;
    let reply = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.address))
        .header("origin", "https://elsewhere.example.net")
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), StatusCode::OK);
    assert!(reply.headers().get("access-control-allow-origin").is_none());
    server.stop().await;
}
