use serde_json::Value;

use crate::bindings::trellis::connector::types as wit;

/// A connector's identity, config schema and operations.
#[derive(Debug, Clone)]
pub struct Manifest {
    id: String,
    name: String,
    version: String,
    description: String,
    config_schema: Value,
    secret_fields: Vec<String>,
    base_url_fields: Vec<String>,
    operations: Vec<Operation>,
}

impl Manifest {
    /// Starts a manifest. `id` is lowercase letters, digits and dashes; `version` is semver.
    pub fn new(id: &str, name: &str, version: &str) -> Self {
        Manifest {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            description: String::new(),
            config_schema: serde_json::json!({ "type": "object" }),
            secret_fields: Vec::new(),
            base_url_fields: Vec::new(),
            operations: Vec::new(),
        }
    }

    /// Sets the one-paragraph description shown in the connector list.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the JSON Schema of the resource config.
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.config_schema = schema;
        self
    }

    /// Marks a top-level config field as secret, so the platform encrypts it at rest and never
    /// returns it.
    pub fn secret_field(mut self, name: &str) -> Self {
        self.secret_fields.push(name.into());
        self
    }

    /// Marks a top-level config field as a base URL. [`crate::http`] may only reach the
    /// origins that these fields name.
    pub fn base_url_field(mut self, name: &str) -> Self {
        self.base_url_fields.push(name.into());
        self
    }

    /// Adds an operation.
    pub fn operation(mut self, operation: Operation) -> Self {
        self.operations.push(operation);
        self
    }

    pub(crate) fn into_wit(self) -> wit::Manifest {
        wit::Manifest {
            id: self.id,
            name: self.name,
            version: self.version,
            description: self.description,
            config_schema: self.config_schema.to_string(),
            secret_fields: self.secret_fields,
            base_url_fields: self.base_url_fields,
            operations: self
                .operations
                .into_iter()
                .map(Operation::into_wit)
                .collect(),
        }
    }
}

/// The input-schema keyword that marks the operation listing a connector's config-dependent
/// operations; see [`Operation::lists_operations`].
pub const OPERATION_LIST_KEY: &str = "x-trellis-operation-list";

/// One operation of a connector.
#[derive(Debug, Clone)]
pub struct Operation {
    name: String,
    description: String,
    input_schema: Value,
    read_only: bool,
}

impl Operation {
    /// Starts an operation that may change things upstream, with its input's JSON Schema.
    pub fn new(name: &str, input_schema: Value) -> Self {
        Operation {
            name: name.into(),
            description: String::new(),
            input_schema,
            read_only: false,
        }
    }

    /// Sets the description shown to users who pick the operation.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Declares that the operation changes nothing upstream.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Declares that this read-only operation lists further operations, which depend on the
    /// resource's config (such as the operations of an OpenAPI document). It marks the input
    /// schema with [`OPERATION_LIST_KEY`]; the platform then accepts any name that the
    /// operation returns for the resource as an action's operation, and passes that name to
    /// `execute`. The operation takes `{"schemas": bool}` (without schemas it may leave
    /// `input_schema` out) and returns
    /// `{"operations": [{"name", "description", "read_only", "input_schema"}, ...]}`.
    pub fn lists_operations(mut self) -> Self {
        if let Value::Object(schema) = &mut self.input_schema {
            schema.insert(OPERATION_LIST_KEY.into(), Value::Bool(true));
        }
        self.read_only = true;
        self
    }

    fn into_wit(self) -> wit::Operation {
        wit::Operation {
            name: self.name,
            description: self.description,
            input_schema: self.input_schema.to_string(),
            read_only: self.read_only,
        }
    }
}
