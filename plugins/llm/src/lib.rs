//! Built-in connector for LLM APIs: `chat` and `embed` on OpenAI-compatible servers, Azure
//! OpenAI and Anthropic's Messages API. Every result reports its token usage and model, which
//! the host records on the run and counts against the workspace's token quota.

mod anthropic;
mod chat;
mod config;
mod openai;

use std::time::Duration;

use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::retry::{self, Budget};
use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};
use trellis_connector_sdk::{serde_json, Value};

use crate::chat::ChatInput;
use crate::config::{Config, Provider};

struct Llm;

/// Characters of an error response's body kept in the error message.
const ERROR_BODY_CHARS: usize = 4_000;

/// Time allowed for a whole call, retries included, when the input sets no `timeout_ms`. It
/// matches the default action timeout.
// TODO: the guest cannot read the host's call deadline, so a budget longer than the action's
// timeout ends with the host's deadline error instead of the last upstream response.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// Time allowed for the connection test's one request.
const CONNECTION_TEST_TIMEOUT_MS: u32 = 10_000;

/// Connection steps, each named by the prefix of the host's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
];

impl Connector for Llm {
    fn manifest() -> Manifest {
        Manifest::new("llm", "LLM", env!("CARGO_PKG_VERSION"))
            .description(
                "Chat completions and embeddings from OpenAI, Azure OpenAI, Anthropic or any \
                 OpenAI-compatible server such as vLLM, llama.cpp or Ollama.",
            )
            .config_schema(config_schema())
            .base_url_field("base_url")
            .secret_field("api_key")
            .operation(
                Operation::new("chat", chat_schema())
                    .description("Sends a prompt or a conversation and returns the model's reply")
                    .read_only(),
            )
            .operation(
                Operation::new("embed", embed_schema())
                    .description("Returns an embedding vector for each input text")
                    .read_only(),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        let config = Config::from_json(&config)?;
        let url = config.endpoint("models", None);
        let response = match build(&config, Request::get(&url))
            .timeout_ms(CONNECTION_TEST_TIMEOUT_MS)
            .send()
        {
            Ok(response) => response,
            Err(Error::Upstream { status, message }) => {
                let step = CONNECTION_STEPS
                    .iter()
                    .find(|(prefix, _)| message.starts_with(prefix))
                    .map_or("request", |(_, step)| step);
                return Err(Error::Upstream {
                    status,
                    message: format!("the connection test failed at the {step} step: {message}"),
                });
            }
            Err(other) => return Err(other),
        };
        let status = response.status();
        if status < 400 {
            return Ok(());
        }
        let step = if matches!(status, 401 | 403) {
            "authentication"
        } else {
            "request"
        };
        Err(Error::Upstream {
            status: Some(status),
            message: format!(
                "the connection test failed at the {step} step: GET {} returned {status}: {}",
                strip_query(&url),
                body_excerpt(&response)
            ),
        })
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let config = Config::from_json(&config)?;
        let timeout_ms: u64 = input.optional("timeout_ms")?.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err(Error::InvalidInput(
                "the field `timeout_ms` must be at least 1".into(),
            ));
        }
        let budget = Budget::new(Duration::from_millis(timeout_ms));
        match operation {
            "chat" => chat(&config, &input, budget),
            "embed" => embed(&config, &input, budget),
            other => Err(Error::unknown_operation(other)),
        }
    }
}

fn chat(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    let chat = ChatInput::from_json(input)?;
    let model = chat.model.clone().or_else(|| config.default_model.clone());
    match config.provider {
        Provider::OpenAi => {
            let model = require_model(model)?;
            let body = openai::chat_body(&chat, Some(&model));
            let url = config.endpoint("chat/completions", None);
            let response = post(config, &url, &body, budget)?;
            openai::chat_output(&response, &model)
        }
        Provider::AzureOpenAi => {
            let deployment: Option<String> = input.optional("deployment")?;
            let deployment = deployment.or_else(|| config.deployment.clone());
            let deployment = checked_deployment(deployment)?;
            let body = openai::chat_body(&chat, None);
            let url = config.endpoint("chat/completions", Some(&deployment));
            let response = post(config, &url, &body, budget)?;
            openai::chat_output(&response, &model.unwrap_or(deployment))
        }
        Provider::Anthropic => {
            let model = require_model(model)?;
            let body = anthropic::chat_body(&chat, &model, config.default_max_tokens)?;
            let url = config.endpoint("messages", None);
            let response = post(config, &url, &body, budget)?;
            anthropic::chat_output(&response, &model)
        }
    }
}

fn embed(config: &Config, input: &Json, budget: Budget) -> Result<Value, Error> {
    if config.provider == Provider::Anthropic {
        return Err(Error::InvalidInput(
            "Anthropic has no embeddings endpoint; use an OpenAI-compatible or Azure OpenAI \
             resource for `embed`"
                .into(),
        ));
    }
    let texts = match input.field::<Value>("input")? {
        Value::String(text) => vec![text],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(Error::InvalidInput(
                    "the field `input` must be a string or a list of strings".into(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(Error::InvalidInput(
                "the field `input` must be a string or a list of strings".into(),
            ))
        }
    };
    if texts.is_empty() {
        return Err(Error::InvalidInput(
            "the field `input` must hold at least one text".into(),
        ));
    }
    let dimensions: Option<u32> = input.optional("dimensions")?;
    let model: Option<String> = input.optional("model")?;
    let model = model.or_else(|| config.default_model.clone());

    if config.provider == Provider::AzureOpenAi {
        let deployment: Option<String> = input.optional("deployment")?;
        let deployment = deployment
            .or_else(|| config.embedding_deployment.clone())
            .or_else(|| config.deployment.clone());
        let deployment = checked_deployment(deployment)?;
        let body = openai::embed_body(&texts, None, dimensions);
        let url = config.endpoint("embeddings", Some(&deployment));
        let response = post(config, &url, &body, budget)?;
        return openai::embed_output(&response, &model.unwrap_or(deployment));
    }
    let model = require_model(model)?;
    let body = openai::embed_body(&texts, Some(&model), dimensions);
    let url = config.endpoint("embeddings", None);
    let response = post(config, &url, &body, budget)?;
    openai::embed_output(&response, &model)
}

fn require_model(model: Option<String>) -> Result<String, Error> {
    model.filter(|name| !name.is_empty()).ok_or_else(|| {
        Error::InvalidInput(
            "the field `model` is required when the resource sets no `default_model`".into(),
        )
    })
}

fn checked_deployment(deployment: Option<String>) -> Result<String, Error> {
    let deployment = deployment.filter(|name| !name.is_empty()).ok_or_else(|| {
        Error::InvalidInput("no Azure OpenAI deployment is set for this operation".into())
    })?;
    if !config::is_path_segment(&deployment) {
        return Err(Error::InvalidInput(
            "the field `deployment` may contain only letters, digits, `-`, `_` and `.`".into(),
        ));
    }
    Ok(deployment)
}

/// Adds the provider's authentication and version headers.
fn build(config: &Config, mut request: Request) -> Request {
    for (name, value) in config.headers() {
        request = request.header(&name, &value);
    }
    request
}

/// Posts a JSON body with retries and returns the JSON response, or an upstream error with
/// the status and the response body for a 4xx or 5xx response.
fn post(config: &Config, url: &str, body: &Value, budget: Budget) -> Result<Value, Error> {
    let bytes = serde_json::to_vec(body)
        .map_err(|error| Error::Internal(format!("serializing the request failed: {error}")))?;
    let make = || {
        build(config, Request::post(url))
            .header("content-type", "application/json")
            .body(bytes.clone())
    };
    let response = retry::send(make, config.max_attempts, budget)?;
    let status = response.status();
    if status >= 400 {
        return Err(Error::Upstream {
            status: Some(status),
            message: format!(
                "the {} API returned {status}: {}",
                config.provider.name(),
                body_excerpt(&response)
            ),
        });
    }
    response.json()
}

fn body_excerpt(response: &Response) -> String {
    response.text().chars().take(ERROR_BODY_CHARS).collect()
}

/// Drops the query, which for Azure OpenAI holds only the API version, from a URL shown in a
/// message.
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": false,
        "properties": {
            "provider": {
                "enum": ["openai", "azure-openai", "anthropic"],
                "default": "openai",
                "description": "API dialect: OpenAI chat completions (also vLLM, llama.cpp, \
                                Ollama), Azure OpenAI, or Anthropic Messages"
            },
            "base_url": {
                "type": "string", "format": "uri",
                "default": "https://api.openai.com/v1",
                "examples": ["https://api.openai.com/v1", "https://api.anthropic.com",
                             "https://my-resource.openai.azure.com", "http://127.0.0.1:11434/v1"],
                "description": "API root, with or without a trailing /v1; the Azure resource \
                                endpoint for azure-openai"
            },
            "api_key": {
                "type": "string",
                "description": "Sent as a bearer token (openai), `api-key` (azure-openai) or \
                                `x-api-key` (anthropic); optional for openai"
            },
            "default_model": {
                "type": "string",
                "description": "Model used when an operation's input names none"
            },
            "deployment": {
                "type": "string",
                "description": "Azure OpenAI deployment for chat (required for azure-openai)"
            },
            "embedding_deployment": {
                "type": "string",
                "description": "Azure OpenAI deployment for embed; defaults to `deployment`"
            },
            "api_version": {
                "type": "string", "default": config::DEFAULT_AZURE_API_VERSION,
                "description": "Azure OpenAI `api-version` query parameter"
            },
            "anthropic_version": {
                "type": "string", "default": config::DEFAULT_ANTHROPIC_VERSION,
                "description": "`anthropic-version` header"
            },
            "default_max_tokens": {
                "type": "integer", "minimum": 1, "default": config::DEFAULT_ANTHROPIC_MAX_TOKENS,
                "description": "`max_tokens` sent to Anthropic, which requires it, when the \
                                input sets none"
            },
            "max_attempts": {
                "type": "integer", "minimum": 1, "maximum": 5, "default": 3,
                "description": "Attempts per call when the API returns 429 or 5xx"
            }
        }
    })
}

fn chat_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "prompt": { "type": "string", "description": "One user message; or give `messages`" },
            "system": { "type": "string", "description": "System prompt" },
            "messages": {
                "type": "array", "minItems": 1,
                "items": { "type": "object", "required": ["role"] },
                "description": "Conversation in OpenAI's message shape"
            },
            "model": { "type": "string" },
            "deployment": { "type": "string", "description": "Azure OpenAI deployment override" },
            "temperature": { "type": "number", "minimum": 0, "maximum": 2 },
            "top_p": { "type": "number", "minimum": 0, "maximum": 1 },
            "max_tokens": { "type": "integer", "minimum": 1 },
            "stop": {
                "oneOf": [
                    { "type": "string" },
                    { "type": "array", "items": { "type": "string" } }
                ]
            },
            "response_format": {
                "description": "\"text\", \"json\", or an OpenAI response_format object"
            },
            "tools": { "type": "array", "items": { "type": "object" } },
            "tool_choice": {},
            "timeout_ms": {
                "type": "integer", "minimum": 1, "default": DEFAULT_TIMEOUT_MS,
                "description": "Time allowed for the call, retries included"
            }
        }
    })
}

fn embed_schema() -> Value {
    json!({
        "type": "object",
        "required": ["input"],
        "additionalProperties": false,
        "properties": {
            "input": {
                "oneOf": [
                    { "type": "string" },
                    { "type": "array", "minItems": 1, "items": { "type": "string" } }
                ]
            },
            "model": { "type": "string" },
            "deployment": { "type": "string", "description": "Azure OpenAI deployment override" },
            "dimensions": { "type": "integer", "minimum": 1 },
            "timeout_ms": {
                "type": "integer", "minimum": 1, "default": DEFAULT_TIMEOUT_MS,
                "description": "Time allowed for the call, retries included"
            }
        }
    })
}

export_connector!(Llm);
