//! Reads a specification's text as JSON or YAML into a JSON value. Parse errors name the line
//! and column, and the JSON pointers of later errors name the place in the document.

use trellis_connector_sdk::serde_json::{self, Value};
use trellis_connector_sdk::Error;

/// Parses a specification. Text that starts with `{` is JSON; anything else is YAML (of which
/// JSON is a subset, but the JSON parser is faster and its errors are clearer).
pub(crate) fn parse(text: &str, source: &str) -> Result<Value, Error> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "the specification ({source}) is empty"
        )));
    }
    let value: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|error| {
            // serde_json counts from the trimmed start; count the lines trimmed away.
            let skipped = text.len() - trimmed.len();
            let extra_lines = text[..skipped].matches('\n').count();
            Error::InvalidConfig(format!(
                "the specification ({source}) is not valid JSON: {} at line {} column {}",
                describe_json_error(&error),
                error.line() + extra_lines,
                error.column()
            ))
        })?
    } else {
        crate::yaml::parse(text).map_err(|error| {
            Error::InvalidConfig(format!(
                "the specification ({source}) is not valid YAML at line {} column {}: {}",
                error.line, error.column, error.message
            ))
        })?
    };
    if !value.is_object() {
        return Err(Error::InvalidConfig(format!(
            "the specification ({source}) must be a JSON or YAML object at its top level"
        )));
    }
    Ok(value)
}

/// serde_json's message without its own ` at line L column C` suffix.
fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message,
    }
}

/// Escapes one segment of a JSON pointer (RFC 6901).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Unescapes one segment of a JSON pointer.
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Percent-decodes a URI fragment, as `$ref` values may carry (`#/paths/~1pets%7Bid%7D`).
fn decode_fragment(fragment: &str) -> String {
    percent_encoding::percent_decode_str(fragment)
        .decode_utf8_lossy()
        .into_owned()
}

/// Resolves a local `$ref` such as `#/components/schemas/Pet` against the document. `at` is the
/// JSON pointer of the `$ref` itself, for the error message.
pub(crate) fn resolve_ref<'a>(
    root: &'a Value,
    reference: &str,
    at: &str,
) -> Result<&'a Value, Error> {
    let Some(fragment) = reference.strip_prefix('#') else {
        return Err(Error::InvalidConfig(format!(
            "the specification's $ref `{reference}` at `{at}` points to another document; only \
             references within the specification (`#/...`) are supported"
        )));
    };
    let fragment = decode_fragment(fragment);
    if fragment.is_empty() {
        return Ok(root);
    }
    if !fragment.starts_with('/') {
        return Err(Error::InvalidConfig(format!(
            "the specification's $ref `{reference}` at `{at}` is not a JSON pointer"
        )));
    }
    let mut current = root;
    for segment in fragment[1..].split('/') {
        let segment = unescape(segment);
        let next = match current {
            Value::Object(map) => map.get(&segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        current = next.ok_or_else(|| {
            Error::InvalidConfig(format!(
                "the specification's $ref `{reference}` at `{at}` points to nothing: the \
                 document has no `{fragment}`"
            ))
        })?;
    }
    Ok(current)
}

/// Follows `$ref` chains from a value until it reaches a value that is not a reference.
/// Returns the value and the pointer it was found at.
pub(crate) fn deref<'a>(
    root: &'a Value,
    mut value: &'a Value,
    mut at: String,
) -> Result<(&'a Value, String), Error> {
    for _ in 0..32 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok((value, at));
        };
        let target = resolve_ref(root, reference, &format!("{at}/$ref"))?;
        at = decode_fragment(reference.trim_start_matches('#'));
        value = target;
    }
    Err(Error::InvalidConfig(format!(
        "the specification's $ref chain at `{at}` is longer than 32 steps or circular"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_connector_sdk::json;

    fn message(error: Error) -> String {
        match error {
            Error::InvalidConfig(message) => message,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn json_error_names_line_and_column() {
        let text = "\n{\n  \"openapi\": \"3.0.0\",\n  \"paths\": {,}\n}";
        let error = message(parse(text, "inline").unwrap_err());
        assert!(error.contains("line 4 column"), "{error}");
        assert!(error.contains("not valid JSON"), "{error}");
    }

    #[test]
    fn yaml_tab_error_names_line() {
        let text = "openapi: 3.0.0\npaths:\n\t/pets: {}\n";
        let error = message(parse(text, "inline").unwrap_err());
        assert!(error.contains("not valid YAML at line 3"), "{error}");
    }

    #[test]
    fn yaml_keys_become_strings() {
        let value = parse("responses:\n  200: {description: ok}\n", "inline").unwrap();
        assert_eq!(value["responses"]["200"]["description"], json!("ok"));
    }

    #[test]
    fn missing_pointer_is_named() {
        let root = json!({"components": {"schemas": {"Pet": {}}}});
        let error = message(
            resolve_ref(&root, "#/components/schemas/Nope", "/paths/~1pets/get").unwrap_err(),
        );
        assert!(error.contains("`#/components/schemas/Nope`"), "{error}");
        assert!(error.contains("/paths/~1pets/get"), "{error}");
    }

    #[test]
    fn pointer_segments_are_unescaped() {
        let root = json!({"paths": {"/pets/{id}": {"get": {"x": 1}}}});
        let found = resolve_ref(&root, "#/paths/~1pets~1%7Bid%7D/get", "/x").unwrap();
        assert_eq!(found["x"], json!(1));
    }

    #[test]
    fn circular_refs_are_reported() {
        let root = json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}});
        let error = message(deref(&root, &root["a"], "/a".into()).unwrap_err());
        assert!(error.contains("circular"), "{error}");
    }
}
