//! Ed25519 signing keys: generation, storage as a JSON key set, rotation and JWKS.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Claims;

/// One Ed25519 signing key, stored as PKCS#8 DER in base64.
#[derive(Clone, Serialize, Deserialize)]
pub struct SigningKey {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pkcs8: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key with a random key id.
    pub fn generate() -> anyhow::Result<Self> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| anyhow::anyhow!("generating an Ed25519 key failed"))?;
        Ok(SigningKey {
            kid: Uuid::new_v4().simple().to_string(),
            created_at: Utc::now(),
            pkcs8: STANDARD.encode(document.as_ref()),
        })
    }

    /// Reads a key from a PKCS#8 PEM document, as production deployments supply it.
    pub fn from_pem(pem: &str, kid: &str) -> anyhow::Result<Self> {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = STANDARD
            .decode(body.trim())
            .context("the signing key PEM is not base64")?;
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|_| anyhow::anyhow!("the signing key is not an Ed25519 PKCS#8 key"))?;
        Ok(SigningKey {
            kid: kid.to_string(),
            created_at: Utc::now(),
            pkcs8: STANDARD.encode(der),
        })
    }

    fn der(&self) -> anyhow::Result<Vec<u8>> {
        STANDARD
            .decode(&self.pkcs8)
            .context("a stored signing key is not base64")
    }

    /// Raw 32-byte public key.
    pub fn public_key(&self) -> anyhow::Result<Vec<u8>> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&self.der()?)
            .map_err(|_| anyhow::anyhow!("stored signing key {} is invalid", self.kid))?;
        Ok(pair.public_key().as_ref().to_vec())
    }

    /// Returns the public key as a JSON Web Key.
    pub fn jwk(&self) -> anyhow::Result<Jwk> {
        Ok(Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.public_key()?),
        })
    }
}

/// A public key in JWKS form (RFC 8037 for Ed25519).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub key_use: String,
    pub kid: String,
    pub x: String,
}

/// A JSON Web Key Set.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Signing keys, newest last. The newest signs; every key verifies until it is pruned.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// Creates a ring with one new key.
    pub fn generate() -> anyhow::Result<Self> {
        Ok(KeyRing {
            keys: vec![SigningKey::generate()?],
        })
    }

    /// Creates a ring from keys, oldest first.
    pub fn from_keys(keys: Vec<SigningKey>) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !keys.is_empty(),
            "a key ring needs at least one signing key"
        );
        for key in &keys {
            key.public_key()?;
        }
        Ok(KeyRing { keys })
    }

    /// Reads a ring saved by [`KeyRing::save`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading signing keys from {}", path.display()))?;
        let ring: KeyRing = serde_json::from_str(&text)
            .with_context(|| format!("parsing signing keys in {}", path.display()))?;
        KeyRing::from_keys(ring.keys)
    }

    /// Writes the ring to a new file and renames it into place, readable by the owner only.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let temporary = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self)?;
        write_private(&temporary, text.as_bytes())?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("replacing {}", path.display()))?;
        Ok(())
    }

    /// Adds a new signing key and drops keys retired longer ago than `keep_retired`, which
    /// must be at least the access-token lifetime so issued tokens keep verifying.
    pub fn rotate(&mut self, keep_retired: Duration) -> anyhow::Result<&SigningKey> {
        let now = Utc::now();
        let mut kept = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            // A key retires when its successor is created.
            let retired_at = self.keys.get(index + 1).map(|next| next.created_at);
            if retired_at.is_none_or(|at| now - at < keep_retired) {
                kept.push(key.clone());
            }
        }
        kept.push(SigningKey::generate()?);
        self.keys = kept;
        Ok(self.current())
    }

    /// Returns the key that signs new tokens.
    pub fn current(&self) -> &SigningKey {
        self.keys.last().expect("a key ring is never empty")
    }

    /// Returns every key, oldest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// Returns the public keys as JWKS.
    pub fn jwks(&self) -> anyhow::Result<Jwks> {
        let keys = self
            .keys
            .iter()
            .map(SigningKey::jwk)
            .collect::<anyhow::Result<_>>()?;
        Ok(Jwks { keys })
    }

    /// Signs claims with the current key, naming it in the `kid` header.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let key = self.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let encoding = EncodingKey::from_ed_der(&key.der()?);
        jsonwebtoken::encode(&header, claims, &encoding).context("signing an access token")
    }
}

/// Writes a file that only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
