//! Fixtures for the run tests: a server with the built-in connectors, a workspace with a
//! resource on the `echo` connector (which returns its input), and helpers that create apps,
//! actions and runs.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_config::Settings;
use uuid::Uuid;

use crate::apps::id_of;
use crate::{Reply, Session, TestServer};

/// The secret of the echo resources in these tests.
pub const ECHO_TOKEN: &str = "echo-t0ken-that-must-never-leak-7f3a9c";

/// Version of the built-in echo connector.
pub const ECHO_VERSION: &str = "0.1.0";

/// A server, an owner, a workspace and an echo resource.
pub struct RunFixture {
    pub server: TestServer,
    pub owner: Session,
    pub workspace: Uuid,
    pub resource: Uuid,
}

impl RunFixture {
    pub async fn start() -> RunFixture {
        RunFixture::start_with(|_| {}).await
    }

    /// Starts the fixture after `adjust` changes the server's settings.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> RunFixture {
        let server = TestServer::start_with(adjust).await;
        let owner = server.signup("owner").await;
        let workspace = server.workspace(&owner, "Acme").await;
        let reply = server
            .call(
                Method::POST,
                &format!("/api/v1/workspaces/{workspace}/resources"),
                Some(&owner.access),
                Some(json!({
                    "name": "Echo",
                    "plugin_id": "echo",
                    "plugin_version": ECHO_VERSION,
                    "config": {"token": ECHO_TOKEN}
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let resource = id_of(&reply);
        RunFixture {
            server,
            owner,
            workspace,
            resource,
        }
    }

    /// Returns the path of a route under the workspace.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.workspace)
    }

    /// Creates an app with access rules; returns its id and public link id.
    pub async fn app_with_access(&self, name: &str, access: Value) -> (Uuid, Option<Uuid>) {
        let reply = self
            .server
            .post(
                &self.path("/apps"),
                Some(&self.owner.access),
                json!({"name": name, "access": access}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        let public_id = reply.json()["public_id"]
            .as_str()
            .map(|id| id.parse().unwrap());
        (id_of(&reply), public_id)
    }

    /// Creates an app open to every member; returns its id.
    pub async fn app(&self, name: &str) -> Uuid {
        self.app_with_access(name, json!({})).await.0
    }

    /// Adds an echo action with a unique name to an app; `fields` adds to or replaces the
    /// defaults.
    pub async fn action(&self, app: Uuid, fields: Value) -> Uuid {
        let name = format!("Echo {}", &Uuid::new_v4().simple().to_string()[..8]);
        let mut body = json!({
            "name": name,
            "resource_id": self.resource,
            "operation": "echo",
            "input": {},
        });
        for (key, value) in fields.as_object().cloned().unwrap_or_default() {
            body[key] = value;
        }
        let reply = self
            .server
            .post(
                &self.path(&format!("/apps/{app}/actions")),
                Some(&self.owner.access),
                body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        id_of(&reply)
    }

    /// Releases an app.
    pub async fn release(&self, app: Uuid) {
        let reply = self
            .server
            .post(
                &self.path(&format!("/apps/{app}/releases")),
                Some(&self.owner.access),
                json!({}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }

    /// Runs the latest release of an action.
    pub async fn run(&self, token: &str, app: Uuid, action: Uuid, params: Value) -> Reply {
        let path = self.path(&format!("/apps/{app}/actions/{action}/run"));
        self.server
            .post(&path, Some(token), json!({"params": params}))
            .await
    }

    /// Runs the draft of an action.
    pub async fn run_draft(&self, token: &str, app: Uuid, action: Uuid, params: Value) -> Reply {
        let path = self.path(&format!("/apps/{app}/actions/{action}/run?stage=draft"));
        self.server
            .post(&path, Some(token), json!({"params": params}))
            .await
    }

    /// Runs an action of a public app without an account.
    pub async fn run_public(&self, public_id: Uuid, action: Uuid, params: Value) -> Reply {
        let path = format!("/api/v1/public/apps/{public_id}/actions/{action}/run");
        self.server
            .post(&path, None, json!({"params": params}))
            .await
    }
}
