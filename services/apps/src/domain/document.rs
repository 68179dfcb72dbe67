//! The app document: a components tree, a layout and settings, which the backend checks for
//! shape and size but does not interpret.

use serde_json::Value;

use crate::error::{AppsError, AppsResult};

/// Maximum size of an app document in bytes, serialized as compact JSON (5 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;

/// Keys every app document has.
const REQUIRED_KEYS: [&str; 3] = ["components", "layout", "settings"];

/// Validates an app document: an object with `components`, `layout` and `settings`, where
/// `components` is an array or object and `settings` an object, of at most 5 MiB.
pub fn validate(document: &Value) -> AppsResult<()> {
    let Some(object) = document.as_object() else {
        return Err(AppsError::invalid(
            "document",
            "`document` must be a JSON object with `components`, `layout` and `settings`",
        ));
    };
    for key in REQUIRED_KEYS {
        if !object.contains_key(key) {
            return Err(AppsError::invalid(
                format!("document.{key}"),
                format!("`document.{key}` is missing"),
            ));
        }
    }
    if !(object["components"].is_array() || object["components"].is_object()) {
        return Err(AppsError::invalid(
            "document.components",
            "`document.components` must be an array or an object",
        ));
    }
    if !object["layout"].is_object() && !object["layout"].is_array() {
        return Err(AppsError::invalid(
            "document.layout",
            "`document.layout` must be an object or an array",
        ));
    }
    if !object["settings"].is_object() {
        return Err(AppsError::invalid(
            "document.settings",
            "`document.settings` must be an object",
        ));
    }

    let size = serde_json::to_vec(document)
        .map_err(|error| AppsError::Internal(error.into()))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(AppsError::TooLarge(format!(
            "The app document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes (5 MiB)"
        )));
    }
    Ok(())
}

/// Returns the document of a new app.
pub fn empty() -> Value {
    serde_json::json!({"components": [], "layout": {}, "settings": {}})
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_document_is_valid() {
        assert!(validate(&empty()).is_ok());
    }

    #[test]
    fn missing_layout_is_named() {
        let error = validate(&json!({"components": [], "settings": {}})).unwrap_err();
        assert!(matches!(error, AppsError::Validation { field, .. } if field == "document.layout"));
    }

    #[test]
    fn oversized_document_is_rejected() {
        let big = "x".repeat(MAX_DOCUMENT_BYTES);
        let document = json!({"components": [], "layout": {}, "settings": {"blob": big}});
        assert!(matches!(validate(&document), Err(AppsError::TooLarge(_))));
    }
}
