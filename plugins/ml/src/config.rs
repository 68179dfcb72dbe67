//! The resource config: protocol, base URLs, default model, authentication and the paths of a
//! generic endpoint.

use std::collections::BTreeMap;

use serde::Deserialize;
use trellis_connector_sdk::{Error, Json};
use url::Url;

/// Base URL of Hugging Face's serverless inference (the `hf-inference` provider of its router),
/// used when a `huggingface` resource sets no `base_url`.
pub(crate) const HF_DEFAULT_BASE_URL: &str = "https://router.huggingface.co/hf-inference";
/// The Hugging Face Hub, whose model API `metadata` reads.
pub(crate) const HF_DEFAULT_HUB_URL: &str = "https://huggingface.co";
/// Header that carries the API key when the config names none.
pub(crate) const DEFAULT_API_KEY_HEADER: &str = "x-api-key";

/// The protocol a resource speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// The Open Inference Protocol (KServe v2), served by KServe, MLServer and Triton.
    Oip,
    /// Hugging Face's Inference API: task-shaped `{"inputs", "parameters"}` bodies.
    HuggingFace,
    /// Any JSON predict endpoint at a configured path.
    Generic,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Oip => "oip",
            Protocol::HuggingFace => "huggingface",
            Protocol::Generic => "generic",
        }
    }
}

/// How every request authenticates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Auth {
    None,
    Bearer(String),
    ApiKey { header: String, value: String },
}

/// A generic endpoint's paths and method.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenericPaths {
    pub predict_path: String,
    pub predict_method: String,
    pub metadata_path: Option<String>,
    pub ready_path: Option<String>,
}

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub protocol: Protocol,
    /// The base URL without a trailing slash.
    pub base_url: String,
    /// The Hub's base URL without a trailing slash (Hugging Face only).
    pub hub_url: String,
    pub model: Option<String>,
    pub model_version: Option<String>,
    pub auth: Auth,
    pub headers: Vec<(String, String)>,
    pub check_metadata: bool,
    pub generic: Option<GenericPaths>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    protocol: Option<String>,
    base_url: Option<String>,
    hub_url: Option<String>,
    model: Option<String>,
    model_version: Option<String>,
    auth_type: Option<String>,
    bearer_token: Option<String>,
    api_key: Option<String>,
    api_key_header: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    check_metadata: Option<bool>,
    predict_path: Option<String>,
    predict_method: Option<String>,
    metadata_path: Option<String>,
    ready_path: Option<String>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidConfig(message.into())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

impl Config {
    pub fn from_json(config: &Json) -> Result<Self, Error> {
        let raw: RawConfig = config.parse()?;
        let protocol = match raw.protocol.as_deref().unwrap_or("oip") {
            "oip" => Protocol::Oip,
            "huggingface" => Protocol::HuggingFace,
            "generic" => Protocol::Generic,
            other => {
                return Err(invalid(format!(
                    "`protocol` must be oip, huggingface or generic, not `{other}`"
                )))
            }
        };

        let auth = auth(&raw)?;
        let base_url = match (non_empty(raw.base_url), protocol) {
            (Some(url), _) => url,
            (None, Protocol::HuggingFace) => HF_DEFAULT_BASE_URL.to_string(),
            (None, _) => {
                return Err(invalid(format!(
                    "`base_url` is required when `protocol` is {}: an {} server has no public \
                     default address",
                    protocol.name(),
                    if protocol == Protocol::Oip {
                        "Open Inference Protocol"
                    } else {
                        "generic"
                    }
                )))
            }
        };
        let base_url = checked_url(&base_url, "base_url")?;
        let hub_url = non_empty(raw.hub_url).unwrap_or_else(|| HF_DEFAULT_HUB_URL.to_string());
        let hub_url = checked_url(&hub_url, "hub_url")?;

        for (name, value) in &raw.headers {
            check_header(name, value)
                .map_err(|message| invalid(format!("`headers`: {message}")))?;
        }

        let generic = if protocol == Protocol::Generic {
            let predict_path = non_empty(raw.predict_path)
                .ok_or_else(|| invalid("`predict_path` is required when `protocol` is generic"))?;
            let predict_method = raw
                .predict_method
                .as_deref()
                .unwrap_or("POST")
                .to_ascii_uppercase();
            if !matches!(predict_method.as_str(), "POST" | "PUT") {
                return Err(invalid(format!(
                    "`predict_method` must be POST or PUT, not `{predict_method}`"
                )));
            }
            let metadata_path = non_empty(raw.metadata_path);
            let ready_path = non_empty(raw.ready_path);
            for (field, path) in [
                ("predict_path", Some(&predict_path)),
                ("metadata_path", metadata_path.as_ref()),
                ("ready_path", ready_path.as_ref()),
            ] {
                if let Some(path) = path {
                    check_path(path).map_err(|message| invalid(format!("`{field}` {message}")))?;
                }
            }
            Some(GenericPaths {
                predict_path,
                predict_method,
                metadata_path,
                ready_path,
            })
        } else {
            for (field, value) in [
                ("predict_path", &raw.predict_path),
                ("predict_method", &raw.predict_method),
                ("metadata_path", &raw.metadata_path),
                ("ready_path", &raw.ready_path),
            ] {
                if value.is_some() {
                    return Err(invalid(format!(
                        "`{field}` applies only when `protocol` is generic"
                    )));
                }
            }
            None
        };

        Ok(Config {
            protocol,
            base_url,
            hub_url,
            model: non_empty(raw.model),
            model_version: non_empty(raw.model_version),
            auth,
            headers: raw.headers.into_iter().collect(),
            check_metadata: raw.check_metadata.unwrap_or(true),
            generic,
        })
    }

    /// Returns the headers of every request: the configured ones, then authentication.
    pub fn request_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                headers.push(("authorization".into(), format!("Bearer {token}")))
            }
            Auth::ApiKey { header, value } => headers.push((header.clone(), value.clone())),
        }
        headers
    }
}

fn auth(raw: &RawConfig) -> Result<Auth, Error> {
    let auth_type = raw.auth_type.as_deref().unwrap_or("none");
    let required = |value: &Option<String>, field: &str| {
        non_empty(value.clone()).ok_or_else(|| {
            invalid(format!(
                "`{field}` is required when `auth_type` is {auth_type}"
            ))
        })
    };
    match auth_type {
        "none" => Ok(Auth::None),
        "bearer" => {
            let token = required(&raw.bearer_token, "bearer_token")?;
            check_header("authorization", &token)
                .map_err(|_| invalid("`bearer_token` must not contain control characters"))?;
            Ok(Auth::Bearer(token))
        }
        "api_key" => {
            let value = required(&raw.api_key, "api_key")?;
            let header = non_empty(raw.api_key_header.clone())
                .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.to_string());
            check_header(&header, "x")
                .map_err(|message| invalid(format!("`api_key_header`: {message}")))?;
            check_header(&header, &value)
                .map_err(|_| invalid("`api_key` must not contain control characters"))?;
            Ok(Auth::ApiKey { header, value })
        }
        other => Err(invalid(format!(
            "`auth_type` must be none, bearer or api_key, not `{other}`"
        ))),
    }
}

/// Checks an absolute http(s) URL without credentials, query or fragment, and returns it
/// without a trailing slash.
fn checked_url(text: &str, field: &str) -> Result<String, Error> {
    let url =
        Url::parse(text).map_err(|error| invalid(format!("`{field}` is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(format!(
            "`{field}` must be an absolute http or https URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "`{field}` must not contain credentials; set `auth_type` instead"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "`{field}` must not contain a query or a fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Checks a header name and value: a token name, and a value without control characters.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!("the value of `{name}` contains control characters"));
    }
    Ok(())
}

/// Checks a generic endpoint's path: it starts with `/`, stays under the base URL and contains
/// no query separator other than its own.
fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("must start with `/`".into());
    }
    if path.starts_with("//") || path.contains('#') || path.chars().any(char::is_control) {
        return Err("must be a path under `base_url`".into());
    }
    if path.split(['/', '?']).any(|segment| segment == "..") {
        return Err("must not contain `..`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn config(value: serde_json::Value) -> Result<Config, Error> {
        Config::from_json(&Json::config(value))
    }

    #[test]
    fn oip_is_the_default_and_needs_base_url() {
        let error = config(json!({})).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`base_url` is required when `protocol` is oip")),
            "{error}"
        );
    }

    #[test]
    fn huggingface_defaults_to_router() {
        let parsed = config(json!({"protocol": "huggingface"})).unwrap();

        assert_eq!(parsed.base_url, HF_DEFAULT_BASE_URL);
        assert_eq!(parsed.hub_url, HF_DEFAULT_HUB_URL);
    }

    #[test]
    fn generic_needs_predict_path() {
        let error =
            config(json!({"protocol": "generic", "base_url": "http://h.test"})).unwrap_err();

        assert_eq!(
            error,
            Error::InvalidConfig("`predict_path` is required when `protocol` is generic".into())
        );
    }

    #[test]
    fn generic_path_cannot_leave_base() {
        let error = config(json!({
            "protocol": "generic", "base_url": "http://h.test/api",
            "predict_path": "/../admin"
        }))
        .unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`predict_path`")),
            "{error}"
        );
    }

    #[test]
    fn paths_only_for_generic() {
        let error = config(json!({
            "base_url": "http://h.test", "predict_path": "/predict"
        }))
        .unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("only when `protocol` is generic")),
            "{error}"
        );
    }

    #[test]
    fn trailing_slash_dropped() {
        let parsed = config(json!({"base_url": "http://h.test/serving/"})).unwrap();

        assert_eq!(parsed.base_url, "http://h.test/serving");
    }

    #[test]
    fn api_key_header_defaults() {
        let parsed = config(json!({
            "base_url": "http://h.test", "auth_type": "api_key", "api_key": "k"
        }))
        .unwrap();

        assert_eq!(
            parsed.request_headers(),
            vec![("x-api-key".to_string(), "k".to_string())]
        );
    }

    #[test]
    fn bearer_needs_token() {
        let error =
            config(json!({"base_url": "http://h.test", "auth_type": "bearer"})).unwrap_err();

        assert_eq!(
            error,
            Error::InvalidConfig("`bearer_token` is required when `auth_type` is bearer".into())
        );
    }

    #[test]
    fn unknown_field_rejected() {
        let error = config(json!({"base_url": "http://h.test", "token": "x"})).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("token")),
            "{error}"
        );
    }
}
