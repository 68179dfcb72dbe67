//! Turns a parsed Swagger 2.0 or OpenAPI 3.x document into [`Operation`]s: path-level
//! parameters merged in, `$ref`s of parameters, bodies and path items followed, Swagger 2.0
//! `host`, `basePath`, `schemes`, `consumes`, `formData` and `collectionFormat` translated.

use std::collections::BTreeMap;

use trellis_connector_sdk::serde_json::{json, Map, Value};
use trellis_connector_sdk::Error;

use crate::document::{deref, escape};
use crate::model::*;
use crate::style::{primitive_text, Style};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn invalid(pointer: &str, message: impl std::fmt::Display) -> Error {
    Error::InvalidConfig(format!(
        "the specification is invalid at `{}`: {message}",
        if pointer.is_empty() { "/" } else { pointer }
    ))
}

/// A parsed document and its dialect.
pub(crate) struct Document {
    pub root: Value,
    pub dialect: Dialect,
}

impl Document {
    pub fn new(root: Value) -> Result<Self, Error> {
        let dialect = if let Some(version) = root.get("openapi") {
            let version = primitive_text(version);
            if version.starts_with("3.0") {
                Dialect::OpenApi30
            } else if version.starts_with("3.1") {
                Dialect::OpenApi31
            } else {
                return Err(invalid(
                    "/openapi",
                    format!("OpenAPI version `{version}` is not supported; use 3.0 or 3.1"),
                ));
            }
        } else if let Some(version) = root.get("swagger") {
            let version = primitive_text(version);
            if !version.starts_with("2.0") && version != "2" {
                return Err(invalid(
                    "/swagger",
                    format!("Swagger version `{version}` is not supported; use 2.0"),
                ));
            }
            Dialect::Swagger2
        } else {
            return Err(Error::InvalidConfig(
                "the specification has neither `openapi` nor `swagger` at its top level, so it \
                 is not an OpenAPI or Swagger document"
                    .into(),
            ));
        };
        match root.get("paths") {
            None | Some(Value::Object(_)) => {}
            Some(_) => return Err(invalid("/paths", "`paths` must be an object")),
        }
        Ok(Document { root, dialect })
    }

    /// The security schemes, for calls.
    pub fn context(&self) -> Result<Context, Error> {
        let (pointer, schemes) = match self.dialect {
            Dialect::Swagger2 => ("/securityDefinitions", self.root.get("securityDefinitions")),
            _ => (
                "/components/securitySchemes",
                self.root
                    .get("components")
                    .and_then(|c| c.get("securitySchemes")),
            ),
        };
        let mut parsed = BTreeMap::new();
        if let Some(schemes) = schemes.and_then(Value::as_object) {
            for (name, scheme) in schemes {
                let at = format!("{pointer}/{}", escape(name));
                let (scheme, at) = deref(&self.root, scheme, at)?;
                parsed.insert(name.clone(), self.scheme(scheme, &at)?);
            }
        }
        Ok(Context {
            dialect: self.dialect,
            schemes: parsed,
        })
    }

    fn scheme(&self, scheme: &Value, at: &str) -> Result<Scheme, Error> {
        let kind = str_field(scheme, "type").unwrap_or_default();
        Ok(match kind {
            "apiKey" => {
                let name = str_field(scheme, "name")
                    .ok_or_else(|| invalid(at, "the apiKey scheme has no `name`"))?;
                let location = match str_field(scheme, "in") {
                    Some("header") => Location::Header,
                    Some("query") => Location::Query,
                    Some("cookie") => Location::Cookie,
                    other => {
                        return Err(invalid(
                            at,
                            format!(
                            "the apiKey scheme's `in` is {other:?}, not header, query or cookie"
                        ),
                        ))
                    }
                };
                Scheme::ApiKey {
                    name: name.to_string(),
                    location,
                }
            }
            "basic" => Scheme::Basic,
            "http" => match str_field(scheme, "scheme")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("basic") => Scheme::Basic,
                Some("bearer") => Scheme::Bearer,
                other => Scheme::Unsupported(format!("HTTP {}", other.unwrap_or("(no scheme)"))),
            },
            "oauth2" => {
                let token_url = match self.dialect {
                    Dialect::Swagger2 => (str_field(scheme, "flow") == Some("application"))
                        .then(|| str_field(scheme, "tokenUrl").map(str::to_string))
                        .flatten(),
                    _ => scheme
                        .get("flows")
                        .and_then(|flows| flows.get("clientCredentials"))
                        .and_then(|flow| str_field(flow, "tokenUrl"))
                        .map(str::to_string),
                };
                Scheme::OAuth2 { token_url }
            }
            "openIdConnect" => Scheme::OpenIdConnect,
            other => Scheme::Unsupported(other.to_string()),
        })
    }

    /// Every operation's path, method and name, without normalizing them: cheap, for lookups.
    pub fn entries(&self) -> Result<Vec<Entry<'_>>, Error> {
        let mut entries = Vec::new();
        let Some(paths) = self.root.get("paths").and_then(Value::as_object) else {
            return Ok(entries);
        };
        for (path, item) in paths {
            if !path.starts_with('/') {
                // Extensions such as `x-...` sit beside the paths.
                continue;
            }
            let at = format!("/paths/{}", escape(path));
            let (item, item_at) = deref(&self.root, item, at)?;
            let Some(map) = item.as_object() else {
                return Err(invalid(&item_at, "a path item must be an object"));
            };
            for method in METHODS {
                let Some(operation) = map.get(method) else {
                    continue;
                };
                let pointer = format!("{item_at}/{method}");
                if !operation.is_object() {
                    return Err(invalid(&pointer, "an operation must be an object"));
                }
                let upper = method.to_ascii_uppercase();
                let name = match str_field(operation, "operationId") {
                    Some(id) if !id.is_empty() => id.to_string(),
                    _ => format!("{upper} {path}"),
                };
                entries.push(Entry {
                    name,
                    method: upper,
                    path,
                    item,
                    item_pointer: item_at.clone(),
                    operation,
                    pointer,
                });
            }
        }
        Ok(entries)
    }

    /// Finds an operation by `operationId` or `METHOD path` and normalizes it.
    pub fn find(&self, name: &str) -> Result<Option<Operation>, Error> {
        let entries = self.entries()?;
        let found = entries.iter().find(|entry| entry.name == name).or_else(|| {
            let (method, path) = name.split_once(' ')?;
            entries
                .iter()
                .find(|e| e.method.eq_ignore_ascii_case(method) && e.path == path.trim())
        });
        found.map(|entry| self.normalize(entry)).transpose()
    }

    /// Normalizes every operation.
    pub fn operations(&self) -> Result<Vec<Operation>, Error> {
        self.entries()?
            .iter()
            .map(|entry| self.normalize(entry))
            .collect()
    }

    /// The names of every operation, for error messages.
    pub fn names(&self) -> Result<Vec<String>, Error> {
        Ok(self
            .entries()?
            .into_iter()
            .map(|entry| entry.name)
            .collect())
    }

    fn normalize(&self, entry: &Entry<'_>) -> Result<Operation, Error> {
        let op = entry.operation;
        let mut parameters: Vec<Parameter> = Vec::new();
        let mut body: Option<Body> = None;
        let mut form = FormFields::default();

        // Path-level parameters first; an operation's parameter of the same name and location
        // replaces one.
        let lists = [
            (
                entry.item.get("parameters"),
                format!("{}/parameters", entry.item_pointer),
            ),
            (
                op.get("parameters"),
                format!("{}/parameters", entry.pointer),
            ),
        ];
        for (list, list_at) in lists {
            let Some(list) = list else { continue };
            let Some(list) = list.as_array() else {
                return Err(invalid(&list_at, "`parameters` must be an array"));
            };
            for (index, raw) in list.iter().enumerate() {
                let (raw, at) = deref(&self.root, raw, format!("{list_at}/{index}"))?;
                match self.dialect {
                    Dialect::Swagger2 => {
                        self.parameter_v2(raw, &at, &mut parameters, &mut body, &mut form, entry)?
                    }
                    _ => {
                        if let Some(parameter) = self.parameter_v3(raw, &at)? {
                            upsert(&mut parameters, parameter);
                        }
                    }
                }
            }
        }
        if !form.properties.is_empty() {
            body = Some(form.into_body(&self.consumes(op)));
        }
        if self.dialect != Dialect::Swagger2 {
            if let Some(raw) = op.get("requestBody") {
                let at = format!("{}/requestBody", entry.pointer);
                let (raw, at) = deref(&self.root, raw, at)?;
                body = Some(self.body_v3(raw, &at)?);
            }
        }

        let security = match op.get("security") {
            Some(value) => requirements(value, &format!("{}/security", entry.pointer))?,
            None => match self.root.get("security") {
                Some(value) => requirements(value, "/security")?,
                None => Vec::new(),
            },
        };

        let servers = match self.dialect {
            Dialect::Swagger2 => vec![self.server_v2()],
            _ => {
                let candidates = [
                    (op.get("servers"), format!("{}/servers", entry.pointer)),
                    (
                        entry.item.get("servers"),
                        format!("{}/servers", entry.item_pointer),
                    ),
                    (self.root.get("servers"), "/servers".to_string()),
                ];
                let mut chosen = Vec::new();
                for (value, at) in candidates {
                    if let Some(value) = value {
                        chosen = servers_v3(value, &at)?;
                        if !chosen.is_empty() {
                            break;
                        }
                    }
                }
                if chosen.is_empty() {
                    // OpenAPI 3: without servers, the server is `/`.
                    chosen.push(Server {
                        url: "/".into(),
                        variables: BTreeMap::new(),
                    });
                }
                chosen
            }
        };

        Ok(Operation {
            name: entry.name.clone(),
            method: entry.method.clone(),
            path: entry.path.to_string(),
            summary: str_field(op, "summary").unwrap_or_default().to_string(),
            description: str_field(op, "description").unwrap_or_default().to_string(),
            deprecated: op.get("deprecated") == Some(&Value::Bool(true)),
            parameters,
            body,
            security,
            servers,
            pointer: entry.pointer.clone(),
        })
    }

    fn parameter_v3(&self, raw: &Value, at: &str) -> Result<Option<Parameter>, Error> {
        let name =
            str_field(raw, "name").ok_or_else(|| invalid(at, "the parameter has no `name`"))?;
        let location = match str_field(raw, "in") {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("cookie") => Location::Cookie,
            other => {
                return Err(invalid(
                    at,
                    format!("the parameter's `in` is {other:?}, not path, query, header or cookie"),
                ))
            }
        };
        // OpenAPI 3: these header parameters are ignored; the connector sets them itself.
        if location == Location::Header
            && ["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
        {
            return Ok(None);
        }
        let default_style = match location {
            Location::Path | Location::Header => Style::Simple,
            Location::Query | Location::Cookie => Style::Form,
        };
        let style = match str_field(raw, "style") {
            None => default_style,
            Some(name) => Style::parse(name)
                .ok_or_else(|| invalid(at, format!("the style `{name}` is unknown")))?,
        };
        let explode = raw
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style == Style::Form);
        let (schema, as_json) = match (raw.get("schema"), raw.get("content")) {
            (Some(schema), _) => (schema.clone(), false),
            (None, Some(Value::Object(content))) => {
                let (media, value) = content
                    .iter()
                    .next()
                    .ok_or_else(|| invalid(at, "the parameter's `content` is empty"))?;
                let json = media.contains("json");
                (
                    value.get("schema").cloned().unwrap_or_else(|| json!({})),
                    json,
                )
            }
            _ => (json!({}), false),
        };
        Ok(Some(Parameter {
            name: name.to_string(),
            location,
            required: location == Location::Path || raw.get("required") == Some(&Value::Bool(true)),
            style,
            explode,
            allow_reserved: raw.get("allowReserved") == Some(&Value::Bool(true)),
            as_json,
            description: str_field(raw, "description")
                .unwrap_or_default()
                .to_string(),
            schema,
        }))
    }

    fn parameter_v2(
        &self,
        raw: &Value,
        at: &str,
        parameters: &mut Vec<Parameter>,
        body: &mut Option<Body>,
        form: &mut FormFields,
        entry: &Entry<'_>,
    ) -> Result<(), Error> {
        let name =
            str_field(raw, "name").ok_or_else(|| invalid(at, "the parameter has no `name`"))?;
        let required = raw.get("required") == Some(&Value::Bool(true));
        let description = str_field(raw, "description")
            .unwrap_or_default()
            .to_string();
        let location = match str_field(raw, "in") {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("body") => {
                let schema = raw.get("schema").cloned().unwrap_or_else(|| json!({}));
                *body = Some(Body {
                    required,
                    description,
                    media: self
                        .consumes(entry.operation)
                        .into_iter()
                        .map(|content_type| Media {
                            content_type,
                            schema: schema.clone(),
                            encoding: BTreeMap::new(),
                        })
                        .collect(),
                });
                return Ok(());
            }
            Some("formData") => {
                let (style, explode) = collection_format(raw, Location::Query, at)?;
                let mut schema = schema_v2(raw);
                if !description.is_empty() {
                    schema["description"] = Value::String(description);
                }
                form.is_file |= str_field(raw, "type") == Some("file");
                form.properties.insert(name.to_string(), schema);
                form.encoding.insert(
                    name.to_string(),
                    FieldEncoding {
                        style,
                        explode,
                        allow_reserved: false,
                    },
                );
                if required {
                    form.required.push(name.to_string());
                }
                return Ok(());
            }
            other => {
                return Err(invalid(
                    at,
                    format!(
                    "the parameter's `in` is {other:?}, not path, query, header, body or formData"
                ),
                ))
            }
        };
        let (style, explode) = collection_format(raw, location, at)?;
        upsert(
            parameters,
            Parameter {
                name: name.to_string(),
                location,
                required: required || location == Location::Path,
                style,
                explode,
                allow_reserved: false,
                as_json: false,
                description,
                schema: schema_v2(raw),
            },
        );
        Ok(())
    }

    /// Swagger 2.0 media types the operation accepts.
    fn consumes(&self, op: &Value) -> Vec<String> {
        let list = op
            .get("consumes")
            .or_else(|| self.root.get("consumes"))
            .and_then(Value::as_array);
        let types: Vec<String> = list
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if types.is_empty() {
            vec!["application/json".into()]
        } else {
            types
        }
    }

    /// Swagger 2.0: `schemes`, `host` and `basePath` as one server URL. Without `host`, the
    /// URL is relative to the specification's URL; without `schemes`, it takes the
    /// specification's scheme.
    fn server_v2(&self) -> Server {
        let base_path = str_field(&self.root, "basePath").unwrap_or("/");
        let base_path = if base_path.starts_with('/') {
            base_path.to_string()
        } else {
            format!("/{base_path}")
        };
        let url = match str_field(&self.root, "host") {
            None => base_path,
            Some(host) => {
                let schemes: Vec<&str> = self
                    .root
                    .get("schemes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let scheme = if schemes.contains(&"https") {
                    Some("https")
                } else {
                    schemes.first().copied()
                };
                match scheme {
                    Some(scheme) => format!("{scheme}://{host}{base_path}"),
                    None => format!("//{host}{base_path}"),
                }
            }
        };
        Server {
            url,
            variables: BTreeMap::new(),
        }
    }

    fn body_v3(&self, raw: &Value, at: &str) -> Result<Body, Error> {
        let mut media = Vec::new();
        if let Some(content) = raw.get("content") {
            let Some(content) = content.as_object() else {
                return Err(invalid(
                    &format!("{at}/content"),
                    "`content` must be an object",
                ));
            };
            for (content_type, item) in content {
                let mut encoding = BTreeMap::new();
                if let Some(map) = item.get("encoding").and_then(Value::as_object) {
                    for (field, value) in map {
                        let style = str_field(value, "style")
                            .and_then(Style::parse)
                            .unwrap_or(Style::Form);
                        encoding.insert(
                            field.clone(),
                            FieldEncoding {
                                style,
                                explode: value
                                    .get("explode")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(style == Style::Form),
                                allow_reserved: value.get("allowReserved")
                                    == Some(&Value::Bool(true)),
                            },
                        );
                    }
                }
                media.push(Media {
                    content_type: content_type.clone(),
                    schema: item.get("schema").cloned().unwrap_or_else(|| json!({})),
                    encoding,
                });
            }
        }
        Ok(Body {
            required: raw.get("required") == Some(&Value::Bool(true)),
            description: str_field(raw, "description")
                .unwrap_or_default()
                .to_string(),
            media,
        })
    }
}

/// An operation found in `paths`, not yet normalized.
pub(crate) struct Entry<'a> {
    pub name: String,
    pub method: String,
    pub path: &'a str,
    item: &'a Value,
    item_pointer: String,
    operation: &'a Value,
    pointer: String,
}

/// Swagger 2.0 `formData` parameters, gathered into one object body.
#[derive(Default)]
struct FormFields {
    properties: Map<String, Value>,
    required: Vec<String>,
    encoding: BTreeMap<String, FieldEncoding>,
    is_file: bool,
}

impl FormFields {
    fn into_body(self, consumes: &[String]) -> Body {
        let mut schema = json!({"type": "object", "properties": self.properties});
        let required = !self.required.is_empty();
        if required {
            schema["required"] = json!(self.required);
        }
        let mut types: Vec<String> = consumes
            .iter()
            .filter(|t| {
                t.starts_with("application/x-www-form-urlencoded")
                    || t.starts_with("multipart/form-data")
            })
            .cloned()
            .collect();
        if types.is_empty() {
            types.push(if self.is_file {
                "multipart/form-data".into()
            } else {
                "application/x-www-form-urlencoded".into()
            });
        }
        if self.is_file {
            // Files need multipart; put it first.
            types.sort_by_key(|t| !t.starts_with("multipart/"));
        }
        Body {
            required,
            description: String::new(),
            media: types
                .into_iter()
                .map(|content_type| Media {
                    content_type,
                    schema: schema.clone(),
                    encoding: self.encoding.clone(),
                })
                .collect(),
        }
    }
}

fn upsert(parameters: &mut Vec<Parameter>, parameter: Parameter) {
    parameters.retain(|p| !(p.name == parameter.name && p.location == parameter.location));
    parameters.push(parameter);
}

fn str_field<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// Swagger 2.0 `collectionFormat` as a style and explode flag.
fn collection_format(raw: &Value, location: Location, at: &str) -> Result<(Style, bool), Error> {
    let simple = matches!(location, Location::Path | Location::Header);
    Ok(match str_field(raw, "collectionFormat").unwrap_or("csv") {
        "csv" if simple => (Style::Simple, false),
        "csv" => (Style::Form, false),
        "ssv" => (Style::SpaceDelimited, false),
        "tsv" => (Style::TabDelimited, false),
        "pipes" => (Style::PipeDelimited, false),
        "multi" => (Style::Form, true),
        other => {
            return Err(invalid(
                at,
                format!("the collectionFormat `{other}` is not csv, ssv, tsv, pipes or multi"),
            ))
        }
    })
}

/// A Swagger 2.0 non-body parameter's type keywords as a JSON Schema.
fn schema_v2(raw: &Value) -> Value {
    let mut schema = Map::new();
    if let Some(map) = raw.as_object() {
        for (key, value) in map {
            if matches!(
                key.as_str(),
                "name" | "in" | "description" | "required" | "collectionFormat" | "allowEmptyValue"
            ) || key.starts_with("x-")
            {
                continue;
            }
            schema.insert(key.clone(), value.clone());
        }
    }
    if schema.get("type").and_then(Value::as_str) == Some("file") {
        schema.insert("type".into(), json!("string"));
        schema.insert("format".into(), json!("binary"));
    }
    Value::Object(schema)
}

fn requirements(value: &Value, at: &str) -> Result<Vec<Requirement>, Error> {
    let Some(list) = value.as_array() else {
        return Err(invalid(at, "`security` must be an array"));
    };
    let mut parsed = Vec::new();
    for (index, item) in list.iter().enumerate() {
        let Some(map) = item.as_object() else {
            return Err(invalid(
                &format!("{at}/{index}"),
                "a security requirement must be an object",
            ));
        };
        parsed.push(
            map.iter()
                .map(|(name, scopes)| {
                    let scopes = scopes
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect();
                    (name.clone(), scopes)
                })
                .collect(),
        );
    }
    Ok(parsed)
}

fn servers_v3(value: &Value, at: &str) -> Result<Vec<Server>, Error> {
    let Some(list) = value.as_array() else {
        return Err(invalid(at, "`servers` must be an array"));
    };
    let mut servers = Vec::new();
    for (index, server) in list.iter().enumerate() {
        let server_at = format!("{at}/{index}");
        let url = str_field(server, "url")
            .ok_or_else(|| invalid(&server_at, "the server has no `url`"))?;
        let mut variables = BTreeMap::new();
        if let Some(map) = server.get("variables").and_then(Value::as_object) {
            for (name, variable) in map {
                let default = variable.get("default").map(primitive_text).ok_or_else(|| {
                    invalid(
                        &format!("{server_at}/variables/{}", escape(name)),
                        "the server variable has no `default`",
                    )
                })?;
                let allowed = variable
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(primitive_text)
                    .collect();
                variables.insert(name.clone(), ServerVariable { default, allowed });
            }
        }
        servers.push(Server {
            url: url.to_string(),
            variables,
        });
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_connector_sdk::json;

    fn doc(value: Value) -> Document {
        Document::new(value).unwrap()
    }

    #[test]
    fn path_level_parameters_are_merged_and_overridden() {
        let d = doc(json!({
            "openapi": "3.0.3",
            "paths": {"/pets/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "schema": {"type": "string"}},
                    {"name": "trace", "in": "header", "schema": {"type": "string"}}
                ],
                "get": {"operationId": "getPet", "parameters": [
                    {"name": "trace", "in": "header", "required": true, "schema": {"type": "integer"}}
                ]}
            }}
        }));
        let op = d.find("getPet").unwrap().unwrap();
        assert_eq!(op.parameters.len(), 2);
        assert!(op.parameters[0].required, "path parameters are required");
        assert_eq!(op.parameters[1].schema, json!({"type": "integer"}));
        assert!(op.parameters[1].required);
        assert_eq!(op.servers[0].url, "/");
    }

    #[test]
    fn operation_without_id_is_named_by_method_and_path() {
        let d = doc(json!({"openapi": "3.1.0", "paths": {"/a": {"post": {}}}}));
        assert_eq!(d.names().unwrap(), vec!["POST /a"]);
        assert!(d.find("post /a").unwrap().is_some());
    }

    #[test]
    fn parameter_refs_are_followed() {
        let d = doc(json!({
            "openapi": "3.0.0",
            "components": {"parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}}}},
            "paths": {"/a": {"get": {"operationId": "a", "parameters": [{"$ref": "#/components/parameters/Limit"}]}}}
        }));
        let op = d.find("a").unwrap().unwrap();
        assert_eq!(op.parameters[0].name, "limit");
        assert_eq!(op.parameters[0].style, Style::Form);
        assert!(op.parameters[0].explode);
    }

    #[test]
    fn missing_parameter_ref_names_pointer() {
        let d = doc(json!({
            "openapi": "3.0.0",
            "paths": {"/a": {"get": {"operationId": "a", "parameters": [{"$ref": "#/components/parameters/Gone"}]}}}
        }));
        let Err(Error::InvalidConfig(message)) = d.find("a") else {
            panic!("expected an invalid config");
        };
        assert!(
            message.contains("#/components/parameters/Gone"),
            "{message}"
        );
        assert!(
            message.contains("/paths/~1a/get/parameters/0/$ref"),
            "{message}"
        );
    }

    #[test]
    fn swagger2_form_data_becomes_form_body() {
        let d = doc(json!({
            "swagger": "2.0", "host": "slack.com", "basePath": "/api", "schemes": ["https"],
            "paths": {"/chat.postMessage": {"post": {
                "operationId": "chat_postMessage",
                "consumes": ["application/x-www-form-urlencoded", "application/json"],
                "parameters": [
                    {"name": "token", "in": "header", "required": true, "type": "string"},
                    {"name": "channel", "in": "formData", "required": true, "type": "string"},
                    {"name": "ids", "in": "query", "type": "array", "items": {"type": "integer"}, "collectionFormat": "pipes"}
                ]
            }}}
        }));
        let op = d.find("chat_postMessage").unwrap().unwrap();
        assert_eq!(op.servers[0].url, "https://slack.com/api");
        let body = op.body.unwrap();
        assert!(body.required);
        assert_eq!(
            body.media[0].content_type,
            "application/x-www-form-urlencoded"
        );
        assert_eq!(body.media[0].schema["required"], json!(["channel"]));
        let ids = op.parameters.iter().find(|p| p.name == "ids").unwrap();
        assert_eq!(ids.style, Style::PipeDelimited);
    }

    #[test]
    fn swagger2_without_host_is_relative() {
        let d = doc(json!({"swagger": "2.0", "basePath": "/v1", "paths": {"/a": {"get": {}}}}));
        let op = d.find("GET /a").unwrap().unwrap();
        assert_eq!(op.servers[0].url, "/v1");
    }

    #[test]
    fn security_schemes_are_read() {
        let d = doc(json!({
            "openapi": "3.0.0", "paths": {},
            "components": {"securitySchemes": {
                "key": {"type": "apiKey", "name": "api_key", "in": "header"},
                "basic": {"type": "http", "scheme": "Basic"},
                "cc": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://a.test/token", "scopes": {}}}}
            }}
        }));
        let context = d.context().unwrap();
        assert_eq!(context.schemes["basic"], Scheme::Basic);
        assert_eq!(
            context.schemes["cc"],
            Scheme::OAuth2 {
                token_url: Some("https://a.test/token".into())
            }
        );
    }

    #[test]
    fn unknown_version_is_rejected() {
        assert!(Document::new(json!({"openapi": "4.0.0"})).is_err());
        assert!(Document::new(json!({"info": {}})).is_err());
    }
}
