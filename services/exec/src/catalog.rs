//! The connector catalog the apps service validates resources against, served by this
//! service: in process, or over the internal HTTP API when the services run apart.

use std::time::Duration;

use actix_web::web;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_apps::{
    CatalogError, ConnectionTest, ConnectorCatalog, ConnectorManifest, OperationListing,
    OperationManifest, SecretConfig,
};
use trellis_tokens::SERVICE_TOKEN_HEADER;
use uuid::Uuid;

use crate::calls::{call_context, resolve_by_key};
use crate::runtime::CallLimits;
use crate::{CallRequest, ExecError, ExecState, Manifest};

/// Converts a connector's manifest to the catalog's form.
pub fn catalog_manifest(manifest: &Manifest) -> ConnectorManifest {
    ConnectorManifest {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        config_schema: manifest.config_schema.clone(),
        secret_fields: manifest.secret_fields.clone(),
        operations: manifest
            .operations
            .iter()
            .map(|operation| OperationManifest {
                name: operation.name.clone(),
                description: operation.description.clone(),
                input_schema: operation.input_schema.clone(),
                read_only: operation.read_only,
            })
            .collect(),
        operation_list: manifest
            .operation_list()
            .map(|operation| operation.name.clone()),
    }
}

/// Returns the manifest of a workspace's connector version, or `None` when it has none.
pub async fn describe(
    state: &ExecState,
    workspace_id: Uuid,
    plugin_id: &str,
    version: &str,
) -> Result<Option<ConnectorManifest>, ExecError> {
    let resolved = resolve_by_key(state, workspace_id, plugin_id, version).await?;
    Ok(resolved.map(|resolved| catalog_manifest(&resolved.plugin.manifest)))
}

/// Runs a connector's connection test in the sandbox. A failed test is a result, not an error;
/// errors mean the connector could not be found or loaded.
pub async fn test_connection(
    state: &ExecState,
    workspace_id: Uuid,
    plugin_id: &str,
    version: &str,
    config: &Value,
) -> Result<ConnectionTest, ExecError> {
    let resolved = resolve_by_key(state, workspace_id, plugin_id, version)
        .await?
        .ok_or(ExecError::NotFound("The connector"))?;
    let deadline = CallLimits::default()
        .deadline
        .min(state.settings.max_deadline);
    let call = match call_context(
        state,
        workspace_id,
        Uuid::nil(),
        &resolved,
        config,
        deadline,
    )
    .await
    {
        Ok(call) => call,
        Err(ExecError::Validation { message, .. }) => {
            return Ok(ConnectionTest {
                ok: false,
                message: format!("The config is invalid: {message}"),
            })
        }
        Err(error) => return Err(error),
    };
    let request = CallRequest::TestConnection {
        config: config.clone(),
    };

    let report = state.runtime.call(&resolved.plugin, call, &request).await;

    Ok(match report.result {
        Ok(_) => ConnectionTest {
            ok: true,
            message: "The connection test passed".into(),
        },
        Err(error) => ConnectionTest {
            ok: false,
            message: error.to_string(),
        },
    })
}

/// Runs a connector's operation list with a resource's config in the sandbox and returns the
/// operations it lists; without `schemas`, the list may leave out the input schemas. A
/// connector that fails is a result, not an error.
pub async fn list_operations(
    state: &ExecState,
    workspace_id: Uuid,
    plugin_id: &str,
    version: &str,
    config: &Value,
    schemas: bool,
) -> Result<OperationListing, ExecError> {
    let resolved = resolve_by_key(state, workspace_id, plugin_id, version)
        .await?
        .ok_or(ExecError::NotFound("The connector"))?;
    let Some(lister) = resolved.plugin.manifest.operation_list() else {
        return Ok(OperationListing::Listed {
            operations: Vec::new(),
        });
    };
    let deadline = CallLimits::default()
        .deadline
        .min(state.settings.max_deadline);
    let call = match call_context(
        state,
        workspace_id,
        Uuid::nil(),
        &resolved,
        config,
        deadline,
    )
    .await
    {
        Ok(call) => call,
        Err(ExecError::Validation { message, .. }) => {
            return Ok(OperationListing::Failed {
                message: format!("The config is invalid: {message}"),
            })
        }
        Err(error) => return Err(error),
    };
    let request = CallRequest::Execute {
        config: config.clone(),
        operation: lister.name.clone(),
        input: serde_json::json!({ "schemas": schemas }),
    };
    let report = state.runtime.call(&resolved.plugin, call, &request).await;
    Ok(match report.result {
        Ok(output) => parse_listing(&output),
        Err(error) => OperationListing::Failed {
            message: error.to_string(),
        },
    })
}

/// Reads `{"operations": [{"name", "description", "read_only", "input_schema"}, ...]}`.
fn parse_listing(output: &Value) -> OperationListing {
    let Some(items) = output.get("operations").and_then(Value::as_array) else {
        return OperationListing::Failed {
            message: "the connector's operation list has no `operations` array".into(),
        };
    };
    let mut operations = Vec::with_capacity(items.len());
    for item in items {
        let Some(name) = item.get("name").and_then(Value::as_str) else {
            return OperationListing::Failed {
                message: "an operation in the connector's operation list has no `name`".into(),
            };
        };
        operations.push(OperationManifest {
            name: name.to_string(),
            description: item
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            input_schema: item
                .get("input_schema")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"type": "object"})),
            read_only: item.get("read_only") == Some(&Value::Bool(true)),
        });
    }
    OperationListing::Listed { operations }
}

/// The catalog of an exec service in the same process.
pub struct LocalCatalog {
    pub exec: web::Data<ExecState>,
}

#[async_trait::async_trait]
impl ConnectorCatalog for LocalCatalog {
    async fn describe(
        &self,
        workspace_id: Uuid,
        plugin_id: &str,
        version: &str,
    ) -> Result<Option<ConnectorManifest>, CatalogError> {
        describe(&self.exec, workspace_id, plugin_id, version)
            .await
            .map_err(|error| CatalogError(error.to_string()))
    }

    async fn test_connection(
        &self,
        workspace_id: Uuid,
        manifest: &ConnectorManifest,
        config: &SecretConfig,
    ) -> Result<ConnectionTest, CatalogError> {
        test_connection(
            &self.exec,
            workspace_id,
            &manifest.id,
            &manifest.version,
            config.expose(),
        )
        .await
        .map_err(|error| CatalogError(error.to_string()))
    }

    async fn list_operations(
        &self,
        workspace_id: Uuid,
        manifest: &ConnectorManifest,
        config: &SecretConfig,
        schemas: bool,
    ) -> Result<OperationListing, CatalogError> {
        list_operations(
            &self.exec,
            workspace_id,
            &manifest.id,
            &manifest.version,
            config.expose(),
            schemas,
        )
        .await
        .map_err(|error| CatalogError(error.to_string()))
    }
}

/// Body of the internal connection-test and operation-list routes. It carries a decrypted config, so it travels
/// only between services.
#[derive(Serialize, Deserialize)]
pub struct TestConnectionRequest {
    pub config: Value,
}

/// The catalog of an exec service in another process, reached over its internal API.
pub struct HttpCatalog {
    base_url: String,
    service_token: String,
    client: reqwest::Client,
}

impl HttpCatalog {
    pub fn new(base_url: &str, service_token: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(70))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client with default TLS builds");
        HttpCatalog {
            base_url: base_url.trim_end_matches('/').to_string(),
            service_token: service_token.to_string(),
            client,
        }
    }

    fn connector_url(&self, workspace_id: Uuid, plugin_id: &str, version: &str) -> String {
        format!(
            "{}/internal/v1/workspaces/{workspace_id}/connectors/{plugin_id}/{version}",
            self.base_url
        )
    }
}

fn unavailable(error: reqwest::Error) -> CatalogError {
    CatalogError(format!("the exec service did not respond: {error}"))
}

#[async_trait::async_trait]
impl ConnectorCatalog for HttpCatalog {
    async fn describe(
        &self,
        workspace_id: Uuid,
        plugin_id: &str,
        version: &str,
    ) -> Result<Option<ConnectorManifest>, CatalogError> {
        let url = self.connector_url(workspace_id, plugin_id, version);
        let response = self
            .client
            .get(url)
            .header(SERVICE_TOKEN_HEADER, &self.service_token)
            .send()
            .await
            .map_err(unavailable)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = response.error_for_status().map_err(unavailable)?;
        response.json().await.map(Some).map_err(unavailable)
    }

    async fn test_connection(
        &self,
        workspace_id: Uuid,
        manifest: &ConnectorManifest,
        config: &SecretConfig,
    ) -> Result<ConnectionTest, CatalogError> {
        let url = self.connector_url(workspace_id, &manifest.id, &manifest.version);
        let body = TestConnectionRequest {
            config: config.expose().clone(),
        };
        let response = self
            .client
            .post(format!("{url}/test"))
            .header(SERVICE_TOKEN_HEADER, &self.service_token)
            .json(&body)
            .send()
            .await
            .map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        response.json().await.map_err(unavailable)
    }

    async fn list_operations(
        &self,
        workspace_id: Uuid,
        manifest: &ConnectorManifest,
        config: &SecretConfig,
        schemas: bool,
    ) -> Result<OperationListing, CatalogError> {
        if manifest.operation_list.is_none() {
            return Ok(OperationListing::Listed {
                operations: Vec::new(),
            });
        }
        let url = self.connector_url(workspace_id, &manifest.id, &manifest.version);
        let body = TestConnectionRequest {
            config: config.expose().clone(),
        };
        let response = self
            .client
            .post(format!("{url}/operations?schemas={schemas}"))
            .header(SERVICE_TOKEN_HEADER, &self.service_token)
            .json(&body)
            .send()
            .await
            .map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        response.json().await.map_err(unavailable)
    }
}
