//! A connector catalog for tests, holding real JSON Schemas of a SQL and a Google Sheets
//! connector. The real catalog is the exec service's. The connector id `offline` stands for a
//! catalog that cannot be reached.

use std::sync::Mutex;

use serde_json::{json, Value};
use trellis_apps::{
    CatalogError, ConnectionTest, ConnectorCatalog, ConnectorManifest, OperationManifest,
    SecretConfig,
};
use uuid::Uuid;

/// The built-in test connectors; it remembers the last config a connection test received.
#[derive(Default)]
pub struct TestCatalog {
    pub last_tested: Mutex<Option<Value>>,
}

/// Manifest of the test SQL connector: `password` and `tls.client_key_pem` are secret.
pub fn sql_manifest() -> ConnectorManifest {
    ConnectorManifest {
        id: "sql".into(),
        version: "1.0.0".into(),
        config_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": ["host", "database"],
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "database": {"type": "string"},
                "user": {"type": "string"},
                "password": {"type": "string", "x-secret": true},
                "tls": {
                    "type": "object",
                    "properties": {
                        "ca_pem": {"type": "string"},
                        "client_key_pem": {"type": "string", "writeOnly": true}
                    }
                }
            }
        }),
        secret_fields: vec![],
        operation_list: None,
        operations: vec![
            OperationManifest {
                name: "query".into(),
                description: String::new(),
                input_schema: json!({"type": "object", "required": ["sql"],
                    "properties": {"sql": {"type": "string"}, "params": {"type": "array"}}}),
                read_only: true,
            },
            OperationManifest {
                name: "execute".into(),
                description: String::new(),
                input_schema: json!({"type": "object", "required": ["sql"],
                    "properties": {"sql": {"type": "string"}}}),
                read_only: false,
            },
        ],
    }
}

/// Manifest of the test Google Sheets connector: the service-account JSON is secret.
pub fn sheets_manifest() -> ConnectorManifest {
    ConnectorManifest {
        id: "sheets".into(),
        version: "1.0.0".into(),
        config_schema: json!({
            "type": "object",
            "required": ["service_account_json"],
            "properties": {
                "service_account_json": {"type": "string", "writeOnly": true},
                "spreadsheet_id": {"type": "string"}
            }
        }),
        secret_fields: vec![],
        operation_list: None,
        operations: vec![OperationManifest {
            name: "read".into(),
            description: String::new(),
            input_schema: json!({"type": "object"}),
            read_only: true,
        }],
    }
}

#[async_trait::async_trait]
impl ConnectorCatalog for TestCatalog {
    async fn describe(
        &self,
        _workspace_id: Uuid,
        plugin_id: &str,
        version: &str,
    ) -> Result<Option<ConnectorManifest>, CatalogError> {
        if plugin_id == "offline" {
            return Err(CatalogError("the exec service did not respond".into()));
        }
        let manifest = match (plugin_id, version) {
            ("sql", "1.0.0") => Some(sql_manifest()),
            ("sheets", "1.0.0") => Some(sheets_manifest()),
            _ => None,
        };
        Ok(manifest)
    }

    async fn test_connection(
        &self,
        _workspace_id: Uuid,
        _manifest: &ConnectorManifest,
        config: &SecretConfig,
    ) -> Result<ConnectionTest, CatalogError> {
        let config = config.expose().clone();
        let ok = config.get("password").is_some() || config.get("service_account_json").is_some();
        *self.last_tested.lock().unwrap() = Some(config);
        Ok(ConnectionTest {
            ok,
            message: if ok {
                "connected".into()
            } else {
                "no credentials".into()
            },
        })
    }
}
