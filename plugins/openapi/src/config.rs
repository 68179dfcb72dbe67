//! The resource config: where the specification comes from, the server override, and the
//! credentials of its security schemes.

use std::collections::BTreeMap;

use serde::Deserialize;
use trellis_connector_sdk::http::TlsOptions;
use trellis_connector_sdk::serde_json::Value;
use trellis_connector_sdk::{Error, Json};
use url::Url;

use crate::auth::Credential;
use crate::server;

/// Where the specification comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// JSON or YAML text.
    Text(String),
    /// A document already given as a JSON object.
    Object(Value),
    Url(Url),
}

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub source: Source,
    pub spec_url: Option<Url>,
    pub server_url: Option<Url>,
    pub server_variables: BTreeMap<String, String>,
    pub credentials: BTreeMap<String, Credential>,
    pub oauth2_token_url: Option<String>,
    pub tls: Option<TlsOptions>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    spec: Option<Value>,
    spec_url: Option<String>,
    server_url: Option<String>,
    #[serde(default)]
    server_variables: BTreeMap<String, Value>,
    #[serde(default)]
    credentials: BTreeMap<String, Value>,
    oauth2_token_url: Option<String>,
    tls_ca_cert: Option<String>,
    #[serde(default)]
    tls_skip_verify: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidConfig(message.into())
}

fn absolute(text: &str, field: &str) -> Result<Url, Error> {
    let url =
        Url::parse(text).map_err(|error| invalid(format!("`{field}` is not a URL: {error}")))?;
    server::check(&url, &format!("`{field}`"))?;
    Ok(url)
}

impl Config {
    pub fn from_json(config: &Json) -> Result<Self, Error> {
        let raw: RawConfig = config.parse()?;
        let spec_url = raw
            .spec_url
            .as_deref()
            .map(|text| absolute(text, "spec_url"))
            .transpose()?;
        let source = match (raw.spec, &spec_url) {
            (Some(Value::String(text)), _) if !text.trim().is_empty() => Source::Text(text),
            (Some(Value::Object(map)), _) => Source::Object(Value::Object(map)),
            (Some(Value::String(_)) | None | Some(Value::Null), Some(url)) => {
                Source::Url(url.clone())
            }
            (Some(Value::String(_)) | None | Some(Value::Null), None) => {
                return Err(invalid(
                    "set `spec` to the specification (JSON or YAML) or `spec_url` to its URL",
                ))
            }
            (Some(_), _) => {
                return Err(invalid(
                    "`spec` must be the specification's text or a JSON object",
                ))
            }
        };
        let server_url = raw
            .server_url
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .map(|text| absolute(text, "server_url"))
            .transpose()?;
        if let Some(text) = &raw.oauth2_token_url {
            absolute(text, "oauth2_token_url")?;
        }
        let server_variables = raw
            .server_variables
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name, text)),
                Value::Number(number) => Ok((name, number.to_string())),
                _ => Err(invalid(format!(
                    "`server_variables.{name}` must be a string"
                ))),
            })
            .collect::<Result<_, _>>()?;
        let credentials = raw
            .credentials
            .into_iter()
            .map(|(name, value)| {
                Credential::deserialize(&value).map(|c| (name.clone(), c)).map_err(|_| {
                    invalid(format!(
                        "`credentials.{name}` must be a string (API key or token), \
                         {{\"username\", \"password\"}} or {{\"client_id\", \"client_secret\", \"scopes\"}}"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let tls = match (raw.tls_ca_cert, raw.tls_skip_verify) {
            (None, false) => None,
            (ca, skip) => {
                if ca
                    .as_ref()
                    .is_some_and(|pem| !pem.contains("-----BEGIN CERTIFICATE-----"))
                {
                    return Err(invalid("`tls_ca_cert` must be PEM certificates"));
                }
                Some(TlsOptions {
                    ca_certificates: ca,
                    skip_verification: skip,
                })
            }
        };
        Ok(Config {
            source,
            spec_url,
            server_url,
            server_variables,
            credentials,
            oauth2_token_url: raw.oauth2_token_url,
            tls,
        })
    }
}

/// The config's JSON Schema.
pub(crate) fn schema() -> Value {
    trellis_connector_sdk::json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "spec": {
                "description": "The specification (Swagger 2.0, OpenAPI 3.0 or 3.1) as JSON or YAML text, or as a JSON object; or leave it out and set `spec_url`",
                "type": ["string", "object"]
            },
            "spec_url": {
                "type": "string", "format": "uri",
                "description": "URL the specification is fetched from when `spec` is not set; relative server URLs resolve against it"
            },
            "server_url": {
                "type": "string", "format": "uri",
                "description": "Base URL of the API, in place of the specification's servers"
            },
            "server_variables": {
                "type": "object", "additionalProperties": {"type": "string"},
                "description": "Values of the server URL's variables; the defaults apply to the others"
            },
            "credentials": {
                "type": "object",
                "x-secret": true,
                "description": "Credentials by security scheme name: a string for apiKey, HTTP bearer, OAuth 2.0 or OpenID Connect tokens; {username, password} for HTTP basic; {client_id, client_secret, scopes} for OAuth 2.0 client credentials",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "object", "required": ["username"], "additionalProperties": false,
                         "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
                        {"type": "object", "required": ["client_id", "client_secret"], "additionalProperties": false,
                         "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"},
                                        "scopes": {"type": "array", "items": {"type": "string"}}}}
                    ]
                }
            },
            "oauth2_token_url": {
                "type": "string", "format": "uri",
                "description": "Token endpoint of OAuth 2.0 client credentials, in place of the specification's tokenUrl"
            },
            "tls_ca_cert": { "type": "string", "description": "PEM of extra trusted CAs" },
            "tls_skip_verify": {
                "type": "boolean", "default": false,
                "description": "Accept any server certificate; unsafe outside testing"
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_connector_sdk::json;

    fn config(value: Value) -> Result<Config, Error> {
        Config::from_json(&Json::config(value))
    }

    #[test]
    fn spec_or_spec_url_is_required() {
        let error = config(json!({})).unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("spec_url")),
            "{error:?}"
        );
    }

    #[test]
    fn spec_may_be_a_json_object() {
        let parsed = config(json!({"spec": {"openapi": "3.1.0", "paths": {}}})).unwrap();
        assert_eq!(
            parsed.source,
            Source::Object(json!({"openapi": "3.1.0", "paths": {}}))
        );
        let error = config(json!({"spec": 5})).unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`spec`")),
            "{error:?}"
        );
    }

    #[test]
    fn spec_url_is_the_source_without_spec() {
        let parsed = config(json!({"spec_url": "https://api.test/openapi.json"})).unwrap();
        assert!(matches!(parsed.source, Source::Url(_)));
    }

    #[test]
    fn credentials_shapes() {
        let parsed = config(json!({"spec": "openapi: 3.0.0", "credentials": {
            "key": "k", "basic": {"username": "u", "password": "p"},
            "cc": {"client_id": "i", "client_secret": "s", "scopes": ["a"]}
        }}))
        .unwrap();
        assert_eq!(parsed.credentials["key"], Credential::Secret("k".into()));
        assert!(matches!(
            parsed.credentials["basic"],
            Credential::Basic { .. }
        ));
        assert!(matches!(
            parsed.credentials["cc"],
            Credential::ClientCredentials { .. }
        ));
        let error = config(json!({"spec": "x", "credentials": {"key": 5}})).unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("credentials.key")),
            "{error:?}"
        );
    }

    #[test]
    fn server_url_must_be_http() {
        let error = config(json!({"spec": "x", "server_url": "ftp://a.test"})).unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("server_url")),
            "{error:?}"
        );
    }
}
