//! Validated inputs: raw request fields become these types at the edge.

pub mod access;
pub mod action;
pub mod config;
pub mod document;

use serde_json::Value;

use crate::error::{AppsError, AppsResult};

/// Compiles a JSON Schema whose `$ref`s may point only inside the schema itself. Remote and
/// file references are rejected whatever features the `jsonschema` crate was built with, so a
/// tenant's schema cannot make the server read files or send requests.
pub fn compile_schema(
    schema: &Value,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .with_retriever(NoExternalReferences)
        .build(schema)
}

struct NoExternalReferences;

impl jsonschema::Retrieve for NoExternalReferences {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("external schema references are not allowed: {uri}").into())
    }
}

/// Maximum characters in a name (resource, app, action).
pub const MAX_NAME_CHARS: usize = 100;

/// Validates a display name: trimmed, not empty, at most 100 characters, no control characters.
pub fn parse_name(field: &str, raw: &str) -> AppsResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppsError::invalid(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppsError::invalid(
            field,
            format!("`{field}` must have at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppsError::invalid(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(name.to_string())
}
