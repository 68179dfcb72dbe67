//! The built-in Slack connector against the Slack Web API document served by the Prism mock
//! server, which validates every request against it, and against a stand-in loopback server
//! of this test for what the document cannot express: cursor pagination across pages and the
//! page limit, rate limits with `Retry-After`, `ok: false` errors, and incoming webhooks.
//!
//! The Prism tests skip with a message when Prism is not installed, except in CI
//! (`support::prism`).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};
use trellis_exec::host::network::InternalHost;
use trellis_exec::RunError;

use crate::support::builtin::{invalid_input, upstream, BuiltinHarness};
use crate::support::prism::{free_port, Prism};
use crate::support::tls_server;

const GOOD_TOKEN: &str = "xoxb-good";
/// The stand-in's channels, listed in this order.
const CHANNELS: &[&str] = &["C001", "C002", "C003", "C004", "C005"];
/// A channel the stand-in's bot is not a member of.
const NOT_A_MEMBER: &str = "C0NOTMEMBER";
/// The path of the stand-in's incoming webhook; its last segment is the webhook's secret.
const WEBHOOK_PATH: &str = "/services/T0001/B0001/s3cr3tw3bh00k";

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    /// The query or form arguments.
    args: HashMap<String, String>,
    headers: Map<String, Value>,
    body: String,
}

impl Received {
    fn arg(&self, name: &str) -> Option<&str> {
        self.args.get(name).map(String::as_str)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
}

/// A response queued by a test, sent instead of the stand-in's normal response.
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

fn parse_args(text: &str) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(text)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

/// Responds like Slack: Web API methods under `/api` with `{"ok": ...}` bodies, and an incoming
/// webhook at [`WEBHOOK_PATH`] that responds `ok`, or 400 `no_text` to an empty message.
async fn respond(request: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), Value::String(value))
        })
        .collect();
    let body = String::from_utf8_lossy(&body).into_owned();
    let method = request.method().to_string();
    let args = if method == "GET" {
        parse_args(request.query_string())
    } else {
        parse_args(&body)
    };
    let received = Received {
        method,
        path: request.path().to_string(),
        args,
        headers,
        body,
    };
    let scripted = {
        let mut state = state.lock().unwrap();
        state.received.push(received.clone());
        state.scripted.pop_front()
    };
    if let Some(scripted) = scripted {
        let status = actix_web::http::StatusCode::from_u16(scripted.status).unwrap();
        let mut response = HttpResponse::build(status);
        for (name, value) in scripted.headers {
            response.insert_header((name, value));
        }
        return response.body(scripted.body);
    }

    if received.path == WEBHOOK_PATH {
        let message: Value = serde_json::from_str(&received.body).unwrap_or(Value::Null);
        if message.get("text").is_none() && message.get("blocks").is_none() {
            return HttpResponse::BadRequest().body("no_text");
        }
        return HttpResponse::Ok().content_type("text/html").body("ok");
    }
    let Some(method) = received.path.strip_prefix("/api/") else {
        return HttpResponse::NotFound().body("not found");
    };
    if received.header("authorization") != Some(&format!("Bearer {GOOD_TOKEN}")) {
        return HttpResponse::Ok().json(json!({ "ok": false, "error": "invalid_auth" }));
    }
    let channel = received.arg("channel").unwrap_or_default().to_string();
    HttpResponse::Ok().json(match method {
        "auth.test" => json!({
            "ok": true, "url": "https://acme.slack.com/", "team": "Acme", "user": "trellis",
            "team_id": "T0001", "user_id": "U0BOT", "bot_id": "B0BOT"
        }),
        "chat.postMessage" if channel == NOT_A_MEMBER => {
            json!({ "ok": false, "error": "not_in_channel" })
        }
        "chat.postMessage" => json!({
            "ok": true, "channel": channel, "ts": "1700000000.000100",
            "message": { "type": "message", "text": received.arg("text"), "bot_id": "B0BOT",
                         "ts": "1700000000.000100" }
        }),
        "chat.update" => json!({
            "ok": true, "channel": channel, "ts": received.arg("ts"),
            "text": received.arg("text")
        }),
        "chat.delete" => json!({ "ok": true, "channel": channel, "ts": received.arg("ts") }),
        "reactions.add" => json!({ "ok": true }),
        "users.lookupByEmail" => json!({
            "ok": true,
            "user": { "id": "U0ADA", "name": "ada", "profile": { "email": received.arg("email") } }
        }),
        "conversations.list" => channels_page(&received),
        _ => json!({ "ok": false, "error": "unknown_method" }),
    })
}

/// One page of [`CHANNELS`]: `limit` channels from the offset that the cursor `cur-<offset>`
/// names, and the cursor of the next page, empty after the last.
fn channels_page(request: &Received) -> Value {
    let limit: usize = request
        .arg("limit")
        .and_then(|text| text.parse().ok())
        .unwrap_or(100);
    let offset: usize = match request.arg("cursor") {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("cur-").and_then(|n| n.parse().ok()) {
            Some(offset) => offset,
            None => return json!({ "ok": false, "error": "invalid_cursor" }),
        },
    };
    let end = (offset + limit).min(CHANNELS.len());
    let channels: Vec<Value> = CHANNELS[offset..end]
        .iter()
        .map(|id| json!({ "id": id, "name": format!("channel-{id}"), "is_archived": false }))
        .collect();
    let next = if end < CHANNELS.len() {
        format!("cur-{end}")
    } else {
        String::new()
    };
    json!({ "ok": true, "channels": channels, "response_metadata": { "next_cursor": next } })
}

struct StandIn {
    port: u16,
    state: Shared,
}

impl StandIn {
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
        StandIn { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn webhook_url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.url())
    }

    /// A resource with the bot token and the Web API under `/api`.
    fn bot(&self) -> Value {
        json!({ "base_url": format!("{}/api", self.url()), "bot_token": GOOD_TOKEN })
    }

    /// A resource with only the incoming webhook.
    fn webhook(&self) -> Value {
        json!({ "webhook_url": self.webhook_url() })
    }

    fn script(&self, status: u16, headers: Vec<(&'static str, String)>, body: impl ToString) {
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
            .expect("the stand-in received a request")
    }
}

fn invalid_config(result: Result<Value, RunError>) -> String {
    match result {
        Err(RunError::InvalidConfig { message }) => message,
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

/// Loads the connector; its calls may reach the test servers on any loopback port.
async fn harness() -> BuiltinHarness {
    let internal = vec![InternalHost::parse("127.0.0.1").unwrap()];
    BuiltinHarness::new("slack", internal).await
}

#[tokio::test]
async fn manifest_marks_secrets_base_urls_and_read_only_operations() {
    let harness = harness().await;
    let manifest = &harness.plugin.manifest;

    assert_eq!(manifest.id, "slack");
    assert_eq!(manifest.secret_fields, vec!["bot_token", "webhook_url"]);
    assert_eq!(manifest.base_url_fields, vec!["base_url", "webhook_url"]);
    let properties = &manifest.config_schema["properties"];
    assert_eq!(
        properties["base_url"]["default"],
        json!("https://slack.com/api")
    );
    assert_eq!(properties["bot_token"]["x-secret"], json!(true));
    assert_eq!(properties["webhook_url"]["x-secret"], json!(true));
    let read_only: Vec<(&str, bool)> = manifest
        .operations
        .iter()
        .map(|operation| (operation.name.as_str(), operation.read_only))
        .collect();
    assert_eq!(
        read_only,
        vec![
            ("post_message", false),
            ("update_message", false),
            ("delete_message", false),
            ("list_channels", true),
            ("lookup_user_by_email", true),
            ("add_reaction", false),
        ]
    );
}

/// Writes the Slack Web API document without its `token` parameters and returns its path.
///
/// The document declares the token as a required `token` header on most methods (and a
/// `token` query parameter on some), which the real API does not read: it takes
/// `Authorization: Bearer`, which the connector sends and Prism checks against the document's
/// OAuth 2.0 scheme (`slackAuth`). Everything else is validated as the document specifies.
fn slack_document_without_token_parameters(dir: &Path) -> PathBuf {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openapi/slack-web-api.swagger2.json");
    let mut document: Value = serde_json::from_slice(&std::fs::read(source).unwrap()).unwrap();
    let mut removed = 0;
    for item in document["paths"].as_object_mut().unwrap().values_mut() {
        for operation in item.as_object_mut().unwrap().values_mut() {
            if let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            {
                let before = parameters.len();
                parameters.retain(|parameter| parameter["name"] != "token");
                removed += before - parameters.len();
            }
        }
    }
    assert!(removed > 100, "only {removed} token parameters were found");
    let path = dir.join("slack-web-api.json");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn every_operation_is_valid_against_the_web_api_document() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prism) = Prism::start(&slack_document_without_token_parameters(dir.path())) else {
        return;
    };
    let harness = harness().await;
    // Prism serves the paths without the document's `basePath` (`/api`). It responds to a
    // request outside the document with an error status, which fails the operation.
    let config = json!({ "base_url": prism.url(), "bot_token": "xoxb-prism" });

    let tested = harness.test_connection(&config).await;
    let posted = harness
        .execute(
            &config,
            "post_message",
            json!({
                "channel": "C012AB3CD", "text": "Deploy finished",
                "blocks": [{ "type": "section",
                             "text": { "type": "mrkdwn", "text": "*Deploy* finished" } }],
                "thread_ts": "1503435956.000247", "reply_broadcast": true,
                "unfurl_links": false, "unfurl_media": false
            }),
        )
        .await;
    let updated = harness
        .execute(
            &config,
            "update_message",
            json!({ "channel": "C012AB3CD", "ts": "1503435956.000247", "text": "Deploy rolled back",
                    "blocks": [{ "type": "divider" }] }),
        )
        .await;
    let deleted = harness
        .execute(
            &config,
            "delete_message",
            json!({ "channel": "C012AB3CD", "ts": "1503435956.000247" }),
        )
        .await;
    // The document's example always names a next cursor, so the page limit ends the list.
    let listed = harness
        .execute(
            &config,
            "list_channels",
            json!({ "types": ["public_channel", "private_channel"], "exclude_archived": true,
                    "page_size": 100, "max_pages": 2 }),
        )
        .await;
    let user = harness
        .execute(
            &config,
            "lookup_user_by_email",
            json!({ "email": "spengler@ghostbusters.example.com" }),
        )
        .await;
    let reacted = harness
        .execute(
            &config,
            "add_reaction",
            json!({ "channel": "C012AB3CD", "ts": "1503435956.000247", "name": ":thumbsup:" }),
        )
        .await;

    assert!(tested.is_ok(), "{tested:?}");
    let posted = posted.unwrap();
    assert_eq!(posted["ok"], json!(true), "{posted}");
    assert_eq!(posted["ts"], json!("1503435956.000247"), "{posted}");
    let updated = updated.unwrap();
    assert_eq!(updated["ok"], json!(true), "{updated}");
    assert_eq!(deleted.unwrap()["ok"], json!(true));
    let listed = listed.unwrap();
    assert_eq!(listed["pages"], json!(2), "{listed}");
    assert_eq!(listed["count"], json!(4), "{listed}");
    assert_eq!(listed["channels"][0]["name"], json!("general"), "{listed}");
    assert_eq!(listed["truncated"], json!(true));
    assert_eq!(listed["next_cursor"], json!("dGVhbTpDMDYxRkE1UEI="));
    let user = user.unwrap();
    assert_eq!(user["user"]["name"], json!("spengler"), "{user}");
    assert_eq!(reacted.unwrap(), json!({ "ok": true }));
}

/// Prism responds to a request that the document does not allow with an error status, so the
/// test above passes only when every request fits the document, bearer token included.
#[tokio::test]
async fn prism_refuses_requests_outside_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prism) = Prism::start(&slack_document_without_token_parameters(dir.path())) else {
        return;
    };
    let harness = harness().await;
    // A webhook post aimed at chat.postMessage: a JSON body, where the document wants a form,
    // and no bearer token, which the document's security requires.
    let config = json!({ "webhook_url": format!("{}/chat.postMessage", prism.url()) });

    let (status, message) = upstream(
        harness
            .execute(&config, "post_message", json!({ "text": "hi" }))
            .await,
    );

    assert_eq!(status, Some(401), "{message}");
}

#[tokio::test]
async fn post_message_sends_a_form_with_the_bearer_token() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "*Hi*" } }]);

    let output = harness
        .execute(
            &api.bot(),
            "post_message",
            json!({ "channel": "C001", "text": "Hi & bye", "blocks": blocks,
                    "thread_ts": "1700000000.000001" }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/api/chat.postMessage");
    assert_eq!(request.header("authorization"), Some("Bearer xoxb-good"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.arg("channel"), Some("C001"));
    assert_eq!(request.arg("text"), Some("Hi & bye"));
    assert_eq!(request.arg("thread_ts"), Some("1700000000.000001"));
    let sent_blocks: Value = serde_json::from_str(request.arg("blocks").unwrap()).unwrap();
    assert_eq!(sent_blocks, blocks);
    assert!(request.arg("reply_broadcast").is_none());
    assert_eq!(output["ok"], json!(true));
    assert_eq!(output["channel"], json!("C001"));
    assert_eq!(output["ts"], json!("1700000000.000100"));
}

#[tokio::test]
async fn update_delete_reaction_and_lookup_send_their_methods() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let config = api.bot();

    let updated = harness
        .execute(
            &config,
            "update_message",
            json!({ "channel": "C001", "ts": "1700000000.000100", "text": "edited" }),
        )
        .await
        .unwrap();
    let update = api.last();
    let deleted = harness
        .execute(
            &config,
            "delete_message",
            json!({ "channel": "C001", "ts": "1700000000.000100" }),
        )
        .await
        .unwrap();
    let delete = api.last();
    let reacted = harness
        .execute(
            &config,
            "add_reaction",
            json!({ "channel": "C001", "ts": "1700000000.000100", "name": ":tada:" }),
        )
        .await
        .unwrap();
    let reaction = api.last();
    let user = harness
        .execute(
            &config,
            "lookup_user_by_email",
            json!({ "email": "ada+ops@example.com" }),
        )
        .await
        .unwrap();
    let lookup = api.last();

    assert_eq!(
        (update.method.as_str(), update.path.as_str()),
        ("POST", "/api/chat.update")
    );
    assert_eq!(update.arg("ts"), Some("1700000000.000100"));
    assert_eq!(update.arg("text"), Some("edited"));
    assert_eq!(updated["text"], json!("edited"));
    assert_eq!(delete.path, "/api/chat.delete");
    assert_eq!(delete.arg("channel"), Some("C001"));
    assert_eq!(deleted["ts"], json!("1700000000.000100"));
    assert_eq!(reaction.path, "/api/reactions.add");
    assert_eq!(reaction.arg("timestamp"), Some("1700000000.000100"));
    assert_eq!(reaction.arg("name"), Some("tada"));
    assert_eq!(reacted, json!({ "ok": true }));
    assert_eq!(
        (lookup.method.as_str(), lookup.path.as_str()),
        ("GET", "/api/users.lookupByEmail")
    );
    assert_eq!(lookup.arg("email"), Some("ada+ops@example.com"));
    assert_eq!(lookup.header("authorization"), Some("Bearer xoxb-good"));
    assert_eq!(user["user"]["id"], json!("U0ADA"));
}

#[tokio::test]
async fn list_channels_follows_the_cursor_across_pages() {
    let api = StandIn::start().await;
    let harness = harness().await;

    let output = harness
        .execute(
            &api.bot(),
            "list_channels",
            json!({ "types": "public_channel,private_channel", "exclude_archived": true,
                    "page_size": 2 }),
        )
        .await
        .unwrap();

    let requests = api.received();
    assert_eq!(requests.len(), 3);
    let cursors: Vec<Option<&str>> = requests.iter().map(|r| r.arg("cursor")).collect();
    assert_eq!(cursors, vec![None, Some("cur-2"), Some("cur-4")]);
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/api/conversations.list");
        assert_eq!(request.arg("limit"), Some("2"));
        assert_eq!(request.arg("types"), Some("public_channel,private_channel"));
        assert_eq!(request.arg("exclude_archived"), Some("true"));
    }
    let ids: Vec<&str> = output["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|channel| channel["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, CHANNELS);
    assert_eq!(output["count"], json!(5));
    assert_eq!(output["pages"], json!(3));
    assert_eq!(output["next_cursor"], Value::Null);
    assert_eq!(output["truncated"], json!(false));
}

#[tokio::test]
async fn list_channels_stops_at_the_page_limit_and_continues_from_its_cursor() {
    let api = StandIn::start().await;
    let harness = harness().await;

    let first = harness
        .execute(
            &api.bot(),
            "list_channels",
            json!({ "page_size": 2, "max_pages": 2 }),
        )
        .await
        .unwrap();
    let rest = harness
        .execute(
            &api.bot(),
            "list_channels",
            json!({ "page_size": 2, "cursor": first["next_cursor"] }),
        )
        .await
        .unwrap();
    let too_many = harness
        .execute(&api.bot(), "list_channels", json!({ "max_pages": 51 }))
        .await;
    let too_large = harness
        .execute(&api.bot(), "list_channels", json!({ "page_size": 1001 }))
        .await;

    assert_eq!(first["count"], json!(4));
    assert_eq!(first["pages"], json!(2));
    assert_eq!(first["next_cursor"], json!("cur-4"));
    assert_eq!(first["truncated"], json!(true));
    assert_eq!(rest["channels"][0]["id"], json!("C005"));
    assert_eq!(rest["truncated"], json!(false));
    // Without `page_size` the connector asks for 200 channels a page.
    assert_eq!(api.received().len(), 3);
    let message = invalid_input(too_many);
    assert!(
        message.contains("`max_pages` must be between 1 and 50"),
        "{message}"
    );
    let message = invalid_input(too_large);
    assert!(
        message.contains("`page_size` must be between 1 and 1000"),
        "{message}"
    );
}

#[tokio::test]
async fn list_channels_default_page_size() {
    let api = StandIn::start().await;
    let harness = harness().await;

    let output = harness
        .execute(&api.bot(), "list_channels", json!({}))
        .await
        .unwrap();

    assert_eq!(api.last().arg("limit"), Some("200"));
    assert!(api.last().arg("types").is_none());
    assert_eq!(output["count"], json!(5));
}

#[tokio::test]
async fn http_429_is_retried_after_retry_after() {
    let api = StandIn::start().await;
    let harness = harness().await;
    api.script(
        429,
        vec![("retry-after", "1".into())],
        json!({ "ok": false, "error": "ratelimited" }),
    );
    let started = Instant::now();

    let output = harness
        .execute(
            &api.bot(),
            "post_message",
            json!({ "channel": "C001", "text": "hi" }),
        )
        .await
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry came after {:?}",
        started.elapsed()
    );
    assert_eq!(api.received().len(), 2);
    assert_eq!(output["ok"], json!(true));
}

#[tokio::test]
async fn ok_false_ratelimited_is_retried_too() {
    let api = StandIn::start().await;
    let harness = harness().await;
    api.script(
        200,
        vec![("retry-after", "1".into())],
        json!({ "ok": false, "error": "ratelimited" }),
    );

    let output = harness
        .execute(&api.bot(), "list_channels", json!({ "page_size": 10 }))
        .await
        .unwrap();

    assert_eq!(api.received().len(), 2);
    assert_eq!(output["count"], json!(5));
}

#[tokio::test]
async fn ratelimited_past_the_budget_is_an_error_with_retry_after() {
    let api = StandIn::start().await;
    let harness = harness().await;
    api.script(
        429,
        vec![("retry-after", "30".into())],
        json!({ "ok": false, "error": "ratelimited" }),
    );
    let started = Instant::now();

    let result = harness
        .execute(
            &api.bot(),
            "post_message",
            json!({ "channel": "C001", "text": "hi", "timeout_ms": 5000 }),
        )
        .await;

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(api.received().len(), 1);
    let (status, message) = upstream(result);
    assert_eq!(status, Some(429));
    assert!(
        message.starts_with("Slack answered `ratelimited` to chat.postMessage (HTTP 429)"),
        "{message}"
    );
    assert!(message.contains("Retry-After: 30 seconds"), "{message}");
    assert!(message.contains("not retried"), "{message}");
}

#[tokio::test]
async fn ratelimited_stops_after_max_attempts() {
    let api = StandIn::start().await;
    let harness = harness().await;
    for _ in 0..3 {
        api.script(
            429,
            vec![("retry-after", "0".into())],
            json!({ "ok": false, "error": "ratelimited" }),
        );
    }
    let mut config = api.bot();
    config["max_attempts"] = json!(2);

    let result = harness
        .execute(
            &config,
            "lookup_user_by_email",
            json!({ "email": "a@b.test" }),
        )
        .await;

    assert_eq!(api.received().len(), 2);
    let (status, message) = upstream(result);
    assert_eq!(status, Some(429));
    assert!(
        message.contains("still rate-limited after 2 attempts"),
        "{message}"
    );
}

#[tokio::test]
async fn ok_false_answers_carry_slacks_code() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let mut wrong_token = api.bot();
    wrong_token["bot_token"] = json!("xoxb-wrong");

    let not_in_channel = harness
        .execute(
            &api.bot(),
            "post_message",
            json!({ "channel": NOT_A_MEMBER, "text": "hi" }),
        )
        .await;
    let invalid_auth = harness
        .execute(&wrong_token, "list_channels", json!({}))
        .await;
    api.script(
        200,
        vec![],
        json!({ "ok": false, "error": "channel_not_found" }),
    );
    let not_found = harness
        .execute(
            &api.bot(),
            "add_reaction",
            json!({ "channel": "C404", "ts": "1.2", "name": "eyes" }),
        )
        .await;
    api.script(
        200,
        vec![],
        json!({ "ok": false, "error": "missing_scope", "needed": "users:read.email",
                "provided": "chat:write" }),
    );
    let missing_scope = harness
        .execute(
            &api.bot(),
            "lookup_user_by_email",
            json!({ "email": "a@b.test" }),
        )
        .await;

    let (status, message) = upstream(not_in_channel);
    assert_eq!(status, Some(200));
    assert!(
        message.starts_with("Slack answered `not_in_channel` to chat.postMessage (HTTP 200)"),
        "{message}"
    );
    assert!(message.contains("/invite"), "{message}");
    let (status, message) = upstream(invalid_auth);
    assert_eq!(status, Some(200));
    assert!(
        message.starts_with("Slack answered `invalid_auth` to conversations.list"),
        "{message}"
    );
    let (_, message) = upstream(not_found);
    assert!(
        message.starts_with("Slack answered `channel_not_found` to reactions.add"),
        "{message}"
    );
    let (_, message) = upstream(missing_scope);
    assert!(
        message.contains("needed scopes: users:read.email"),
        "{message}"
    );
}

#[tokio::test]
async fn server_errors_are_not_retried() {
    let api = StandIn::start().await;
    let harness = harness().await;
    api.script(503, vec![], "upstream unavailable");

    let result = harness
        .execute(
            &api.bot(),
            "post_message",
            json!({ "channel": "C001", "text": "hi" }),
        )
        .await;

    // The message may have been posted, so the connector does not send it again.
    assert_eq!(api.received().len(), 1);
    let (status, message) = upstream(result);
    assert_eq!(status, Some(503));
    assert!(
        message.starts_with("Slack answered HTTP 503 to chat.postMessage; upstream unavailable"),
        "{message}"
    );
}

#[tokio::test]
async fn webhook_posts_the_message_as_json() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "*Done*" } }]);

    let output = harness
        .execute(
            &api.webhook(),
            "post_message",
            json!({ "text": "Done", "blocks": blocks, "thread_ts": "1700000000.000100",
                    "unfurl_links": false }),
        )
        .await
        .unwrap();

    let request = api.last();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, WEBHOOK_PATH);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.header("authorization").is_none());
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        body,
        json!({ "text": "Done", "blocks": blocks, "thread_ts": "1700000000.000100",
                "unfurl_links": false })
    );
    assert_eq!(output, json!({ "ok": true, "via": "webhook" }));
}

#[tokio::test]
async fn webhook_errors_and_rate_limits() {
    let api = StandIn::start().await;
    let harness = harness().await;
    api.script(429, vec![("retry-after", "1".into())], "");
    let retried = harness
        .execute(&api.webhook(), "post_message", json!({ "text": "once" }))
        .await;
    let retried_requests = api.received().len();
    api.script(404, vec![], "no_service");
    let revoked = harness
        .execute(&api.webhook(), "post_message", json!({ "text": "hi" }))
        .await;
    let with_channel = harness
        .execute(
            &api.webhook(),
            "post_message",
            json!({ "channel": "C001", "text": "hi" }),
        )
        .await;

    assert_eq!(retried.unwrap()["ok"], json!(true));
    assert_eq!(retried_requests, 2);
    let (status, message) = upstream(revoked);
    assert_eq!(status, Some(404));
    assert!(
        message.starts_with("Slack answered `no_service` to the incoming webhook (HTTP 404)"),
        "{message}"
    );
    assert!(!message.contains("s3cr3t"), "{message}");
    let message = invalid_input(with_channel);
    assert!(message.contains("takes no `channel`"), "{message}");
}

#[tokio::test]
async fn webhook_only_resource_refuses_web_api_operations() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let operations = [
        (
            "update_message",
            json!({ "channel": "C001", "ts": "1.2", "text": "x" }),
        ),
        ("delete_message", json!({ "channel": "C001", "ts": "1.2" })),
        ("list_channels", json!({})),
        ("lookup_user_by_email", json!({ "email": "a@b.test" })),
        (
            "add_reaction",
            json!({ "channel": "C001", "ts": "1.2", "name": "eyes" }),
        ),
    ];

    for (operation, input) in operations {
        let message = invalid_config(harness.execute(&api.webhook(), operation, input).await);

        assert!(
            message.contains(&format!("`{operation}` needs a bot token")),
            "{message}"
        );
    }
    let via_api = invalid_config(
        harness
            .execute(
                &api.webhook(),
                "post_message",
                json!({ "channel": "C001", "text": "x", "via": "api" }),
            )
            .await,
    );
    assert!(via_api.contains("needs a bot token"), "{via_api}");
    assert!(api.received().is_empty());
}

#[tokio::test]
async fn both_credentials_post_through_the_api_unless_told_otherwise() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let mut config = api.bot();
    config["webhook_url"] = json!(api.webhook_url());

    harness
        .execute(
            &config,
            "post_message",
            json!({ "channel": "C001", "text": "api" }),
        )
        .await
        .unwrap();
    let by_api = api.last();
    let output = harness
        .execute(
            &config,
            "post_message",
            json!({ "text": "hook", "via": "webhook" }),
        )
        .await
        .unwrap();
    let by_webhook = api.last();

    assert_eq!(by_api.path, "/api/chat.postMessage");
    assert_eq!(by_webhook.path, WEBHOOK_PATH);
    assert_eq!(output["via"], json!("webhook"));
}

#[tokio::test]
async fn invalid_input_is_named_before_any_request() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let config = api.bot();

    let number_ts = invalid_input(
        harness
            .execute(
                &config,
                "delete_message",
                json!({ "channel": "C001", "ts": 1700000000.0001 }),
            )
            .await,
    );
    let unknown = invalid_input(
        harness
            .execute(
                &config,
                "post_message",
                json!({ "channel": "C001", "txt": "hi" }),
            )
            .await,
    );
    let empty = invalid_input(
        harness
            .execute(&config, "post_message", json!({ "channel": "C001" }))
            .await,
    );
    let no_channel = invalid_input(
        harness
            .execute(&config, "post_message", json!({ "text": "hi" }))
            .await,
    );
    let types = invalid_input(
        harness
            .execute(&config, "list_channels", json!({ "types": ["channels"] }))
            .await,
    );
    let unknown_operation = invalid_input(harness.execute(&config, "kick", json!({})).await);

    assert!(number_ts.contains("may lose digits"), "{number_ts}");
    assert!(unknown.contains("no field `txt`"), "{unknown}");
    assert!(empty.contains("give `text`, `blocks` or both"), "{empty}");
    assert!(no_channel.contains("`channel` is missing"), "{no_channel}");
    assert!(types.contains("not `channels`"), "{types}");
    assert!(unknown_operation.contains("unknown operation `kick`"));
    assert!(api.received().is_empty());
}

#[tokio::test]
async fn invalid_config_is_named() {
    let harness = harness().await;

    let nothing = invalid_config(
        harness
            .execute(&json!({}), "list_channels", json!({}))
            .await,
    );
    let no_base = invalid_config(
        harness
            .execute(
                &json!({ "bot_token": "xoxb-1" }),
                "list_channels",
                json!({}),
            )
            .await,
    );

    assert!(nothing.contains("set `bot_token`"), "{nothing}");
    assert!(no_base.contains("`base_url` is required"), "{no_base}");
}

#[tokio::test]
async fn connection_test_names_the_failed_step() {
    let api = StandIn::start().await;
    let harness = harness().await;
    let mut wrong_token = api.bot();
    wrong_token["bot_token"] = json!("xoxb-wrong");
    let closed = free_port();
    let tls_port = tls_server::start().await;
    // A label longer than 63 bytes cannot be put into a DNS query, so the lookup fails
    // without any packet leaving the machine.
    let unresolvable = format!("http://{}.test/api", "a".repeat(64));

    let ok = harness.test_connection(&api.bot()).await;
    let auth_request = api.last();
    let auth = harness.test_connection(&wrong_token).await;
    api.script(500, vec![], "oops");
    let request = harness.test_connection(&api.bot()).await;
    let connect = harness
        .test_connection(
            &json!({ "base_url": format!("http://127.0.0.1:{closed}/api"),
                                  "bot_token": GOOD_TOKEN }),
        )
        .await;
    let tls = harness
        .test_connection(
            &json!({ "base_url": format!("https://127.0.0.1:{tls_port}/api"),
                                  "bot_token": GOOD_TOKEN }),
        )
        .await;
    let dns = harness
        .test_connection(&json!({ "base_url": unresolvable, "bot_token": GOOD_TOKEN }))
        .await;

    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(auth_request.method, "GET");
    assert_eq!(auth_request.path, "/api/auth.test");
    assert_eq!(
        auth_request.header("authorization"),
        Some("Bearer xoxb-good")
    );
    let (status, message) = upstream(auth);
    assert_eq!(status, Some(200));
    assert!(
        message.starts_with(
            "the connection test failed at the authentication step: Slack answered \
             `invalid_auth` to auth.test"
        ),
        "{message}"
    );
    let (status, message) = upstream(request);
    assert_eq!(status, Some(500));
    assert!(message.contains("at the request step"), "{message}");
    let (_, message) = upstream(connect);
    assert!(message.contains("at the connect step"), "{message}");
    let (_, message) = upstream(tls);
    assert!(message.contains("at the TLS step"), "{message}");
    let (_, message) = upstream(dns);
    assert!(message.contains("at the DNS step"), "{message}");
}

#[tokio::test]
async fn webhook_connection_test_posts_nothing() {
    let api = StandIn::start().await;
    let harness = harness().await;

    let ok = harness.test_connection(&api.webhook()).await;
    let probe = api.last();
    api.script(403, vec![], "invalid_token");
    let revoked = harness.test_connection(&api.webhook()).await;
    let mut both = api.bot();
    both["webhook_url"] = json!(api.webhook_url());
    let both_ok = harness.test_connection(&both).await;
    let both_paths: Vec<String> = api
        .received()
        .iter()
        .rev()
        .take(2)
        .map(|r| r.path.clone())
        .collect();

    assert!(ok.is_ok(), "{ok:?}");
    // An empty payload, which Slack refuses with 400 `no_text` without posting.
    assert_eq!(probe.body, "{}");
    let (status, message) = upstream(revoked);
    assert_eq!(status, Some(403));
    assert!(
        message.starts_with(
            "the connection test failed at the authentication step: Slack answered \
             `invalid_token` to the incoming webhook"
        ),
        "{message}"
    );
    assert!(!message.contains("s3cr3t"), "{message}");
    assert!(both_ok.is_ok(), "{both_ok:?}");
    assert_eq!(both_paths, vec![WEBHOOK_PATH, "/api/auth.test"]);
}
