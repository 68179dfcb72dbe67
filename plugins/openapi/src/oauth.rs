//! OAuth 2.0 client credentials: fetches an access token and caches it in the key-value store
//! until shortly before it expires.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use trellis_connector_sdk::http::{Request, TlsOptions};
use trellis_connector_sdk::{kv, Error};

use crate::auth::Grant;
use crate::style::encode;

const EXPIRY_MARGIN_SECONDS: u64 = 30;
const DEFAULT_LIFETIME_SECONDS: u64 = 300;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The cache key hashes the secret too, so only a config with the same secret finds the token.
fn cache_key(grant: &Grant) -> String {
    let mut hasher = Sha256::new();
    let scopes = grant.scopes.join(" ");
    for part in [
        &grant.token_url,
        &grant.client_id,
        &grant.client_secret,
        &scopes,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("openapi-oauth2-token:{digest}")
}

/// Returns a cached token, or fetches and caches a new one.
pub(crate) fn access_token(grant: &Grant, tls: Option<&TlsOptions>) -> Result<String, Error> {
    let key = cache_key(grant);
    if let Some(bytes) = kv::get(&key)? {
        if let Ok(token) = String::from_utf8(bytes) {
            return Ok(token);
        }
    }
    let mut form = vec!["grant_type=client_credentials".to_string()];
    if !grant.scopes.is_empty() {
        form.push(format!("scope={}", encode(&grant.scopes.join(" "))));
    }
    // RFC 6749, section 2.3.1: both parts are form-encoded before Basic authentication.
    let pair = format!(
        "{}:{}",
        encode(&grant.client_id),
        encode(&grant.client_secret)
    );
    let request = Request::post(&grant.token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .header("authorization", &format!("Basic {}", BASE64.encode(pair)))
        .body(form.join("&").into_bytes());
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
    let ttl = token
        .expires_in
        .unwrap_or(DEFAULT_LIFETIME_SECONDS)
        .saturating_sub(EXPIRY_MARGIN_SECONDS);
    if ttl > 0 {
        kv::set(
            &key,
            token.access_token.as_bytes(),
            Some(u32::try_from(ttl).unwrap_or(u32::MAX)),
        )?;
    }
    Ok(token.access_token)
}

/// Drops a cached token, after the API rejected it.
pub(crate) fn forget(grant: &Grant) -> Result<(), Error> {
    kv::delete(&cache_key(grant)).map(|_| ())
}
