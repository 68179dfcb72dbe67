//! Access tokens: a service account's RS256-signed JWT exchanged at the token endpoint
//! (RFC 7523), or a refresh-token grant (RFC 6749, section 6). Tokens are cached in the
//! key-value store until shortly before they expire.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trellis_connector_sdk::http::{Request, Response};
use trellis_connector_sdk::{json, kv, serde_json, Error};

use crate::a1::encode;
use crate::api::denied_hint;
use crate::config::{Config, Credentials, OAuthClient, ServiceAccount, SCOPE};

/// Lifetime of a signed JWT; Google accepts at most one hour.
const JWT_LIFETIME_SECONDS: u64 = 3600;
/// Seconds before expiry at which a cached token is replaced. A token that lives less than
/// twice this long is replaced halfway through its life instead.
const EXPIRY_MARGIN_SECONDS: u64 = 60;
/// Lifetime assumed for a token whose response gives no `expires_in`.
const DEFAULT_LIFETIME_SECONDS: u64 = 300;
/// How long the key-value store remembers that the config's `access_token` was rejected.
const REJECTED_MEMORY_SECONDS: u32 = 30 * 24 * 3600;
/// Characters of a token endpoint's error body kept in a message.
const ERROR_BODY_CHARS: usize = 2_000;

/// An access token and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub value: String,
    /// True when this call fetched the token, so a rejection is not worth a second try.
    pub fresh: bool,
    /// True when the token is the config's `access_token`.
    from_config: bool,
}

#[derive(Serialize, Deserialize)]
struct Cached {
    access_token: String,
    /// Unix time, in seconds, after which the token is not used.
    use_until: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Returns a cached token, the config's access token, or a new token.
pub(crate) fn access_token(config: &Config) -> Result<Token, Error> {
    if let Some(cached) = cached_token(config)? {
        return Ok(Token {
            value: cached,
            fresh: false,
            from_config: false,
        });
    }
    if let Credentials::OAuth(client) = &config.credentials {
        if let Some(token) = &client.access_token {
            if kv::get(&rejected_key(token))?.is_none() {
                return Ok(Token {
                    value: token.clone(),
                    fresh: false,
                    from_config: true,
                });
            }
        }
    }
    new_token(config)
}

/// Fetches a new token from the token endpoint and caches it.
pub(crate) fn new_token(config: &Config) -> Result<Token, Error> {
    let form = match &config.credentials {
        Credentials::ServiceAccount(account) => {
            let assertion = signed_jwt(account, &config.token_url, now()?)?;
            format!(
                "grant_type={}&assertion={assertion}",
                encode("urn:ietf:params:oauth:grant-type:jwt-bearer")
            )
        }
        Credentials::OAuth(client) => refresh_form(client),
    };
    let response = Request::post(&config.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(form.into_bytes())
        .send()
        .map_err(denied_hint)?;
    let token = parse_token_response(&response)?;

    let issued = now()?;
    let lifetime = token.expires_in.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    let margin = EXPIRY_MARGIN_SECONDS.min(lifetime / 2);
    let keep = lifetime - margin;
    if keep > 0 {
        let cached = Cached {
            access_token: token.access_token.clone(),
            use_until: issued + keep,
        };
        let bytes = serde_json::to_vec(&cached)
            .map_err(|error| Error::Internal(format!("caching the token failed: {error}")))?;
        let ttl = u32::try_from(keep).unwrap_or(u32::MAX);
        kv::set(&cache_key(config), &bytes, Some(ttl))?;
    }
    Ok(Token {
        value: token.access_token,
        fresh: true,
        from_config: false,
    })
}

/// Drops a token the API rejected, so the next call gets a new one.
pub(crate) fn forget(config: &Config, token: &Token) -> Result<(), Error> {
    if token.from_config {
        kv::set(
            &rejected_key(&token.value),
            b"1",
            Some(REJECTED_MEMORY_SECONDS),
        )?;
    }
    kv::delete(&cache_key(config)).map(|_| ())
}

fn cached_token(config: &Config) -> Result<Option<String>, Error> {
    let Some(bytes) = kv::get(&cache_key(config))? else {
        return Ok(None);
    };
    let Ok(cached) = serde_json::from_slice::<Cached>(&bytes) else {
        return Ok(None);
    };
    Ok((now()? < cached.use_until).then_some(cached.access_token))
}

/// Returns the cache key of the config's credentials. It hashes the secrets too, so only a
/// config with the same key or refresh token finds the token.
fn cache_key(config: &Config) -> String {
    let mut parts = vec![config.token_url.as_str(), SCOPE];
    match &config.credentials {
        Credentials::ServiceAccount(account) => {
            parts.extend([
                "service_account",
                account.client_email.as_str(),
                account.private_key.as_str(),
                account.subject.as_deref().unwrap_or_default(),
            ]);
        }
        Credentials::OAuth(client) => {
            parts.extend([
                "refresh_token",
                client.client_id.as_str(),
                client.client_secret.as_str(),
                client.refresh_token.as_str(),
            ]);
        }
    }
    format!("google-sheets-token:{}", digest(&parts))
}

fn rejected_key(token: &str) -> String {
    format!("google-sheets-rejected:{}", digest(&[token]))
}

/// Returns the hex SHA-256 of length-prefixed parts, so no two lists share a digest.
fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Builds the JWT that a service account exchanges for an access token.
pub(crate) fn signed_jwt(
    account: &ServiceAccount,
    audience: &str,
    issued_at: u64,
) -> Result<String, Error> {
    let mut header = json!({ "alg": "RS256", "typ": "JWT" });
    if let Some(id) = &account.private_key_id {
        header["kid"] = id.clone().into();
    }
    let mut claims = json!({
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + JWT_LIFETIME_SECONDS,
    });
    if let Some(subject) = &account.subject {
        claims["sub"] = subject.clone().into();
    }
    let signing_input = format!(
        "{}.{}",
        BASE64URL.encode(header.to_string()),
        BASE64URL.encode(claims.to_string())
    );

    let key = rsa::PrivateKey::from_pkcs8_pem(&account.private_key)
        .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&account.private_key))
        .map_err(|_| {
            Error::InvalidConfig(
                "the `private_key` of `service_account_key` is not a valid RSA private key in \
                 PEM form; paste the key file as Google issued it"
                    .into(),
            )
        })?;
    let signature = SigningKey::<Sha256>::new(key)
        .try_sign(signing_input.as_bytes())
        .map_err(|error| Error::Internal(format!("signing the JWT failed: {error}")))?;
    Ok(format!(
        "{signing_input}.{}",
        BASE64URL.encode(signature.to_bytes())
    ))
}

fn refresh_form(client: &OAuthClient) -> String {
    format!(
        "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
        encode(&client.client_id),
        encode(&client.client_secret),
        encode(&client.refresh_token)
    )
}

fn parse_token_response(response: &Response) -> Result<TokenResponse, Error> {
    let status = response.status();
    if status >= 400 {
        let detail = match response.json::<OAuthError>() {
            Ok(OAuthError {
                error,
                error_description: Some(description),
            }) => {
                format!("{error}: {description}")
            }
            Ok(OAuthError {
                error,
                error_description: None,
            }) => error,
            Err(_) => response.text().chars().take(ERROR_BODY_CHARS).collect(),
        };
        return Err(Error::Upstream {
            status: Some(status),
            message: format!(
                "authentication failed: the token endpoint returned {status}: {detail}"
            ),
        });
    }
    let token: TokenResponse = response.json().map_err(|_| Error::Upstream {
        status: Some(status),
        message: "authentication failed: the token endpoint's response has no access_token".into(),
    })?;
    if token
        .token_type
        .as_deref()
        .is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer"))
    {
        return Err(Error::Upstream {
            status: Some(status),
            message: "authentication failed: the token endpoint returned a token that is not a \
                      bearer token"
                .into(),
        });
    }
    Ok(token)
}

/// Returns the Unix time in seconds from the WASI wall clock.
fn now() -> Result<u64, Error> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .map_err(|_| Error::Internal("the host's clock is before 1970".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_separates_parts() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_eq!(digest(&["a"]).len(), 64);
    }

    #[test]
    fn refresh_form_encodes_values() {
        let client = OAuthClient {
            client_id: "id.apps.googleusercontent.com".into(),
            client_secret: "s&=+".into(),
            refresh_token: "1//0g".into(),
            access_token: None,
        };

        assert_eq!(
            refresh_form(&client),
            "grant_type=refresh_token&client_id=id.apps.googleusercontent.com\
             &client_secret=s%26%3D%2B&refresh_token=1%2F%2F0g"
        );
    }

    #[test]
    fn unreadable_key_is_invalid_config() {
        let account = ServiceAccount {
            client_email: "a@b".into(),
            private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
            private_key_id: None,
            subject: None,
        };

        let error = signed_jwt(&account, "https://oauth2.googleapis.com/token", 0).unwrap_err();

        assert!(matches!(error, Error::InvalidConfig(_)), "{error}");
    }
}
