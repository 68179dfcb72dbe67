//! Access-token verification against a set of public keys.

use std::collections::HashMap;
use std::sync::{Mutex as SyncMutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::{Claims, Jwks};

/// Shortest time between two JWKS fetches triggered by unknown key ids.
const REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Maximum time a verified token is served from the cache before its signature is checked
/// again. Replacing the keys empties the cache at once.
const VERIFIED_TTL: Duration = Duration::from_secs(60);

/// Maximum number of tokens in the verified-token cache. A full cache is emptied.
const MAX_VERIFIED: usize = 10_000;

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
    /// Tokens whose signature and claims passed, each with the instant its entry expires.
    verified: SyncMutex<HashMap<String, (Claims, Instant)>>,
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
            verified: SyncMutex::new(HashMap::new()),
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
        self.verified
            .lock()
            .expect("verified-token cache lock poisoned")
            .clear();
    }

    /// Verifies a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.cached(token) {
            return Ok(claims);
        }

        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;

        if !self.knows(&kid) {
            self.refresh().await;
        }
        let key = self.key(&kid).ok_or(TokenError::UnknownKey)?;

        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| TokenError::Invalid(error.to_string()))?;

        self.remember(token, &claims);
        Ok(claims)
    }

    /// Returns the claims of a token verified within [`VERIFIED_TTL`] that has not expired.
    fn cached(&self, token: &str) -> Option<Claims> {
        let verified = self
            .verified
            .lock()
            .expect("verified-token cache lock poisoned");
        let (claims, until) = verified.get(token)?;
        let unexpired = claims.exp > chrono::Utc::now().timestamp();
        (*until > Instant::now() && unexpired).then(|| claims.clone())
    }

    fn remember(&self, token: &str, claims: &Claims) {
        let mut verified = self
            .verified
            .lock()
            .expect("verified-token cache lock poisoned");
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        let until = Instant::now() + VERIFIED_TTL;
        verified.insert(token.to_string(), (claims.clone(), until));
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::KeyRing;

    fn claims(exp_in_seconds: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "trellis".into(),
            aud: "trellis-api".into(),
            sub: Uuid::new_v4(),
            exp: now + exp_in_seconds,
            nbf: now - 60,
            iat: now - 60,
            jti: Uuid::new_v4(),
        }
    }

    #[tokio::test]
    async fn cached_token_fails_after_key_change() {
        let ring = KeyRing::generate().unwrap();
        let verifier = Verifier::new("trellis", "trellis-api", JwksSource::Local);
        verifier.set_keys(&ring.jwks().unwrap());
        let token = ring.sign(&claims(600)).unwrap();

        let first = verifier.verify(&token).await.unwrap();
        let second = verifier.verify(&token).await.unwrap();
        verifier.set_keys(&KeyRing::generate().unwrap().jwks().unwrap());
        let after_change = verifier.verify(&token).await;

        assert_eq!(first, second);
        assert!(matches!(after_change, Err(TokenError::UnknownKey)));
    }

    #[tokio::test]
    async fn cached_token_fails_once_expired() {
        let ring = KeyRing::generate().unwrap();
        let verifier = Verifier::new("trellis", "trellis-api", JwksSource::Local);
        verifier.set_keys(&ring.jwks().unwrap());
        // Expired, but within the 30-second leeway, so the first check accepts it.
        let token = ring.sign(&claims(-5)).unwrap();

        let first = verifier.verify(&token).await;

        assert!(first.is_ok(), "{first:?}");
        assert!(verifier.cached(&token).is_none());
    }
}
