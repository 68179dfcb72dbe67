//! The per-call outbound allow-list: the origins named by the resource's base URL fields,
//! and the internal hosts a workspace admin allowed explicitly.

use reqwest::Url;
use serde_json::Value;

/// `scheme://host:port` that a connector may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Returns the origin of an absolute `http` or `https` URL.
    pub fn of(url: &Url) -> Option<Origin> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']');
        Some(Origin {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

/// A host, optionally with a port, whose private addresses a workspace admin allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalHost {
    host: String,
    port: Option<u16>,
}

impl InternalHost {
    /// Parses `host` or `host:port`; IPv6 literals go in brackets (`[fd00::1]:8080`).
    pub fn parse(text: &str) -> Option<InternalHost> {
        let text = text.trim().to_ascii_lowercase();
        let url = Url::parse(&format!("http://{text}")).ok()?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if url.path() != "/" || url.username() != "" || url.query().is_some() {
            return None;
        }
        Some(InternalHost {
            host,
            port: url.port(),
        })
    }
}

/// The destinations one call may reach over HTTP.
#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    origins: Vec<Origin>,
    internal_hosts: Vec<InternalHost>,
}

impl NetworkPolicy {
    /// Creates a policy that allows nothing.
    pub fn deny_all() -> Self {
        NetworkPolicy::default()
    }

    /// Builds the policy from the origins named by the config's base URL fields and the allowed
    /// internal hosts.
    /// A field that is missing or not an absolute `http(s)` URL allows nothing.
    pub fn from_config(
        base_url_fields: &[String],
        config: &Value,
        internal_hosts: &[InternalHost],
    ) -> Self {
        let origins = base_url_fields
            .iter()
            .filter_map(|field| config.get(field)?.as_str())
            .filter_map(|text| Url::parse(text).ok())
            .filter_map(|url| Origin::of(&url))
            .collect();
        NetworkPolicy {
            origins,
            internal_hosts: internal_hosts.to_vec(),
        }
    }

    /// Builds the policy like [`NetworkPolicy::from_config`], except that a base URL field the
    /// config leaves out (or sets to `null` or `""`) falls back to the string `default` of its
    /// property in the config schema, as the connector itself does. Only for built-in
    /// connectors, whose manifests ship with the server: an uploaded connector may reach only
    /// the origins that the resource's config names.
    pub fn from_config_with_defaults(
        base_url_fields: &[String],
        config_schema: &Value,
        config: &Value,
        internal_hosts: &[InternalHost],
    ) -> Self {
        let mut filled = config.clone();
        if let Some(object) = filled.as_object_mut() {
            for field in base_url_fields {
                let set = object
                    .get(field)
                    .is_some_and(|value| !value.is_null() && value.as_str() != Some(""));
                let default = config_schema
                    .get("properties")
                    .and_then(|properties| properties.get(field))
                    .and_then(|property| property.get("default"))
                    .filter(|default| default.is_string());
                if let (false, Some(default)) = (set, default) {
                    object.insert(field.clone(), default.clone());
                }
            }
        }
        NetworkPolicy::from_config(base_url_fields, &filled, internal_hosts)
    }

    /// Checks whether the URL's origin is on the allow-list.
    pub fn allows_origin(&self, origin: &Origin) -> bool {
        self.origins.contains(origin)
    }

    /// Checks whether an admin allowed this host to resolve to internal addresses.
    pub fn allows_internal(&self, origin: &Origin) -> bool {
        self.allows_internal_address(&origin.host, origin.port)
    }

    /// Checks whether an admin allowed `host` on `port` to resolve to internal addresses.
    pub fn allows_internal_address(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.internal_hosts
            .iter()
            .any(|allowed| allowed.host == host && allowed.port.is_none_or(|p| p == port))
    }
}

impl Origin {
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin(text: &str) -> Origin {
        Origin::of(&Url::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn policy_allows_only_configured_origins() {
        let fields = vec!["base_url".to_string()];
        let policy =
            NetworkPolicy::from_config(&fields, &json!({"base_url": "https://api.test/v1"}), &[]);
        assert!(policy.allows_origin(&origin("https://api.test/other")));
        assert!(policy.allows_origin(&origin("https://API.test:443/")));
        assert!(!policy.allows_origin(&origin("http://api.test/")));
        assert!(!policy.allows_origin(&origin("https://api.test:8443/")));
        assert!(!policy.allows_origin(&origin("https://evil.test/")));
    }

    #[test]
    fn policy_ignores_fields_not_declared_as_base_urls() {
        let fields = vec!["base_url".to_string()];
        let config = json!({"other": "https://evil.test"});
        let policy = NetworkPolicy::from_config(&fields, &config, &[]);
        assert!(!policy.allows_origin(&origin("https://evil.test/")));
    }

    #[test]
    fn schema_default_fills_missing_base_url() {
        let fields = vec!["base_url".to_string(), "hub_url".to_string()];
        let schema = json!({"properties": {
            "base_url": {"type": "string", "default": "https://models.test/v1"},
            "hub_url": {"type": "string"}
        }});

        let missing = NetworkPolicy::from_config_with_defaults(&fields, &schema, &json!({}), &[]);
        let empty = NetworkPolicy::from_config_with_defaults(
            &fields,
            &schema,
            &json!({"base_url": ""}),
            &[],
        );
        let set = NetworkPolicy::from_config_with_defaults(
            &fields,
            &schema,
            &json!({"base_url": "https://own.test"}),
            &[],
        );

        assert!(missing.allows_origin(&origin("https://models.test/")));
        assert!(empty.allows_origin(&origin("https://models.test/")));
        assert!(set.allows_origin(&origin("https://own.test/")));
        assert!(!set.allows_origin(&origin("https://models.test/")));
    }

    #[test]
    fn internal_host_matches_host_and_port() {
        let with_port = InternalHost::parse("db.internal:8080").unwrap();
        let any_port = InternalHost::parse("[fd00::1]").unwrap();
        let policy = NetworkPolicy {
            origins: vec![],
            internal_hosts: vec![with_port, any_port],
        };
        assert!(policy.allows_internal(&origin("http://db.internal:8080/")));
        assert!(!policy.allows_internal(&origin("http://db.internal:9090/")));
        assert!(policy.allows_internal(&origin("http://[fd00::1]:1234/")));
    }
}
