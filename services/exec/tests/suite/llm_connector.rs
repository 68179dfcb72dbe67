//! The built-in LLM connector against a loopback server that speaks OpenAI's chat completions
//! and embeddings, Azure OpenAI and Anthropic's Messages API: request shape per provider,
//! output and usage, retries of 429 and 5xx, error bodies and the connection test.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, LoadedPlugin, RunError, Runtime};
use uuid::Uuid;

use crate::support::runtime;

/// One request the server received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: Map<String, Value>,
    body: Value,
}

/// A response queued by a test, sent instead of the normal response of the protocol.
struct Scripted {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

#[derive(Default)]
struct ServerState {
    received: Vec<Received>,
    scripted: VecDeque<Scripted>,
}

type Shared = web::Data<Mutex<ServerState>>;

/// Responds like the real APIs: chat completions and embeddings under `/v1` or an Azure
/// deployment, Anthropic messages, and model lists.
async fn respond(request: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), Value::String(value))
        })
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = request.path().to_string();
    let scripted = {
        let mut state = state.lock().unwrap();
        state.received.push(Received {
            method: request.method().to_string(),
            path: path.clone(),
            query: request.query_string().to_string(),
            headers,
            body: body.clone(),
        });
        state.scripted.pop_front()
    };

    if let Some(scripted) = scripted {
        let status = actix_web::http::StatusCode::from_u16(scripted.status).unwrap();
        let mut response = HttpResponse::build(status);
        for (name, value) in scripted.headers {
            response.insert_header((name, value));
        }
        return response
            .content_type("application/json")
            .body(scripted.body);
    }

    let model = body["model"].as_str().unwrap_or("gpt-4o-mini-2024-07-18");
    if path.ends_with("/chat/completions") {
        HttpResponse::Ok().json(chat_completion(model))
    } else if path.ends_with("/embeddings") {
        let count = body["input"].as_array().map_or(1, Vec::len);
        HttpResponse::Ok().json(embeddings(model, count))
    } else if path == "/v1/messages" {
        HttpResponse::Ok().json(anthropic_message(model))
    } else if path.ends_with("/models") {
        HttpResponse::Ok().json(json!({ "object": "list", "data": [
            { "id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system" }
        ] }))
    } else {
        HttpResponse::NotFound().json(json!({ "error": { "message": "Not found" } }))
    }
}

fn chat_completion(model: &str) -> Value {
    json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Gentoo penguins are the heaviest.",
                "refusal": null,
                "annotations": []
            },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 8,
            "total_tokens": 27,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0 }
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306"
    })
}

fn embeddings(model: &str, count: usize) -> Value {
    let data: Vec<Value> = (0..count)
        .map(|index| {
            json!({ "object": "embedding", "index": index,
                    "embedding": [0.0023064255, -0.009327292, index as f64] })
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": 8, "total_tokens": 8 }
    })
}

fn anthropic_message(model: &str) -> Value {
    json!({
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            { "type": "text", "text": "Adélie penguins live on all three islands." }
        ],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": 25,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 12
        }
    })
}

struct Api {
    port: u16,
    state: Shared,
}

impl Api {
    async fn start() -> Self {
        let state: Shared = web::Data::new(Mutex::new(ServerState::default()));
        let data = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(respond))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Api { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn script(&self, status: u16, headers: Vec<(&'static str, String)>, body: Value) {
        self.state.lock().unwrap().scripted.push_back(Scripted {
            status,
            headers,
            body: body.to_string(),
        });
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn last(&self) -> Received {
        self.received()
            .pop()
            .expect("the server received a request")
    }
}

struct Harness {
    runtime: Runtime,
    plugin: Arc<LoadedPlugin>,
    workspace_id: Uuid,
    internal: Vec<InternalHost>,
}

impl Harness {
    async fn new(port: u16) -> Self {
        let runtime = runtime();
        let (_, bytes) = BUILTIN_COMPONENTS
            .iter()
            .find(|(name, _)| *name == "llm")
            .expect("the llm connector is a built-in");
        let plugin = runtime.load(Arc::new(bytes.to_vec())).await.unwrap();
        Harness {
            runtime,
            plugin,
            workspace_id: Uuid::new_v4(),
            internal: vec![InternalHost::parse(&format!("127.0.0.1:{port}")).unwrap()],
        }
    }

    fn call(&self, config: &Value) -> CallContext {
        let mut call = CallContext::new(self.workspace_id, "builtin:llm");
        call.network = NetworkPolicy::from_config(
            &self.plugin.manifest.base_url_fields,
            config,
            &self.internal,
        );
        call
    }

    async fn execute(
        &self,
        config: &Value,
        operation: &str,
        input: Value,
    ) -> Result<Value, RunError> {
        let request = CallRequest::Execute {
            config: config.clone(),
            operation: operation.into(),
            input,
        };
        self.runtime
            .call(&self.plugin, self.call(config), &request)
            .await
            .result
    }

    async fn test_connection(&self, config: &Value) -> Result<Value, RunError> {
        let request = CallRequest::TestConnection {
            config: config.clone(),
        };
        self.runtime
            .call(&self.plugin, self.call(config), &request)
            .await
            .result
    }
}

fn openai(api: &Api) -> Value {
    json!({ "provider": "openai", "base_url": format!("{}/v1", api.url()), "api_key": "sk-test" })
}

fn anthropic(api: &Api) -> Value {
    json!({ "provider": "anthropic", "base_url": api.url(), "api_key": "sk-ant-test" })
}

fn azure(api: &Api) -> Value {
    json!({
        "provider": "azure-openai", "base_url": api.url(), "api_key": "azure-key",
        "deployment": "gpt-4o-mini", "embedding_deployment": "text-embedding-3-small"
    })
}

#[test]
fn llm_is_listed_as_builtin() {
    assert!(BUILTIN_COMPONENTS.iter().any(|(name, _)| *name == "llm"));
}

#[tokio::test]
async fn manifest_marks_api_key_secret() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    let manifest = &harness.plugin.manifest;

    assert_eq!(manifest.id, "llm");
    assert_eq!(manifest.secret_fields, vec!["api_key".to_string()]);
    assert_eq!(manifest.base_url_fields, vec!["base_url".to_string()]);
}

#[tokio::test]
async fn openai_chat_sends_only_set_parameters() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let output = harness
        .execute(
            &openai(&api),
            "chat",
            json!({ "prompt": "Which species is heaviest?", "system": "Be brief.",
                    "model": "gpt-4o-mini" }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.headers["authorization"], json!("Bearer sk-test"));
    assert_eq!(request.headers["content-type"], json!("application/json"));
    assert_eq!(
        request.body,
        json!({ "model": "gpt-4o-mini", "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "Which species is heaviest?" }
        ] })
    );
    assert_eq!(output["text"], json!("Gentoo penguins are the heaviest."));
    assert_eq!(output["finish_reason"], json!("stop"));
    assert_eq!(output["message"]["role"], json!("assistant"));
    assert_eq!(output["model"], json!("gpt-4o-mini"));
    assert!(output.get("tool_calls").is_none(), "{output}");
    assert_eq!(
        output["usage"],
        json!({ "input_tokens": 19, "output_tokens": 8, "model": "gpt-4o-mini" })
    );
}

#[tokio::test]
async fn openai_chat_passes_parameters_and_tools() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    let tools = json!([{ "type": "function", "function": {
        "name": "count_penguins", "parameters": { "type": "object",
            "properties": { "island": { "type": "string" } } }
    } }]);
    let mut reply = chat_completion("gpt-4o-mini");
    reply["choices"][0]["message"] = json!({
        "role": "assistant", "content": null,
        "tool_calls": [{ "id": "call_abc", "type": "function",
            "function": { "name": "count_penguins", "arguments": "{\"island\":\"Biscoe\"}" } }]
    });
    reply["choices"][0]["finish_reason"] = json!("tool_calls");
    api.script(200, vec![], reply);

    let output = harness
        .execute(
            &openai(&api),
            "chat",
            json!({
                "messages": [{ "role": "user", "content": "How many on Biscoe?" }],
                "model": "gpt-4o-mini", "temperature": 0.2, "top_p": 0.9, "max_tokens": 50,
                "stop": "END", "response_format": "json", "tools": tools,
                "tool_choice": "auto"
            }),
        )
        .await
        .unwrap();

    let body = api.last().body;
    assert_eq!(body["temperature"], json!(0.2));
    assert_eq!(body["top_p"], json!(0.9));
    assert_eq!(body["max_tokens"], json!(50));
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["response_format"], json!({ "type": "json_object" }));
    assert_eq!(body["tools"], tools);
    assert_eq!(body["tool_choice"], json!("auto"));
    assert_eq!(output["text"], json!(""));
    assert_eq!(output["finish_reason"], json!("tool_calls"));
    assert_eq!(
        output["tool_calls"][0]["function"]["name"],
        json!("count_penguins")
    );
}

#[tokio::test]
async fn base_url_with_or_without_v1() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    for base_url in [
        api.url(),
        format!("{}/", api.url()),
        format!("{}/v1", api.url()),
        format!("{}/v1/", api.url()),
    ] {
        let config = json!({ "base_url": base_url, "default_model": "llama3.2" });

        let output = harness
            .execute(&config, "chat", json!({ "prompt": "hi" }))
            .await;

        assert!(output.is_ok(), "{base_url}: {output:?}");
        let request = api.last();
        assert_eq!(request.path, "/v1/chat/completions", "{base_url}");
        assert!(
            request.headers.get("authorization").is_none(),
            "{base_url}: a config without api_key sends no authorization"
        );
        assert_eq!(request.body["model"], json!("llama3.2"));
    }
}

#[tokio::test]
async fn azure_chat_uses_deployment_and_api_key() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let output = harness
        .execute(
            &azure(&api),
            "chat",
            json!({ "prompt": "hi", "max_tokens": 20 }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(
        request.path,
        "/openai/deployments/gpt-4o-mini/chat/completions"
    );
    assert_eq!(request.query, "api-version=2024-10-21");
    assert_eq!(request.headers["api-key"], json!("azure-key"));
    assert!(request.headers.get("authorization").is_none());
    assert!(request.body.get("model").is_none(), "{}", request.body);
    assert_eq!(request.body["max_tokens"], json!(20));
    assert_eq!(output["usage"]["input_tokens"], json!(19));
    assert_eq!(output["usage"]["output_tokens"], json!(8));
}

#[tokio::test]
async fn anthropic_chat_speaks_messages_api() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let output = harness
        .execute(
            &anthropic(&api),
            "chat",
            json!({ "prompt": "Where do Adélie penguins live?", "system": "Be brief.",
                    "model": "claude-sonnet-4-5", "temperature": 0.5, "stop": ["\n\n"] }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["x-api-key"], json!("sk-ant-test"));
    assert_eq!(request.headers["anthropic-version"], json!("2023-06-01"));
    assert!(request.headers.get("authorization").is_none());
    assert_eq!(
        request.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": "Be brief.",
            "messages": [{ "role": "user", "content": [
                { "type": "text", "text": "Where do Adélie penguins live?" }
            ] }],
            "temperature": 0.5,
            "stop_sequences": ["\n\n"]
        })
    );
    assert_eq!(
        output["text"],
        json!("Adélie penguins live on all three islands.")
    );
    assert_eq!(output["finish_reason"], json!("stop"));
    assert_eq!(
        output["usage"],
        json!({ "input_tokens": 25, "output_tokens": 12, "model": "claude-sonnet-4-5" })
    );
}

#[tokio::test]
async fn anthropic_tool_use_becomes_tool_calls() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    let mut reply = anthropic_message("claude-sonnet-4-5");
    reply["content"] = json!([
        { "type": "text", "text": "Let me count." },
        { "type": "tool_use", "id": "toolu_01A", "name": "count_penguins",
          "input": { "island": "Dream" } }
    ]);
    reply["stop_reason"] = json!("tool_use");
    api.script(200, vec![], reply);

    let output = harness
        .execute(
            &anthropic(&api),
            "chat",
            json!({ "prompt": "How many on Dream?", "model": "claude-sonnet-4-5",
                    "tools": [{ "type": "function", "function": {
                        "name": "count_penguins", "description": "Counts penguins",
                        "parameters": { "type": "object" } } }] }),
        )
        .await
        .unwrap();

    assert_eq!(
        api.last().body["tools"],
        json!([{ "name": "count_penguins", "description": "Counts penguins",
                 "input_schema": { "type": "object" } }])
    );
    assert_eq!(output["finish_reason"], json!("tool_calls"));
    assert_eq!(
        output["tool_calls"],
        json!([{ "id": "toolu_01A", "type": "function", "function": {
            "name": "count_penguins", "arguments": "{\"island\":\"Dream\"}" } }])
    );
}

#[tokio::test]
async fn openai_embed_returns_vectors_and_usage() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let output = harness
        .execute(
            &openai(&api),
            "embed",
            json!({ "input": ["Adelie", "Gentoo"], "model": "text-embedding-3-small" }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.path, "/v1/embeddings");
    assert_eq!(
        request.body,
        json!({ "model": "text-embedding-3-small", "input": ["Adelie", "Gentoo"],
                "encoding_format": "float" })
    );
    assert_eq!(output["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(output["embeddings"][1][2], json!(1.0));
    assert_eq!(
        output["usage"],
        json!({ "input_tokens": 8, "output_tokens": 0, "model": "text-embedding-3-small" })
    );
}

#[tokio::test]
async fn azure_embed_uses_embedding_deployment() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let output = harness
        .execute(&azure(&api), "embed", json!({ "input": "Chinstrap" }))
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(
        request.path,
        "/openai/deployments/text-embedding-3-small/embeddings"
    );
    assert_eq!(request.query, "api-version=2024-10-21");
    assert_eq!(output["embeddings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn anthropic_embed_is_invalid_input() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let result = harness
        .execute(&anthropic(&api), "embed", json!({ "input": "x" }))
        .await;

    let Err(RunError::InvalidInput { message }) = result else {
        panic!("expected invalid input, got {result:?}");
    };
    assert!(message.contains("no embeddings endpoint"), "{message}");
    assert!(api.received().is_empty());
}

#[tokio::test]
async fn rate_limit_waits_retry_after() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    let error = json!({ "error": { "message": "Rate limit reached", "type": "requests",
                                   "code": "rate_limit_exceeded" } });
    api.script(429, vec![("retry-after", "1".into())], error);
    let started = Instant::now();

    let output = harness
        .execute(
            &openai(&api),
            "chat",
            json!({ "prompt": "hi", "model": "gpt-4o-mini" }),
        )
        .await
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry came after {:?}",
        started.elapsed()
    );
    assert_eq!(api.received().len(), 2);
    assert_eq!(output["usage"]["output_tokens"], json!(8));
}

#[tokio::test]
async fn retry_after_past_budget_not_waited() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    api.script(
        429,
        vec![("retry-after", "60".into())],
        json!({ "error": { "message": "Rate limit reached" } }),
    );
    let started = Instant::now();

    let result = harness
        .execute(
            &openai(&api),
            "chat",
            json!({ "prompt": "hi", "model": "gpt-4o-mini", "timeout_ms": 5000 }),
        )
        .await;

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(api.received().len(), 1);
    let Err(RunError::Upstream { status, message }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert_eq!(status, Some(429));
    assert!(message.contains("Rate limit reached"), "{message}");
}

#[tokio::test]
async fn server_errors_retried_at_most_three_times() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    for _ in 0..5 {
        api.script(
            500,
            vec![],
            json!({ "error": { "message": "The server had an error" } }),
        );
    }

    let result = harness
        .execute(
            &openai(&api),
            "chat",
            json!({ "prompt": "hi", "model": "gpt-4o-mini" }),
        )
        .await;

    assert_eq!(api.received().len(), 3);
    let Err(RunError::Upstream { status, .. }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert_eq!(status, Some(500));
}

#[tokio::test]
async fn bad_request_body_passed_through() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    api.script(
        400,
        vec![],
        json!({ "error": { "message": "Invalid value for 'temperature'", "type":
                "invalid_request_error", "param": "temperature", "code": "invalid_value" } }),
    );

    let result = harness
        .execute(
            &openai(&api),
            "chat",
            json!({ "prompt": "hi", "model": "gpt-4o-mini" }),
        )
        .await;

    assert_eq!(api.received().len(), 1, "a 400 is not retried");
    let Err(RunError::Upstream { status, message }) = result else {
        panic!("expected an upstream error, got {result:?}");
    };
    assert_eq!(status, Some(400));
    assert!(
        message.contains("Invalid value for 'temperature'"),
        "{message}"
    );
    assert!(message.contains("invalid_request_error"), "{message}");
}

#[tokio::test]
async fn missing_model_is_invalid_input() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;

    let result = harness
        .execute(&openai(&api), "chat", json!({ "prompt": "hi" }))
        .await;

    assert!(
        matches!(result, Err(RunError::InvalidInput { ref message }) if message.contains("`model`")),
        "{result:?}"
    );
}

#[tokio::test]
async fn connection_test_names_failed_step() {
    let api = Api::start().await;
    let harness = Harness::new(api.port).await;
    let refused = {
        // Bind and drop a listener to find a loopback port with nothing behind it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed_harness = Harness::new(refused).await;
    let closed = json!({ "base_url": format!("http://127.0.0.1:{refused}/v1") });

    let ok = harness.test_connection(&openai(&api)).await;
    let anthropic_ok = harness.test_connection(&anthropic(&api)).await;
    let anthropic_request = api.last();
    api.script(
        401,
        vec![],
        json!({ "error": { "message": "Incorrect API key provided" } }),
    );
    let auth = harness.test_connection(&openai(&api)).await;
    let connect = closed_harness.test_connection(&closed).await;

    assert!(ok.is_ok(), "{ok:?}");
    assert!(anthropic_ok.is_ok(), "{anthropic_ok:?}");
    assert_eq!(anthropic_request.path, "/v1/models");
    assert_eq!(anthropic_request.headers["x-api-key"], json!("sk-ant-test"));
    let Err(RunError::Upstream { status, message }) = auth else {
        panic!("expected an upstream error, got {auth:?}");
    };
    assert_eq!(status, Some(401));
    assert!(message.contains("at the authentication step"), "{message}");
    assert!(message.contains("Incorrect API key provided"), "{message}");
    let Err(RunError::Upstream { message, .. }) = connect else {
        panic!("expected an upstream error, got {connect:?}");
    };
    assert!(message.contains("at the connect step"), "{message}");
}
