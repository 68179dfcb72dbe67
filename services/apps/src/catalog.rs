//! The connector catalog: what the apps service needs to know about connectors, which live in
//! the exec service.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::config::SecretConfig;

/// What a connector is, the config it takes and the operations it offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorManifest {
    pub id: String,
    pub version: String,
    /// JSON Schema of a resource's config. A property marked `"x-secret": true` or
    /// `"writeOnly": true` contains a secret.
    pub config_schema: Value,
    /// Further secret config fields as dotted paths, for connectors that list them apart
    /// from the schema.
    #[serde(default)]
    pub secret_fields: Vec<String>,
    pub operations: Vec<OperationManifest>,
    /// The operation that lists further operations, which depend on a resource's config (such
    /// as those of an OpenAPI document). An action may name any operation it returns.
    #[serde(default)]
    pub operation_list: Option<String>,
}

/// One operation of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationManifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the operation's input.
    pub input_schema: Value,
    /// True when the operation changes nothing upstream.
    pub read_only: bool,
}

/// Result of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub ok: bool,
    /// What the connector reported, for people; it must not contain secrets.
    pub message: String,
}

/// The operations a connector listed for one resource's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OperationListing {
    Listed {
        operations: Vec<OperationManifest>,
    },
    /// The connector failed, for example because the config's specification does not parse.
    Failed {
        message: String,
    },
}

/// A failure to reach the catalog, as opposed to a connector that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CatalogError(pub String);

/// Connectors a workspace may use: the built-in ones and its own uploads.
#[async_trait::async_trait]
pub trait ConnectorCatalog: Send + Sync {
    /// Returns the manifest of a connector version, or `None` when the workspace has no such
    /// connector.
    async fn describe(
        &self,
        workspace_id: Uuid,
        plugin_id: &str,
        version: &str,
    ) -> Result<Option<ConnectorManifest>, CatalogError>;

    /// Runs the connector's connection test with a decrypted config.
    async fn test_connection(
        &self,
        workspace_id: Uuid,
        manifest: &ConnectorManifest,
        config: &SecretConfig,
    ) -> Result<ConnectionTest, CatalogError>;

    /// Runs the manifest's `operation_list` operation with a decrypted config and returns the
    /// operations it lists, with their input schemas when `schemas` is set. A connector
    /// without one lists nothing.
    async fn list_operations(
        &self,
        workspace_id: Uuid,
        manifest: &ConnectorManifest,
        config: &SecretConfig,
        schemas: bool,
    ) -> Result<OperationListing, CatalogError> {
        let _ = (workspace_id, manifest, config, schemas);
        Ok(OperationListing::Listed {
            operations: Vec::new(),
        })
    }
}
