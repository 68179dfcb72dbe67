//! The resource config: base URL, default headers and query, authentication and TLS.

use std::collections::BTreeMap;

use serde::Deserialize;
use trellis_connector_sdk::http::TlsOptions;
use trellis_connector_sdk::{Error, Json};
use url::Url;

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub base_url: Url,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub auth: Auth,
    pub tls: Option<TlsOptions>,
}

/// The authentication scheme of every request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer { token: String },
    ApiKeyHeader { name: String, value: String },
    ApiKeyQuery { name: String, value: String },
    ClientCredentials(ClientCredentials),
}

/// OAuth 2.0 client credentials grant (RFC 6749, section 4.4).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    /// Sends the client credentials in the form body instead of HTTP Basic authentication.
    pub credentials_in_body: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base_url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    auth_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    bearer_token: Option<String>,
    api_key: Option<String>,
    api_key_name: Option<String>,
    api_key_in: Option<String>,
    oauth2_token_url: Option<String>,
    oauth2_client_id: Option<String>,
    oauth2_client_secret: Option<String>,
    oauth2_scope: Option<String>,
    oauth2_client_auth: Option<String>,
    tls_ca_cert: Option<String>,
    #[serde(default)]
    tls_skip_verify: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidConfig(message.into())
}

fn required(value: Option<String>, field: &str, auth_type: &str) -> Result<String, Error> {
    value.filter(|text| !text.is_empty()).ok_or_else(|| {
        invalid(format!(
            "`{field}` is required when `auth_type` is {auth_type}"
        ))
    })
}

impl Config {
    pub fn from_json(config: &Json) -> Result<Self, Error> {
        let raw: RawConfig = config.parse()?;

        let base_url = Url::parse(&raw.base_url)
            .map_err(|error| invalid(format!("`base_url` is not a URL: {error}")))?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.host_str().is_none() {
            return Err(invalid("`base_url` must be an absolute http or https URL"));
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(invalid(
                "`base_url` must not contain credentials; use `auth_type` basic instead",
            ));
        }
        if base_url.fragment().is_some() {
            return Err(invalid("`base_url` must not contain a fragment (#...)"));
        }
        for (name, value) in &raw.headers {
            crate::request::check_header(name, value)
                .map_err(|message| invalid(format!("`headers`: {message}")))?;
        }

        let auth = auth(&raw)?;
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
            base_url,
            headers: raw.headers.into_iter().collect(),
            query: raw.query.into_iter().collect(),
            auth,
            tls,
        })
    }
}

fn auth(raw: &RawConfig) -> Result<Auth, Error> {
    let auth_type = raw.auth_type.as_deref().unwrap_or("none");
    let need = |value: &Option<String>, field: &str| required(value.clone(), field, auth_type);
    match auth_type {
        "none" => Ok(Auth::None),
        "basic" => Ok(Auth::Basic {
            username: need(&raw.username, "username")?,
            password: raw.password.clone().unwrap_or_default(),
        }),
        "bearer" => Ok(Auth::Bearer {
            token: need(&raw.bearer_token, "bearer_token")?,
        }),
        "api_key" => {
            let name = need(&raw.api_key_name, "api_key_name")?;
            let value = need(&raw.api_key, "api_key")?;
            match raw.api_key_in.as_deref().unwrap_or("header") {
                "header" => {
                    crate::request::check_header(&name, &value)
                        .map_err(|message| invalid(format!("`api_key_name`: {message}")))?;
                    Ok(Auth::ApiKeyHeader { name, value })
                }
                "query" => Ok(Auth::ApiKeyQuery { name, value }),
                other => Err(invalid(format!(
                    "`api_key_in` must be header or query, not `{other}`"
                ))),
            }
        }
        "oauth2_client_credentials" => {
            let token_url = need(&raw.oauth2_token_url, "oauth2_token_url")?;
            let parsed = Url::parse(&token_url)
                .map_err(|error| invalid(format!("`oauth2_token_url` is not a URL: {error}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid("`oauth2_token_url` must be an http or https URL"));
            }
            let credentials_in_body = match raw.oauth2_client_auth.as_deref().unwrap_or("basic") {
                "basic" => false,
                "body" => true,
                other => {
                    return Err(invalid(format!(
                        "`oauth2_client_auth` must be basic or body, not `{other}`"
                    )))
                }
            };
            Ok(Auth::ClientCredentials(ClientCredentials {
                token_url,
                client_id: need(&raw.oauth2_client_id, "oauth2_client_id")?,
                client_secret: need(&raw.oauth2_client_secret, "oauth2_client_secret")?,
                scope: raw.oauth2_scope.clone().filter(|scope| !scope.is_empty()),
                credentials_in_body,
            }))
        }
        other => Err(invalid(format!(
            "`auth_type` must be none, basic, bearer, api_key or oauth2_client_credentials, not \
             `{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn config(value: serde_json::Value) -> Result<Config, Error> {
        Config::from_json(&Json::config(value))
    }

    #[test]
    fn minimal_config_has_no_auth() {
        let parsed = config(json!({"base_url": "https://api.test/v1"})).unwrap();

        assert_eq!(parsed.auth, Auth::None);
        assert!(parsed.tls.is_none());
    }

    #[test]
    fn base_url_must_be_http() {
        let error = config(json!({"base_url": "ftp://api.test"})).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`base_url`")),
            "{error}"
        );
    }

    #[test]
    fn base_url_with_credentials_rejected() {
        let error = config(json!({"base_url": "https://user:pw@api.test"})).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("credentials")),
            "{error}"
        );
    }

    #[test]
    fn unknown_field_rejected() {
        let error = config(json!({"base_url": "https://api.test", "bogus": 1})).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("bogus")),
            "{error}"
        );
    }

    #[test]
    fn api_key_in_query() {
        let parsed = config(json!({
            "base_url": "https://api.test", "auth_type": "api_key",
            "api_key_name": "key", "api_key": "s3cret", "api_key_in": "query"
        }))
        .unwrap();

        assert_eq!(
            parsed.auth,
            Auth::ApiKeyQuery {
                name: "key".into(),
                value: "s3cret".into()
            }
        );
    }

    #[test]
    fn bearer_without_token_names_field() {
        let error =
            config(json!({"base_url": "https://api.test", "auth_type": "bearer"})).unwrap_err();

        assert_eq!(
            error,
            Error::InvalidConfig("`bearer_token` is required when `auth_type` is bearer".into())
        );
    }

    #[test]
    fn header_with_newline_rejected() {
        let error = config(json!({
            "base_url": "https://api.test", "headers": {"x-a": "1\r\nx-b: 2"}
        }))
        .unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`headers`")),
            "{error}"
        );
    }

    #[test]
    fn skip_verify_needs_explicit_flag() {
        let parsed =
            config(json!({"base_url": "https://api.test", "tls_skip_verify": true})).unwrap();

        assert!(parsed.tls.unwrap().skip_verification);
    }
}
