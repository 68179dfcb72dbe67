//! A connector's manifest as the API shows it, validated when a component is loaded.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::runtime_bindings::types::Manifest as WitManifest;

/// The input-schema keyword that marks a connector's operation list (the SDK's
/// `Operation::lists_operations`).
pub const OPERATION_LIST_KEY: &str = "x-trellis-operation-list";

/// A connector's identity, config schema and operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Manifest {
    /// Stable identifier: lowercase letters, digits and dashes.
    pub id: String,
    pub name: String,
    /// Semantic version.
    pub version: String,
    pub description: String,
    /// JSON Schema of the resource config.
    #[schema(value_type = Object)]
    pub config_schema: Value,
    /// Config fields that hold secrets.
    pub secret_fields: Vec<String>,
    /// Config fields that hold base URLs; outbound HTTP may reach only their origins.
    pub base_url_fields: Vec<String>,
    pub operations: Vec<OperationSpec>,
}

/// One operation of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OperationSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the operation's input.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// True when the operation changes nothing upstream.
    pub read_only: bool,
}

impl Manifest {
    /// Validates the manifest a component described.
    pub(crate) fn from_wit(wit: WitManifest) -> Result<Self, String> {
        let valid_id = !wit.id.is_empty()
            && wit.id.len() <= 64
            && wit
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_id {
            return Err(format!(
                "the manifest id `{}` must be 1 to 64 lowercase letters, digits or dashes",
                wit.id
            ));
        }
        if semver::Version::parse(&wit.version).is_err() {
            return Err(format!(
                "the manifest version `{}` is not a semantic version",
                wit.version
            ));
        }
        if wit.name.trim().is_empty() || wit.name.len() > 200 {
            return Err("the manifest name must be 1 to 200 characters".into());
        }

        let config_schema = parse_schema("config-schema", &wit.config_schema)?;
        let mut names = HashSet::new();
        let mut operations = Vec::new();
        for operation in wit.operations {
            if operation.name.is_empty() || !names.insert(operation.name.clone()) {
                return Err(format!(
                    "operation names must be non-empty and unique; `{}` is not",
                    operation.name
                ));
            }
            let input_schema = parse_schema(&operation.name, &operation.input_schema)?;
            operations.push(OperationSpec {
                name: operation.name,
                description: operation.description,
                input_schema,
                read_only: operation.read_only,
            });
        }

        Ok(Manifest {
            id: wit.id,
            name: wit.name,
            version: wit.version,
            description: wit.description,
            config_schema,
            secret_fields: wit.secret_fields,
            base_url_fields: wit.base_url_fields,
            operations,
        })
    }

    /// Returns the read-only operation that lists further operations, which depend on a
    /// resource's config: its input schema carries `"x-trellis-operation-list": true`. Such a
    /// connector accepts the names that operation returns as operations of their own.
    pub fn operation_list(&self) -> Option<&OperationSpec> {
        self.operations.iter().find(|operation| {
            operation.read_only
                && operation.input_schema.get(OPERATION_LIST_KEY) == Some(&Value::Bool(true))
        })
    }

    /// Returns the operation with this name.
    pub fn operation(&self, name: &str) -> Option<&OperationSpec> {
        self.operations
            .iter()
            .find(|operation| operation.name == name)
    }
}

fn parse_schema(what: &str, text: &str) -> Result<Value, String> {
    let schema: Value = serde_json::from_str(text)
        .map_err(|error| format!("the JSON Schema of `{what}` is not JSON: {error}"))?;
    if !schema.is_object() {
        return Err(format!("the JSON Schema of `{what}` must be an object"));
    }
    Ok(schema)
}
