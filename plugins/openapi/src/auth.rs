//! Applies the credentials of the resource to an operation's security requirements: API keys in
//! a header, query or cookie, HTTP Basic and Bearer, OAuth 2.0 access tokens or client
//! credentials, OpenID Connect tokens.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use trellis_connector_sdk::Error;

use crate::model::{Context, Location, Operation, Scheme};
use crate::request::{check_header, Outgoing};
use crate::style;

/// The credential configured for one security scheme.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Credential {
    /// An API key, bearer token or OAuth 2.0 access token.
    Secret(String),
    Basic {
        username: String,
        #[serde(default)]
        password: String,
    },
    ClientCredentials {
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scopes: Vec<String>,
    },
}

/// An OAuth 2.0 client credentials grant to exchange for an access token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grant {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
}

/// What authentication did, for error messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Applied {
    /// The operation needs no credentials.
    NotNeeded,
    /// These schemes were applied.
    Schemes(Vec<String>),
    /// No alternative could be satisfied; the request goes without credentials.
    Missing(String),
}

/// Whether the configured credentials satisfy one of the operation's security alternatives;
/// `None` when the operation needs none.
pub(crate) fn satisfied(
    operation: &Operation,
    context: &Context,
    credentials: &BTreeMap<String, Credential>,
) -> Option<bool> {
    if operation.security.is_empty() {
        return None;
    }
    Some(operation.security.iter().any(|alternative| {
        !alternative.is_empty()
            && alternative.iter().all(|(name, _)| {
                credentials.contains_key(name)
                    && matches!(context.schemes.get(name), Some(s) if !matches!(s, Scheme::Unsupported(_)))
            })
    }))
}

/// Chooses the first security alternative whose every scheme has a credential and applies
/// it. `token` exchanges a client credentials grant for an access token.
pub(crate) fn apply(
    operation: &Operation,
    context: &Context,
    credentials: &BTreeMap<String, Credential>,
    token_url_override: Option<&str>,
    outgoing: &mut Outgoing,
    token: &mut dyn FnMut(&Grant) -> Result<String, Error>,
) -> Result<Applied, Error> {
    let usable = |name: &str| {
        credentials.contains_key(name)
            && matches!(context.schemes.get(name), Some(scheme) if !matches!(scheme, Scheme::Unsupported(_)))
    };
    let Some(chosen) = operation.security.iter().find(|alternative| {
        !alternative.is_empty() && alternative.iter().all(|(name, _)| usable(name))
    }) else {
        // No security, or an empty alternative that makes it optional.
        if operation.security.is_empty() || operation.security.iter().any(Vec::is_empty) {
            return Ok(Applied::NotNeeded);
        }
        let wanted: Vec<String> = operation
            .security
            .iter()
            .map(|alternative| {
                alternative
                    .iter()
                    .map(|(name, _)| format!("`credentials.{name}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        return Ok(Applied::Missing(format!(
            "the operation `{}` needs credentials: set {}",
            operation.name,
            wanted.join(" or ")
        )));
    };

    let mut applied = Vec::new();
    for (name, scopes) in chosen {
        let scheme = &context.schemes[name];
        let credential = &credentials[name];
        let field = format!("credentials.{name}");
        match (scheme, credential) {
            (
                Scheme::ApiKey {
                    name: key,
                    location,
                },
                Credential::Secret(value),
            ) => match location {
                Location::Header => {
                    check_header(key, value)
                        .map_err(|_| config(format!("`{field}` is not a valid header value")))?;
                    outgoing.set_header(key, value.clone());
                }
                Location::Query => {
                    outgoing
                        .query
                        .push(format!("{}={}", style::encode(key), style::encode(value)))
                }
                Location::Cookie => outgoing
                    .cookies
                    .push(format!("{key}={}", style::encode(value))),
                Location::Path => {}
            },
            (Scheme::Basic, Credential::Basic { username, password }) => {
                let pair = BASE64.encode(format!("{username}:{password}"));
                outgoing.set_header("authorization", format!("Basic {pair}"));
            }
            (
                Scheme::Bearer | Scheme::OAuth2 { .. } | Scheme::OpenIdConnect,
                Credential::Secret(value),
            ) => {
                check_header("authorization", value)
                    .map_err(|_| config(format!("`{field}` is not a valid token")))?;
                outgoing.set_header("authorization", format!("Bearer {value}"));
            }
            (
                Scheme::OAuth2 { token_url },
                Credential::ClientCredentials {
                    client_id,
                    client_secret,
                    scopes: configured,
                },
            ) => {
                let token_url = token_url_override
                    .map(str::to_string)
                    .or_else(|| token_url.clone())
                    .ok_or_else(|| {
                        config(format!(
                            "the scheme `{name}` has no client credentials flow; set `{field}` to \
                             an access token or set `oauth2_token_url`"
                        ))
                    })?;
                let grant = Grant {
                    token_url,
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    scopes: if configured.is_empty() {
                        scopes.clone()
                    } else {
                        configured.clone()
                    },
                };
                let access_token = token(&grant)?;
                outgoing.set_header("authorization", format!("Bearer {access_token}"));
            }
            (scheme, _) => {
                return Err(config(format!(
                    "`{field}` does not fit the scheme's type ({}): {}",
                    scheme_kind(scheme),
                    expected(scheme)
                )))
            }
        }
        applied.push(name.clone());
    }
    Ok(Applied::Schemes(applied))
}

fn config(message: String) -> Error {
    Error::InvalidConfig(message)
}

fn scheme_kind(scheme: &Scheme) -> &'static str {
    match scheme {
        Scheme::ApiKey { .. } => "apiKey",
        Scheme::Basic => "HTTP basic",
        Scheme::Bearer => "HTTP bearer",
        Scheme::OAuth2 { .. } => "OAuth 2.0",
        Scheme::OpenIdConnect => "OpenID Connect",
        Scheme::Unsupported(_) => "unsupported",
    }
}

fn expected(scheme: &Scheme) -> &'static str {
    match scheme {
        Scheme::ApiKey { .. } | Scheme::Bearer | Scheme::OpenIdConnect => "a string",
        Scheme::Basic => "{\"username\": ..., \"password\": ...}",
        Scheme::OAuth2 { .. } => {
            "an access token string or {\"client_id\": ..., \"client_secret\": ..., \"scopes\": [...]}"
        }
        Scheme::Unsupported(_) => "nothing this connector can send",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Dialect;
    use trellis_connector_sdk::json;
    use url::Url;

    fn operation(security: Vec<Vec<(&str, Vec<&str>)>>) -> Operation {
        Operation {
            name: "op".into(),
            method: "GET".into(),
            path: "/a".into(),
            summary: String::new(),
            description: String::new(),
            deprecated: false,
            parameters: vec![],
            body: None,
            security: security
                .into_iter()
                .map(|alt| {
                    alt.into_iter()
                        .map(|(n, s)| (n.to_string(), s.into_iter().map(str::to_string).collect()))
                        .collect()
                })
                .collect(),
            servers: vec![],
            pointer: "/paths/~1a/get".into(),
        }
    }

    fn context() -> Context {
        let mut schemes = BTreeMap::new();
        schemes.insert(
            "key".into(),
            Scheme::ApiKey {
                name: "api_key".into(),
                location: Location::Query,
            },
        );
        schemes.insert("basic".into(), Scheme::Basic);
        schemes.insert(
            "cc".into(),
            Scheme::OAuth2 {
                token_url: Some("https://a.test/token".into()),
            },
        );
        Context {
            dialect: Dialect::OpenApi30,
            schemes,
        }
    }

    fn outgoing() -> Outgoing {
        Outgoing {
            method: "GET".into(),
            base: Url::parse("https://a.test").unwrap(),
            path: "/a".into(),
            query: vec![],
            headers: vec![],
            cookies: vec![],
            body: None,
            timeout_ms: None,
        }
    }

    fn credentials(value: trellis_connector_sdk::Value) -> BTreeMap<String, Credential> {
        trellis_connector_sdk::serde_json::from_value(value).unwrap()
    }

    #[test]
    fn first_satisfiable_alternative_is_used() {
        let op = operation(vec![vec![("cc", vec!["read"])], vec![("key", vec![])]]);
        let mut out = outgoing();
        let applied = apply(
            &op,
            &context(),
            &credentials(json!({"key": "k 1"})),
            None,
            &mut out,
            &mut |_| panic!("no token needed"),
        )
        .unwrap();
        assert_eq!(applied, Applied::Schemes(vec!["key".into()]));
        assert_eq!(out.query, vec!["api_key=k%201"]);
    }

    #[test]
    fn client_credentials_take_the_operation_scopes() {
        let op = operation(vec![vec![("cc", vec!["read", "write"])]]);
        let mut out = outgoing();
        let creds = credentials(json!({"cc": {"client_id": "id", "client_secret": "s"}}));
        let mut seen = None;
        apply(&op, &context(), &creds, None, &mut out, &mut |grant| {
            seen = Some(grant.clone());
            Ok("tok".into())
        })
        .unwrap();
        assert_eq!(seen.unwrap().scopes, vec!["read", "write"]);
        assert_eq!(
            out.headers,
            vec![("authorization".into(), "Bearer tok".into())]
        );
    }

    #[test]
    fn missing_credentials_are_named() {
        let op = operation(vec![vec![("basic", vec![])]]);
        let applied = apply(
            &op,
            &context(),
            &BTreeMap::new(),
            None,
            &mut outgoing(),
            &mut |_| unreachable!(),
        )
        .unwrap();
        assert_eq!(
            applied,
            Applied::Missing(
                "the operation `op` needs credentials: set `credentials.basic`".into()
            )
        );
    }

    #[test]
    fn wrong_credential_shape_is_a_config_error() {
        let op = operation(vec![vec![("basic", vec![])]]);
        let error = apply(
            &op,
            &context(),
            &credentials(json!({"basic": "x"})),
            None,
            &mut outgoing(),
            &mut |_| unreachable!(),
        )
        .unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("credentials.basic")),
            "{error:?}"
        );
    }

    #[test]
    fn optional_security_uses_credentials_when_set() {
        let op = operation(vec![vec![], vec![("key", vec![])]]);
        let mut out = outgoing();
        apply(
            &op,
            &context(),
            &credentials(json!({"key": "k"})),
            None,
            &mut out,
            &mut |_| unreachable!(),
        )
        .unwrap();
        assert_eq!(out.query, vec!["api_key=k"]);
    }

    #[test]
    fn optional_security_needs_nothing() {
        let op = operation(vec![vec![("basic", vec![])], vec![]]);
        let applied = apply(
            &op,
            &context(),
            &BTreeMap::new(),
            None,
            &mut outgoing(),
            &mut |_| unreachable!(),
        )
        .unwrap();
        assert_eq!(applied, Applied::NotNeeded);
    }
}
