//! Action runs on the built-in LLM connector against a loopback OpenAI-compatible server: the
//! run records the tokens the connector reports, and the usage report sums them.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use trellis_tests::apps::id_of;
use trellis_tests::runs::RunFixture;

/// Chat request bodies the loopback server received.
type Received = web::Data<Mutex<Vec<Value>>>;

async fn chat_completion(body: web::Json<Value>, received: Received) -> HttpResponse {
    received.lock().unwrap().push(body.0.clone());
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{ "index": 0, "finish_reason": "stop",
            "message": { "role": "assistant", "content": "Gentoo penguins are the heaviest." } }],
        "usage": { "prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49 }
    }))
}

/// Starts the loopback server; returns its port and the bodies it receives.
fn start_model_server() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let received: Received = web::Data::new(Mutex::new(Vec::new()));
    let shared = received.clone().into_inner();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(received.clone())
            .route("/v1/chat/completions", web::post().to(chat_completion))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (port, shared)
}

#[tokio::test]
async fn llm_run_records_token_usage() {
    let (port, received) = start_model_server();
    let fixture = RunFixture::start_with(|settings| {
        settings.exec_internal_hosts = vec![format!("127.0.0.1:{port}")];
    })
    .await;
    let token = &fixture.owner.access;
    let resource = fixture
        .server
        .post(
            &fixture.path("/resources"),
            Some(token),
            json!({
                "name": "Model", "plugin_id": "llm", "plugin_version": "0.1.0",
                "config": { "base_url": format!("http://127.0.0.1:{port}"),
                            "api_key": "sk-loopback", "default_model": "gpt-4o-mini" }
            }),
        )
        .await;
    assert_eq!(resource.status, StatusCode::CREATED, "{}", resource.text);
    assert!(!resource.text.contains("sk-loopback"), "{}", resource.text);
    let app = fixture.app("Summaries").await;
    let action = fixture
        .action(
            app,
            json!({
                "resource_id": id_of(&resource),
                "operation": "chat",
                "input": { "prompt": "Which penguin species is heaviest? {{ hint }}" }
            }),
        )
        .await;
    fixture.release(app).await;

    let run = fixture
        .run(token, app, action, json!({ "hint": "Think of Biscoe." }))
        .await;
    let usage = fixture.server.get(&fixture.path("/usage"), token).await;

    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    assert_eq!(
        run.json()["data"]["text"],
        json!("Gentoo penguins are the heaviest.")
    );
    assert_eq!(
        run.json()["meta"]["usage"],
        json!({ "input_tokens": 42, "output_tokens": 7, "model": "gpt-4o-mini-2024-07-18" })
    );
    assert_eq!(
        received.lock().unwrap()[0]["messages"][0]["content"],
        json!("Which penguin species is heaviest? Think of Biscoe.")
    );
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    let items = usage.json()["items"].as_array().cloned().unwrap();
    assert_eq!(items.len(), 1, "{}", usage.text);
    assert_eq!(items[0]["input_tokens"], json!(42));
    assert_eq!(items[0]["output_tokens"], json!(7));
}

#[tokio::test]
async fn llm_on_loopback_denied_without_allowance() {
    let (port, received) = start_model_server();
    let fixture = RunFixture::start().await;
    let token = &fixture.owner.access;
    let resource = fixture
        .server
        .post(
            &fixture.path("/resources"),
            Some(token),
            json!({
                "name": "Model", "plugin_id": "llm", "plugin_version": "0.1.0",
                "config": { "base_url": format!("http://127.0.0.1:{port}/v1"),
                            "default_model": "gpt-4o-mini" }
            }),
        )
        .await;
    assert_eq!(resource.status, StatusCode::CREATED, "{}", resource.text);
    let app = fixture.app("Summaries").await;
    let action = fixture
        .action(
            app,
            json!({ "resource_id": id_of(&resource), "operation": "chat",
                    "input": { "prompt": "hi" } }),
        )
        .await;
    fixture.release(app).await;

    let run = fixture.run(token, app, action, json!({})).await;

    assert!(
        run.status.is_client_error() || run.status.is_server_error(),
        "{}",
        run.text
    );
    assert!(run.text.contains("denied"), "{}", run.text);
    assert!(received.lock().unwrap().is_empty());
}
