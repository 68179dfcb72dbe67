//! Access-token verification against a set of public keys.

use std::collections::HashMap;
use std::sync::{Mutex as SyncMutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::{Claims, Jwks};

/// Shortest time between two JWKS fetches triggered by unknown key ids.
const REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Shortest time before a failed JWKS fetch is tried again. It is shorter than
/// [`REFRESH_INTERVAL`] so that a service started before auth accepts tokens soon after auth
/// comes up.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

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
    /// When the JWKS was last fetched, and whether that fetch returned a valid key set.
    last_refresh: Mutex<Option<(Instant, bool)>>,
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

    /// Fetches the JWKS again, at most once per [`REFRESH_INTERVAL`], or once per
    /// [`RETRY_INTERVAL`] after a failed fetch.
    pub async fn refresh(&self) {
        let JwksSource::Remote { url, client } = &self.source else {
            return;
        };
        let mut last = self.last_refresh.lock().await;
        let too_soon = last.is_some_and(|(at, fetched)| {
            let interval = if fetched {
                REFRESH_INTERVAL
            } else {
                RETRY_INTERVAL
            };
            at.elapsed() < interval
        });
        if too_soon {
            return;
        }
        *last = Some((Instant::now(), false));

        let response = client.get(url).timeout(Duration::from_secs(5)).send().await;
        let jwks = match response {
            Ok(response) => response.error_for_status().map(|r| r.json::<Jwks>()),
            Err(error) => Err(error),
        };
        match jwks {
            Ok(body) => match body.await {
                Ok(jwks) => {
                    self.set_keys(&jwks);
                    *last = Some((Instant::now(), true));
                }
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

    /// Serves a JWKS on loopback that responds with 503 to its first `failures` requests.
    async fn flaky_jwks(jwks: &Jwks, failures: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let body = serde_json::to_string(jwks).unwrap();
        tokio::spawn(async move {
            for served in 0.. {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let response = if served < failures {
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                     connection: close\r\n\r\n"
                        .to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn failed_fetch_retried_after_one_second() {
        let ring = KeyRing::generate().unwrap();
        let url = flaky_jwks(&ring.jwks().unwrap(), 1).await;
        let source = JwksSource::Remote {
            url,
            client: reqwest::Client::new(),
        };
        let verifier = Verifier::new("trellis", "trellis-api", source);
        let token = ring.sign(&claims(600)).unwrap();

        let while_down = verifier.verify(&token).await;
        let at_once = verifier.verify(&token).await;
        tokio::time::sleep(RETRY_INTERVAL + Duration::from_millis(100)).await;
        let after_retry = verifier.verify(&token).await;

        assert!(matches!(while_down, Err(TokenError::UnknownKey)));
        assert!(matches!(at_once, Err(TokenError::UnknownKey)));
        assert!(after_retry.is_ok(), "{after_retry:?}");
    }

    #[tokio::test]
    async fn successful_fetch_blocks_refetch() {
        let ring = KeyRing::generate().unwrap();
        let url = flaky_jwks(&ring.jwks().unwrap(), 0).await;
        let source = JwksSource::Remote {
            url,
            client: reqwest::Client::new(),
        };
        let verifier = Verifier::new("trellis", "trellis-api", source);
        let token = ring.sign(&claims(600)).unwrap();
        verifier.verify(&token).await.unwrap();
        let other = KeyRing::generate().unwrap().sign(&claims(600)).unwrap();

        tokio::time::sleep(RETRY_INTERVAL + Duration::from_millis(100)).await;
        let started = Instant::now();
        let unknown = verifier.verify(&other).await;

        assert!(matches!(unknown, Err(TokenError::UnknownKey)));
        // No fetch happened: the refresh returned without a round trip.
        assert!(verifier.last_refresh.lock().await.unwrap().0 < started);
    }
}
