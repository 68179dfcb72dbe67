//! The resource config: provider, base URL, credentials and provider-specific settings.

use serde::Deserialize;
use trellis_connector_sdk::{Error, Json};
use url::Url;

/// Azure OpenAI `api-version` used when the config sets none (a generally available version).
pub(crate) const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// `anthropic-version` header used when the config sets none.
pub(crate) const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` sent to Anthropic, which requires it, when neither the input nor the config
/// sets one.
pub(crate) const DEFAULT_ANTHROPIC_MAX_TOKENS: u32 = 1024;
/// Attempts per call when the config sets no `max_attempts`.
const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const MAX_MAX_ATTEMPTS: u32 = 5;

/// The API dialect a resource speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    /// OpenAI's chat completions and embeddings, or any server that implements them.
    OpenAi,
    /// Azure OpenAI: deployments in the path and an `api-version` query parameter.
    AzureOpenAi,
    /// Anthropic's Messages API.
    Anthropic,
}

impl Provider {
    /// Returns the name used in config and messages.
    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::AzureOpenAi => "azure-openai",
            Provider::Anthropic => "anthropic",
        }
    }
}

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub provider: Provider,
    /// The base URL with any trailing slash, `/v1` (OpenAI, Anthropic) or `/openai` (Azure)
    /// removed.
    root: String,
    pub api_key: Option<String>,
    pub default_model: Option<String>,
    pub deployment: Option<String>,
    pub embedding_deployment: Option<String>,
    pub api_version: String,
    pub anthropic_version: String,
    pub default_max_tokens: u32,
    pub max_attempts: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    provider: Option<String>,
    base_url: String,
    api_key: Option<String>,
    default_model: Option<String>,
    deployment: Option<String>,
    embedding_deployment: Option<String>,
    api_version: Option<String>,
    anthropic_version: Option<String>,
    default_max_tokens: Option<u32>,
    max_attempts: Option<u32>,
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
        let provider = match raw.provider.as_deref().unwrap_or("openai") {
            "openai" => Provider::OpenAi,
            "azure-openai" => Provider::AzureOpenAi,
            "anthropic" => Provider::Anthropic,
            other => {
                return Err(invalid(format!(
                    "`provider` must be openai, azure-openai or anthropic, not `{other}`"
                )))
            }
        };

        let url = Url::parse(&raw.base_url)
            .map_err(|error| invalid(format!("`base_url` is not a URL: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid("`base_url` must be an absolute http or https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "`base_url` must not contain credentials; set `api_key` instead",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("`base_url` must not contain a query or a fragment"));
        }
        let root = strip_version(provider, url.as_str());

        let api_key = non_empty(raw.api_key);
        if api_key.is_none() && provider != Provider::OpenAi {
            return Err(invalid(format!(
                "`api_key` is required when `provider` is {}",
                provider.name()
            )));
        }
        let deployment = non_empty(raw.deployment);
        if deployment.is_none() && provider == Provider::AzureOpenAi {
            return Err(invalid(
                "`deployment` is required when `provider` is azure-openai",
            ));
        }
        for (field, value) in [
            ("deployment", &deployment),
            ("embedding_deployment", &raw.embedding_deployment),
        ] {
            if value.as_deref().is_some_and(|name| !is_path_segment(name)) {
                return Err(invalid(format!(
                    "`{field}` may contain only letters, digits, `-`, `_` and `.`"
                )));
            }
        }

        let max_attempts = raw.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(invalid(format!(
                "`max_attempts` must be between 1 and {MAX_MAX_ATTEMPTS}"
            )));
        }
        let default_max_tokens = raw
            .default_max_tokens
            .unwrap_or(DEFAULT_ANTHROPIC_MAX_TOKENS);
        if default_max_tokens == 0 {
            return Err(invalid("`default_max_tokens` must be at least 1"));
        }

        Ok(Config {
            provider,
            root,
            api_key,
            default_model: non_empty(raw.default_model),
            deployment,
            embedding_deployment: non_empty(raw.embedding_deployment),
            api_version: non_empty(raw.api_version)
                .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.into()),
            anthropic_version: non_empty(raw.anthropic_version)
                .unwrap_or_else(|| DEFAULT_ANTHROPIC_VERSION.into()),
            default_max_tokens,
            max_attempts,
        })
    }

    /// Returns the URL of an endpoint such as `chat/completions` or `models`: under `/v1` for
    /// OpenAI and Anthropic, under the deployment for Azure OpenAI.
    pub fn endpoint(&self, path: &str, deployment: Option<&str>) -> String {
        match self.provider {
            Provider::OpenAi | Provider::Anthropic => format!("{}/v1/{path}", self.root),
            Provider::AzureOpenAi => {
                let version = encode_query_value(&self.api_version);
                match deployment {
                    Some(name) => format!(
                        "{}/openai/deployments/{name}/{path}?api-version={version}",
                        self.root
                    ),
                    None => format!("{}/openai/{path}?api-version={version}", self.root),
                }
            }
        }
    }

    /// Returns the authentication and version headers of every request.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        match (self.provider, &self.api_key) {
            (Provider::OpenAi, Some(key)) => {
                headers.push(("authorization".into(), format!("Bearer {key}")));
            }
            (Provider::OpenAi, None) => {}
            (Provider::AzureOpenAi, key) => {
                headers.push(("api-key".into(), key.clone().unwrap_or_default()));
            }
            (Provider::Anthropic, key) => {
                headers.push(("x-api-key".into(), key.clone().unwrap_or_default()));
                headers.push(("anthropic-version".into(), self.anthropic_version.clone()));
            }
        }
        headers
    }
}

/// Removes a trailing slash and the version or API prefix that the connector adds itself, so
/// `https://api.openai.com`, `https://api.openai.com/v1` and `https://api.openai.com/v1/`
/// name the same API.
fn strip_version(provider: Provider, url: &str) -> String {
    let mut root = url.trim_end_matches('/');
    let suffix = match provider {
        Provider::OpenAi | Provider::Anthropic => "/v1",
        Provider::AzureOpenAi => "/openai",
    };
    if let Some(stripped) = root.strip_suffix(suffix) {
        root = stripped.trim_end_matches('/');
    }
    root.to_string()
}

/// Returns whether a deployment name is safe to put in a URL path.
pub(crate) fn is_path_segment(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn encode_query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn config(value: serde_json::Value) -> Result<Config, Error> {
        Config::from_json(&Json::config(value))
    }

    #[test]
    fn openai_base_url_with_or_without_v1() {
        for base_url in [
            "https://api.openai.com",
            "https://api.openai.com/",
            "https://api.openai.com/v1",
            "https://api.openai.com/v1/",
        ] {
            let parsed = config(json!({ "base_url": base_url })).unwrap();

            assert_eq!(
                parsed.endpoint("chat/completions", None),
                "https://api.openai.com/v1/chat/completions",
                "{base_url}"
            );
        }
    }

    #[test]
    fn azure_endpoint_has_deployment_and_version() {
        let parsed = config(json!({
            "provider": "azure-openai", "base_url": "https://res.openai.azure.com/openai/",
            "api_key": "k", "deployment": "gpt-4o-mini"
        }))
        .unwrap();

        assert_eq!(
            parsed.endpoint("chat/completions", parsed.deployment.as_deref()),
            "https://res.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions\
             ?api-version=2024-10-21"
        );
    }

    #[test]
    fn anthropic_requires_api_key() {
        let error =
            config(json!({ "provider": "anthropic", "base_url": "https://api.anthropic.com" }))
                .unwrap_err();

        assert_eq!(
            error,
            Error::InvalidConfig("`api_key` is required when `provider` is anthropic".into())
        );
    }

    #[test]
    fn deployment_cannot_change_path() {
        let error = config(json!({
            "provider": "azure-openai", "base_url": "https://res.openai.azure.com",
            "api_key": "k", "deployment": "../models"
        }))
        .unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`deployment`")),
            "{error}"
        );
    }

    #[test]
    fn unknown_provider_rejected() {
        let error =
            config(json!({ "provider": "bard", "base_url": "https://x.test" })).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("bard")),
            "{error}"
        );
    }
}
