//! Reading and checking operation inputs, with errors that name the field.

use trellis_connector_sdk::{Error, Json, Value};

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// Rejects fields the operation does not know, so a misspelt field is not silently ignored.
pub(crate) fn only_fields(input: &Json, operation: &str, allowed: &[&str]) -> Result<(), Error> {
    let object = input
        .value()
        .as_object()
        .ok_or_else(|| invalid("expected a JSON object"))?;
    if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(invalid(format!(
            "`{operation}` has no field `{unknown}`; its fields are {}",
            allowed
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// A required, non-empty string.
pub(crate) fn required_text(input: &Json, field: &str) -> Result<String, Error> {
    let text: String = input.field(field)?;
    if text.trim().is_empty() {
        return Err(invalid(format!("the field `{field}` must not be empty")));
    }
    Ok(text.trim().to_string())
}

/// An optional string; an empty one counts as absent.
pub(crate) fn optional_text(input: &Json, field: &str) -> Result<Option<String>, Error> {
    let text: Option<String> = input.optional(field)?;
    Ok(text.filter(|text| !text.trim().is_empty()))
}

/// Checks a message timestamp such as `1503435956.000247`. Slack compares them as text, so a
/// JSON number, which may lose digits, is not accepted.
pub(crate) fn timestamp(input: &Json, field: &str) -> Result<String, Error> {
    match input.value().get(field) {
        Some(Value::Number(_)) => {
            return Err(invalid(format!(
                "the field `{field}` must be a string such as \"1503435956.000247\", as Slack \
                 returns it; a number may lose digits"
            )))
        }
        None | Some(Value::Null) => {
            return Err(invalid(format!("the field `{field}` is missing")));
        }
        _ => {}
    }
    let text = required_text(input, field)?;
    check_timestamp(field, &text)?;
    Ok(text)
}

/// An optional message timestamp.
pub(crate) fn optional_timestamp(input: &Json, field: &str) -> Result<Option<String>, Error> {
    match input.value().get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        _ => timestamp(input, field).map(Some),
    }
}

fn check_timestamp(field: &str, text: &str) -> Result<(), Error> {
    let valid = text.split_once('.').is_some_and(|(seconds, fraction)| {
        !seconds.is_empty()
            && !fraction.is_empty()
            && seconds.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
    });
    if valid {
        Ok(())
    } else {
        Err(invalid(format!(
            "the field `{field}` must be a Slack message timestamp such as \"1503435956.000247\""
        )))
    }
}

/// Block Kit blocks: a list of block objects, or that list as JSON text.
pub(crate) fn blocks(input: &Json) -> Result<Option<Vec<Value>>, Error> {
    let value = match input.value().get("blocks") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|error| {
            invalid(format!("the field `blocks` is text but not JSON: {error}"))
        })?,
        Some(value) => value.clone(),
    };
    let Value::Array(blocks) = value else {
        return Err(invalid(
            "the field `blocks` must be a list of Block Kit blocks",
        ));
    };
    if let Some(index) = blocks.iter().position(|block| !block.is_object()) {
        return Err(invalid(format!(
            "the field `blocks` must hold block objects; item {index} is not an object"
        )));
    }
    Ok(Some(blocks))
}

/// The call's time budget in milliseconds.
pub(crate) fn timeout_ms(input: &Json, default: u64) -> Result<u64, Error> {
    let timeout: u64 = input.optional("timeout_ms")?.unwrap_or(default);
    if timeout == 0 {
        return Err(invalid("the field `timeout_ms` must be at least 1"));
    }
    Ok(timeout)
}

/// An optional integer within bounds.
pub(crate) fn bounded(
    input: &Json,
    field: &str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, Error> {
    let value: u32 = input.optional(field)?.unwrap_or(default);
    if !(min..=max).contains(&value) {
        return Err(invalid(format!(
            "the field `{field}` must be between {min} and {max}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn message(error: Error) -> String {
        match error {
            Error::InvalidInput(message) => message,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let input = Json::input(json!({"channel": "C1", "txt": "hi"}));

        let error = message(only_fields(&input, "post_message", &["channel", "text"]).unwrap_err());

        assert!(error.contains("no field `txt`"), "{error}");
        assert!(error.contains("`text`"), "{error}");
    }

    #[test]
    fn timestamps_must_be_text() {
        let good = Json::input(json!({"ts": "1503435956.000247"}));
        let number = Json::input(json!({"ts": 1503435956.000247}));
        let garbage = Json::input(json!({"ts": "yesterday"}));

        assert_eq!(timestamp(&good, "ts").unwrap(), "1503435956.000247");
        assert!(message(timestamp(&number, "ts").unwrap_err()).contains("may lose digits"));
        assert!(message(timestamp(&garbage, "ts").unwrap_err()).contains("message timestamp"));
        assert_eq!(optional_timestamp(&good, "thread_ts").unwrap(), None);
    }

    #[test]
    fn blocks_as_list_or_json_text() {
        let list = Json::input(json!({"blocks": [{"type": "divider"}]}));
        let text = Json::input(json!({"blocks": "[{\"type\": \"divider\"}]"}));
        let scalar = Json::input(json!({"blocks": [1]}));

        assert_eq!(
            blocks(&list).unwrap(),
            Some(vec![json!({"type": "divider"})])
        );
        assert_eq!(blocks(&text).unwrap(), blocks(&list).unwrap());
        assert!(message(blocks(&scalar).unwrap_err()).contains("item 0"));
    }

    #[test]
    fn bounds_are_checked() {
        let input = Json::input(json!({"max_pages": 0}));

        let error = message(bounded(&input, "max_pages", 10, 1, 50).unwrap_err());

        assert!(error.contains("between 1 and 50"), "{error}");
        assert_eq!(
            bounded(&Json::input(json!({})), "max_pages", 10, 1, 50).unwrap(),
            10
        );
    }
}
