//! The `chat` operation's input, shared by every provider.

use trellis_connector_sdk::{json, Error, Json, Value};

/// A validated chat input.
#[derive(Debug, Clone)]
pub(crate) struct ChatInput {
    /// Messages in OpenAI's shape: `{role, content, ...}`.
    pub messages: Vec<Value>,
    /// A system prompt given beside `prompt` or `messages`.
    pub system: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub response_format: Option<ResponseFormat>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
}

/// The format the model is asked to respond in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResponseFormat {
    /// A JSON object (OpenAI's `json_object` mode).
    Json,
    /// An OpenAI `response_format` object passed through, such as a `json_schema`.
    Raw(Value),
}

impl ChatInput {
    pub fn from_json(input: &Json) -> Result<Self, Error> {
        let prompt: Option<String> = input.optional("prompt")?;
        let listed: Option<Vec<Value>> = input.optional("messages")?;
        let messages = match (prompt, listed) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidInput(
                    "give either `prompt` or `messages`, not both".into(),
                ))
            }
            (Some(prompt), None) => vec![json!({ "role": "user", "content": prompt })],
            (None, Some(messages)) => messages,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "the field `prompt` or `messages` is required".into(),
                ))
            }
        };
        if messages.is_empty() {
            return Err(Error::InvalidInput(
                "the field `messages` must hold at least one message".into(),
            ));
        }
        for (index, message) in messages.iter().enumerate() {
            if message.get("role").and_then(Value::as_str).is_none() {
                return Err(Error::InvalidInput(format!(
                    "`messages[{index}]` must be an object with a string `role`"
                )));
            }
        }

        let temperature: Option<f64> = input.optional("temperature")?;
        if temperature.is_some_and(|value| !(0.0..=2.0).contains(&value)) {
            return Err(Error::InvalidInput(
                "the field `temperature` must be between 0 and 2".into(),
            ));
        }
        let top_p: Option<f64> = input.optional("top_p")?;
        if top_p.is_some_and(|value| !(0.0..=1.0).contains(&value)) {
            return Err(Error::InvalidInput(
                "the field `top_p` must be between 0 and 1".into(),
            ));
        }
        let max_tokens: Option<u32> = input.optional("max_tokens")?;
        if max_tokens == Some(0) {
            return Err(Error::InvalidInput(
                "the field `max_tokens` must be at least 1".into(),
            ));
        }

        Ok(ChatInput {
            messages,
            system: input.optional("system")?,
            model: input.optional("model")?,
            temperature,
            top_p,
            max_tokens,
            stop: stop_sequences(input)?,
            response_format: response_format(input)?,
            tools: input.optional("tools")?,
            tool_choice: input.optional("tool_choice")?,
        })
    }
}

fn stop_sequences(input: &Json) -> Result<Vec<String>, Error> {
    match input.optional::<Value>("stop")? {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(Error::InvalidInput(
                    "the field `stop` must be a string or a list of strings".into(),
                )),
            })
            .collect(),
        Some(_) => Err(Error::InvalidInput(
            "the field `stop` must be a string or a list of strings".into(),
        )),
    }
}

fn response_format(input: &Json) -> Result<Option<ResponseFormat>, Error> {
    match input.optional::<Value>("response_format")? {
        None => Ok(None),
        Some(Value::String(kind)) if kind == "text" => Ok(None),
        Some(Value::String(kind)) if kind == "json" || kind == "json_object" => {
            Ok(Some(ResponseFormat::Json))
        }
        Some(Value::Object(object)) if object.get("type").is_some_and(Value::is_string) => {
            Ok(Some(ResponseFormat::Raw(Value::Object(object))))
        }
        Some(other) => Err(Error::InvalidInput(format!(
            "the field `response_format` must be \"text\", \"json\" or an object with a \
             `type`, not {other}"
        ))),
    }
}

/// Returns the usage object the host records on the run.
pub(crate) fn usage(input_tokens: Option<u64>, output_tokens: Option<u64>, model: &str) -> Value {
    json!({
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "model": model,
    })
}
