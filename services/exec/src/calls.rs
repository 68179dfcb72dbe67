//! Steps shared by every way of calling a connector: finding the plugin and building the
//! call's context from the resource config.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use crate::host::network::NetworkPolicy;
use crate::registry::store;
use crate::runtime::CallLimits;
use crate::{CallContext, ExecError, ExecState, LoadedPlugin};

/// A plugin ready to call, with the identity that namespaces its key-value data.
pub struct ResolvedPlugin {
    pub plugin: Arc<LoadedPlugin>,
    /// `builtin:<id>` for a built-in, the upload's id for a workspace plugin.
    pub namespace: String,
}

/// Finds the connector a resource names: a built-in with this id and version, or else the
/// workspace's upload. Returns `None` when the workspace has neither.
pub async fn resolve_by_key(
    state: &ExecState,
    workspace_id: Uuid,
    plugin_key: &str,
    version: &str,
) -> Result<Option<ResolvedPlugin>, ExecError> {
    if let Some(plugin) = state.registry.builtin(plugin_key) {
        if plugin.manifest.version == version {
            return Ok(Some(ResolvedPlugin {
                plugin,
                namespace: format!("builtin:{plugin_key}"),
            }));
        }
    }

    let record = store::find_plugin_by_key(&state.db, workspace_id, plugin_key, version).await?;
    let Some(record) = record else {
        return Ok(None);
    };
    let plugin = state
        .registry
        .workspace_plugin(&state.runtime, &state.db, workspace_id, &record)
        .await?;
    Ok(Some(ResolvedPlugin {
        plugin,
        namespace: record.id.to_string(),
    }))
}

/// Builds the context of one call: its deadline, the HTTP origins named by the config's base
/// URL fields plus the workspace's allowed internal hosts, and the database its structured
/// database fields name. Direct calls and connection tests have no resource and pass the nil id.
pub async fn call_context(
    state: &ExecState,
    workspace_id: Uuid,
    resource_id: Uuid,
    resolved: &ResolvedPlugin,
    config: &Value,
    deadline: Duration,
) -> Result<CallContext, ExecError> {
    let mut call = CallContext::new(workspace_id, resolved.namespace.clone());
    call.limits = CallLimits {
        deadline,
        ..CallLimits::default()
    };
    let manifest = &resolved.plugin.manifest;
    let internal_hosts = state.internal_hosts(workspace_id).await?;
    // A built-in connector falls back to its schema's default base URL, such as a public API's
    // address, when the resource leaves the field out.
    call.network = if resolved.namespace.starts_with("builtin:") {
        NetworkPolicy::from_config_with_defaults(
            &manifest.base_url_fields,
            &manifest.config_schema,
            config,
            &internal_hosts,
        )
    } else {
        NetworkPolicy::from_config(&manifest.base_url_fields, config, &internal_hosts)
    };
    call.database = state
        .database_targets
        .target(resource_id, config)
        .map_err(|message| ExecError::Validation {
            field: "config".to_string(),
            message,
        })?;
    Ok(call)
}
