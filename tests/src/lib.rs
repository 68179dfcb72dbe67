//! Test harness: the real server on a free loopback port, over a fresh SQLite folder or a fresh
//! PostgreSQL database per test.
//!
//! `TRELLIS_TEST_DATABASE=postgres` selects PostgreSQL at `TRELLIS_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); anything else uses SQLite.

pub mod apps;
pub mod catalog;
pub mod postgres;
pub mod runs;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis::Running;
use trellis_config::{Secret, Settings};
use uuid::Uuid;

/// A password that passes the strength check.
pub const PASSWORD: &str = "violet-harbor-tram-1987";

/// PostgreSQL server used when the suite runs on PostgreSQL.
pub fn postgres_admin_url() -> String {
    std::env::var("TRELLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Runs a query that returns one count, with `database` as `$1`, on the PostgreSQL server at
/// `admin_url`.
pub async fn postgres_count(admin_url: &str, sql: &str, database: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let admin = sea_orm::Database::connect(admin_url).await.unwrap();
    let row = admin
        .query_one(Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            sql,
            [database.into()],
        ))
        .await
        .unwrap()
        .expect("the query returns a row");
    let count: i64 = row.try_get_by_index(0).unwrap();
    admin.close().await.ok();
    count
}

/// Returns whether this run uses PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("TRELLIS_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// Redis used by tests that need it.
pub fn redis_url() -> String {
    std::env::var("TRELLIS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A running server and a client for it.
pub struct TestServer {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub settings: Settings,
    running: Option<Running>,
    /// A catalog that replaces the exec service's connectors; `None` uses the real ones.
    catalog: Option<Arc<dyn trellis_apps::ConnectorCatalog>>,
    _data: tempfile::TempDir,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

/// A response with its status, headers and body as text and JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn fresh_postgres_database() -> String {
    use sea_orm::ConnectionTrait;
    let admin = postgres_admin_url();
    let name = format!("trellis_test_{}", Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(&admin)
        .await
        .expect("PostgreSQL is reachable for tests");
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creating a test database");
    db.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    format!("{base}/{name}")
}

/// Returns the folder of compiled connector artifacts shared by every test server: the build
/// folder's `test-artifacts`, beside the test binary's `deps`. Each server's `artifacts` folder
/// links here, so the built-in connectors compile once per build rather than once per test.
/// Artifacts are keyed by content and engine, and written by rename, so processes may share it.
fn shared_artifacts() -> &'static std::path::Path {
    static FOLDER: OnceLock<std::path::PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let binary = std::env::current_exe().expect("the test binary's path");
        let build = binary
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test binary sits in the build folder's deps");
        let folder = build.join("test-artifacts");
        std::fs::create_dir_all(&folder).expect("creating the shared artifact folder");
        folder
    })
}

impl TestServer {
    /// Starts the embedded server with default settings.
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts the embedded server with the built-in connectors, after `adjust` changes the
    /// settings.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestServer {
        TestServer::start_inner(adjust, None).await
    }

    /// Starts the embedded server with a connector catalog in place of the built-in
    /// connectors, after `adjust` changes the settings.
    pub async fn start_with_catalog(
        adjust: impl FnOnce(&mut Settings),
        catalog: Arc<dyn trellis_apps::ConnectorCatalog>,
    ) -> TestServer {
        TestServer::start_inner(adjust, Some(catalog)).await
    }

    async fn start_inner(
        adjust: impl FnOnce(&mut Settings),
        catalog: Option<Arc<dyn trellis_apps::ConnectorCatalog>>,
    ) -> TestServer {
        trellis_telemetry::init_logging("error", false);
        let data = tempfile::tempdir().expect("a temporary folder");
        std::os::unix::fs::symlink(shared_artifacts(), data.path().join("artifacts"))
            .expect("linking the shared artifact folder");
        let mut settings = Settings {
            data_dir: data.path().to_path_buf(),
            ..Settings::default()
        };
        if on_postgres() {
            settings.database_url = Some(Secret::new(fresh_postgres_database().await));
        }
        settings.redis_prefix = format!("trellis-test-{}", Uuid::new_v4().simple());
        // Tests run side by side in one process and each instance slot reserves address
        // space, so every server gets a small pool.
        settings.exec_max_instances = 8;
        adjust(&mut settings);

        let listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let running = start_embedded(&settings, listener, catalog.clone())
            .await
            .expect("the server starts");
        TestServer {
            address: running.address,
            client: reqwest::Client::new(),
            settings,
            running: Some(running),
            catalog,
            _data: data,
        }
    }

    /// Stops the server and starts it again on the same data, after `adjust` changes the
    /// settings.
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        let mut settings = self.settings.clone();
        adjust(&mut settings);
        let listener = trellis::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let running = start_embedded(&settings, listener, self.catalog.clone())
            .await
            .expect("the server starts again");
        let data = std::mem::replace(&mut self._data, tempfile::tempdir().unwrap());
        TestServer {
            address: running.address,
            client: reqwest::Client::new(),
            settings,
            running: Some(running),
            catalog: self.catalog.clone(),
            _data: data,
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Signs up a new user with a unique email based on `name`.
    pub async fn signup(&self, name: &str) -> Session {
        let email = format!(
            "{name}-{}@example.com",
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let reply = self
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "signup failed: {}",
            reply.text
        );
        let body = reply.json();
        Session {
            user_id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
            email,
            access: body["tokens"]["access_token"].as_str().unwrap().to_string(),
            refresh: body["tokens"]["refresh_token"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    /// Creates a workspace owned by `owner`.
    pub async fn workspace(&self, owner: &Session, name: &str) -> Uuid {
        let reply = self
            .post(
                "/api/v1/workspaces",
                Some(&owner.access),
                json!({"name": name}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates an API key with `role` in `workspace` and returns its secret.
    pub async fn api_key(&self, owner: &Session, workspace: Uuid, role: &str) -> String {
        let reply = self
            .post(
                &format!("/api/v1/workspaces/{workspace}/api-keys"),
                Some(&owner.access),
                json!({"name": "k", "role": role}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()["key"].as_str().unwrap().to_string()
    }

    /// Invites a new user with `role` and has them accept, returning their session.
    pub async fn member(&self, owner: &Session, workspace: Uuid, role: &str) -> Session {
        let member = self.signup(role).await;
        let path = format!("/api/v1/workspaces/{workspace}/invites");
        let reply = self
            .post(
                &path,
                Some(&owner.access),
                json!({"email": member.email, "role": role}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let token = reply.json()["token"].as_str().unwrap().to_string();
        let accept = self
            .post(
                &format!("/api/v1/invites/{token}/accept"),
                Some(&member.access),
                json!({}),
            )
            .await;
        assert_eq!(accept.status, StatusCode::OK, "{}", accept.text);
        member
    }
}

async fn start_embedded(
    settings: &Settings,
    listener: std::net::TcpListener,
    catalog: Option<Arc<dyn trellis_apps::ConnectorCatalog>>,
) -> anyhow::Result<Running> {
    let role = trellis::Role::Embedded;
    match catalog {
        Some(catalog) => {
            trellis::start_with_catalog(settings.clone(), role, listener, catalog).await
        }
        None => trellis::start(settings.clone(), role, listener).await,
    }
}

/// Opens a direct connection to the server's auth database, for checks a client cannot make.
pub async fn auth_db(server: &TestServer) -> sea_orm::DatabaseConnection {
    trellis::database::connect(&server.settings, trellis::database::Owner::Auth)
        .await
        .unwrap()
}

/// Opens a direct connection to the server's apps database, for checks a client cannot make.
pub async fn apps_db(server: &TestServer) -> sea_orm::DatabaseConnection {
    trellis::database::connect(&server.settings, trellis::database::Owner::Apps)
        .await
        .unwrap()
}

/// Opens a direct connection to the server's exec database, for checks a client cannot make.
pub async fn exec_db(server: &TestServer) -> sea_orm::DatabaseConnection {
    trellis::database::connect(&server.settings, trellis::database::Owner::Exec)
        .await
        .unwrap()
}
