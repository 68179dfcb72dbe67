//! Action definitions: templates, transformer, parameter schema and limits, checked at save
//! time so a broken action is rejected before anyone runs it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{AppsError, AppsResult};
use crate::storage::entities::action;

/// An action as a run uses it: the draft's current definition, or the one a release froze.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrozenAction {
    pub id: Uuid,
    pub name: String,
    pub resource_id: Uuid,
    pub operation: String,
    /// Connector input; its strings may hold `{{ }}` templates over the run's parameters.
    #[schema(value_type = Object)]
    pub input: Value,
    /// jq program applied to the connector's result.
    pub transformer: Option<String>,
    /// JSON Schema of the run parameters.
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Value>,
    /// Run timeout in milliseconds.
    pub timeout_ms: u64,
    /// Seconds an identical run's result is reused; 0 turns caching off.
    pub cache_ttl_seconds: u64,
    /// Whether the app requests confirmation from the user before a run.
    pub requires_confirmation: bool,
}

impl From<&action::Model> for FrozenAction {
    fn from(row: &action::Model) -> FrozenAction {
        FrozenAction {
            id: row.id,
            name: row.name.clone(),
            resource_id: row.resource_id,
            operation: row.operation.clone(),
            input: row.input.clone(),
            transformer: row.transformer.clone(),
            params_schema: row.params_schema.clone(),
            timeout_ms: u64::try_from(row.timeout_ms).unwrap_or(DEFAULT_TIMEOUT_MS),
            cache_ttl_seconds: u64::try_from(row.cache_ttl_seconds).unwrap_or(0),
            requires_confirmation: row.requires_confirmation,
        }
    }
}

/// Minimum run timeout of an action, in milliseconds.
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Maximum run timeout of an action, in milliseconds (5 minutes).
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// Run timeout of an action that sets none, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Maximum cache lifetime of an action, in seconds (one day).
pub const MAX_CACHE_TTL_SECONDS: u64 = 86_400;
/// Maximum size of an action's input in bytes, serialized as compact JSON.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
/// Maximum size of a jq transformer in bytes.
pub const MAX_TRANSFORMER_BYTES: usize = 16 * 1024;

/// Checks that every string in `input` that contains a template parses as a minijinja template.
/// Errors name the field by its dotted path under `input`.
pub fn validate_input(input: &Value) -> AppsResult<()> {
    let size = serde_json::to_vec(input)
        .map_err(|error| AppsError::Internal(error.into()))?
        .len();
    if size > MAX_INPUT_BYTES {
        return Err(AppsError::invalid(
            "input",
            format!("`input` is {size} bytes; the limit is {MAX_INPUT_BYTES} bytes"),
        ));
    }
    let environment = minijinja::Environment::new();
    check_templates(&environment, input, "input")
}

fn check_templates(
    environment: &minijinja::Environment<'_>,
    value: &Value,
    path: &str,
) -> AppsResult<()> {
    match value {
        Value::String(text) if text.contains("{{") || text.contains("{%") => {
            environment.template_from_str(text).map_err(|error| {
                AppsError::invalid(
                    path,
                    format!("`{path}` contains a template that does not parse: {error}"),
                )
            })?;
            Ok(())
        }
        Value::Array(items) => items.iter().enumerate().try_for_each(|(index, item)| {
            check_templates(environment, item, &format!("{path}.{index}"))
        }),
        Value::Object(fields) => fields.iter().try_for_each(|(name, item)| {
            check_templates(environment, item, &format!("{path}.{name}"))
        }),
        _ => Ok(()),
    }
}

/// Checks that a jq transformer compiles with jaq and its standard library.
pub fn validate_transformer(code: &str) -> AppsResult<()> {
    use jaq_core::load::{Arena, File, Loader};

    if code.len() > MAX_TRANSFORMER_BYTES {
        return Err(AppsError::invalid(
            "transformer",
            format!("`transformer` must have at most {MAX_TRANSFORMER_BYTES} bytes"),
        ));
    }
    let arena = Arena::default();
    let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errors| {
            AppsError::invalid(
                "transformer",
                format!(
                    "`transformer` is not a valid jq program ({} parse errors)",
                    errors.len()
                ),
            )
        })?;
    jaq_core::Compiler::<_, jaq_core::Native<jaq_json::Val>>::default()
        .with_funs(jaq_std::funs().chain(jaq_json::funs()))
        .compile(modules)
        .map_err(|errors| {
            let names: Vec<String> = errors
                .iter()
                .flat_map(|(_, errors)| errors.iter().map(|(name, _)| format!("`{name}`")))
                .collect();
            AppsError::invalid(
                "transformer",
                format!(
                    "`transformer` does not compile: undefined {}",
                    names.join(", ")
                ),
            )
        })?;
    Ok(())
}

/// Checks that a parameter schema is a valid JSON Schema.
pub fn validate_params_schema(schema: &Value) -> AppsResult<()> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(AppsError::invalid(
            "params_schema",
            "`params_schema` must be a JSON Schema object",
        ));
    }
    if let Err(error) = jsonschema::meta::validate(schema) {
        return Err(AppsError::invalid(
            "params_schema",
            format!("`params_schema` is not a valid JSON Schema: {error}"),
        ));
    }
    super::compile_schema(schema).map_err(|error| {
        AppsError::invalid(
            "params_schema",
            format!("`params_schema` does not compile: {error}"),
        )
    })?;
    Ok(())
}

/// Checks the run timeout, in milliseconds.
pub fn validate_timeout(timeout_ms: u64) -> AppsResult<()> {
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(AppsError::invalid(
            "timeout_ms",
            format!("`timeout_ms` must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
        ));
    }
    Ok(())
}

/// Checks the cache lifetime, in seconds; 0 turns caching off.
pub fn validate_cache_ttl(seconds: u64) -> AppsResult<()> {
    if seconds > MAX_CACHE_TTL_SECONDS {
        return Err(AppsError::invalid(
            "cache_ttl_seconds",
            format!("`cache_ttl_seconds` must be at most {MAX_CACHE_TTL_SECONDS}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field_of(result: AppsResult<()>) -> String {
        match result {
            Err(AppsError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn valid_templates_pass() {
        let input = json!({"sql": "select * from t where a = {{ input1.value }}", "n": 1});
        assert!(validate_input(&input).is_ok());
    }

    #[test]
    fn broken_template_names_its_path() {
        let input = json!({"params": [1, "{{ input1.value "]});
        assert_eq!(field_of(validate_input(&input)), "input.params.1");
    }

    #[test]
    fn transformer_compiles() {
        assert!(validate_transformer("map(select(.mass > 3000)) | length").is_ok());
    }

    #[test]
    fn transformer_syntax_error_is_rejected() {
        assert_eq!(field_of(validate_transformer("map(")), "transformer");
    }

    #[test]
    fn transformer_with_unknown_function_is_rejected() {
        assert_eq!(
            field_of(validate_transformer("no_such_fn(1)")),
            "transformer"
        );
    }

    #[test]
    fn invalid_params_schema_is_rejected() {
        let schema = json!({"type": "not-a-type"});
        assert_eq!(field_of(validate_params_schema(&schema)), "params_schema");
    }

    #[test]
    fn params_schema_with_file_reference_is_rejected() {
        let schema = json!({"$ref": "file:///etc/passwd"});
        assert_eq!(field_of(validate_params_schema(&schema)), "params_schema");
    }

    #[test]
    fn params_schema_with_local_reference_compiles() {
        let schema = json!({"$defs": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/$defs/n"}}});
        assert!(validate_params_schema(&schema).is_ok());
    }

    #[test]
    fn timeout_out_of_bounds_is_rejected() {
        assert_eq!(field_of(validate_timeout(10)), "timeout_ms");
        assert_eq!(field_of(validate_timeout(MAX_TIMEOUT_MS + 1)), "timeout_ms");
    }
}
