//! Builds an operation's HTTP request from the call's input: required parameters checked,
//! parameters serialized by style, the path template filled, the body encoded by media type.
//! No host calls, so all of it is tested on the host.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use trellis_connector_sdk::serde_json::{self, Map, Value};
use trellis_connector_sdk::Error;
use url::Url;

use crate::document::deref;
use crate::model::{Location, Media, Operation, Parameter};
use crate::schema::preferred_media;
use crate::style::{self, Style};

/// Top-level input fields of a call.
const INPUT_FIELDS: &[&str] = &[
    "path",
    "query",
    "header",
    "cookie",
    "parameters",
    "body",
    "content_type",
    "timeout_ms",
];

/// The call's input, sorted by parameter location.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub values: BTreeMap<Location, Map<String, Value>>,
    pub body: Option<Value>,
    pub content_type: Option<String>,
    pub timeout_ms: Option<u32>,
}

fn bad(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// Reads and checks the input of `operation`: every parameter must exist, every required one
/// must be present.
pub(crate) fn parse_input(
    root: &Value,
    operation: &Operation,
    input: &Value,
) -> Result<Input, Error> {
    let Some(map) = input.as_object() else {
        return Err(bad("the input must be a JSON object"));
    };
    let mut parsed = Input::default();
    for (key, value) in map {
        if !INPUT_FIELDS.contains(&key.as_str()) {
            return Err(bad(format!(
                "the input field `{key}` is unknown; the input takes {}",
                INPUT_FIELDS.join(", ")
            )));
        }
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "body" => parsed.body = Some(value.clone()),
            "content_type" => {
                parsed.content_type = Some(
                    value
                        .as_str()
                        .ok_or_else(|| bad("the field `content_type` must be a string"))?
                        .to_string(),
                )
            }
            "timeout_ms" => {
                let ms = value
                    .as_u64()
                    .filter(|ms| *ms > 0 && *ms <= u64::from(u32::MAX));
                parsed.timeout_ms = Some(
                    ms.ok_or_else(|| bad("the field `timeout_ms` must be a positive integer"))?
                        as u32,
                );
            }
            "parameters" => {
                let Some(values) = value.as_object() else {
                    return Err(bad("the field `parameters` must be an object"));
                };
                for (name, value) in values {
                    let matches: Vec<&Parameter> = operation
                        .parameters
                        .iter()
                        .filter(|p| &p.name == name)
                        .collect();
                    let location = match matches.as_slice() {
                        [one] => one.location,
                        [] => {
                            return Err(unknown_parameter(operation, &format!("parameters.{name}")))
                        }
                        _ => {
                            return Err(bad(format!(
                                "the operation `{}` has more than one parameter named `{name}`; \
                                 put it under `path`, `query`, `header` or `cookie`",
                                operation.name
                            )))
                        }
                    };
                    parsed
                        .values
                        .entry(location)
                        .or_default()
                        .insert(name.clone(), value.clone());
                }
            }
            group => {
                let location = Location::ALL
                    .into_iter()
                    .find(|l| l.name() == group)
                    .expect("listed");
                let Some(values) = value.as_object() else {
                    return Err(bad(format!("the field `{group}` must be an object")));
                };
                for (name, value) in values {
                    if !operation
                        .parameters
                        .iter()
                        .any(|p| &p.name == name && p.location == location)
                    {
                        return Err(unknown_parameter(operation, &format!("{group}.{name}")));
                    }
                    parsed
                        .values
                        .entry(location)
                        .or_default()
                        .insert(name.clone(), value.clone());
                }
            }
        }
    }

    for parameter in operation.parameters.iter().filter(|p| p.required) {
        let present = parsed
            .values
            .get(&parameter.location)
            .and_then(|values| values.get(&parameter.name))
            .is_some_and(|value| !value.is_null());
        if !present {
            return Err(bad(format!(
                "the operation `{}` needs the {} parameter `{}`: set `{}.{}` (or `parameters.{}`)",
                operation.name,
                parameter.location.name(),
                parameter.name,
                parameter.location.name(),
                parameter.name,
                parameter.name
            )));
        }
    }

    match (&operation.body, &parsed.body) {
        (None, Some(_)) => {
            return Err(bad(format!(
                "the operation `{}` takes no body",
                operation.name
            )))
        }
        (Some(body), None) if body.required => {
            return Err(bad(format!(
                "the operation `{}` needs a `body`",
                operation.name
            )))
        }
        (Some(body), Some(Value::Object(given))) => {
            // The body's own required properties, one level deep.
            let media = choose_media(operation, parsed.content_type.as_deref())?;
            if let Some(media) = media.or_else(|| preferred_media(body)) {
                let at = format!("{}/requestBody", operation.pointer);
                if let Ok((schema, _)) = deref(root, &media.schema, at) {
                    let required = schema.get("required").and_then(Value::as_array);
                    for name in required.into_iter().flatten().filter_map(Value::as_str) {
                        if given.get(name).is_none_or(Value::is_null) {
                            return Err(bad(format!(
                                "the operation `{}` needs `body.{name}`",
                                operation.name
                            )));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(parsed)
}

fn unknown_parameter(operation: &Operation, field: &str) -> Error {
    let known: Vec<String> = operation
        .parameters
        .iter()
        .map(|p| format!("{}.{}", p.location.name(), p.name))
        .collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    bad(format!(
        "`{field}` is not a parameter of the operation `{}`; its parameters are {known}",
        operation.name
    ))
}

fn choose_media<'a>(
    operation: &'a Operation,
    wanted: Option<&str>,
) -> Result<Option<&'a Media>, Error> {
    let Some(body) = &operation.body else {
        return Ok(None);
    };
    let Some(wanted) = wanted else {
        return Ok(preferred_media(body));
    };
    let essence = |t: &str| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    body.media
        .iter()
        .find(|media| essence(&media.content_type) == essence(wanted))
        .map(Some)
        .ok_or_else(|| {
            let types: Vec<&str> = body.media.iter().map(|m| m.content_type.as_str()).collect();
            bad(format!(
                "`content_type` `{wanted}` is not one of the operation's media types: {}",
                types.join(", ")
            ))
        })
}

/// A request ready for authentication and sending.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub method: String,
    pub base: Url,
    /// The filled path, percent-encoded.
    pub path: String,
    /// Encoded `name=value` pairs.
    pub query: Vec<String>,
    pub headers: Vec<(String, String)>,
    /// `name=value` pairs for the `Cookie` header.
    pub cookies: Vec<String>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: Option<u32>,
}

impl Outgoing {
    /// The full URL: the base URL's path, then the operation's path, then the query.
    pub fn url(&self) -> String {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{}", self.path));
        url.set_query(None);
        let mut text = url.to_string();
        if !self.query.is_empty() {
            text.push('?');
            text.push_str(&self.query.join("&"));
        }
        text
    }

    /// The headers with the cookies joined into one `Cookie` header.
    pub fn all_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        if !self.cookies.is_empty() {
            headers.push(("cookie".into(), self.cookies.join("; ")));
        }
        headers
    }

    /// Sets a header, replacing one of the same name.
    pub fn set_header(&mut self, name: &str, value: String) {
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value));
    }
}

/// Builds the request of `operation` under `base`.
pub(crate) fn build(operation: &Operation, input: &Input, base: &Url) -> Result<Outgoing, Error> {
    let empty = Map::new();
    let values = |location: Location| input.values.get(&location).unwrap_or(&empty);

    // The path template.
    let mut path = String::with_capacity(operation.path.len());
    let mut rest = operation.path.as_str();
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        path.push_str(&encode_path_literal(&rest[..start]));
        let name = &rest[start + 1..start + end];
        let parameter = operation
            .parameters
            .iter()
            .find(|p| p.location == Location::Path && p.name == name)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "the specification is invalid at `{}`: the path `{}` has `{{{name}}}` but the \
                     operation has no such path parameter",
                    operation.pointer, operation.path
                ))
            })?;
        let value = values(Location::Path)
            .get(name)
            .cloned()
            .unwrap_or(Value::Null);
        let value = json_if(parameter, value);
        path.push_str(&style::path_value(
            name,
            &value,
            parameter.style,
            parameter.explode,
        ));
        rest = &rest[start + end + 1..];
    }
    path.push_str(&encode_path_literal(rest));

    let mut query = Vec::new();
    let mut headers = vec![(
        "accept".to_string(),
        "application/json, */*;q=0.5".to_string(),
    )];
    let mut cookies = Vec::new();
    for parameter in &operation.parameters {
        let Some(value) = values(parameter.location).get(&parameter.name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let value = json_if(parameter, value.clone());
        match parameter.location {
            Location::Path => {}
            Location::Query => query.extend(style::query_pairs(
                &parameter.name,
                &value,
                parameter.style,
                parameter.explode,
                parameter.allow_reserved,
            )),
            Location::Header => {
                let text = style::header_value(&value, parameter.explode);
                check_header(&parameter.name, &text)?;
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(&parameter.name));
                headers.push((parameter.name.clone(), text));
            }
            Location::Cookie => cookies.extend(style::cookie_pairs(
                &parameter.name,
                &value,
                parameter.explode,
            )),
        }
    }

    let mut body = None;
    if let Some(value) = &input.body {
        let media = choose_media(operation, input.content_type.as_deref())?;
        let content_type = match media {
            Some(media) => media.content_type.clone(),
            None => "application/json".into(),
        };
        let (bytes, header) = encode_body(value, &content_type, media)?;
        headers.push(("content-type".into(), header));
        body = Some(bytes);
    }

    Ok(Outgoing {
        method: operation.method.clone(),
        base: base.clone(),
        path,
        query,
        headers,
        cookies,
        body,
        timeout_ms: input.timeout_ms,
    })
}

/// A parameter described with JSON `content` is sent as JSON text.
fn json_if(parameter: &Parameter, value: Value) -> Value {
    if parameter.as_json && !value.is_string() {
        Value::String(value.to_string())
    } else {
        value
    }
}

/// Encodes the literal parts of a path template: characters a path may hold stay.
fn encode_path_literal(text: &str) -> String {
    const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    percent_encoding::utf8_percent_encode(text, PATH).to_string()
}

/// Checks a header name (an RFC 9110 token) and value (no CR, LF or NUL).
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), Error> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(bad(format!("`{name}` is not a valid header name")));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(bad(format!(
            "the value of the header `{name}` contains a line break or NUL"
        )));
    }
    Ok(())
}

/// Encodes a body for its media type; returns the bytes and the `content-type` header.
fn encode_body(
    value: &Value,
    content_type: &str,
    media: Option<&Media>,
) -> Result<(Vec<u8>, String), Error> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/x-www-form-urlencoded" {
        let Some(fields) = value.as_object() else {
            return Err(bad(
                "a form body (application/x-www-form-urlencoded) must be an object",
            ));
        };
        let mut pairs = Vec::new();
        for (name, field) in fields {
            if field.is_null() {
                continue;
            }
            match media.and_then(|m| m.encoding.get(name)) {
                Some(encoding) => pairs.extend(style::query_pairs(
                    name,
                    field,
                    encoding.style,
                    encoding.explode,
                    encoding.allow_reserved,
                )),
                // Defaults: arrays repeat the field; objects are sent as JSON text.
                None => match field {
                    Value::Object(_) => pairs.push(format!(
                        "{}={}",
                        style::encode(name),
                        style::encode(&field.to_string())
                    )),
                    other => {
                        pairs.extend(style::query_pairs(name, other, Style::Form, true, false))
                    }
                },
            }
        }
        return Ok((pairs.join("&").into_bytes(), content_type.to_string()));
    }
    if essence == "multipart/form-data" {
        return multipart(value);
    }
    if essence.starts_with("application/json") || essence.ends_with("+json") || essence == "*/*" {
        let bytes = serde_json::to_vec(value)
            .map_err(|error| Error::Internal(format!("serializing the body failed: {error}")))?;
        let header = if essence == "*/*" {
            "application/json".to_string()
        } else {
            content_type.to_string()
        };
        return Ok((bytes, header));
    }
    // Text and binary media types: a string as it is, `{"base64": "..."}` for bytes.
    match value {
        Value::String(text) => Ok((text.clone().into_bytes(), content_type.to_string())),
        Value::Object(map) if map.get("base64").is_some_and(Value::is_string) => {
            let bytes = BASE64
                .decode(map["base64"].as_str().unwrap_or_default())
                .map_err(|error| bad(format!("`body.base64` is not base64: {error}")))?;
            Ok((bytes, content_type.to_string()))
        }
        other => Ok((other.to_string().into_bytes(), content_type.to_string())),
    }
}

/// `multipart/form-data`: strings, numbers and booleans become text parts, arrays repeat the
/// field, objects with `base64` become file parts, other objects JSON parts.
fn multipart(value: &Value) -> Result<(Vec<u8>, String), Error> {
    let Some(fields) = value.as_object() else {
        return Err(bad("a multipart body must be an object"));
    };
    let boundary = format!("trellis-{:016x}", fnv(value.to_string().as_bytes()));
    let mut out = Vec::new();
    let mut part = |name: &str, value: &Value| -> Result<(), Error> {
        let quoted = name.replace('"', "%22");
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match value {
            Value::Object(map) if map.get("base64").is_some_and(Value::is_string) => {
                let bytes = BASE64
                    .decode(map["base64"].as_str().unwrap_or_default())
                    .map_err(|error| bad(format!("`body.{name}.base64` is not base64: {error}")))?;
                let filename = map
                    .get("filename")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .replace('"', "%22");
                let kind = map
                    .get("content_type")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream");
                out.extend_from_slice(
                    format!(
                        "content-disposition: form-data; name=\"{quoted}\"; filename=\"{filename}\"\r\ncontent-type: {kind}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(&bytes);
            }
            Value::Object(_) | Value::Array(_) => {
                out.extend_from_slice(
                    format!("content-disposition: form-data; name=\"{quoted}\"\r\ncontent-type: application/json\r\n\r\n")
                        .as_bytes(),
                );
                out.extend_from_slice(value.to_string().as_bytes());
            }
            other => {
                out.extend_from_slice(
                    format!("content-disposition: form-data; name=\"{quoted}\"\r\n\r\n").as_bytes(),
                );
                out.extend_from_slice(style::primitive_text(other).as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    };
    for (name, field) in fields {
        match field {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    part(name, item)?;
                }
            }
            other => part(name, other)?,
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((out, format!("multipart/form-data; boundary={boundary}")))
}

/// FNV-1a, for a boundary that does not depend on a random source.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Document;
    use trellis_connector_sdk::json;

    fn petstore() -> Document {
        Document::new(json!({
            "openapi": "3.0.0",
            "components": {"schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}},
            "paths": {
                "/pet/{petId}": {
                    "parameters": [{"name": "petId", "in": "path", "schema": {"type": "integer"}}],
                    "get": {"operationId": "getPetById", "parameters": [
                        {"name": "fields", "in": "query", "style": "form", "explode": false, "schema": {"type": "array"}},
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}}
                    ]}
                },
                "/pet/{petId}/tags/{tag}": {"get": {"operationId": "tag", "parameters": [
                    {"name": "petId", "in": "path", "style": "label", "schema": {"type": "array"}},
                    {"name": "tag", "in": "path", "style": "matrix", "explode": true, "schema": {"type": "object"}}
                ]}},
                "/pet": {"post": {"operationId": "addPet", "requestBody": {"required": true, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}},
                    "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Pet"}}
                }}}}
            }
        }))
        .unwrap()
    }

    fn base() -> Url {
        Url::parse("https://api.test/v3/").unwrap()
    }

    fn prepare(document: &Document, name: &str, input: Value) -> Result<Outgoing, Error> {
        let op = document.find(name).unwrap().unwrap();
        let parsed = parse_input(&document.root, &op, &input)?;
        build(&op, &parsed, &base())
    }

    #[test]
    fn fills_path_query_header_and_cookie() {
        let out = prepare(
            &petstore(),
            "getPetById",
            json!({"path": {"petId": 7}, "query": {"fields": ["a", "b c"]},
                   "header": {"X-Trace": "t1"}, "cookie": {"session": "s 1"}}),
        )
        .unwrap();
        assert_eq!(out.url(), "https://api.test/v3/pet/7?fields=a,b%20c");
        assert!(out.headers.contains(&("X-Trace".into(), "t1".into())));
        assert_eq!(
            out.all_headers().last().unwrap(),
            &("cookie".to_string(), "session=s%201".to_string())
        );
    }

    #[test]
    fn flat_parameters_find_their_location() {
        let out = prepare(
            &petstore(),
            "getPetById",
            json!({"parameters": {"petId": "a/b", "X-Trace": "x"}}),
        )
        .unwrap();
        assert_eq!(out.url(), "https://api.test/v3/pet/a%2Fb");
        assert!(out.headers.contains(&("X-Trace".into(), "x".into())));
    }

    #[test]
    fn label_and_matrix_path_styles() {
        let out = prepare(
            &petstore(),
            "tag",
            json!({"path": {"petId": [1, 2], "tag": {"a": "x"}}}),
        )
        .unwrap();
        assert_eq!(out.url(), "https://api.test/v3/pet/.1,2/tags/;a=x");
    }

    #[test]
    fn missing_required_parameter_is_named() {
        let error = prepare(&petstore(), "getPetById", json!({"query": {}})).unwrap_err();
        let Error::InvalidInput(message) = error else {
            panic!("{error:?}")
        };
        assert!(message.contains("`petId`"), "{message}");
        assert!(message.contains("path.petId"), "{message}");
    }

    #[test]
    fn unknown_parameter_is_rejected() {
        let error = prepare(
            &petstore(),
            "getPetById",
            json!({"path": {"petId": 1}, "query": {"nope": 1}}),
        )
        .unwrap_err();
        let Error::InvalidInput(message) = error else {
            panic!("{error:?}")
        };
        assert!(message.contains("`query.nope`"), "{message}");
    }

    #[test]
    fn body_is_json_by_default_and_form_on_request() {
        let json_body = prepare(&petstore(), "addPet", json!({"body": {"name": "Rex"}})).unwrap();
        assert_eq!(json_body.body.unwrap(), br#"{"name":"Rex"}"#);
        let form = prepare(
            &petstore(),
            "addPet",
            json!({"body": {"name": "Rex K", "tags": ["a", "b"]}, "content_type": "application/x-www-form-urlencoded"}),
        )
        .unwrap();
        assert_eq!(form.body.unwrap(), b"name=Rex%20K&tags=a&tags=b");
    }

    #[test]
    fn required_body_and_its_required_fields() {
        let error = prepare(&petstore(), "addPet", json!({})).unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("needs a `body`")),
            "{error:?}"
        );
        let error = prepare(&petstore(), "addPet", json!({"body": {"status": "x"}})).unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput(ref m) if m.contains("`body.name`")),
            "{error:?}"
        );
    }

    #[test]
    fn header_injection_is_rejected() {
        let error = prepare(
            &petstore(),
            "getPetById",
            json!({"path": {"petId": 1}, "header": {"X-Trace": "a\r\nb: c"}}),
        )
        .unwrap_err();
        assert!(matches!(error, Error::InvalidInput(_)), "{error:?}");
    }

    #[test]
    fn multipart_parts() {
        let (bytes, header) =
            multipart(&json!({"note": "hi", "file": {"base64": "AAE=", "filename": "a.bin"}}))
                .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(header.starts_with("multipart/form-data; boundary="));
        assert!(text.contains("name=\"note\"\r\n\r\nhi\r\n"), "{text}");
        assert!(text.contains("filename=\"a.bin\""), "{text}");
    }
}
