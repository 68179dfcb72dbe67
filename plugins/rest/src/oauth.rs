//! OAuth 2.0 client credentials: fetches an access token and caches it in the key-value store
//! until shortly before it expires.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use trellis_connector_sdk::http::{Request, TlsOptions};
use trellis_connector_sdk::{kv, Error};

use crate::config::ClientCredentials;
use crate::request::encode_component;

/// Seconds taken off a token's lifetime, so a cached token is not used as it expires.
const EXPIRY_MARGIN_SECONDS: u64 = 30;

/// Lifetime assumed for a token whose response gives no `expires_in`.
const DEFAULT_LIFETIME_SECONDS: u64 = 300;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Returns the cache key of a grant. It hashes the client secret too, so only a config that
/// contains the same secret finds the token.
fn cache_key(grant: &ClientCredentials) -> String {
    let mut hasher = Sha256::new();
    for part in [
        grant.token_url.as_str(),
        grant.client_id.as_str(),
        grant.client_secret.as_str(),
        grant.scope.as_deref().unwrap_or_default(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("oauth2-token:{digest}")
}

/// Returns a cached token, or fetches and caches a new one.
pub(crate) fn access_token(
    grant: &ClientCredentials,
    tls: Option<&TlsOptions>,
) -> Result<String, Error> {
    let key = cache_key(grant);
    if let Some(bytes) = kv::get(&key)? {
        if let Ok(token) = String::from_utf8(bytes) {
            return Ok(token);
        }
    }

    let mut form = vec![format!("grant_type=client_credentials")];
    if let Some(scope) = &grant.scope {
        form.push(format!("scope={}", encode_component(scope)));
    }
    let mut request = Request::post(&grant.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    if grant.credentials_in_body {
        form.push(format!("client_id={}", encode_component(&grant.client_id)));
        form.push(format!(
            "client_secret={}",
            encode_component(&grant.client_secret)
        ));
    } else {
        // RFC 6749, section 2.3.1: both parts are form-encoded before Basic authentication.
        let pair = format!(
            "{}:{}",
            encode_component(&grant.client_id),
            encode_component(&grant.client_secret)
        );
        request = request.header("authorization", &format!("Basic {}", BASE64.encode(pair)));
    }
    let request = request.body(form.join("&").into_bytes());
    let response = match tls {
        Some(tls) => request.send_with_tls(tls)?,
        None => request.send()?,
    };

    if response.status() >= 400 {
        let body: String = response.text().chars().take(2_000).collect();
        return Err(Error::Upstream {
            status: Some(response.status()),
            message: format!(
                "authentication failed: the token endpoint returned {}: {body}",
                response.status()
            ),
        });
    }
    let token: TokenResponse = response.json().map_err(|_| Error::Upstream {
        status: Some(response.status()),
        message: "authentication failed: the token endpoint's response has no access_token".into(),
    })?;
    if token
        .token_type
        .as_deref()
        .is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer"))
    {
        return Err(Error::Upstream {
            status: Some(response.status()),
            message: "authentication failed: the token endpoint returned a token that is not a \
                      bearer token"
                .into(),
        });
    }

    let lifetime = token.expires_in.unwrap_or(DEFAULT_LIFETIME_SECONDS);
    let ttl = lifetime.saturating_sub(EXPIRY_MARGIN_SECONDS);
    if ttl > 0 {
        let ttl = u32::try_from(ttl).unwrap_or(u32::MAX);
        kv::set(&key, token.access_token.as_bytes(), Some(ttl))?;
    }
    Ok(token.access_token)
}

/// Drops a cached token, after the API rejected it.
pub(crate) fn forget(grant: &ClientCredentials) -> Result<(), Error> {
    kv::delete(&cache_key(grant)).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(secret: &str) -> ClientCredentials {
        ClientCredentials {
            token_url: "https://auth.test/token".into(),
            client_id: "id".into(),
            client_secret: secret.into(),
            scope: None,
            credentials_in_body: false,
        }
    }

    #[test]
    fn cache_key_depends_on_secret() {
        assert_ne!(cache_key(&grant("a")), cache_key(&grant("b")));
        assert_eq!(cache_key(&grant("a")), cache_key(&grant("a")));
        assert!(cache_key(&grant("a")).len() < 512);
    }
}
