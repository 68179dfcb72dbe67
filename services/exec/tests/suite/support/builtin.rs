//! A built-in connector loaded into a test runtime and called the way the server calls it,
//! with chosen loopback hosts allowed.

use std::sync::Arc;

use serde_json::Value;
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, LoadedPlugin, RunError, Runtime};
use uuid::Uuid;

use super::runtime;

/// A built-in connector, one workspace, and the internal hosts its calls may reach.
pub struct BuiltinHarness {
    pub runtime: Runtime,
    pub plugin: Arc<LoadedPlugin>,
    pub workspace_id: Uuid,
    pub internal: Vec<InternalHost>,
    namespace: String,
}

impl BuiltinHarness {
    /// Loads the built-in connector `name`, whose calls may reach the `internal` hosts.
    pub async fn new(name: &str, internal: Vec<InternalHost>) -> Self {
        let runtime = runtime();
        let (_, bytes) = BUILTIN_COMPONENTS
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .unwrap_or_else(|| panic!("the {name} connector is not a built-in"));
        let plugin = runtime.load(Arc::new(bytes.to_vec())).await.unwrap();
        BuiltinHarness {
            runtime,
            plugin,
            workspace_id: Uuid::new_v4(),
            internal,
            namespace: format!("builtin:{name}"),
        }
    }

    /// Builds a call's context: the config's base URLs, or the schema's default ones where the
    /// config leaves them out, and the allowed internal hosts.
    pub fn context(&self, config: &Value) -> CallContext {
        let manifest = &self.plugin.manifest;
        let mut call = CallContext::new(self.workspace_id, self.namespace.clone());
        call.network = NetworkPolicy::from_config_with_defaults(
            &manifest.base_url_fields,
            &manifest.config_schema,
            config,
            &self.internal,
        );
        call
    }

    /// Runs one operation of the connector.
    pub async fn execute(
        &self,
        config: &Value,
        operation: &str,
        input: Value,
    ) -> Result<Value, RunError> {
        let request = CallRequest::Execute {
            config: config.clone(),
            operation: operation.into(),
            input,
        };
        self.runtime
            .call(&self.plugin, self.context(config), &request)
            .await
            .result
    }

    /// Runs the connector's connection test.
    pub async fn test_connection(&self, config: &Value) -> Result<Value, RunError> {
        let request = CallRequest::TestConnection {
            config: config.clone(),
        };
        self.runtime
            .call(&self.plugin, self.context(config), &request)
            .await
            .result
    }
}

/// Returns the status and message of an upstream error, and panics on any other result.
pub fn upstream(result: Result<Value, RunError>) -> (Option<u16>, String) {
    match result {
        Err(RunError::Upstream { status, message }) => (status, message),
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

/// Returns the message of an invalid-input error, and panics on any other result.
pub fn invalid_input(result: Result<Value, RunError>) -> String {
    match result {
        Err(RunError::InvalidInput { message }) => message,
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}
