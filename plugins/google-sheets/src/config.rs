//! The resource config: API and token endpoints, credentials and a default spreadsheet.

use serde::Deserialize;
use trellis_connector_sdk::{serde_json, Error, Json, Value};
use url::Url;

use crate::a1;

/// Google's public Sheets API root.
pub(crate) const DEFAULT_BASE_URL: &str = "https://sheets.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub(crate) const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Attempts per request when the config sets no `max_attempts`.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Upper bound of `max_attempts`.
pub(crate) const MAX_ATTEMPTS_LIMIT: u32 = 10;
/// The one scope the connector requests: read and write access to spreadsheets.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

/// A validated config.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The base URL without a trailing slash or `/v4`.
    root: String,
    pub token_url: String,
    pub credentials: Credentials,
    /// Spreadsheet used when an operation's input names none.
    pub spreadsheet_id: Option<String>,
    /// Attempts per request when Google returns 429, or 5xx to a read or an update.
    pub max_attempts: u32,
}

/// How the connector gets an access token.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// A service account's JSON key: the connector signs a JWT and exchanges it for a token.
    ServiceAccount(ServiceAccount),
    /// A user's OAuth grant: the connector refreshes the access token with the refresh token.
    OAuth(OAuthClient),
}

#[derive(Debug, Clone)]
pub(crate) struct ServiceAccount {
    pub client_email: String,
    /// The PEM text of the RSA private key (PKCS #8, as Google issues it, or PKCS #1).
    pub private_key: String,
    pub private_key_id: Option<String>,
    /// The user to impersonate through domain-wide delegation, sent as the JWT's `sub`.
    pub subject: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// An access token to use before the first refresh.
    pub access_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base_url: Option<String>,
    token_url: Option<String>,
    service_account_key: Option<Value>,
    subject: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    access_token: Option<String>,
    spreadsheet_id: Option<String>,
    max_attempts: Option<u32>,
}

/// The fields of a service account's JSON key file that the connector reads; Google's files
/// have more, which are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
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
        let base_url = non_empty(raw.base_url).unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let root = checked_url("base_url", &base_url, DEFAULT_BASE_URL)?;
        let root = root.trim_end_matches('/');
        let root = root
            .strip_suffix("/v4")
            .unwrap_or(root)
            .trim_end_matches('/');
        let token_url = non_empty(raw.token_url).unwrap_or_else(|| DEFAULT_TOKEN_URL.into());
        let token_url = checked_url("token_url", &token_url, DEFAULT_TOKEN_URL)?;

        let oauth_fields = [
            ("client_id", &raw.client_id),
            ("client_secret", &raw.client_secret),
            ("refresh_token", &raw.refresh_token),
        ];
        let any_oauth = oauth_fields.iter().any(|(_, value)| value.is_some());
        let has_access_token = raw.access_token.is_some();
        let credentials =
            match (raw.service_account_key, any_oauth) {
                (Some(_), true) => {
                    return Err(invalid(
                        "set either `service_account_key` or `client_id`, `client_secret` and \
                     `refresh_token`, not both",
                    ))
                }
                (Some(key), false) => {
                    let mut account = service_account(key)?;
                    account.subject = non_empty(raw.subject);
                    Credentials::ServiceAccount(account)
                }
                (None, true) => {
                    for (name, value) in oauth_fields {
                        if non_empty(value.clone()).is_none() {
                            return Err(invalid(format!(
                                "`{name}` is required for OAuth; set `client_id`, `client_secret` \
                             and `refresh_token` together"
                            )));
                        }
                    }
                    if raw.subject.is_some() {
                        return Err(invalid(
                            "`subject` applies to a service account only; remove it or set \
                         `service_account_key`",
                        ));
                    }
                    Credentials::OAuth(OAuthClient {
                        client_id: raw.client_id.unwrap_or_default(),
                        client_secret: raw.client_secret.unwrap_or_default(),
                        refresh_token: raw.refresh_token.unwrap_or_default(),
                        access_token: non_empty(raw.access_token),
                    })
                }
                (None, false) => return Err(invalid(
                    "no credentials: set `service_account_key` to a service account's JSON key, \
                     or `client_id`, `client_secret` and `refresh_token`",
                )),
            };
        if has_access_token && matches!(credentials, Credentials::ServiceAccount(_)) {
            return Err(invalid(
                "`access_token` belongs with `refresh_token`; a service account gets its own",
            ));
        }

        let spreadsheet_id =
            match non_empty(raw.spreadsheet_id) {
                Some(id) => Some(a1::spreadsheet_id(&id).map_err(|message| {
                    invalid(format!("`spreadsheet_id` is invalid: {message}"))
                })?),
                None => None,
            };

        let max_attempts = raw.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            return Err(invalid(format!(
                "`max_attempts` must be between 1 and {MAX_ATTEMPTS_LIMIT}, not {max_attempts}"
            )));
        }

        Ok(Config {
            root: root.to_string(),
            token_url,
            credentials,
            spreadsheet_id,
            max_attempts,
        })
    }

    /// Returns the URL of a path under the API's `/v4/spreadsheets`, such as `/{id}/values/...`.
    pub fn spreadsheets_url(&self, path: &str) -> String {
        format!("{}/v4/spreadsheets{path}", self.root)
    }

    /// Returns the URL of the API's discovery document, which needs no credentials.
    pub fn discovery_url(&self) -> String {
        format!("{}/$discovery/rest?version=v4", self.root)
    }
}

/// Checks that a URL field contains an absolute http or https URL without credentials, query or
/// fragment, and returns it.
fn checked_url(field: &str, text: &str, default: &str) -> Result<String, Error> {
    let hint = format!("for Google it is {default}");
    let url = Url::parse(text)
        .map_err(|error| invalid(format!("`{field}` is not a URL ({error}); {hint}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(format!(
            "`{field}` must be an absolute http or https URL; {hint}"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!("`{field}` must not contain credentials")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "`{field}` must not contain a query or a fragment"
        )));
    }
    Ok(url.to_string())
}

/// Reads a service account's JSON key, given as the file's text or as a JSON object.
fn service_account(key: Value) -> Result<ServiceAccount, Error> {
    let key = match key {
        Value::String(text) => serde_json::from_str(&text).map_err(|error| {
            invalid(format!(
                "`service_account_key` is not a JSON key file: {error}"
            ))
        })?,
        Value::Object(_) => key,
        _ => {
            return Err(invalid(
                "`service_account_key` must be the service account's JSON key file",
            ))
        }
    };
    let file: KeyFile = serde_json::from_value(key).map_err(|error| {
        invalid(format!(
            "`service_account_key` is not a JSON key file: {error}"
        ))
    })?;
    if let Some(kind) = file.kind.as_deref() {
        if kind != "service_account" {
            return Err(invalid(format!(
                "`service_account_key` is a `{kind}` key; create a key of type \
                 `service_account` in the Google Cloud console"
            )));
        }
    }
    let client_email = non_empty(file.client_email)
        .ok_or_else(|| invalid("`service_account_key` has no `client_email`"))?;
    let private_key = non_empty(file.private_key)
        .ok_or_else(|| invalid("`service_account_key` has no `private_key`"))?;
    // A key pasted through a shell or a form sometimes keeps its newlines escaped.
    let private_key = if private_key.contains('\n') {
        private_key
    } else {
        private_key.replace("\\n", "\n")
    };
    if !private_key.contains("-----BEGIN PRIVATE KEY-----")
        && !private_key.contains("-----BEGIN RSA PRIVATE KEY-----")
    {
        return Err(invalid(
            "the `private_key` of `service_account_key` is not a PEM private key",
        ));
    }
    Ok(ServiceAccount {
        client_email,
        private_key,
        private_key_id: non_empty(file.private_key_id),
        subject: None,
    })
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";

    fn config(value: Value) -> Result<Config, Error> {
        Config::from_json(&Json::config(value))
    }

    fn urls() -> Value {
        json!({ "base_url": DEFAULT_BASE_URL, "token_url": DEFAULT_TOKEN_URL })
    }

    fn with(mut base: Value, extra: Value) -> Value {
        for (name, value) in extra.as_object().unwrap() {
            base[name] = value.clone();
        }
        base
    }

    #[test]
    fn key_file_as_text_or_object() {
        let key = json!({
            "type": "service_account", "client_email": "bot@p.iam.gserviceaccount.com",
            "private_key": KEY, "private_key_id": "abc"
        });

        for given in [key.clone(), Value::String(key.to_string())] {
            let parsed = config(with(urls(), json!({ "service_account_key": given }))).unwrap();

            let Credentials::ServiceAccount(account) = parsed.credentials else {
                panic!("expected a service account");
            };
            assert_eq!(account.client_email, "bot@p.iam.gserviceaccount.com");
            assert_eq!(account.private_key_id.as_deref(), Some("abc"));
        }
    }

    #[test]
    fn escaped_newlines_in_key_restored() {
        let escaped = KEY.replace('\n', "\\n");
        let key = json!({ "client_email": "a@b", "private_key": escaped });

        let parsed = config(with(urls(), json!({ "service_account_key": key }))).unwrap();

        let Credentials::ServiceAccount(account) = parsed.credentials else {
            panic!("expected a service account");
        };
        assert_eq!(account.private_key, KEY);
    }

    #[test]
    fn wrong_key_type_rejected() {
        let key = json!({ "type": "authorized_user", "client_email": "a@b", "private_key": KEY });

        let error = config(with(urls(), json!({ "service_account_key": key }))).unwrap_err();

        assert!(matches!(error, Error::InvalidConfig(ref m) if m.contains("authorized_user")));
    }

    #[test]
    fn oauth_needs_all_three_fields() {
        let error = config(with(
            urls(),
            json!({ "client_id": "id", "refresh_token": "r" }),
        ))
        .unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("`client_secret`")),
            "{error}"
        );
    }

    #[test]
    fn missing_credentials_named() {
        let error = config(urls()).unwrap_err();

        assert!(
            matches!(error, Error::InvalidConfig(ref m) if m.contains("service_account_key")),
            "{error}"
        );
    }

    #[test]
    fn missing_urls_default_to_google() {
        let value = json!({ "access_token": "token", "client_id": "id", "client_secret": "secret",
                            "refresh_token": "refresh" });

        let config = config(value).unwrap();

        assert_eq!(config.token_url, DEFAULT_TOKEN_URL);
    }

    #[test]
    fn base_url_with_or_without_v4() {
        for base_url in [
            "https://sheets.googleapis.com",
            "https://sheets.googleapis.com/",
            "https://sheets.googleapis.com/v4",
            "https://sheets.googleapis.com/v4/",
        ] {
            let value = json!({ "base_url": base_url, "token_url": DEFAULT_TOKEN_URL,
                                "client_id": "i", "client_secret": "s", "refresh_token": "r" });

            let parsed = config(value).unwrap();

            assert_eq!(
                parsed.spreadsheets_url("/x"),
                "https://sheets.googleapis.com/v4/spreadsheets/x",
                "{base_url}"
            );
        }
    }

    #[test]
    fn base_url_with_query_rejected() {
        let value = json!({ "base_url": "https://sheets.googleapis.com/?key=1",
                            "token_url": DEFAULT_TOKEN_URL,
                            "client_id": "i", "client_secret": "s", "refresh_token": "r" });

        let error = config(value).unwrap_err();

        assert!(matches!(error, Error::InvalidConfig(ref m) if m.contains("`base_url`")));
    }
}
