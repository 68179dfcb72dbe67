//! Built-in connector for any API described by Swagger 2.0, OpenAPI 3.0 or OpenAPI 3.1.
//!
//! The operations depend on the resource's specification, while the manifest is fixed. So the
//! manifest offers `call` (any operation, named in the input) and `operations` (the
//! specification's operations with their input schemas), and `operations` is marked as the
//! list of further operations: `execute` also accepts an operation's `operationId` (or
//! `METHOD path`) as the operation name itself.

mod auth;
mod config;
mod document;
mod model;
mod normalize;
mod oauth;
mod request;
#[path = "../../rest/src/response.rs"]
mod response;
mod schema;
mod server;
mod style;
mod yaml;

use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::Value;
use trellis_connector_sdk::{
    export_connector, json, log, Connector, Error, Json, Manifest, Operation,
};

use crate::auth::{Applied, Grant};
use crate::config::{Config, Source};
use crate::model::Context;
use crate::normalize::Document;
use crate::request::Outgoing;

struct OpenApi;

/// Characters of an error response's body kept in the error message.
const ERROR_BODY_CHARS: usize = 4_000;

/// Operation names listed in an unknown-operation error.
const LISTED_NAMES: usize = 30;

/// Connection steps, each named by the prefix of the host's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
    ("authentication failed", "authentication"),
];

impl Connector for OpenApi {
    fn manifest() -> Manifest {
        Manifest::new("openapi", "OpenAPI", env!("CARGO_PKG_VERSION"))
            .description(
                "Call the operations of any API described by Swagger 2.0, OpenAPI 3.0 or OpenAPI 3.1.",
            )
            .config_schema(config::schema())
            .base_url_field("spec_url")
            .base_url_field("server_url")
            .base_url_field("oauth2_token_url")
            .secret_field("credentials")
            .operation(
                Operation::new("call", call_schema())
                    .description("Calls one operation of the specification, named by operationId or `METHOD path`"),
            )
            .operation(
                Operation::new("operations", json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "schemas": {"type": "boolean", "default": true, "description": "Include each operation's input schema"}
                    }
                }))
                .description("Lists the specification's operations with their input schemas")
                .lists_operations(),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        let config = Config::from_json(&config)?;
        let document = load(&config)
            .map_err(network_step)
            .map_err(|error| at_step(error, "specification"))?;
        let context = document
            .context()
            .map_err(|error| at_step(error, "specification"))?;
        // Probe with a GET that needs no input: first one whose security the configured
        // credentials satisfy, so they are checked; then one without security; then any.
        let operations = document
            .operations()
            .map_err(|error| at_step(error, "specification"))?;
        let probe = operations
            .iter()
            .filter(|op| op.method == "GET" && !op.parameters.iter().any(|p| p.required))
            .min_by_key(
                |op| match auth::satisfied(op, &context, &config.credentials) {
                    Some(true) => 0,
                    None => 1,
                    Some(false) => 2,
                },
            );
        let (response, applied) = match probe {
            Some(operation) => {
                let input = request::parse_input(&document.root, operation, &json!({}))?;
                send_operation(&config, &context, operation, &input)
            }
            None => {
                let servers = operations
                    .first()
                    .map(|op| op.servers.clone())
                    .unwrap_or_default();
                let base = server::base_url(
                    &servers,
                    config.server_url.as_ref(),
                    &config.server_variables,
                    config.spec_url.as_ref(),
                )?;
                send(&config, Request::get(base.as_str())).map(|r| (r, Applied::NotNeeded))
            }
        }
        .map_err(network_step)?;
        let status = response.status();
        if matches!(status, 401 | 403) {
            let hint = match applied {
                Applied::Missing(note) => format!(" ({note})"),
                _ => String::new(),
            };
            return Err(Error::Upstream {
                status: Some(status),
                message: format!(
                    "the connection test failed at the authentication step: the API returned {status}{hint}"
                ),
            });
        }
        if status >= 500 {
            return Err(Error::Upstream {
                status: Some(status),
                message: format!(
                    "the connection test failed at the request step: the API returned {status}"
                ),
            });
        }
        Ok(())
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let config = Config::from_json(&config)?;
        match operation {
            "operations" => {
                let schemas: Option<bool> = input.optional("schemas")?;
                let document = load(&config)?;
                list_operations(&document, schemas.unwrap_or(true))
            }
            "call" => {
                let name: String = input.field("operation")?;
                let mut rest = input.into_value();
                if let Value::Object(map) = &mut rest {
                    map.remove("operation");
                }
                call(&config, &name, &rest)
            }
            name => call(&config, name, input.value()),
        }
    }
}

/// Names the connection-test step of a failed request: DNS, connect, TLS or authentication
/// by the host's message, else request.
fn network_step(error: Error) -> Error {
    match error {
        Error::Upstream { status, message } => {
            let step = CONNECTION_STEPS
                .iter()
                .find(|(prefix, _)| message.starts_with(prefix))
                .map_or("request", |(_, step)| step);
            Error::Upstream {
                status,
                message: format!("the connection test failed at the {step} step: {message}"),
            }
        }
        other => other,
    }
}

/// Names the connection-test step of a failure to load the specification.
fn at_step(error: Error, step: &str) -> Error {
    match error {
        Error::InvalidConfig(message) => Error::InvalidConfig(format!(
            "the connection test failed at the {step} step: {message}"
        )),
        other => other,
    }
}

/// Reads the specification from the config or fetches it from `spec_url`.
fn load(config: &Config) -> Result<Document, Error> {
    let root = match &config.source {
        Source::Text(text) => document::parse(text, "inline `spec`")?,
        Source::Object(value) => value.clone(),
        Source::Url(url) => {
            let request = Request::get(url.as_str()).header(
                "accept",
                "application/json, application/yaml;q=0.9, */*;q=0.5",
            );
            let response = send(config, request).map_err(|error| match error {
                Error::Upstream { status, message } => Error::Upstream {
                    status,
                    message: format!("{message} (fetching the specification from {url})"),
                },
                Error::Denied(message) => {
                    Error::Denied(format!("fetching the specification from {url}: {message}"))
                }
                other => other,
            })?;
            if response.status() >= 400 {
                return Err(Error::Upstream {
                    status: Some(response.status()),
                    message: format!(
                        "fetching the specification from {url} returned {}",
                        response.status()
                    ),
                });
            }
            let text = std::str::from_utf8(response.bytes()).map_err(|error| {
                Error::InvalidConfig(format!("the specification at {url} is not UTF-8: {error}"))
            })?;
            document::parse(text, url.as_str())?
        }
    };
    Document::new(root)
}

fn list_operations(document: &Document, schemas: bool) -> Result<Value, Error> {
    let operations = document.operations()?;
    let mut items = Vec::with_capacity(operations.len());
    for operation in &operations {
        let mut item = json!({
            "name": operation.name,
            "method": operation.method,
            "path": operation.path,
            "summary": operation.summary,
            "description": if operation.summary.is_empty() { &operation.description } else { &operation.summary },
            "read_only": operation.read_only(),
            "deprecated": operation.deprecated,
        });
        if schemas {
            item["input_schema"] = schema::input_schema(&document.root, operation)?;
        }
        items.push(item);
    }
    Ok(json!({ "count": items.len(), "operations": items }))
}

fn call(config: &Config, name: &str, input: &Value) -> Result<Value, Error> {
    let document = load(config)?;
    let Some(operation) = document.find(name)? else {
        let names = document.names()?;
        let shown: Vec<&str> = names
            .iter()
            .take(LISTED_NAMES)
            .map(String::as_str)
            .collect();
        let more = names.len().saturating_sub(LISTED_NAMES);
        return Err(Error::InvalidInput(format!(
            "the specification has no operation `{name}`; it has {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more (see the `operations` operation)")
            } else {
                String::new()
            }
        )));
    };
    let context = document.context()?;
    let input = request::parse_input(&document.root, &operation, input)?;
    let (response, applied) = send_operation(config, &context, &operation, &input)?;
    respond(response, operation.method == "HEAD", &applied)
}

/// Builds, authenticates and sends an operation's request. With OAuth 2.0 client credentials,
/// a 401 drops the cached token and the request goes once more with a new one.
fn send_operation(
    config: &Config,
    context: &Context,
    operation: &model::Operation,
    input: &request::Input,
) -> Result<(Response, Applied), Error> {
    let base = server::base_url(
        &operation.servers,
        config.server_url.as_ref(),
        &config.server_variables,
        config.spec_url.as_ref(),
    )?;
    let built = request::build(operation, input, &base)?;
    let mut grants: Vec<Grant> = Vec::new();
    let attempt = |grants: &mut Vec<Grant>| -> Result<(Response, Applied), Error> {
        let mut outgoing = built.clone();
        let applied = auth::apply(
            operation,
            context,
            &config.credentials,
            config.oauth2_token_url.as_deref(),
            &mut outgoing,
            &mut |grant| {
                grants.push(grant.clone());
                oauth::access_token(grant, config.tls.as_ref())
            },
        )?;
        if let Applied::Missing(note) = &applied {
            log::warn(note);
        }
        let response = send(config, to_request(&outgoing))?;
        Ok((response, applied))
    };
    let (response, applied) = attempt(&mut grants)?;
    if response.status() == 401 && !grants.is_empty() {
        for grant in &grants {
            oauth::forget(grant)?;
        }
        grants.clear();
        return attempt(&mut grants);
    }
    Ok((response, applied))
}

fn to_request(outgoing: &Outgoing) -> Request {
    let mut request = Request::new(&outgoing.method, &outgoing.url());
    for (name, value) in outgoing.all_headers() {
        request = request.header(&name, &value);
    }
    if let Some(body) = &outgoing.body {
        request = request.body(body.clone());
    }
    if let Some(ms) = outgoing.timeout_ms {
        request = request.timeout_ms(ms);
    }
    request
}

/// Sends through the host, with the config's TLS settings. A refused destination gets a hint:
/// the host lets the connector reach only the origins of `spec_url`, `server_url` and
/// `oauth2_token_url`.
fn send(config: &Config, request: Request) -> Result<Response, Error> {
    let result = match &config.tls {
        Some(tls) => request.send_with_tls(tls),
        None => request.send(),
    };
    result.map_err(|error| match error {
        Error::Denied(message) => Error::Denied(format!(
            "{message}; this connector may reach only the origins of `spec_url`, `server_url` \
             and `oauth2_token_url`, so set `server_url` to the API's base URL"
        )),
        other => other,
    })
}

/// Returns `{status, headers, body, body_encoding}`, or an upstream error for 4xx and 5xx.
fn respond(response: Response, head: bool, applied: &Applied) -> Result<Value, Error> {
    let content_type = response.header("content-type").map(str::to_string);
    let (body, encoding) = if head {
        (Value::Null, "none")
    } else {
        response::decode_body(response.bytes(), content_type.as_deref())
    };
    let status = response.status();
    if status >= 400 {
        let text = match &body {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let text: String = text.chars().take(ERROR_BODY_CHARS).collect();
        let hint = match (status, applied) {
            (401 | 403, Applied::Missing(note)) => format!(" ({note})"),
            _ => String::new(),
        };
        return Err(Error::Upstream {
            status: Some(status),
            message: format!("the API returned {status}{hint}: {text}"),
        });
    }
    Ok(json!({
        "status": status,
        "headers": response::headers_object(response.headers()),
        "body": body,
        "body_encoding": encoding,
    }))
}

fn call_schema() -> Value {
    json!({
        "type": "object",
        "required": ["operation"],
        "properties": {
            "operation": {"type": "string", "description": "operationId, or `METHOD /path` for an operation without one"},
            "path": {"type": "object", "description": "Path parameters by name"},
            "query": {"type": "object", "description": "Query parameters by name"},
            "header": {"type": "object", "description": "Header parameters by name"},
            "cookie": {"type": "object", "description": "Cookie parameters by name"},
            "parameters": {"type": "object", "description": "Parameters by name, wherever they go"},
            "body": {"description": "The request body: JSON, form fields, or text"},
            "content_type": {"type": "string", "description": "One of the operation's request media types; JSON by default"},
            "timeout_ms": {"type": "integer", "minimum": 1}
        }
    })
}

export_connector!(OpenApi);
