//! Opaque secrets (refresh tokens, invite tokens, API keys) and their stored hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "trr_";
/// Prefix of invite tokens.
pub const INVITE_PREFIX: &str = "tri_";

/// Generates a secret: the prefix and 32 random bytes in unpadded base64url.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a secret in lowercase hex. The secrets carry 256 random bits, so a fast hash
/// is enough: it cannot be reversed by guessing.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_differ_and_keep_prefix() {
        let first = generate(REFRESH_PREFIX);
        let second = generate(REFRESH_PREFIX);
        assert!(first.starts_with(REFRESH_PREFIX));
        assert_ne!(first, second);
        assert_eq!(first.len(), REFRESH_PREFIX.len() + 43);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
