//! The built-in OpenAPI connector against real specifications served by the Prism mock server
//! (Swagger Petstore, OpenAPI 3.0; Slack Web API, Swagger 2.0), and against a loopback API of
//! this test that serves an OpenAPI 3.1 document and echoes the requests it receives.
//!
//! Prism is installed by `scripts/install-prism` into `.tools/prism` (see `support::prism`).
//! Without it, the Prism tests skip with a message, except in CI (`CI` set), where they fail.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};
use trellis_exec::host::network::{InternalHost, NetworkPolicy};
use trellis_exec::registry::BUILTIN_COMPONENTS;
use trellis_exec::{CallContext, CallRequest, LoadedPlugin, RunError, Runtime};
use uuid::Uuid;

use crate::support::prism::{free_port, Prism};
use crate::support::runtime;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/openapi")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

struct Harness {
    runtime: Runtime,
    plugin: Arc<LoadedPlugin>,
    workspace_id: Uuid,
}

impl Harness {
    async fn new() -> Self {
        let runtime = runtime();
        let (_, bytes) = BUILTIN_COMPONENTS
            .iter()
            .find(|(name, _)| *name == "openapi")
            .expect("the openapi connector is a built-in");
        let plugin = runtime.load(Arc::new(bytes.to_vec())).await.unwrap();
        Harness {
            runtime,
            plugin,
            workspace_id: Uuid::new_v4(),
        }
    }

    fn context(&self, config: &Value) -> CallContext {
        let mut call = CallContext::new(self.workspace_id, "builtin:openapi");
        // The test servers are on loopback, which a workspace admin must allow.
        let internal = vec![InternalHost::parse("127.0.0.1").unwrap()];
        call.network =
            NetworkPolicy::from_config(&self.plugin.manifest.base_url_fields, config, &internal);
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
            .call(&self.plugin, self.context(config), &request)
            .await
            .result
    }

    async fn call(
        &self,
        config: &Value,
        operation: &str,
        mut input: Value,
    ) -> Result<Value, RunError> {
        input["operation"] = json!(operation);
        self.execute(config, "call", input).await
    }

    async fn test_connection(&self, config: &Value) -> Result<Value, RunError> {
        let request = CallRequest::TestConnection {
            config: config.clone(),
        };
        self.runtime
            .call(&self.plugin, self.context(config), &request)
            .await
            .result
    }
}

fn petstore_config(prism: &Prism, credentials: Value) -> Value {
    json!({
        "spec": read("petstore3.openapi.yaml"),
        "server_url": prism.url(),
        "credentials": credentials,
    })
}

/// Prism serves the paths without the specification's `basePath` (`/api`). The `slackAuth`
/// scheme is OAuth 2.0; a token configured for it is sent as a bearer token.
fn slack_config(prism: &Prism) -> Value {
    json!({
        "spec": read("slack-web-api.swagger2.json"),
        "server_url": prism.url(),
        "credentials": {"slackAuth": "xoxb-test"},
    })
}

fn upstream(result: Result<Value, RunError>) -> (Option<u16>, String) {
    match result {
        Err(RunError::Upstream { status, message }) => (status, message),
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

fn invalid_input(result: Result<Value, RunError>) -> String {
    match result {
        Err(RunError::InvalidInput { message }) => message,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn invalid_config(result: Result<Value, RunError>) -> String {
    match result {
        Err(RunError::InvalidConfig { message }) => message,
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[tokio::test]
async fn petstore_get_pet_by_id_with_api_key() {
    let Some(prism) = Prism::start(&data("petstore3.openapi.yaml")) else {
        return;
    };
    let harness = Harness::new().await;
    let config = petstore_config(&prism, json!({"api_key": "special-key"}));

    let by_call = harness
        .call(&config, "getPetById", json!({"path": {"petId": 10}}))
        .await
        .unwrap();
    // The operationId also works as the operation itself.
    let direct = harness
        .execute(&config, "getPetById", json!({"parameters": {"petId": 10}}))
        .await
        .unwrap();
    let by_path = harness
        .call(&config, "GET /pet/{petId}", json!({"path": {"petId": 10}}))
        .await
        .unwrap();

    for output in [&by_call, &direct, &by_path] {
        assert_eq!(output["status"], json!(200), "{output}");
        assert_eq!(output["body_encoding"], json!("json"));
        assert_eq!(output["body"]["name"], json!("doggie"), "{output}");
    }
}

#[tokio::test]
async fn petstore_security_is_required_and_named() {
    let Some(prism) = Prism::start(&data("petstore3.openapi.yaml")) else {
        return;
    };
    let harness = Harness::new().await;
    let config = petstore_config(&prism, json!({}));

    let (status, message) = upstream(
        harness
            .call(&config, "getPetById", json!({"path": {"petId": 10}}))
            .await,
    );

    assert_eq!(status, Some(401));
    assert!(message.contains("`credentials.api_key`"), "{message}");
    assert!(message.contains("`credentials.petstore_auth`"), "{message}");
}

#[tokio::test]
async fn petstore_query_body_and_header_parameters() {
    let Some(prism) = Prism::start(&data("petstore3.openapi.yaml")) else {
        return;
    };
    let harness = Harness::new().await;
    // petstore_auth is OAuth 2.0 (implicit flow): an access token is sent as a bearer token.
    let config = petstore_config(&prism, json!({"petstore_auth": "access-token"}));

    let by_status = harness
        .call(
            &config,
            "findPetsByStatus",
            json!({"query": {"status": "available"}}),
        )
        .await
        .unwrap();
    // An array in a form/explode query parameter: tags=a&tags=b.
    let by_tags = harness
        .call(
            &config,
            "findPetsByTags",
            json!({"query": {"tags": ["tag1", "tag2"]}}),
        )
        .await
        .unwrap();
    let added = harness
        .call(
            &config,
            "addPet",
            json!({"body": {"name": "Rex", "photoUrls": ["https://img.test/rex.png"], "status": "available"}}),
        )
        .await
        .unwrap();
    // A header parameter (`api_key`) beside a path parameter.
    let deleted = harness
        .call(
            &config,
            "deletePet",
            json!({"path": {"petId": 10}, "header": {"api_key": "special-key"}}),
        )
        .await
        .unwrap();
    // Prism checks each request against the specification: a value outside the enum is a 400.
    let (status, message) = upstream(
        harness
            .call(
                &config,
                "findPetsByStatus",
                json!({"query": {"status": "lost"}}),
            )
            .await,
    );

    assert_eq!(by_status["status"], json!(200));
    assert!(by_status["body"].is_array(), "{by_status}");
    assert_eq!(by_tags["status"], json!(200));
    assert_eq!(added["status"], json!(200), "{added}");
    assert!(added["body"]["name"].is_string(), "{added}");
    assert_eq!(deleted["status"], json!(200), "{deleted}");
    assert_eq!(status, Some(400), "{message}");
}

#[tokio::test]
async fn petstore_required_parameter_missing_is_named() {
    // No server is needed: the input is checked before any request.
    let harness = Harness::new().await;
    let config =
        json!({"spec": read("petstore3.openapi.yaml"), "server_url": "http://127.0.0.1:9"});

    let path = invalid_input(harness.call(&config, "getPetById", json!({})).await);
    let body = invalid_input(harness.call(&config, "addPet", json!({})).await);
    let body_field = invalid_input(
        harness
            .call(&config, "addPet", json!({"body": {"name": "Rex"}}))
            .await,
    );
    let unknown = invalid_input(harness.call(&config, "getPetByName", json!({})).await);

    assert!(
        path.contains("`petId`") && path.contains("path.petId"),
        "{path}"
    );
    assert!(body.contains("needs a `body`"), "{body}");
    assert!(body_field.contains("`body.photoUrls`"), "{body_field}");
    assert!(
        unknown.contains("no operation `getPetByName`") && unknown.contains("getPetById"),
        "{unknown}"
    );
}

#[tokio::test]
async fn petstore_operations_list_input_schemas() {
    let harness = Harness::new().await;
    let config = json!({"spec": read("petstore3.openapi.yaml")});

    let listed = harness
        .execute(&config, "operations", json!({}))
        .await
        .unwrap();

    assert_eq!(listed["count"], json!(19));
    let operations = listed["operations"].as_array().unwrap();
    let get = operations
        .iter()
        .find(|op| op["name"] == "getPetById")
        .unwrap();
    assert_eq!(get["method"], json!("GET"));
    assert_eq!(get["read_only"], json!(true));
    assert_eq!(get["input_schema"]["required"], json!(["path"]));
    assert_eq!(
        get["input_schema"]["properties"]["path"]["required"],
        json!(["petId"])
    );
    let add = operations.iter().find(|op| op["name"] == "addPet").unwrap();
    assert_eq!(add["read_only"], json!(false));
    assert_eq!(add["input_schema"]["required"], json!(["body"]));
    assert_eq!(
        add["input_schema"]["properties"]["body"]["$ref"],
        json!("#/$defs/Pet")
    );
    assert_eq!(
        add["input_schema"]["$defs"]["Pet"]["required"],
        json!(["name", "photoUrls"])
    );
    let delete = operations
        .iter()
        .find(|op| op["name"] == "deletePet")
        .unwrap();
    assert!(delete["input_schema"]["properties"]["header"]["properties"]["api_key"].is_object());
    // The manifest marks `operations` as the list of further operations.
    let lister = harness.plugin.manifest.operation("operations").unwrap();
    assert_eq!(lister.input_schema["x-trellis-operation-list"], json!(true));
}

#[tokio::test]
async fn slack_swagger2_form_body_and_query() {
    let Some(prism) = Prism::start(&data("slack-web-api.swagger2.json")) else {
        return;
    };
    let harness = Harness::new().await;
    let config = slack_config(&prism);

    // chat.postMessage: a required header parameter and a form body (formData parameters).
    let posted = harness
        .call(
            &config,
            "chat_postMessage",
            json!({"header": {"token": "xoxb-test"}, "body": {"channel": "C012AB3CD", "text": "Hello"}}),
        )
        .await
        .unwrap();
    let listed = harness
        .call(
            &config,
            "conversations_list",
            json!({"query": {"token": "xoxb-test", "limit": 20, "exclude_archived": true}}),
        )
        .await
        .unwrap();
    let missing = invalid_input(
        harness
            .call(
                &config,
                "chat_postMessage",
                json!({"header": {"token": "xoxb-test"}, "body": {"text": "Hello"}}),
            )
            .await,
    );

    assert_eq!(posted["status"], json!(200), "{posted}");
    assert_eq!(posted["body"]["ok"], json!(true), "{posted}");
    assert_eq!(listed["status"], json!(200), "{listed}");
    assert!(listed["body"]["channels"].is_array(), "{listed}");
    assert!(missing.contains("`body.channel`"), "{missing}");
}

#[tokio::test]
async fn unparseable_specifications_name_the_line() {
    let harness = Harness::new().await;
    let tab = "openapi: 3.0.0\ninfo:\n  title: t\n  version: '1'\npaths:\n\t/pets: {}\n";
    let json_text = "{\n  \"openapi\": \"3.0.0\",\n  \"paths\": {\n    \"/pets\": {,}\n  }\n}";
    let not_openapi = "title: just some YAML\n";

    let yaml_error = invalid_config(
        harness
            .execute(&json!({"spec": tab}), "operations", json!({}))
            .await,
    );
    let json_error = invalid_config(
        harness
            .execute(&json!({"spec": json_text}), "operations", json!({}))
            .await,
    );
    let kind_error = invalid_config(
        harness
            .execute(&json!({"spec": not_openapi}), "operations", json!({}))
            .await,
    );
    let test_error = harness.test_connection(&json!({"spec": tab})).await;

    assert!(
        yaml_error.contains("not valid YAML at line 6"),
        "{yaml_error}"
    );
    assert!(
        json_error.contains("not valid JSON") && json_error.contains("line 4"),
        "{json_error}"
    );
    assert!(
        kind_error.contains("neither `openapi` nor `swagger`"),
        "{kind_error}"
    );
    let message = invalid_config(test_error);
    assert!(message.contains("at the specification step"), "{message}");
}

#[tokio::test]
async fn missing_ref_target_names_the_pointer() {
    let harness = Harness::new().await;
    let spec = json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/pets": {"post": {
                "operationId": "addPet",
                "requestBody": {"$ref": "#/components/requestBodies/Gone"}
            }},
            "/owners": {"post": {
                "operationId": "addOwner",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Owner"}}}}
            }}
        }
    });
    let config = json!({"spec": spec.to_string(), "server_url": "http://127.0.0.1:9"});
    let mut owners_only = spec.clone();
    owners_only["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/pets");
    let owners_only = json!({"spec": owners_only.to_string(), "server_url": "http://127.0.0.1:9"});

    let call = invalid_config(harness.call(&config, "addPet", json!({"body": {}})).await);
    // A schema's $ref is followed when the input schemas are built.
    let listing = invalid_config(harness.execute(&owners_only, "operations", json!({})).await);

    assert!(call.contains("`#/components/requestBodies/Gone`"), "{call}");
    assert!(call.contains("/paths/~1pets/post/requestBody"), "{call}");
    assert!(
        listing.contains("`#/components/schemas/Owner`"),
        "{listing}"
    );
}

/// An OpenAPI 3.1 document with a relative, templated server URL and every parameter style.
const OAS31: &str = r#"openapi: 3.1.0
info:
  title: Styles
  version: "1"
servers:
  - url: /api/v{version}
    variables:
      version:
        default: "2"
        enum: ["1", "2"]
components:
  securitySchemes:
    key:
      type: apiKey
      in: header
      name: X-Key
    basic:
      type: http
      scheme: basic
    cc:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: http://HOST/oauth/token
          scopes:
            read: read things
paths:
  /items/{ids}/{coords}:
    parameters:
      - name: ids
        in: path
        required: true
        style: label
        schema: {type: array, items: {type: integer}}
    get:
      operationId: getItems
      parameters:
        - name: coords
          in: path
          required: true
          style: matrix
          explode: true
          schema: {type: object}
        - name: filter
          in: query
          style: deepObject
          explode: true
          schema: {type: object}
        - name: tags
          in: query
          style: pipeDelimited
          explode: false
          schema: {type: array, items: {type: string}}
        - name: sort
          in: query
          style: spaceDelimited
          explode: false
          schema: {type: array, items: {type: string}}
        - name: fields
          in: query
          explode: false
          schema: {type: array, items: {type: string}}
        - name: X-Request-Id
          in: header
          schema: {type: [string, "null"]}
        - name: session
          in: cookie
          schema: {type: string}
  /secure:
    get:
      operationId: secure
      security:
        - key: []
        - basic: []
  /tokened:
    get:
      operationId: tokened
      security:
        - cc: [read]
"#;

/// The loopback API: the specification at `/specs/api.yaml`, 401 at `/api/v2/secure` without
/// the right key or password, and an echo of every other request.
async fn echo(
    request: HttpRequest,
    body: web::Bytes,
    grants: web::Data<AtomicUsize>,
) -> HttpResponse {
    if request.path() == "/specs/api.yaml" {
        // The token URL names this server.
        let host = request.connection_info().host().to_string();
        return HttpResponse::Ok()
            .content_type("application/yaml")
            .body(OAS31.replace("HOST", &host));
    }
    if request.path() == "/oauth/token" {
        let expected = format!("Basic {}", base64_encode("app:s3cret"));
        let authorized = request
            .headers()
            .get("authorization")
            .is_some_and(|value| value.as_bytes() == expected.as_bytes());
        if !authorized || body.as_ref() != b"grant_type=client_credentials&scope=read" {
            return HttpResponse::Unauthorized().body("bad client");
        }
        let number = grants.fetch_add(1, Ordering::SeqCst) + 1;
        return HttpResponse::Ok().json(json!({
            "access_token": format!("token-{number}"), "token_type": "Bearer", "expires_in": 3600
        }));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    if request.path().ends_with("/tokened")
        && header("authorization").as_deref() != Some("Bearer token-1")
    {
        return HttpResponse::Unauthorized().body("no token");
    }
    if request.path().ends_with("/secure") {
        let basic = format!("Basic {}", base64_encode("ada:lovelace"));
        if header("x-key").as_deref() != Some("right") && header("authorization") != Some(basic) {
            return HttpResponse::Unauthorized().body("wrong key");
        }
    }
    HttpResponse::Ok().json(json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "query": request.query_string(),
        "request_id": header("x-request-id"),
        "cookie": header("cookie"),
        "body": String::from_utf8_lossy(&body),
    }))
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

async fn start_api() -> u16 {
    start_api_counting().await.0
}

/// Starts the loopback API; returns its port and the count of tokens it granted.
async fn start_api_counting() -> (u16, web::Data<AtomicUsize>) {
    let grants = web::Data::new(AtomicUsize::new(0));
    let data = grants.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(echo))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (port, grants)
}

#[tokio::test]
async fn oas31_spec_url_relative_server_and_styles() {
    let port = start_api().await;
    let harness = Harness::new().await;
    let config = json!({ "spec_url": format!("http://127.0.0.1:{port}/specs/api.yaml") });

    let output = harness
        .call(
            &config,
            "getItems",
            json!({
                "path": {"ids": [3, 4], "coords": {"x": 1, "y": 2}},
                "query": {"filter": {"color": "red", "size": {"min": 1}}, "tags": ["a", "b"],
                          "sort": ["name", "-date"], "fields": ["id", "name"]},
                "header": {"X-Request-Id": "r-1"},
                "cookie": {"session": "s 1"}
            }),
        )
        .await
        .unwrap();
    let v1 = harness
        .call(
            &json!({ "spec_url": format!("http://127.0.0.1:{port}/specs/api.yaml"), "server_variables": {"version": "1"} }),
            "getItems",
            json!({"path": {"ids": [1], "coords": {"x": 0}}}),
        )
        .await
        .unwrap();

    let body = &output["body"];
    // The server `/api/v{version}` resolved against the specification's URL, version 2.
    assert_eq!(body["path"], json!("/api/v2/items/.3,4/;x=1;y=2"), "{body}");
    assert_eq!(
        body["query"],
        json!("filter[color]=red&filter[size][min]=1&tags=a%7Cb&sort=name%20-date&fields=id,name")
    );
    assert_eq!(body["request_id"], json!("r-1"));
    assert_eq!(body["cookie"], json!("session=s%201"));
    assert_eq!(v1["body"]["path"], json!("/api/v1/items/.1/;x=0"));
}

#[tokio::test]
async fn oas31_security_alternatives() {
    let port = start_api().await;
    let harness = Harness::new().await;
    let spec_url = format!("http://127.0.0.1:{port}/specs/api.yaml");

    let with_key = harness
        .call(
            &json!({"spec_url": spec_url, "credentials": {"key": "right"}}),
            "secure",
            json!({}),
        )
        .await
        .unwrap();
    let with_basic = harness
        .call(
            &json!({"spec_url": spec_url, "credentials": {"basic": {"username": "ada", "password": "lovelace"}}}),
            "secure",
            json!({}),
        )
        .await
        .unwrap();
    let (status, message) = upstream(
        harness
            .call(
                &json!({"spec_url": spec_url, "credentials": {"key": "wrong"}}),
                "secure",
                json!({}),
            )
            .await,
    );

    assert_eq!(with_key["status"], json!(200));
    assert_eq!(with_basic["status"], json!(200));
    assert_eq!(status, Some(401));
    assert!(message.contains("wrong key"), "{message}");
}

#[tokio::test]
async fn oauth2_client_credentials_token_is_fetched_once() {
    let (port, grants) = start_api_counting().await;
    let harness = Harness::new().await;
    let config = json!({
        "spec_url": format!("http://127.0.0.1:{port}/specs/api.yaml"),
        "credentials": {"cc": {"client_id": "app", "client_secret": "s3cret"}}
    });

    let first = harness.call(&config, "tokened", json!({})).await.unwrap();
    let second = harness.call(&config, "tokened", json!({})).await.unwrap();

    assert_eq!(first["status"], json!(200));
    assert_eq!(second["status"], json!(200));
    // The token is cached in the key-value store; the scopes are the operation's.
    assert_eq!(grants.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_test_names_the_failed_step() {
    let port = start_api().await;
    let harness = Harness::new().await;
    let spec_url = format!("http://127.0.0.1:{port}/specs/api.yaml");
    let closed = free_port();

    let ok = harness
        .test_connection(&json!({"spec_url": spec_url, "credentials": {"key": "right"}}))
        .await;
    let auth = harness
        .test_connection(&json!({"spec_url": spec_url, "credentials": {"key": "wrong"}}))
        .await;
    let connect = harness
        .test_connection(&json!({"spec_url": format!("http://127.0.0.1:{closed}/api.yaml")}))
        .await;

    assert!(ok.is_ok(), "{ok:?}");
    let (_, message) = upstream(auth);
    assert!(message.contains("at the authentication step"), "{message}");
    let (_, message) = upstream(connect);
    assert!(message.contains("at the connect step"), "{message}");
}

#[tokio::test]
async fn server_outside_the_allowed_origins_gets_a_hint() {
    let harness = Harness::new().await;
    // An inline specification whose server is not a configured origin.
    let config = json!({"spec": read("petstore3.openapi.yaml"), "credentials": {"api_key": "k"}});

    let result = harness
        .call(&config, "getPetById", json!({"path": {"petId": 1}}))
        .await;

    let Err(RunError::Denied { message }) = result else {
        panic!("expected a denied request, got {result:?}");
    };
    assert!(message.contains("set `server_url`"), "{message}");
}
