//! Key material: the signing key ring and the encryption key, generated into the data folder on
//! first start unless the settings supply them.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use trellis_config::{Secret, Settings};
use trellis_tokens::{write_private, KeyRing, SigningKey};

/// File name of the generated encryption key inside the data folder.
const ENCRYPTION_KEY_FILE: &str = "encryption-key";

/// Loads the signing keys: the configured PEM key, else the key set file, generated when missing.
pub fn signing_keys(settings: &Settings) -> anyhow::Result<KeyRing> {
    if let Some(pem) = &settings.signing_key {
        let key = SigningKey::from_pem(pem.expose(), "configured")
            .context("key `signing_key` is not a valid Ed25519 PKCS#8 PEM key")?;
        return KeyRing::from_keys(vec![key]);
    }

    let path = settings.signing_keys_path();
    if path.exists() {
        return KeyRing::load(&path);
    }
    ensure_folder(&settings.data_dir)?;
    let ring = KeyRing::generate()?;
    ring.save(&path)?;
    tracing::warn!(
        path = %path.display(),
        "generated a signing key; production must supply its own with TRELLIS_SIGNING_KEYS_FILE or TRELLIS_SIGNING_KEY_FILE"
    );
    Ok(ring)
}

/// Adds a new signing key to the key set file; older keys keep verifying until tokens signed
/// with them have expired.
pub fn rotate_signing_keys(settings: &Settings) -> anyhow::Result<String> {
    anyhow::ensure!(
        settings.signing_key.is_none(),
        "key `signing_key` is set, so keys are managed outside Trellis; rotate them there"
    );
    let path = settings.signing_keys_path();
    let mut ring = if path.exists() {
        KeyRing::load(&path)?
    } else {
        KeyRing::generate()?
    };
    // Keep a retired key for twice the token lifetime, to cover clock skew between services.
    let keep = chrono::Duration::seconds(2 * settings.access_token_ttl_seconds as i64);
    let kid = ring.rotate(keep)?.kid.clone();
    ensure_folder(&settings.data_dir)?;
    ring.save(&path)?;
    Ok(kid)
}

/// Loads the 32-byte encryption key: from settings, else from the data folder, generated
/// when missing.
pub fn encryption_key(settings: &Settings) -> anyhow::Result<Secret> {
    if let Some(key) = &settings.encryption_key {
        check_encryption_key(key.expose()).context("key `encryption_key`")?;
        return Ok(key.clone());
    }

    let path = settings.data_dir.join(ENCRYPTION_KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        check_encryption_key(text.trim()).with_context(|| format!("in {}", path.display()))?;
        return Ok(Secret::new(text.trim()));
    }
    ensure_folder(&settings.data_dir)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let encoded = STANDARD.encode(bytes);
    write_private(&path, encoded.as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "generated an encryption key; production must supply its own with TRELLIS_ENCRYPTION_KEY_FILE"
    );
    Ok(Secret::new(encoded))
}

fn check_encryption_key(encoded: &str) -> anyhow::Result<()> {
    let bytes = STANDARD
        .decode(encoded)
        .context("the encryption key is not base64")?;
    anyhow::ensure!(
        bytes.len() == 32,
        "the encryption key must be 32 bytes, found {}",
        bytes.len()
    );
    Ok(())
}

fn ensure_folder(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("creating the data folder {}", path.display()))
}

/// File name of the previous encryption keys inside the data folder, one base64 key a line.
/// They only decrypt; keep each until `trellis keys rotate` reports no secrets left under it.
const PREVIOUS_ENCRYPTION_KEYS_FILE: &str = "encryption-keys-previous";

/// Returns the path of the previous encryption keys file.
pub fn previous_encryption_keys_path(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join(PREVIOUS_ENCRYPTION_KEYS_FILE)
}

/// Loads the encryption key ring: the current key and the previous keys that still decrypt.
// TODO: previous keys come from the data folder only; distributed deployments need a
// `previous_encryption_keys` setting (with a `_FILE` variant) to rotate a configured key.
pub fn encryption_keys(settings: &Settings) -> anyhow::Result<trellis_apps::EncryptionKeys> {
    let current = encryption_key(settings)?;
    let path = previous_encryption_keys_path(settings);
    let previous: Vec<String> = if path.exists() {
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        Vec::new()
    };
    trellis_apps::EncryptionKeys::from_base64(current.expose(), &previous).with_context(|| {
        format!(
            "loading the encryption keys (previous keys in {})",
            path.display()
        )
    })
}

/// Generates a new encryption key in the data folder and keeps the old one as a previous key.
/// Returns the new key's id.
pub fn rotate_encryption_key(settings: &Settings) -> anyhow::Result<String> {
    anyhow::ensure!(
        settings.encryption_key.is_none(),
        "key `encryption_key` is set, so the key is managed outside Trellis: put the new key there, add the old one to {}, restart, then run `trellis keys reencrypt`",
        previous_encryption_keys_path(settings).display()
    );
    let old = encryption_key(settings)?;

    // The old key is saved as a previous key before the new one replaces it, so an interruption
    // between the two writes loses no key.
    let path = previous_encryption_keys_path(settings);
    let mut previous = if path.exists() {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
    } else {
        String::new()
    };
    if !previous.is_empty() && !previous.ends_with('\n') {
        previous.push('\n');
    }
    previous.push_str(old.expose());
    previous.push('\n');
    replace_private(&path, previous.as_bytes())?;

    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let encoded = STANDARD.encode(bytes);
    replace_private(
        &settings.data_dir.join(ENCRYPTION_KEY_FILE),
        encoded.as_bytes(),
    )?;
    let keys = encryption_keys(settings)?;
    Ok(keys.current_id().to_string())
}

/// Writes a private file through a temporary file and a rename, so a crash leaves either the
/// old or the new content, never a truncated key.
fn replace_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    write_private(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("replacing {} with {}", path.display(), temporary.display()))
}
