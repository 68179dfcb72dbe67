//! Gateway, auth, apps and exec as four processes of the binary on PostgreSQL and a private
//! Redis: the whole path from sign-up to a viewer's run through the gateway, then the same run
//! with Redis stopped and with exec killed, and the sign-in rate limit.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::support::{free_port, wait_healthy};

const SERVICE_TOKEN: &str = "scenario-service-token-0123456789";
const PASSWORD: &str = "violet-harbor-tram-1987";

/// A Redis server of this test alone, so stopping it disturbs no other test.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> PrivateRedis {
        let mut redis = PrivateRedis {
            port: free_port(),
            child: None,
        };
        redis.resume();
        redis
    }

    fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (see scripts/test)");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "Redis did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn halt(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One service process; it is killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Creates an empty PostgreSQL database and returns its URL.
fn fresh_database() -> String {
    let admin = std::env::var("TRELLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("trellis_test_{}", Uuid::new_v4().simple());
    let created = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql is installed (see scripts/test)");
    assert!(created.success(), "creating the test database failed");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("the admin URL names a database");
    format!("{base}/{name}")
}

/// Returns the settings every process shares, as environment variables.
fn environment(database: &str, redis_port: u16, ports: [u16; 4]) -> Vec<(String, String)> {
    let [gateway, auth, apps, exec] = ports;
    let pairs = [
        ("TRELLIS_DATABASE_URL", database.to_string()),
        (
            "TRELLIS_REDIS_URL",
            format!("redis://127.0.0.1:{redis_port}"),
        ),
        ("TRELLIS_SERVICE_TOKEN", SERVICE_TOKEN.to_string()),
        ("TRELLIS_LISTEN", format!("127.0.0.1:{gateway}")),
        ("TRELLIS_AUTH_LISTEN", format!("127.0.0.1:{auth}")),
        ("TRELLIS_APPS_LISTEN", format!("127.0.0.1:{apps}")),
        ("TRELLIS_EXEC_LISTEN", format!("127.0.0.1:{exec}")),
        ("TRELLIS_AUTH_URL", format!("http://127.0.0.1:{auth}")),
        ("TRELLIS_APPS_URL", format!("http://127.0.0.1:{apps}")),
        ("TRELLIS_EXEC_URL", format!("http://127.0.0.1:{exec}")),
        ("TRELLIS_LOG_LEVEL", "warn".to_string()),
        ("TRELLIS_RATE_LIMIT_AUTH_PER_MINUTE", "20".to_string()),
        ("TRELLIS_UPSTREAM_TIMEOUT_SECONDS", "5".to_string()),
    ];
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

fn trellis(command: &str, data: &std::path::Path, env: &[(String, String)]) -> Command {
    let mut process = Command::new(env!("CARGO_BIN_EXE_trellis"));
    process
        .arg(command)
        .env("TRELLIS_DATA_DIR", data)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    process
}

/// A client of the gateway with an optional bearer token.
struct Edge {
    base: String,
    client: reqwest::Client,
}

impl Edge {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway responds");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Signs a new user up and returns the access token and the email.
    async fn signup(&self, name: &str) -> (String, String) {
        let email = format!("{name}-{}@example.com", Uuid::new_v4().simple());
        let (status, _, body) = self
            .send(
                Method::POST,
                "/api/v1/auth/signup",
                None,
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = body["tokens"]["access_token"].as_str().unwrap().to_string();
        (token, email)
    }
}

#[tokio::test]
async fn four_processes_serve_a_viewer_run() {
    let data = tempfile::tempdir().unwrap();
    let database = fresh_database();
    let mut redis = PrivateRedis::start();
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let env = environment(&database, redis.port, ports);

    let migrated = trellis("migrate", data.path(), &env).status().unwrap();
    assert!(migrated.success(), "trellis migrate failed");
    let mut services = Vec::new();
    for (command, port) in [("auth", ports[1]), ("apps", ports[2]), ("exec", ports[3])] {
        services.push(Service(
            trellis(command, data.path(), &env).spawn().unwrap(),
        ));
        wait_healthy(port).await;
    }
    let _gateway = Service(trellis("gateway", data.path(), &env).spawn().unwrap());
    wait_healthy(ports[0]).await;
    let edge = Edge {
        base: format!("http://127.0.0.1:{}", ports[0]),
        client: reqwest::Client::new(),
    };

    // The owner builds and releases an app; a viewer joins by invite.
    let (owner, _) = edge.signup("owner").await;
    let (viewer, viewer_email) = edge.signup("viewer").await;
    let (status, _, workspace) = edge
        .send(
            Method::POST,
            "/api/v1/workspaces",
            Some(&owner),
            Some(json!({"name": "Scenario"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{workspace}");
    let tenant = format!("/api/v1/workspaces/{}", workspace["id"].as_str().unwrap());
    let (status, _, invite) = edge
        .send(
            Method::POST,
            &format!("{tenant}/invites"),
            Some(&owner),
            Some(json!({"email": viewer_email, "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invite}");
    let accept = format!(
        "/api/v1/invites/{}/accept",
        invite["token"].as_str().unwrap()
    );
    let (status, _, _) = edge
        .send(Method::POST, &accept, Some(&viewer), Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, resource) = edge
        .send(
            Method::POST,
            &format!("{tenant}/resources"),
            Some(&owner),
            Some(json!({"name": "Echo", "plugin_id": "echo", "plugin_version": "0.1.0", "config": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{resource}");
    let (status, _, app) = edge
        .send(
            Method::POST,
            &format!("{tenant}/apps"),
            Some(&owner),
            Some(json!({"name": "Greeter"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let app_path = format!("{tenant}/apps/{}", app["id"].as_str().unwrap());
    let (status, _, action) = edge
        .send(
            Method::POST,
            &format!("{app_path}/actions"),
            Some(&owner),
            Some(
                json!({"name": "Greet", "resource_id": resource["id"], "operation": "echo",
                "input": {"greeting": "Hello, {{ name }}!"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{action}");
    let (status, _, _) = edge
        .send(
            Method::POST,
            &format!("{app_path}/releases"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let run_path = format!("{app_path}/actions/{}/run", action["id"].as_str().unwrap());
    let params = json!({"params": {"name": "Ada"}});

    let (status, headers, run) = edge
        .send(Method::POST, &run_path, Some(&viewer), Some(params.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["data"], json!({"greeting": "Hello, Ada!"}));
    assert!(headers.contains_key("ratelimit-remaining"));

    // Exec serves the request under the gateway's request id, which its problem body carries.
    let missing = format!("{tenant}/plugins/{}", Uuid::new_v4());
    let (status, headers, problem) = edge.send(Method::GET, &missing, Some(&owner), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(problem["request_id"], id);
    let chosen = edge
        .client
        .get(format!("{}{missing}", edge.base))
        .bearer_auth(&owner)
        .header("x-request-id", "client-chosen-id.42")
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.headers()["x-request-id"], "client-chosen-id.42");
    let problem: Value = chosen.json().await.unwrap();
    assert_eq!(problem["request_id"], "client-chosen-id.42");

    // Without Redis, tenant routes keep serving with local limits and sign-in returns 503.
    redis.halt();
    let (status, _, run) = edge
        .send(Method::POST, &run_path, Some(&viewer), Some(params.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    let (status, _, _) = edge
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": viewer_email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    redis.resume();
    let started = Instant::now();
    loop {
        let (status, _, _) = edge
            .send(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": viewer_email, "password": PASSWORD})),
            )
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "sign-in did not recover after Redis returned: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // With exec gone, runs fail fast with 502 and the other services keep serving.
    drop(services.pop());
    let started = Instant::now();
    let (status, _, problem) = edge
        .send(Method::POST, &run_path, Some(&viewer), Some(params.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{problem}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _, _) = edge
        .send(Method::GET, &format!("{tenant}/apps"), Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Sign-ins from one address reach the edge limit of 20 a minute.
    let mut limited = None;
    for _ in 0..25 {
        let (status, headers, _) = edge
            .send(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"email": viewer_email, "password": PASSWORD})),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(headers);
            break;
        }
    }
    let headers = limited.expect("20 sign-ins a minute are allowed, not 25");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(headers["ratelimit-remaining"], "0");
}
