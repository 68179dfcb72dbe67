//! Chooses the base URL of a call: the configured `server_url`, or the operation's first server
//! with its variables filled, resolved against the specification's URL when relative.

use std::collections::BTreeMap;

use trellis_connector_sdk::Error;
use url::Url;

use crate::model::Server;

/// Resolves the base URL.
pub(crate) fn base_url(
    servers: &[Server],
    server_url: Option<&Url>,
    variables: &BTreeMap<String, String>,
    spec_url: Option<&Url>,
) -> Result<Url, Error> {
    if let Some(url) = server_url {
        return Ok(url.clone());
    }
    let Some(server) = servers.first() else {
        return Err(Error::InvalidConfig(
            "the specification names no server; set `server_url`".into(),
        ));
    };
    let filled = fill(server, variables)?;
    let url = match Url::parse(&filled) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let Some(spec_url) = spec_url else {
                return Err(Error::InvalidConfig(format!(
                    "the specification's server `{filled}` is relative and the specification was \
                     given inline, so there is nothing to resolve it against; set `server_url`"
                )));
            };
            spec_url.join(&filled).map_err(|error| {
                Error::InvalidConfig(format!(
                    "the specification's server `{filled}` does not resolve against `{spec_url}`: {error}"
                ))
            })?
        }
        Err(error) => {
            return Err(Error::InvalidConfig(format!(
                "the specification's server `{filled}` is not a URL: {error}; set `server_url`"
            )))
        }
    };
    check(&url, "the specification's server")?;
    Ok(url)
}

/// Checks that a base URL is absolute `http` or `https` without credentials or fragment.
pub(crate) fn check(url: &Url, what: &str) -> Result<(), Error> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::InvalidConfig(format!(
            "{what} `{url}` must be an absolute http or https URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidConfig(format!(
            "{what} must not contain credentials"
        )));
    }
    Ok(())
}

/// Replaces `{name}` in a server URL by the configured value or the variable's default.
fn fill(server: &Server, overrides: &BTreeMap<String, String>) -> Result<String, Error> {
    let mut out = String::with_capacity(server.url.len());
    let mut rest = server.url.as_str();
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let name = &rest[start + 1..start + end];
        let variable = server.variables.get(name);
        let value = match (overrides.get(name), variable) {
            (Some(value), Some(variable)) => {
                if !variable.allowed.is_empty() && !variable.allowed.contains(value) {
                    return Err(Error::InvalidConfig(format!(
                        "`server_variables.{name}` must be one of {}",
                        variable.allowed.join(", ")
                    )));
                }
                value.clone()
            }
            (Some(value), None) => value.clone(),
            (None, Some(variable)) => variable.default.clone(),
            (None, None) => {
                return Err(Error::InvalidConfig(format!(
                    "the server `{}` has the variable `{name}` with no default; set \
                     `server_variables.{name}` or `server_url`",
                    server.url
                )))
            }
        };
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerVariable;

    fn server(url: &str, variables: &[(&str, &str, &[&str])]) -> Server {
        Server {
            url: url.into(),
            variables: variables
                .iter()
                .map(|(name, default, allowed)| {
                    (
                        name.to_string(),
                        ServerVariable {
                            default: default.to_string(),
                            allowed: allowed.iter().map(|a| a.to_string()).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn variables_take_defaults_and_overrides() {
        let servers = [server(
            "https://{region}.api.test/{version}",
            &[("region", "eu", &["eu", "us"]), ("version", "v1", &[])],
        )];
        let url = base_url(&servers, None, &BTreeMap::new(), None).unwrap();
        assert_eq!(url.as_str(), "https://eu.api.test/v1");
        let overrides = BTreeMap::from([("region".to_string(), "us".to_string())]);
        let url = base_url(&servers, None, &overrides, None).unwrap();
        assert_eq!(url.as_str(), "https://us.api.test/v1");
        let bad = BTreeMap::from([("region".to_string(), "mars".to_string())]);
        assert!(base_url(&servers, None, &bad, None).is_err());
    }

    #[test]
    fn relative_server_resolves_against_spec_url() {
        let spec = Url::parse("http://127.0.0.1:9000/specs/api.yaml").unwrap();
        let servers = [server("/v{n}", &[("n", "2", &[])])];
        let url = base_url(&servers, None, &BTreeMap::new(), Some(&spec)).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/v2");
        let servers = [server("./api", &[])];
        let url = base_url(&servers, None, &BTreeMap::new(), Some(&spec)).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9000/specs/api");
    }

    #[test]
    fn scheme_relative_swagger_host_takes_spec_scheme() {
        let spec = Url::parse("http://127.0.0.1:9000/swagger.json").unwrap();
        let url = base_url(
            &[server("//api.test/v1", &[])],
            None,
            &BTreeMap::new(),
            Some(&spec),
        )
        .unwrap();
        assert_eq!(url.as_str(), "http://api.test/v1");
    }

    #[test]
    fn relative_server_of_inline_spec_needs_server_url() {
        let error = base_url(&[server("/v1", &[])], None, &BTreeMap::new(), None).unwrap_err();
        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("server_url")),
            "{error:?}"
        );
    }
}
