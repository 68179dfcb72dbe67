//! Anthropic's Messages API: the system prompt is a top-level field, `max_tokens` is required,
//! content is a list of blocks, and tools use `input_schema`. Messages and tools arrive in
//! OpenAI's shape and are converted here, so one action can switch providers.

use trellis_connector_sdk::serde_json::{self, Map};
use trellis_connector_sdk::{json, Error, Value};

use crate::chat::{usage, ChatInput, ResponseFormat};

/// Builds a Messages API body.
pub(crate) fn chat_body(
    input: &ChatInput,
    model: &str,
    default_max_tokens: u32,
) -> Result<Value, Error> {
    if let Some(format) = &input.response_format {
        let name = match format {
            ResponseFormat::Json => "json".to_string(),
            ResponseFormat::Raw(value) => value["type"].as_str().unwrap_or_default().to_string(),
        };
        return Err(Error::InvalidInput(format!(
            "Anthropic's Messages API has no `response_format` (`{name}` was given); ask for \
             JSON in the prompt instead"
        )));
    }

    let mut system: Vec<String> = input.system.iter().cloned().collect();
    let mut messages: Vec<Value> = Vec::new();
    for (index, message) in input.messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        match role {
            "system" | "developer" => system.push(plain_text(&message["content"])),
            "user" => push(&mut messages, "user", user_content(&message["content"])),
            "assistant" => push(&mut messages, "assistant", assistant_content(message)?),
            "tool" => {
                let id = message["tool_call_id"].as_str().ok_or_else(|| {
                    Error::InvalidInput(format!("`messages[{index}]` has no `tool_call_id`"))
                })?;
                let result = json!({
                    "type": "tool_result",
                    "tool_use_id": id,
                    "content": plain_text(&message["content"]),
                });
                push(&mut messages, "user", vec![result]);
            }
            other => {
                return Err(Error::InvalidInput(format!(
                    "`messages[{index}]` has the role `{other}`; use system, user, assistant \
                     or tool"
                )))
            }
        }
    }
    if messages.is_empty() {
        return Err(Error::InvalidInput(
            "Anthropic needs at least one user or assistant message".into(),
        ));
    }

    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert(
        "max_tokens".into(),
        input.max_tokens.unwrap_or(default_max_tokens).into(),
    );
    if !system.is_empty() {
        body.insert("system".into(), system.join("\n\n").into());
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(temperature) = input.temperature {
        // Anthropic's temperature range is 0 to 1.
        body.insert("temperature".into(), temperature.min(1.0).into());
    }
    if let Some(top_p) = input.top_p {
        body.insert("top_p".into(), top_p.into());
    }
    if !input.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(input.stop));
    }
    if let Some(tools) = &input.tools {
        body.insert(
            "tools".into(),
            Value::Array(tools.iter().map(tool).collect()),
        );
    }
    if let Some(choice) = &input.tool_choice {
        body.insert("tool_choice".into(), tool_choice(choice)?);
    }
    Ok(Value::Object(body))
}

/// Appends blocks to the last message when it has the same role, because Anthropic expects
/// user and assistant turns to alternate.
fn push(messages: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if let Some(last) = messages.last_mut() {
        if last["role"] == role {
            if let Some(content) = last["content"].as_array_mut() {
                content.extend(blocks);
                return;
            }
        }
    }
    messages.push(json!({ "role": role, "content": blocks }));
}

/// Returns the text of a string content or of the text parts of a content list.
fn plain_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Converts OpenAI content parts to Anthropic blocks: text stays text, `image_url` becomes an
/// image from a URL or from a base64 data URL, and Anthropic blocks pass through.
fn user_content(content: &Value) -> Vec<Value> {
    let Value::Array(parts) = content else {
        return vec![json!({ "type": "text", "text": plain_text(content) })];
    };
    parts
        .iter()
        .map(|part| match part["type"].as_str() {
            Some("image_url") => {
                let url = part["image_url"]["url"].as_str().unwrap_or_default();
                image_block(url)
            }
            _ => part.clone(),
        })
        .collect()
}

fn image_block(url: &str) -> Value {
    let data = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"));
    match data {
        Some((media_type, data)) => json!({
            "type": "image",
            "source": { "type": "base64", "media_type": media_type, "data": data }
        }),
        None => json!({ "type": "image", "source": { "type": "url", "url": url } }),
    }
}

/// Converts an assistant message, with OpenAI `tool_calls`, to text and `tool_use` blocks.
fn assistant_content(message: &Value) -> Result<Vec<Value>, Error> {
    let mut blocks = Vec::new();
    match &message["content"] {
        Value::Array(parts) => blocks.extend(parts.iter().cloned()),
        Value::Null => {}
        content => {
            let text = plain_text(content);
            if !text.is_empty() {
                blocks.push(json!({ "type": "text", "text": text }));
            }
        }
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(arguments).map_err(|error| {
            Error::InvalidInput(format!(
                "the arguments of tool call `{}` are not JSON: {error}",
                call["id"].as_str().unwrap_or_default()
            ))
        })?;
        blocks.push(json!({
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": input,
        }));
    }
    Ok(blocks)
}

/// Converts an OpenAI function tool to an Anthropic tool; a tool already in Anthropic's shape
/// passes through.
fn tool(tool: &Value) -> Value {
    let Some(function) = tool.get("function").filter(|_| tool["type"] == "function") else {
        return tool.clone();
    };
    let mut converted = Map::new();
    converted.insert("name".into(), function["name"].clone());
    if let Some(description) = function.get("description") {
        converted.insert("description".into(), description.clone());
    }
    let schema = function
        .get("parameters")
        .cloned()
        .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
    converted.insert("input_schema".into(), schema);
    Value::Object(converted)
}

fn tool_choice(choice: &Value) -> Result<Value, Error> {
    match choice {
        Value::String(mode) => match mode.as_str() {
            "auto" => Ok(json!({ "type": "auto" })),
            "required" | "any" => Ok(json!({ "type": "any" })),
            "none" => Ok(json!({ "type": "none" })),
            other => Err(Error::InvalidInput(format!(
                "the field `tool_choice` must be auto, required, none or an object, not `{other}`"
            ))),
        },
        Value::Object(object) if object.get("type") == Some(&json!("function")) => Ok(json!({
            "type": "tool",
            "name": choice["function"]["name"],
        })),
        Value::Object(_) => Ok(choice.clone()),
        _ => Err(Error::InvalidInput(
            "the field `tool_choice` must be a string or an object".into(),
        )),
    }
}

/// Turns a Messages API response into the connector's chat output, with tool calls and the
/// finish reason in OpenAI's terms.
pub(crate) fn chat_output(response: &Value, requested_model: &str) -> Result<Value, Error> {
    let blocks = response
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Upstream {
            status: Some(200),
            message: "the API's response is not a valid Anthropic message: it has no `content`"
                .into(),
        })?;
    let text: String = blocks
        .iter()
        .filter(|block| block["type"] == "text")
        .filter_map(|block| block["text"].as_str())
        .collect();
    let tool_calls: Vec<Value> = blocks
        .iter()
        .filter(|block| block["type"] == "tool_use")
        .map(|block| {
            json!({
                "id": block["id"],
                "type": "function",
                "function": { "name": block["name"], "arguments": block["input"].to_string() }
            })
        })
        .collect();
    let finish_reason = match response["stop_reason"].as_str() {
        Some("end_turn") | Some("stop_sequence") => json!("stop"),
        Some("max_tokens") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some(other) => json!(other),
        None => Value::Null,
    };
    let model = response["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .unwrap_or(requested_model)
        .to_string();

    // Cache writes and reads are billed input beside `input_tokens`, so they count too.
    let counts = &response["usage"];
    let input_tokens = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|name| counts[*name].as_u64())
    .reduce(|sum, count| sum + count);
    let output_tokens = counts["output_tokens"].as_u64();

    let mut message = json!({ "role": "assistant", "content": text });
    let mut output = json!({
        "text": text,
        "finish_reason": finish_reason,
        "model": model,
        "usage": usage(input_tokens, output_tokens, &model),
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
        output["tool_calls"] = json!(tool_calls);
    }
    output["message"] = message;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::Json;

    use super::*;

    fn input(value: Value) -> ChatInput {
        ChatInput::from_json(&Json::input(value)).unwrap()
    }

    #[test]
    fn system_messages_become_top_level() {
        let body = chat_body(
            &input(json!({ "system": "a", "messages": [
                { "role": "system", "content": "b" },
                { "role": "user", "content": "hi" }
            ] })),
            "claude",
            1024,
        )
        .unwrap();

        assert_eq!(body["system"], json!("a\n\nb"));
        assert_eq!(
            body["messages"],
            json!([{ "role": "user", "content": [{ "type": "text", "text": "hi" }] }])
        );
        assert_eq!(body["max_tokens"], json!(1024));
    }

    #[test]
    fn tool_round_trip_converted() {
        let body = chat_body(
            &input(json!({ "messages": [
                { "role": "user", "content": "weather?" },
                { "role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_1", "type": "function",
                    "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" }
                }] },
                { "role": "tool", "tool_call_id": "call_1", "content": "4 °C" }
            ], "tools": [{ "type": "function", "function": {
                "name": "weather", "parameters": { "type": "object" }
            } }] })),
            "claude",
            1024,
        )
        .unwrap();

        assert_eq!(
            body["messages"][1]["content"][0],
            json!({ "type": "tool_use", "id": "call_1", "name": "weather",
                    "input": { "city": "Oslo" } })
        );
        assert_eq!(
            body["messages"][2],
            json!({ "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "call_1", "content": "4 °C" }
            ] })
        );
        assert_eq!(
            body["tools"],
            json!([{ "name": "weather", "input_schema": { "type": "object" } }])
        );
    }

    #[test]
    fn response_format_rejected() {
        let error = chat_body(
            &input(json!({ "prompt": "hi", "response_format": "json" })),
            "claude",
            1024,
        )
        .unwrap_err();

        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("response_format")),
            "{error}"
        );
    }
}
