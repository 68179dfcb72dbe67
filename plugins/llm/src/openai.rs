//! OpenAI's chat completions and embeddings, as OpenAI, Azure OpenAI and compatible servers
//! (vLLM, llama.cpp, Ollama) speak them.

use trellis_connector_sdk::serde_json::Map;
use trellis_connector_sdk::{json, Error, Value};

use crate::chat::{usage, ChatInput, ResponseFormat};

/// Builds a chat completions body. `model` is `None` for Azure OpenAI, where the deployment
/// in the URL picks the model. Unset parameters are left out so the server's defaults apply.
pub(crate) fn chat_body(input: &ChatInput, model: Option<&str>) -> Value {
    let mut messages = Vec::with_capacity(input.messages.len() + 1);
    if let Some(system) = &input.system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    messages.extend(input.messages.iter().cloned());

    let mut body = Map::new();
    if let Some(model) = model {
        body.insert("model".into(), model.into());
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(temperature) = input.temperature {
        body.insert("temperature".into(), temperature.into());
    }
    if let Some(top_p) = input.top_p {
        body.insert("top_p".into(), top_p.into());
    }
    // NOTE: OpenAI's reasoning models take `max_completion_tokens` and reject `max_tokens`;
    // compatible servers and older models take only `max_tokens`, so that is what is sent.
    if let Some(max_tokens) = input.max_tokens {
        body.insert("max_tokens".into(), max_tokens.into());
    }
    if !input.stop.is_empty() {
        body.insert("stop".into(), json!(input.stop));
    }
    match &input.response_format {
        Some(ResponseFormat::Json) => {
            body.insert("response_format".into(), json!({ "type": "json_object" }));
        }
        Some(ResponseFormat::Raw(format)) => {
            body.insert("response_format".into(), format.clone());
        }
        None => {}
    }
    if let Some(tools) = &input.tools {
        body.insert("tools".into(), Value::Array(tools.clone()));
    }
    if let Some(choice) = &input.tool_choice {
        body.insert("tool_choice".into(), choice.clone());
    }
    Value::Object(body)
}

/// Turns a chat completions response into the connector's chat output.
pub(crate) fn chat_output(response: &Value, requested_model: &str) -> Result<Value, Error> {
    let choice = response
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| unexpected("it has no `choices`"))?;
    let message = choice
        .get("message")
        .filter(|message| message.is_object())
        .ok_or_else(|| unexpected("its first choice has no `message`"))?;
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = response_model(response, requested_model);
    let (input_tokens, output_tokens) = token_counts(response);

    let mut output = json!({
        "text": text,
        "message": message,
        "finish_reason": choice.get("finish_reason").cloned().unwrap_or(Value::Null),
        "model": model,
        "usage": usage(input_tokens, output_tokens, &model),
    });
    let tool_calls = message
        .get("tool_calls")
        .filter(|calls| calls.as_array().is_some_and(|calls| !calls.is_empty()));
    if let Some(calls) = tool_calls {
        output["tool_calls"] = calls.clone();
    }
    Ok(output)
}

/// Builds an embeddings body.
pub(crate) fn embed_body(texts: &[String], model: Option<&str>, dimensions: Option<u32>) -> Value {
    let mut body = Map::new();
    if let Some(model) = model {
        body.insert("model".into(), model.into());
    }
    body.insert("input".into(), json!(texts));
    body.insert("encoding_format".into(), "float".into());
    if let Some(dimensions) = dimensions {
        body.insert("dimensions".into(), dimensions.into());
    }
    Value::Object(body)
}

/// Turns an embeddings response into `{embeddings, model, usage}`, with the vectors in input
/// order. Embeddings produce no output tokens, so `output_tokens` is 0.
pub(crate) fn embed_output(response: &Value, requested_model: &str) -> Result<Value, Error> {
    let data = response
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected("it has no `data` list"))?;
    let mut items: Vec<(u64, Value)> = Vec::with_capacity(data.len());
    for (position, item) in data.iter().enumerate() {
        let vector = item
            .get("embedding")
            .filter(|vector| vector.is_array())
            .ok_or_else(|| unexpected("an item of `data` has no `embedding` list"))?;
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        items.push((index, vector.clone()));
    }
    items.sort_by_key(|(index, _)| *index);
    let embeddings: Vec<Value> = items.into_iter().map(|(_, vector)| vector).collect();

    let model = response_model(response, requested_model);
    let (input_tokens, _) = token_counts(response);
    Ok(json!({
        "embeddings": embeddings,
        "model": model,
        "usage": usage(input_tokens, Some(0), &model),
    }))
}

fn response_model(response: &Value, requested_model: &str) -> String {
    response
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty())
        .unwrap_or(requested_model)
        .to_string()
}

/// Reads `usage.prompt_tokens` and `usage.completion_tokens`; a server that omits usage
/// yields `None`.
fn token_counts(response: &Value) -> (Option<u64>, Option<u64>) {
    let usage = response.get("usage");
    let count = |name: &str| {
        usage
            .and_then(|usage| usage.get(name))
            .and_then(Value::as_u64)
    };
    (count("prompt_tokens"), count("completion_tokens"))
}

fn unexpected(reason: &str) -> Error {
    Error::Upstream {
        status: Some(200),
        message: format!("the API's response is not a valid OpenAI response: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::Json;

    use super::*;

    fn input(value: Value) -> ChatInput {
        ChatInput::from_json(&Json::input(value)).unwrap()
    }

    #[test]
    fn unset_parameters_left_out() {
        let body = chat_body(&input(json!({ "prompt": "hi" })), Some("gpt-4o-mini"));

        assert_eq!(
            body,
            json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": "hi" }] })
        );
    }

    #[test]
    fn system_prompt_comes_first() {
        let body = chat_body(
            &input(json!({ "prompt": "hi", "system": "be brief", "response_format": "json" })),
            None,
        );

        assert_eq!(
            body["messages"][0],
            json!({ "role": "system", "content": "be brief" })
        );
        assert_eq!(body["response_format"], json!({ "type": "json_object" }));
        assert!(body.get("model").is_none());
    }

    #[test]
    fn embeddings_sorted_by_index() {
        let response = json!({
            "data": [
                { "index": 1, "embedding": [0.2] },
                { "index": 0, "embedding": [0.1] }
            ],
            "model": "text-embedding-3-small",
            "usage": { "prompt_tokens": 4, "total_tokens": 4 }
        });

        let output = embed_output(&response, "x").unwrap();

        assert_eq!(output["embeddings"], json!([[0.1], [0.2]]));
        assert_eq!(output["usage"]["input_tokens"], json!(4));
    }
}
