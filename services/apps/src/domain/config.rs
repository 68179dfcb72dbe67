//! Resource config: validation against the connector's JSON Schema, and the split between
//! plain fields, stored as they are, and secret fields, stored encrypted.

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use crate::catalog::ConnectorManifest;
use crate::error::{AppsError, AppsResult};

/// A full resource config, secrets included. Its `Debug` output hides the values.
#[derive(Clone, PartialEq)]
pub struct SecretConfig(Value);

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretConfig([redacted])")
    }
}

impl SecretConfig {
    pub fn new(config: Value) -> SecretConfig {
        SecretConfig(config)
    }

    /// Returns the config with its secret values; never log or send it.
    pub fn expose(&self) -> &Value {
        &self.0
    }
}

/// Secret values by dotted path, as sealed in one ciphertext per resource.
pub type Secrets = Map<String, Value>;

/// Returns the dotted paths of the secret fields of a connector's config: properties marked
/// `"x-secret": true` or `"writeOnly": true`, at any depth of nested `properties`, and the
/// fields the manifest lists.
pub fn secret_paths(manifest: &ConnectorManifest) -> Vec<String> {
    let mut paths = Vec::new();
    collect_secret_paths(&manifest.config_schema, "", &mut paths);
    for field in &manifest.secret_fields {
        if !paths.contains(field) {
            paths.push(field.clone());
        }
    }
    paths
}

fn collect_secret_paths(schema: &Value, prefix: &str, paths: &mut Vec<String>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let marked = property.get("x-secret") == Some(&Value::Bool(true))
            || property.get("writeOnly") == Some(&Value::Bool(true));
        if marked {
            paths.push(path);
        } else {
            collect_secret_paths(property, &path, paths);
        }
    }
}

fn get_path<'a>(config: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(config, |value, segment| value.get(segment))
}

fn remove_path(config: &mut Value, path: &str) -> Option<Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (parent, last),
        None => ("", path),
    };
    let mut target = config;
    if !parent.is_empty() {
        for segment in parent.split('.') {
            target = target.get_mut(segment)?;
        }
    }
    target.as_object_mut()?.remove(last)
}

fn insert_path(config: &mut Value, path: &str, value: Value) {
    let mut target = config;
    let segments: Vec<&str> = path.split('.').collect();
    for segment in &segments[..segments.len() - 1] {
        let Some(object) = target.as_object_mut() else {
            return;
        };
        target = object
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(object) = target.as_object_mut() {
        object.insert(segments[segments.len() - 1].to_string(), value);
    }
}

/// Removes the secret values from a config, returning the plain config and the secrets.
pub fn split(mut config: Value, paths: &[String]) -> (Value, Secrets) {
    let mut secrets = Secrets::new();
    for path in paths {
        if let Some(value) = remove_path(&mut config, path) {
            if !value.is_null() {
                secrets.insert(path.clone(), value);
            }
        }
    }
    (config, secrets)
}

/// Puts secret values back into a plain config.
pub fn merge(mut config: Value, secrets: &Secrets) -> SecretConfig {
    for (path, value) in secrets {
        insert_path(&mut config, path, value.clone());
    }
    SecretConfig(config)
}

/// Combines an update with the stored secrets: a secret the update omits keeps its stored
/// value, a secret set to `null` is removed, and any other value replaces it.
pub fn update_secrets(update: &Value, paths: &[String], stored: &Secrets) -> Secrets {
    let mut secrets = Secrets::new();
    for path in paths {
        match get_path(update, path) {
            Some(Value::Null) => {}
            Some(value) => {
                secrets.insert(path.clone(), value.clone());
            }
            None => {
                if let Some(value) = stored.get(path) {
                    secrets.insert(path.clone(), value.clone());
                }
            }
        }
    }
    secrets
}

/// Validates a full config against the connector's schema. Errors name the field as
/// `config.<dotted path>`; for a secret field the message leaves the value out.
pub fn validate(
    manifest: &ConnectorManifest,
    config: &SecretConfig,
    secret_paths: &[String],
) -> AppsResult<()> {
    if !config.0.is_object() {
        return Err(AppsError::invalid(
            "config",
            "`config` must be a JSON object",
        ));
    }
    let validator = super::compile_schema(&manifest.config_schema).map_err(|error| {
        AppsError::Internal(anyhow::anyhow!(
            "the config schema of connector {}@{} is invalid: {error}",
            manifest.id,
            manifest.version
        ))
    })?;

    let Some(error) = validator.iter_errors(&config.0).next() else {
        return Ok(());
    };
    let pointer = error.instance_path.to_string();
    let mut dotted = pointer.trim_start_matches('/').replace('/', ".");
    // A missing property is reported at its parent object, so add its name.
    if let ValidationErrorKind::Required { property } = &error.kind {
        let name = property.as_str().unwrap_or_default();
        dotted = if dotted.is_empty() {
            name.to_string()
        } else {
            format!("{dotted}.{name}")
        };
    }
    let field = if dotted.is_empty() {
        "config".to_string()
    } else {
        format!("config.{dotted}")
    };
    // Messages quote the failing value, so an error on a secret, or on an object that contains
    // one, is reported by keyword alone. Missing and unexpected properties quote names only.
    let touches_secret = secret_paths.iter().any(|path| {
        dotted.is_empty()
            || dotted == *path
            || dotted.starts_with(&format!("{path}."))
            || path.starts_with(&format!("{dotted}."))
    });
    let quotes_names_only = matches!(
        error.kind,
        ValidationErrorKind::Required { .. } | ValidationErrorKind::AdditionalProperties { .. }
    );
    let message = if touches_secret && !quotes_names_only {
        let keyword = error.schema_path.to_string();
        let keyword = keyword.rsplit('/').next().unwrap_or("").to_string();
        format!("Field `{field}` does not satisfy the connector's schema (keyword `{keyword}`)")
    } else {
        format!("Field `{field}` is invalid: {error}")
    };
    Err(AppsError::invalid(field, message))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn manifest() -> ConnectorManifest {
        ConnectorManifest {
            id: "sql".into(),
            version: "1.0.0".into(),
            config_schema: json!({
                "type": "object",
                "required": ["host"],
                "properties": {
                    "host": {"type": "string"},
                    "password": {"type": "string", "x-secret": true, "minLength": 4},
                    "auth": {"type": "object", "properties": {
                        "token": {"type": "string", "writeOnly": true}
                    }}
                }
            }),
            secret_fields: vec![],
            operations: vec![],
            operation_list: None,
        }
    }

    #[test]
    fn secret_paths_follow_both_markers() {
        assert_eq!(secret_paths(&manifest()), vec!["auth.token", "password"]);
    }

    #[test]
    fn split_and_merge_round_trip() {
        let config = json!({"host": "db", "password": "pw12", "auth": {"token": "t"}});
        let paths = secret_paths(&manifest());
        let (plain, secrets) = split(config.clone(), &paths);
        assert_eq!(plain, json!({"host": "db", "auth": {}}));
        assert_eq!(secrets.len(), 2);
        assert_eq!(merge(plain, &secrets).expose(), &config);
    }

    #[test]
    fn omitted_secret_is_kept_and_null_removes_it() {
        let paths = secret_paths(&manifest());
        let stored = split(json!({"password": "old1", "auth": {"token": "t"}}), &paths).1;
        let update = json!({"host": "db", "auth": {"token": null}});
        let secrets = update_secrets(&update, &paths, &stored);
        assert_eq!(secrets.get("password"), Some(&json!("old1")));
        assert!(!secrets.contains_key("auth.token"));
    }

    #[test]
    fn invalid_secret_error_omits_value() {
        let manifest = manifest();
        let paths = secret_paths(&manifest);
        let config = SecretConfig::new(json!({"host": "db", "password": "abc"}));
        let error = validate(&manifest, &config, &paths).unwrap_err();
        let AppsError::Validation { field, message } = error else {
            panic!("expected a validation error");
        };
        assert_eq!(field, "config.password");
        assert!(!message.contains("abc"), "{message}");
    }

    #[test]
    fn error_on_object_holding_secret_omits_value() {
        let mut manifest = manifest();
        manifest.config_schema["not"] = json!({"required": ["password"]});
        let paths = secret_paths(&manifest);
        let config = SecretConfig::new(json!({"host": "db", "password": "hunter22"}));
        let error = validate(&manifest, &config, &paths).unwrap_err();
        let AppsError::Validation { message, .. } = error else {
            panic!("expected a validation error");
        };
        assert!(!message.contains("hunter22"), "{message}");
    }

    #[test]
    fn missing_required_field_is_named() {
        let manifest = manifest();
        let config = SecretConfig::new(json!({}));
        let error = validate(&manifest, &config, &[]).unwrap_err();
        let AppsError::Validation { field, .. } = error else {
            panic!("expected a validation error");
        };
        assert_eq!(field, "config.host");
    }
}
