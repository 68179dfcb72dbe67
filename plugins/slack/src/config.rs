//! The resource config: a bot token for the Web API, an incoming-webhook URL, or both.

use serde::Deserialize;
use trellis_connector_sdk::{Error, Json};
use url::Url;

/// Slack's Web API root, the default of `base_url`.
pub(crate) const DEFAULT_BASE_URL: &str = "https://slack.com/api";
/// Attempts per call when the config sets no `max_attempts`.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub(crate) const MAX_MAX_ATTEMPTS: u32 = 5;

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The Web API root without a trailing slash; set whenever `bot_token` is.
    base_url: Option<String>,
    bot_token: Option<String>,
    webhook_url: Option<String>,
    pub max_attempts: u32,
}

/// The Web API credentials: where to send a method and the token to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebApi<'a> {
    pub base_url: &'a str,
    pub token: &'a str,
}

impl WebApi<'_> {
    /// Returns the URL of a method such as `chat.postMessage`.
    pub fn url(&self, method: &str) -> String {
        format!("{}/{method}", self.base_url)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base_url: Option<String>,
    bot_token: Option<String>,
    webhook_url: Option<String>,
    max_attempts: Option<u32>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidConfig(message.into())
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

impl Config {
    pub fn from_json(config: &Json) -> Result<Self, Error> {
        let raw: RawConfig = config.parse()?;
        let bot_token = non_empty(raw.bot_token);
        let webhook_url = non_empty(raw.webhook_url);
        let base_url = non_empty(raw.base_url);

        if bot_token.is_none() && webhook_url.is_none() {
            return Err(invalid(
                "set `bot_token` (a Slack bot token, xoxb-...) to use the Web API, \
                 `webhook_url` (an incoming-webhook URL) to post messages only, or both",
            ));
        }
        if let Some(token) = &bot_token {
            // The token goes into a header; the value itself is never echoed.
            if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid(
                    "`bot_token` must not contain spaces, line breaks or control characters",
                ));
            }
        }
        let base_url = match base_url {
            Some(text) => Some(checked_base_url(&text)?),
            None if bot_token.is_some() => {
                return Err(invalid(format!(
                    "`base_url` is required with `bot_token`; Slack's is {DEFAULT_BASE_URL}"
                )))
            }
            None => None,
        };
        if let Some(text) = &webhook_url {
            check_webhook_url(text)?;
        }
        let max_attempts = raw.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(invalid(format!(
                "`max_attempts` must be between 1 and {MAX_MAX_ATTEMPTS}"
            )));
        }
        Ok(Config {
            base_url,
            bot_token,
            webhook_url,
            max_attempts,
        })
    }

    /// Returns the Web API credentials, or the invalid-config error that an operation needing
    /// them returns on a webhook-only resource.
    pub fn web_api(&self, operation: &str) -> Result<WebApi<'_>, Error> {
        match (&self.base_url, &self.bot_token) {
            (Some(base_url), Some(token)) => Ok(WebApi { base_url, token }),
            _ => Err(invalid(format!(
                "the operation `{operation}` needs a bot token: this resource has only an \
                 incoming-webhook URL, which can only post messages (`post_message`); set \
                 `bot_token` to use the Web API"
            ))),
        }
    }

    pub fn has_bot_token(&self) -> bool {
        self.bot_token.is_some()
    }

    /// Returns the incoming-webhook URL, a secret that messages must never show.
    pub fn webhook_url(&self) -> Option<&str> {
        self.webhook_url.as_deref()
    }
}

/// Validates `base_url` and returns it without a trailing slash.
fn checked_base_url(text: &str) -> Result<String, Error> {
    let url =
        Url::parse(text).map_err(|error| invalid(format!("`base_url` is not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("`base_url` must be an absolute http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "`base_url` must not contain credentials; set `bot_token` instead",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("`base_url` must not contain a query or a fragment"));
    }
    let is_slack = matches!(url.host_str(), Some("slack.com" | "www.slack.com"));
    if is_slack && url.path() == "/" {
        return Err(invalid(format!(
            "`base_url` must name the Web API root, {DEFAULT_BASE_URL}, not the bare domain"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Validates `webhook_url`. Its path contains the webhook's secret, so no message quotes it.
fn check_webhook_url(text: &str) -> Result<(), Error> {
    let url = Url::parse(text).map_err(|error| {
        invalid(format!(
            "`webhook_url` is not a URL ({error}); copy it from the app's Incoming Webhooks page"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            "`webhook_url` must be an absolute http or https URL",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "`webhook_url` must not contain credentials or a fragment",
        ));
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

    fn message(error: Error) -> String {
        match error {
            Error::InvalidConfig(message) => message,
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn bot_token_with_base_url() {
        let parsed = config(json!({
            "base_url": "https://slack.com/api/", "bot_token": "xoxb-1"
        }))
        .unwrap();

        let api = parsed.web_api("list_channels").unwrap();
        assert_eq!(api.url("auth.test"), "https://slack.com/api/auth.test");
        assert_eq!(api.token, "xoxb-1");
        assert_eq!(parsed.max_attempts, 3);
        assert!(parsed.webhook_url().is_none());
    }

    #[test]
    fn bot_token_needs_base_url() {
        let error = message(config(json!({ "bot_token": "xoxb-1" })).unwrap_err());

        assert!(error.contains("`base_url` is required"), "{error}");
        assert!(error.contains("https://slack.com/api"), "{error}");
    }

    #[test]
    fn webhook_only_needs_no_base_url_but_has_no_web_api() {
        let parsed = config(json!({
            "webhook_url": "https://hooks.slack.com/services/T0/B0/secret"
        }))
        .unwrap();

        let error = message(parsed.web_api("update_message").unwrap_err());
        assert!(
            error.contains("`update_message` needs a bot token"),
            "{error}"
        );
        assert!(!parsed.has_bot_token());
    }

    #[test]
    fn some_credential_is_required() {
        let error = message(config(json!({ "base_url": DEFAULT_BASE_URL })).unwrap_err());

        assert!(
            error.contains("`bot_token`") && error.contains("`webhook_url`"),
            "{error}"
        );
    }

    #[test]
    fn webhook_url_errors_do_not_quote_it() {
        let error = message(
            config(json!({ "webhook_url": "ftp://hooks.slack.com/services/T0/B0/secret" }))
                .unwrap_err(),
        );

        assert!(error.contains("`webhook_url`"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn bare_slack_domain_is_rejected() {
        let error = message(
            config(json!({ "base_url": "https://slack.com", "bot_token": "xoxb-1" })).unwrap_err(),
        );

        assert!(error.contains("https://slack.com/api"), "{error}");
    }

    #[test]
    fn token_with_line_break_is_rejected() {
        let error = message(
            config(json!({ "base_url": DEFAULT_BASE_URL, "bot_token": "xoxb-1\nx: y" }))
                .unwrap_err(),
        );

        assert!(error.contains("line breaks"), "{error}");
        assert!(!error.contains("xoxb"), "{error}");
    }

    #[test]
    fn unknown_fields_and_bad_attempts_are_rejected() {
        let unknown = message(
            config(json!({ "webhook_url": "https://h.test/x", "token": "xoxb-1" })).unwrap_err(),
        );
        let attempts = message(
            config(json!({ "webhook_url": "https://h.test/x", "max_attempts": 9 })).unwrap_err(),
        );

        assert!(unknown.contains("token"), "{unknown}");
        assert!(attempts.contains("`max_attempts`"), "{attempts}");
    }
}
