//! Access-token verification against a set of public keys.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::{Claims, Jwks};

/// Shortest time between two JWKS fetches triggered by unknown key ids.
const REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Reason a token was rejected.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not allowed; only EdDSA is accepted")]
    Algorithm,
    #[error("the token names no signing key or an unknown one")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// Source of the verifier's public keys.
pub enum JwksSource {
    /// Keys are pushed with [`Verifier::set_keys`] by the process that owns the key ring.
    Local,
    /// Keys are fetched from a JWKS URL, again whenever a token names an unknown key.
    Remote {
        url: String,
        client: reqwest::Client,
    },
}

/// Checks signature, algorithm, `kid`, `iss`, `aud`, `exp` and `nbf` of access tokens.
pub struct Verifier {
    keys: RwLock<HashMap<String, DecodingKey>>,
    validation: Validation,
    source: JwksSource,
    last_refresh: Mutex<Option<Instant>>,
}

impl Verifier {
    /// Creates a verifier for tokens of the given issuer and audience.
    pub fn new(issuer: &str, audience: &str, source: JwksSource) -> Self {
        // The allow-list has one entry, so HS256 tokens signed with the public key, RS256
        // tokens and `alg: none` are all refused before any key is used.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        Verifier {
            keys: RwLock::new(HashMap::new()),
            validation,
            source,
            last_refresh: Mutex::new(None),
        }
    }

    /// Replaces the known public keys.
    pub fn set_keys(&self, jwks: &Jwks) {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                tracing::warn!(kid = %jwk.kid, "skipping a JWKS key that is not Ed25519");
                continue;
            }
            match DecodingKey::from_ed_components(&jwk.x) {
                Ok(key) => {
                    keys.insert(jwk.kid.clone(), key);
                }
                Err(error) => {
                    tracing::warn!(kid = %jwk.kid, %error, "skipping an invalid JWKS key")
                }
            }
        }
        *self.keys.write().expect("verifier key lock poisoned") = keys;
    }

    /// Verifies a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;

        if !self.knows(&kid) {
            self.refresh().await;
        }
        let key = self.key(&kid).ok_or(TokenError::UnknownKey)?;

        jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| TokenError::Invalid(error.to_string()))
    }

    fn knows(&self, kid: &str) -> bool {
        self.keys
            .read()
            .expect("verifier key lock poisoned")
            .contains_key(kid)
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys
            .read()
            .expect("verifier key lock poisoned")
            .get(kid)
            .cloned()
    }

    /// Fetches the JWKS again, at most once per [`REFRESH_INTERVAL`].
    pub async fn refresh(&self) {
        let JwksSource::Remote { url, client } = &self.source else {
            return;
        };
        let mut last = self.last_refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());

        let response = client.get(url).timeout(Duration::from_secs(5)).send().await;
        let jwks = match response {
            Ok(response) => response.error_for_status().map(|r| r.json::<Jwks>()),
            Err(error) => Err(error),
        };
        match jwks {
            Ok(body) => match body.await {
                Ok(jwks) => self.set_keys(&jwks),
                Err(error) => tracing::warn!(%url, %error, "JWKS response is not a key set"),
            },
            Err(error) => tracing::warn!(%url, %error, "fetching JWKS failed"),
        }
    }
}
