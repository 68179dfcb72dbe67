//! Argon2id password hashing, off the async threads.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

/// Hashes and verifies passwords with one set of Argon2id parameters.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password under the current parameters, verified when an email is
    /// unknown so that the response takes as long as for a known one.
    dummy_hash: Arc<String>,
}

/// Outcome of checking a password.
pub struct Verified {
    pub matches: bool,
    /// A new hash when the stored one used other parameters and the password matched.
    pub rehashed: Option<String>,
}

impl Hasher {
    /// Creates a hasher with memory cost in KiB, iterations and parallelism.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|error| anyhow::anyhow!("invalid Argon2 parameters: {error}"))?;
        let dummy = hash_with(&params, uuid::Uuid::new_v4().to_string().as_bytes())?;
        Ok(Hasher {
            params,
            dummy_hash: Arc::new(dummy),
        })
    }

    fn argon2(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    /// Hashes a new password on the blocking pool, keeping the caller's span.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let params = self.params.clone();
        let secret = password.expose().to_string();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| hash_with(&params, secret.as_bytes())))
            .await
            .context("the hashing task failed")?
    }

    /// Verifies a password against a stored hash, or against the dummy hash when `stored` is
    /// `None`, which never matches.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<String>,
    ) -> anyhow::Result<Verified> {
        let params = self.params.clone();
        let secret = password.expose().to_string();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let span = tracing::Span::current();

        tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                let parsed = PasswordHash::new(&stored).map_err(|error| {
                    anyhow::anyhow!("a stored password hash is malformed: {error}")
                })?;
                let matches = Hasher::argon2(&params)
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok()
                    && known;
                // Output length is not compared: stored hashes always name it, and it does
                // not change the cost.
                let stored_cost = Params::try_from(&parsed)
                    .ok()
                    .map(|p| (p.m_cost(), p.t_cost(), p.p_cost()));
                let expected_cost = (params.m_cost(), params.t_cost(), params.p_cost());
                let outdated = parsed.algorithm != argon2::ARGON2ID_IDENT
                    || stored_cost != Some(expected_cost);
                let rehashed = if matches && outdated {
                    Some(hash_with(&params, secret.as_bytes())?)
                } else {
                    None
                };
                Ok(Verified { matches, rehashed })
            })
        })
        .await
        .context("the verification task failed")?
    }
}

fn hash_with(params: &Params, secret: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Hasher::argon2(params)
        .hash_password(secret, &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::parse_existing("password", text.into()).unwrap()
    }

    #[tokio::test]
    async fn hash_verifies_and_wrong_password_fails() {
        let hasher = Hasher::new(19 * 1024, 2, 1).unwrap();
        let hash = hasher.hash(&password("violet-harbor-tram")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let good = hasher
            .verify(&password("violet-harbor-tram"), Some(hash.clone()))
            .await
            .unwrap();
        assert!(good.matches);
        assert!(good.rehashed.is_none());
        let bad = hasher
            .verify(&password("violet-harbor-trap"), Some(hash))
            .await
            .unwrap();
        assert!(!bad.matches);
    }

    #[tokio::test]
    async fn unknown_account_never_matches() {
        let hasher = Hasher::new(1024, 1, 1).unwrap();
        let result = hasher
            .verify(&password("anything-at-all"), None)
            .await
            .unwrap();
        assert!(!result.matches);
    }

    #[tokio::test]
    async fn changed_parameters_trigger_rehash() {
        let old = Hasher::new(1024, 1, 1).unwrap();
        let hash = old.hash(&password("violet-harbor-tram")).await.unwrap();
        let new = Hasher::new(2048, 2, 1).unwrap();
        let result = new
            .verify(&password("violet-harbor-tram"), Some(hash))
            .await
            .unwrap();
        assert!(result.matches);
        let rehashed = result.rehashed.expect("a new hash");
        assert!(rehashed.contains("m=2048,t=2,p=1"));
    }
}
