//! The plugin routes on a real server on a loopback port, with signed tokens and a test
//! directory of memberships.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::Database;
use sea_orm_migration::MigratorTrait;
use serde_json::{json, Value};
use trellis_exec::{configure, ExecSettings, ExecState};
use trellis_tokens::{
    Access, AccessError, ApiKeyIdentity, Claims, Directory, JwksSource, KeyRing, MemberEvent, Role,
    Verifier,
};
use uuid::Uuid;

use crate::support::components;

const ISSUER: &str = "https://trellis.test";
const AUDIENCE: &str = "trellis";

/// Memberships keyed by workspace and user.
struct TestDirectory(HashMap<(Uuid, Uuid), Role>);

#[async_trait::async_trait]
impl Directory for TestDirectory {
    async fn api_key(&self, _key: &str) -> Result<Option<ApiKeyIdentity>, AccessError> {
        Ok(None)
    }

    async fn role_of(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Role>, AccessError> {
        Ok(self.0.get(&(workspace_id, user_id)).copied())
    }

    async fn member_events(
        &self,
        _workspace_id: Uuid,
        _limit: u64,
    ) -> Result<Vec<MemberEvent>, AccessError> {
        Ok(Vec::new())
    }
}

struct TestApp {
    base: String,
    client: reqwest::Client,
    keys: KeyRing,
    _data: tempfile::TempDir,
}

impl TestApp {
    fn token(&self, user_id: Uuid) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user_id,
            exp: now + 600,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4(),
        };
        self.keys.sign(&claims).unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn upload(&self, user: Uuid, workspace: Uuid, bytes: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/workspaces/{workspace}/plugins")))
            .bearer_auth(self.token(user))
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, user: Uuid, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(self.token(user))
            .send()
            .await
            .unwrap()
    }

    async fn invoke(
        &self,
        user: Uuid,
        workspace: Uuid,
        plugin: &str,
        body: Value,
    ) -> reqwest::Response {
        let path = format!("/api/v1/workspaces/{workspace}/plugins/{plugin}/invoke");
        self.client
            .post(self.url(&path))
            .bearer_auth(self.token(user))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Two workspaces: `a` with an admin, an editor and a viewer; `b` with its own admin.
struct People {
    a: Uuid,
    b: Uuid,
    admin_a: Uuid,
    editor_a: Uuid,
    viewer_a: Uuid,
    admin_b: Uuid,
}

async fn start() -> (TestApp, People) {
    let people = People {
        a: Uuid::new_v4(),
        b: Uuid::new_v4(),
        admin_a: Uuid::new_v4(),
        editor_a: Uuid::new_v4(),
        viewer_a: Uuid::new_v4(),
        admin_b: Uuid::new_v4(),
    };
    let directory = TestDirectory(HashMap::from([
        ((people.a, people.admin_a), Role::Admin),
        ((people.a, people.editor_a), Role::Editor),
        ((people.a, people.viewer_a), Role::Viewer),
        ((people.b, people.admin_b), Role::Admin),
    ]));

    let keys = KeyRing::generate().unwrap();
    let verifier = Verifier::new(ISSUER, AUDIENCE, JwksSource::Local);
    verifier.set_keys(&keys.jwks().unwrap());
    let access = web::Data::new(Access {
        verifier: Arc::new(verifier),
        directory: Arc::new(directory),
    });

    let data = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        data.path().join("exec.sqlite").display()
    );
    let db = Database::connect(url).await.unwrap();
    trellis_migrations::exec::Migrator::up(&db, None)
        .await
        .unwrap();
    let settings = ExecSettings {
        runtime: crate::support::runtime_settings(),
        ..ExecSettings::default()
    };
    let state = web::Data::new(ExecState::new(db, settings).await.unwrap());

    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(access.clone())
            .configure(configure)
    })
    .workers(2)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());

    let app = TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        keys,
        _data: data,
    };
    (app, people)
}

async fn problem(response: reqwest::Response) -> Value {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.unwrap()
}

#[actix_web::test]
async fn admin_uploads_and_editor_invokes_plugin() {
    let (app, people) = start().await;

    let uploaded = app
        .upload(people.admin_a, people.a, components().hostile.clone())
        .await;
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let plugin: Value = uploaded.json().await.unwrap();
    assert_eq!(plugin["manifest"]["id"], "hostile");
    let id = plugin["id"].as_str().unwrap().to_string();

    let set = json!({"operation": "kv-set", "input": {"key": "k", "value": "v"}});
    let response = app.invoke(people.editor_a, people.a, &id, set).await;
    assert_eq!(response.status(), StatusCode::OK);

    let get = json!({"operation": "kv-get", "input": {"key": "k"}});
    let response = app.invoke(people.editor_a, people.a, &id, get).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"], "v");
}

#[actix_web::test]
async fn crashing_plugin_answers_problem_and_server_keeps_serving() {
    let (app, people) = start().await;
    let uploaded = app
        .upload(people.admin_a, people.a, components().hostile.clone())
        .await;
    let plugin: Value = uploaded.json().await.unwrap();
    let id = plugin["id"].as_str().unwrap().to_string();

    let response = app
        .invoke(
            people.editor_a,
            people.a,
            &id,
            json!({"operation": "panic"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["code"], "connector_crashed");

    let spin = json!({"operation": "spin", "timeout_ms": 200});
    let response = app.invoke(people.editor_a, people.a, &id, spin).await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(problem(response).await["code"], "connector_timed_out");

    let echo = json!({"operation": "echo", "input": {"hello": "world"}});
    let response = app
        .invoke(people.viewer_a, people.a, "builtin:echo", echo.clone())
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .invoke(people.editor_a, people.a, "builtin:echo", echo)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"], json!({"hello": "world"}));
}

#[actix_web::test]
async fn editor_cannot_upload_plugin() {
    let (app, people) = start().await;

    let response = app
        .upload(people.editor_a, people.a, components().hostile.clone())
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn other_workspace_cannot_see_or_run_plugin() {
    let (app, people) = start().await;
    let uploaded = app
        .upload(people.admin_a, people.a, components().hostile.clone())
        .await;
    let plugin: Value = uploaded.json().await.unwrap();
    let id = plugin["id"].as_str().unwrap().to_string();

    // Workspace b's admin requests a's plugin through b's routes and through a's.
    let through_b = app
        .get(
            people.admin_b,
            &format!("/api/v1/workspaces/{}/plugins/{id}", people.b),
        )
        .await;
    assert_eq!(through_b.status(), StatusCode::NOT_FOUND);
    let through_a = app
        .get(
            people.admin_b,
            &format!("/api/v1/workspaces/{}/plugins/{id}", people.a),
        )
        .await;
    assert_eq!(through_a.status(), StatusCode::NOT_FOUND);
    let run = app
        .invoke(
            people.admin_b,
            people.b,
            &id,
            json!({"operation": "kv-get", "input": {"key": "k"}}),
        )
        .await;
    assert_eq!(run.status(), StatusCode::NOT_FOUND);

    let list = app
        .get(
            people.admin_b,
            &format!("/api/v1/workspaces/{}/plugins", people.b),
        )
        .await;
    let page: Value = list.json().await.unwrap();
    assert_eq!(page["total"], 0);
}

#[actix_web::test]
async fn plugin_is_listed_described_and_deleted() {
    let (app, people) = start().await;
    let uploaded = app
        .upload(people.admin_a, people.a, components().hostile.clone())
        .await;
    let plugin: Value = uploaded.json().await.unwrap();
    let id = plugin["id"].as_str().unwrap().to_string();

    let list = app
        .get(
            people.editor_a,
            &format!("/api/v1/workspaces/{}/plugins", people.a),
        )
        .await;
    let page: Value = list.json().await.unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id.as_str());

    let path = format!("/api/v1/workspaces/{}/plugins/{id}", people.a);
    let described = app.get(people.editor_a, &path).await;
    assert_eq!(described.status(), StatusCode::OK);

    let deleted = app
        .client
        .delete(app.url(&path))
        .bearer_auth(app.token(people.admin_a))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get(people.editor_a, &path).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn duplicate_version_is_a_conflict() {
    let (app, people) = start().await;

    let first = app
        .upload(people.admin_a, people.a, components().hostile.clone())
        .await;
    let second = app
        .upload(people.admin_a, people.a, components().hostile.clone())
        .await;

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(second.status(), StatusCode::CONFLICT);
}

#[actix_web::test]
async fn bad_uploads_are_rejected_with_reason() {
    let (app, people) = start().await;
    let mut truncated = components().hostile.clone();
    truncated.truncate(truncated.len() / 3);
    let cases = [
        (b"not wasm at all".to_vec(), "not a WebAssembly binary"),
        (
            components().other_world.clone(),
            "does not implement the trellis:connector",
        ),
        (
            components().extra_import.clone(),
            "imports that connectors are not granted",
        ),
        (truncated, "malformed or truncated"),
    ];

    for (bytes, reason) in cases {
        let response = app.upload(people.admin_a, people.a, bytes).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{reason}"
        );
        let body = problem(response).await;
        assert_eq!(body["code"], "invalid_component");
        assert!(body["detail"].as_str().unwrap().contains(reason), "{body}");
    }

    let list = app
        .get(
            people.admin_a,
            &format!("/api/v1/workspaces/{}/plugins", people.a),
        )
        .await;
    let page: Value = list.json().await.unwrap();
    assert_eq!(page["total"], 0);
}

#[actix_web::test]
async fn upload_over_twenty_mib_is_too_large() {
    let (app, people) = start().await;

    let response = app
        .upload(people.admin_a, people.a, vec![0u8; (20 << 20) + 1])
        .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn builtins_are_listed() {
    let (app, people) = start().await;

    let response = app.get(people.viewer_a, "/api/v1/plugins").await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["items"][0]["id"], "builtin:echo");
    assert_eq!(body["items"][0]["manifest"]["id"], "echo");
    assert_eq!(
        response_type(&app, people.viewer_a, "/api/v1/plugins").await,
        "application/json"
    );
}

async fn response_type(app: &TestApp, user: Uuid, path: &str) -> String {
    let response = app.get(user, path).await;
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string()
}

#[actix_web::test]
async fn one_builtin_is_described() {
    let (app, people) = start().await;
    let list: Value = app
        .get(people.viewer_a, "/api/v1/plugins")
        .await
        .json()
        .await
        .unwrap();

    let full = app
        .get(people.viewer_a, "/api/v1/plugins/builtin:echo")
        .await;
    let short = app.get(people.viewer_a, "/api/v1/plugins/echo").await;
    let missing = app
        .get(people.viewer_a, "/api/v1/plugins/builtin:nope")
        .await;
    let anonymous = app
        .client
        .get(app.url("/api/v1/plugins/echo"))
        .send()
        .await
        .unwrap();

    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.json::<Value>().await.unwrap(), list["items"][0]);
    assert_eq!(short.status(), StatusCode::OK);
    assert_eq!(short.json::<Value>().await.unwrap()["id"], "builtin:echo");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let problem: Value = missing.json().await.unwrap();
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("built-in connector"));
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Serves `200 ok` to every request on a loopback port and returns the port.
async fn loopback_api() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let response = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\
                            connection: close\r\n\r\nok";
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    port
}

#[actix_web::test]
async fn internal_hosts_apply_to_one_workspace() {
    let (app, people) = start().await;
    let port = loopback_api().await;
    let call = json!({
        "config": {"base_url": format!("http://127.0.0.1:{port}")},
        "operation": "request",
        "input": {"method": "GET", "path": "/"}
    });
    let hosts_path = format!("/api/v1/workspaces/{}/internal-hosts", people.a);

    let before = app
        .invoke(people.editor_a, people.a, "builtin:rest", call.clone())
        .await;
    let before_status = before.status();
    let before_body = before.text().await.unwrap();
    let allowed = app
        .client
        .put(app.url(&hosts_path))
        .bearer_auth(app.token(people.admin_a))
        .json(&json!({"hosts": [format!("127.0.0.1:{port}")]}))
        .send()
        .await
        .unwrap();
    let allowed_status = allowed.status();
    let after = app
        .invoke(people.editor_a, people.a, "builtin:rest", call.clone())
        .await;
    let after_status = after.status();
    let after_body: Value = after.json().await.unwrap();
    let other = app
        .invoke(people.admin_b, people.b, "builtin:rest", call)
        .await;
    let listed: Value = app
        .get(people.admin_a, &hosts_path)
        .await
        .json()
        .await
        .unwrap();

    assert_ne!(before_status, StatusCode::OK);
    assert!(before_body.contains("a loopback address"), "{before_body}");
    assert_eq!(allowed_status, StatusCode::OK);
    assert_eq!(after_status, StatusCode::OK, "{after_body}");
    assert_eq!(after_body["output"]["status"], 200, "{after_body}");
    assert_ne!(other.status(), StatusCode::OK);
    assert_eq!(listed, json!({"hosts": [format!("127.0.0.1:{port}")]}));
}

#[actix_web::test]
async fn internal_hosts_need_admin_and_valid_entries() {
    let (app, people) = start().await;
    let hosts_path = format!("/api/v1/workspaces/{}/internal-hosts", people.a);
    let put = |user: Uuid, body: Value| {
        app.client
            .put(app.url(&hosts_path))
            .bearer_auth(app.token(user))
            .json(&body)
            .send()
    };

    let by_editor = put(people.editor_a, json!({"hosts": ["db.internal"]}))
        .await
        .unwrap();
    let by_other_admin = put(people.admin_b, json!({"hosts": ["db.internal"]}))
        .await
        .unwrap();
    let invalid = put(
        people.admin_a,
        json!({"hosts": ["db.internal", "db/../x:99999"]}),
    )
    .await
    .unwrap();
    let invalid_status = invalid.status();
    let invalid_body = problem(invalid).await;
    let listed: Value = app
        .get(people.admin_a, &hosts_path)
        .await
        .json()
        .await
        .unwrap();
    let read_by_viewer = app.get(people.viewer_a, &hosts_path).await;

    assert_eq!(by_editor.status(), StatusCode::FORBIDDEN);
    assert_eq!(by_other_admin.status(), StatusCode::NOT_FOUND);
    assert_eq!(invalid_status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid_body["field"], "hosts[1]", "{invalid_body}");
    assert_eq!(listed, json!({"hosts": []}));
    assert_eq!(read_by_viewer.status(), StatusCode::FORBIDDEN);
}
