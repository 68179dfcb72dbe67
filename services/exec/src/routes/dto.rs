//! Request and response bodies of the plugin routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::host::log::LogLine;
use crate::registry::PluginRecord;
use crate::Manifest;

/// A workspace's uploaded plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginResponse {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub manifest: Manifest,
    /// Hex SHA-256 of the component.
    pub content_hash: String,
    pub size_bytes: u64,
    pub created_at: DateTime<Utc>,
}

impl From<PluginRecord> for PluginResponse {
    fn from(record: PluginRecord) -> Self {
        PluginResponse {
            id: record.id,
            workspace_id: record.workspace_id,
            manifest: record.manifest,
            content_hash: record.content_hash,
            size_bytes: record.size_bytes,
            created_at: record.created_at,
        }
    }
}

/// A page of plugins.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginPage {
    pub items: Vec<PluginResponse>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

/// A built-in connector.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuiltinPlugin {
    /// Id to use in invoke paths, such as `builtin:echo`.
    pub id: String,
    pub manifest: Manifest,
}

/// The built-in connectors.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuiltinList {
    pub items: Vec<BuiltinPlugin>,
}

/// Paging of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Items to skip; 0 by default.
    pub offset: Option<u64>,
    /// Items per page, 1 to 100; 50 by default.
    pub limit: Option<u64>,
}

/// A direct call of one operation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// Operation name from the manifest.
    pub operation: String,
    /// Resource config, checked by the connector; base URL fields set the HTTP allow-list.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: Value,
    /// Operation input.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub input: Value,
    /// Wall-clock deadline in milliseconds, up to the service maximum; 10 000 by default.
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The result of a direct call.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvokeResponse {
    pub run_id: Uuid,
    #[schema(value_type = Object)]
    pub output: Value,
    pub logs: Vec<LogLine>,
    /// Log lines dropped by the rate limit.
    pub logs_dropped: u64,
    pub duration_ms: u64,
}
