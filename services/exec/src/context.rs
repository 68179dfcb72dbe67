//! The scope of a connector call: its workspace, plugin, limits and reachable hosts.

use uuid::Uuid;

use crate::host::network::NetworkPolicy;
use crate::host::sql::DatabaseTarget;
use crate::runtime::CallLimits;

/// The scope of one call: the workspace and plugin it runs for, its limits and what it may
/// reach.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub workspace_id: Uuid,
    /// Plugin identity that namespaces its key-value data, such as `builtin:echo` or the
    /// uploaded plugin's id.
    pub plugin: String,
    pub run_id: Uuid,
    pub limits: CallLimits,
    pub network: NetworkPolicy,
    pub database: Option<DatabaseTarget>,
}

impl CallContext {
    /// Creates a context with default limits that may reach nothing.
    pub fn new(workspace_id: Uuid, plugin: impl Into<String>) -> Self {
        CallContext {
            workspace_id,
            plugin: plugin.into(),
            run_id: Uuid::now_v7(),
            limits: CallLimits::default(),
            network: NetworkPolicy::deny_all(),
            database: None,
        }
    }

    /// Creates the context for calling `describe` while a component is validated. Its random
    /// workspace id keeps any key-value data it writes away from every tenant.
    pub(crate) fn describe() -> Self {
        CallContext::new(Uuid::new_v4(), "describe")
    }
}
