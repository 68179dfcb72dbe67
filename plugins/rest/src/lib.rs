//! Built-in connector for REST APIs: one `request` operation under a configured base URL, with
//! default headers and query parameters, authentication and TLS options.

mod config;
mod oauth;
mod request;
mod response;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};
use trellis_connector_sdk::{serde_json, Value};

use crate::config::{Auth, Config};

struct Rest;

/// Bytes of an error response's body kept in the error message.
const ERROR_BODY_CHARS: usize = 4_000;

/// Connection steps, each named by the prefix of the host's or this connector's message.
const CONNECTION_STEPS: &[(&str, &str)] = &[
    ("DNS lookup failed", "DNS"),
    ("connecting failed", "connect"),
    ("TLS handshake failed", "TLS"),
    ("authentication failed", "authentication"),
];

impl Connector for Rest {
    fn manifest() -> Manifest {
        Manifest::new("rest", "REST API", env!("CARGO_PKG_VERSION"))
            .description("Send HTTP requests to a REST API under one base URL.")
            .config_schema(config_schema())
            .base_url_field("base_url")
            .base_url_field("oauth2_token_url")
            .secret_field("password")
            .secret_field("bearer_token")
            .secret_field("api_key")
            .secret_field("oauth2_client_secret")
            .operation(
                Operation::new("request", request_schema())
                    .description("Sends one HTTP request and returns the status, headers and body"),
            )
    }

    fn test_connection(config: Json) -> Result<(), Error> {
        let config = Config::from_json(&config)?;
        let input = Json::input(json!({ "method": "GET", "path": "" }));
        match send(&config, &input) {
            Ok(response) if matches!(response.status(), 401 | 403) => Err(Error::Upstream {
                status: Some(response.status()),
                message: format!(
                    "the connection test failed at the authentication step: the API returned {}",
                    response.status()
                ),
            }),
            Ok(response) if response.status() >= 500 => Err(Error::Upstream {
                status: Some(response.status()),
                message: format!(
                    "the connection test failed at the request step: the API returned {}",
                    response.status()
                ),
            }),
            Ok(_) => Ok(()),
            Err(Error::Upstream { status, message }) => {
                let step = CONNECTION_STEPS
                    .iter()
                    .find(|(prefix, _)| message.starts_with(prefix))
                    .map_or("request", |(_, step)| step);
                Err(Error::Upstream {
                    status,
                    message: format!("the connection test failed at the {step} step: {message}"),
                })
            }
            Err(other) => Err(other),
        }
    }

    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error> {
        let config = Config::from_json(&config)?;
        match operation {
            "request" => {
                let method: Option<String> = input.optional("method")?;
                let response = send(&config, &input)?;
                respond(response, method.as_deref() == Some("HEAD"))
            }
            other => Err(Error::unknown_operation(other)),
        }
    }
}

/// Builds and sends the request. With OAuth 2.0, a 401 response drops the cached token and
/// the request is sent once more with a new one.
fn send(config: &Config, input: &Json) -> Result<Response, Error> {
    let response = send_once(config, input)?;
    if let (401, Auth::ClientCredentials(grant)) = (response.status(), &config.auth) {
        oauth::forget(grant)?;
        return send_once(config, input);
    }
    Ok(response)
}

fn send_once(config: &Config, input: &Json) -> Result<Response, Error> {
    let method = input
        .optional::<String>("method")?
        .unwrap_or_else(|| "GET".into());
    let method = method.to_ascii_uppercase();
    if !matches!(
        method.as_str(),
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
    ) {
        return Err(Error::InvalidInput(format!(
            "the field `method` must be GET, POST, PUT, PATCH, DELETE or HEAD, not `{method}`"
        )));
    }
    let path: String = input.optional("path")?.unwrap_or_default();
    let query: Option<serde_json::Map<String, serde_json::Value>> = input.optional("query")?;
    let encoded_query: bool = input.optional("encoded_query")?.unwrap_or(false);
    let headers: Option<serde_json::Map<String, serde_json::Value>> = input.optional("headers")?;
    let body_value: Option<serde_json::Value> = input.optional("body")?;
    let body_type: String = input
        .optional("body_type")?
        .unwrap_or_else(|| "json".into());
    let timeout_ms: Option<u32> = input.optional("timeout_ms")?;

    let mut url = request::join(&config.base_url, &path)?;
    let mut default_query = config.query.clone();
    if let Auth::ApiKeyQuery { name, value } = &config.auth {
        default_query.push((name.clone(), value.clone()));
    }
    request::set_query(&mut url, &default_query, query.as_ref(), encoded_query)?;

    let mut header_list = config.headers.clone();
    match &config.auth {
        Auth::None | Auth::ApiKeyQuery { .. } => {}
        Auth::Basic { username, password } => {
            let credentials = BASE64.encode(format!("{username}:{password}"));
            header_list.push(("authorization".into(), format!("Basic {credentials}")));
        }
        Auth::Bearer { token } => {
            header_list.push(("authorization".into(), format!("Bearer {token}")));
        }
        Auth::ApiKeyHeader { name, value } => header_list.push((name.clone(), value.clone())),
        Auth::ClientCredentials(grant) => {
            let token = oauth::access_token(grant, config.tls.as_ref())?;
            header_list.push(("authorization".into(), format!("Bearer {token}")));
        }
    }
    // Input headers replace configured ones of the same name.
    for (name, value) in headers.iter().flatten() {
        let value = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
            _ => {
                return Err(Error::InvalidInput(format!(
                    "the header `{name}` must be a string, number or boolean"
                )))
            }
        };
        request::check_header(name, &value).map_err(Error::InvalidInput)?;
        header_list.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        header_list.push((name.clone(), value));
    }

    let mut outgoing = Request::new(&method, url.as_str());
    if let Some(value) = &body_value {
        let body = request::body(value, &body_type)?;
        if !header_list
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            header_list.push(("content-type".into(), body.content_type));
        }
        outgoing = outgoing.body(body.bytes);
    }
    for (name, value) in &header_list {
        outgoing = outgoing.header(name, value);
    }
    if let Some(milliseconds) = timeout_ms {
        outgoing = outgoing.timeout_ms(milliseconds);
    }
    match &config.tls {
        Some(tls) => outgoing.send_with_tls(tls),
        None => outgoing.send(),
    }
}

/// Returns the response as `{status, headers, body, body_encoding}`, or an upstream error with
/// the status and the start of the body for a 4xx or 5xx response.
fn respond(response: Response, head: bool) -> Result<Value, Error> {
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
        return Err(Error::Upstream {
            status: Some(status),
            message: format!("the API returned {status}: {text}"),
        });
    }
    Ok(json!({
        "status": status,
        "headers": response::headers_object(response.headers()),
        "body": body,
        "body_encoding": encoding,
    }))
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": false,
        "properties": {
            "base_url": { "type": "string", "format": "uri" },
            "headers": { "type": "object", "additionalProperties": { "type": "string" } },
            "query": { "type": "object", "additionalProperties": { "type": "string" } },
            "auth_type": {
                "enum": ["none", "basic", "bearer", "api_key", "oauth2_client_credentials"],
                "default": "none"
            },
            "username": { "type": "string" },
            "password": { "type": "string" },
            "bearer_token": { "type": "string" },
            "api_key": { "type": "string" },
            "api_key_name": { "type": "string", "description": "Header or query parameter name" },
            "api_key_in": { "enum": ["header", "query"], "default": "header" },
            "oauth2_token_url": { "type": "string", "format": "uri" },
            "oauth2_client_id": { "type": "string" },
            "oauth2_client_secret": { "type": "string" },
            "oauth2_scope": { "type": "string" },
            "oauth2_client_auth": { "enum": ["basic", "body"], "default": "basic" },
            "tls_ca_cert": { "type": "string", "description": "PEM of extra trusted CAs" },
            "tls_skip_verify": {
                "type": "boolean", "default": false,
                "description": "Accept any server certificate; unsafe outside testing"
            }
        }
    })
}

fn request_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "method": { "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"], "default": "GET" },
            "path": { "type": "string", "description": "Joined under the base URL" },
            "query": { "type": "object", "description": "Values are strings, numbers, booleans or lists" },
            "encoded_query": {
                "type": "boolean", "default": false,
                "description": "Query keys and values are already percent-encoded"
            },
            "headers": { "type": "object" },
            "body": { "description": "JSON value, form or multipart fields, or raw text" },
            "body_type": { "enum": ["json", "form", "multipart", "raw"], "default": "json" },
            "timeout_ms": { "type": "integer", "minimum": 1 }
        }
    })
}

export_connector!(Rest);
