//! Fixtures for the apps service tests: a server with the test connector catalog, and helpers
//! that create resources, apps and actions.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::catalog::TestCatalog;
use crate::{Reply, Session, TestServer};

/// A private key in PEM form, as a secret that spans many lines.
pub const PEM_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\nNMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\nqgtzJ6GR3eqoYSW9b9UMvkBpZODSctWSNGj3P7jRFDO5VoTwCQAWbFnOjDfH5Ulg\n-----END PRIVATE KEY-----\n";

/// Returns a Google service-account key file, as a secret that is itself JSON.
pub fn service_account_json() -> String {
    json!({
        "type": "service_account",
        "project_id": "trellis-test",
        "private_key_id": "5e1d0c9a7b3f4e2d8c6a1b0f9e8d7c6b5a4f3e2d",
        "private_key": PEM_KEY,
        "client_email": "reader@trellis-test.iam.gserviceaccount.com",
    })
    .to_string()
}

/// The database password used by the SQL resources of these tests.
pub const DB_PASSWORD: &str = "sup3r-s3cret-db-passw0rd";

/// A server with the test catalog, an owner and a workspace.
pub struct Fixture {
    pub server: TestServer,
    pub catalog: Arc<TestCatalog>,
    pub owner: Session,
    pub workspace: Uuid,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let catalog = Arc::new(TestCatalog::default());
        let server = TestServer::start_with_catalog(|_| {}, catalog.clone()).await;
        let owner = server.signup("owner").await;
        let workspace = server.workspace(&owner, "Acme").await;
        Fixture {
            server,
            catalog,
            owner,
            workspace,
        }
    }

    /// Returns the path of a route under the workspace.
    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.workspace)
    }

    pub async fn send(
        &self,
        method: Method,
        rest: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        self.server
            .call(method, &self.path(rest), Some(token), body)
            .await
    }

    /// Creates a SQL resource with a password and a TLS client key; returns its id.
    pub async fn sql_resource(&self) -> Uuid {
        let reply = self
            .send(
                Method::POST,
                "/resources",
                &self.owner.access,
                Some(json!({
                    "name": "Warehouse",
                    "plugin_id": "sql",
                    "plugin_version": "1.0.0",
                    "config": {
                        "host": "db.internal",
                        "port": 5432,
                        "database": "penguins",
                        "user": "reader",
                        "password": DB_PASSWORD,
                        "tls": {"ca_pem": "public-ca", "client_key_pem": PEM_KEY}
                    }
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        id_of(&reply)
    }

    /// Creates an app; returns its id.
    pub async fn app(&self, name: &str) -> Uuid {
        let reply = self
            .send(
                Method::POST,
                "/apps",
                &self.owner.access,
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        id_of(&reply)
    }

    /// Adds a query action to an app; returns its id.
    pub async fn action(&self, app: Uuid, resource: Uuid, name: &str) -> Uuid {
        let reply = self
            .send(
                Method::POST,
                &format!("/apps/{app}/actions"),
                &self.owner.access,
                Some(json!({
                    "name": name,
                    "resource_id": resource,
                    "operation": "query",
                    "input": {"sql": "select * from penguins where species = {{ species.value }}"},
                    "transformer": "map(.body_mass_g)",
                    "params_schema": {"type": "object", "properties": {"species": {"type": "string"}}},
                    "timeout_ms": 5000,
                    "cache_ttl_seconds": 60
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        id_of(&reply)
    }

    /// Releases an app; returns the release number.
    pub async fn release(&self, app: Uuid) -> i64 {
        let reply = self
            .send(
                Method::POST,
                &format!("/apps/{app}/releases"),
                &self.owner.access,
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()["number"].as_i64().unwrap()
    }

    /// Builds an apps state over the server's database and keys, as the exec service holds.
    pub async fn apps_state(&self) -> trellis_apps::AppsState {
        let db = crate::apps_db(&self.server).await;
        let keys = trellis::keys::encryption_keys(&self.server.settings).unwrap();
        trellis_apps::AppsState::new(db, keys, self.catalog.clone())
    }
}

/// Returns the `id` of a created object.
pub fn id_of(reply: &Reply) -> Uuid {
    reply.json()["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", reply.text))
        .parse()
        .unwrap()
}
