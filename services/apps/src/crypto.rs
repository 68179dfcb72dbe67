//! Encryption of secret config values: AES-256-GCM under a key ring.
//!
//! Each ciphertext is stored with the id of the key that sealed it. The ring contains the current
//! key, which seals everything new, and previous keys, which only open old ciphertext, so keys
//! can rotate while the service keeps serving. A key id is derived from the key itself (the
//! first 12 hex digits of a SHA-256 over a fixed label and the key), so the same key always has
//! the same id and no id needs to be configured.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Bytes in an AES-256-GCM nonce.
const NONCE_BYTES: usize = 12;

/// One AES-256 key and its id. Its `Debug` output shows the id only.
pub struct EncryptionKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({})", self.id)
    }
}

impl EncryptionKey {
    /// Parses a key given as 32 bytes in standard base64.
    pub fn from_base64(encoded: &str) -> anyhow::Result<EncryptionKey> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .context("the encryption key is not base64")?;
        anyhow::ensure!(
            bytes.len() == 32,
            "the encryption key must be 32 bytes, found {}",
            bytes.len()
        );
        let mut hasher = Sha256::new();
        hasher.update(b"trellis encryption key id\0");
        hasher.update(&bytes);
        let digest = hasher.finalize();
        let id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let cipher = Aes256Gcm::new_from_slice(&bytes).context("building the cipher")?;
        Ok(EncryptionKey {
            id: format!("k{id}"),
            cipher,
        })
    }

    /// Returns the key's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A ciphertext and the id of the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// The nonce followed by the ciphertext and tag, in standard base64.
    pub ciphertext: String,
}

/// The current key and the previous keys that still open old ciphertext.
#[derive(Debug)]
pub struct EncryptionKeys {
    current: EncryptionKey,
    previous: Vec<EncryptionKey>,
}

impl EncryptionKeys {
    /// Builds a ring from the current key and previous keys, all in standard base64.
    pub fn from_base64(current: &str, previous: &[String]) -> anyhow::Result<EncryptionKeys> {
        let current = EncryptionKey::from_base64(current).context("the current encryption key")?;
        let mut keys = Vec::new();
        for (index, encoded) in previous.iter().enumerate() {
            let key = EncryptionKey::from_base64(encoded)
                .with_context(|| format!("previous encryption key {}", index + 1))?;
            if key.id != current.id {
                keys.push(key);
            }
        }
        Ok(EncryptionKeys {
            current,
            previous: keys,
        })
    }

    /// Returns the id of the key that seals new ciphertext.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts `plaintext` under the current key. `context` is bound as associated data, so
    /// a ciphertext copied to another row fails to open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> anyhow::Result<Sealed> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        let encrypted = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&encrypted);
        Ok(Sealed {
            key_id: self.current.id.clone(),
            ciphertext: STANDARD.encode(bytes),
        })
    }

    /// Decrypts a ciphertext with the key it names.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> anyhow::Result<Vec<u8>> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == sealed.key_id)
            .with_context(|| {
                format!(
                    "no configured encryption key has id {}; add the key that sealed it to the previous keys",
                    sealed.key_id
                )
            })?;
        let bytes = STANDARD
            .decode(&sealed.ciphertext)
            .context("the ciphertext is not base64")?;
        anyhow::ensure!(bytes.len() > NONCE_BYTES, "the ciphertext is truncated");
        let (nonce, encrypted) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: encrypted,
            aad: context,
        };
        key.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| anyhow::anyhow!("decryption with key {} failed", key.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn sealed_value_opens_with_same_context() {
        let keys = EncryptionKeys::from_base64(&key(1), &[]).unwrap();
        let sealed = keys.seal(b"hunter2", b"row-1").unwrap();
        assert_eq!(keys.open(&sealed, b"row-1").unwrap(), b"hunter2");
        assert!(!sealed.ciphertext.contains("hunter2"));
    }

    #[test]
    fn other_context_fails_to_open() {
        let keys = EncryptionKeys::from_base64(&key(1), &[]).unwrap();
        let sealed = keys.seal(b"hunter2", b"row-1").unwrap();
        assert!(keys.open(&sealed, b"row-2").is_err());
    }

    #[test]
    fn previous_key_still_opens_after_rotation() {
        let old = EncryptionKeys::from_base64(&key(1), &[]).unwrap();
        let sealed = old.seal(b"hunter2", b"row").unwrap();
        let rotated = EncryptionKeys::from_base64(&key(2), &[key(1)]).unwrap();
        assert_ne!(rotated.current_id(), sealed.key_id);
        assert_eq!(rotated.open(&sealed, b"row").unwrap(), b"hunter2");
    }

    #[test]
    fn unknown_key_id_is_an_error() {
        let old = EncryptionKeys::from_base64(&key(1), &[]).unwrap();
        let sealed = old.seal(b"hunter2", b"row").unwrap();
        let other = EncryptionKeys::from_base64(&key(2), &[]).unwrap();
        assert!(other.open(&sealed, b"row").is_err());
    }

    #[test]
    fn key_of_wrong_length_is_rejected() {
        assert!(EncryptionKey::from_base64(&STANDARD.encode([0u8; 16])).is_err());
    }
}
