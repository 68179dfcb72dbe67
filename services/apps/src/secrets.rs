//! Sealing and opening a resource's secret config values.

use anyhow::Context;
use uuid::Uuid;

use crate::crypto::{EncryptionKeys, Sealed};
use crate::domain::config::Secrets;
use crate::storage::entities::resource;

/// Associated data of a resource's ciphertext: it binds the ciphertext to its row.
fn context(workspace_id: Uuid, resource_id: Uuid) -> Vec<u8> {
    format!("trellis resource secrets\0{workspace_id}\0{resource_id}").into_bytes()
}

/// Seals a resource's secrets under the current key; `None` when there are none.
pub fn seal(
    keys: &EncryptionKeys,
    workspace_id: Uuid,
    resource_id: Uuid,
    secrets: &Secrets,
) -> anyhow::Result<Option<Sealed>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let plaintext = serde_json::to_vec(secrets).context("serializing secrets")?;
    keys.seal(&plaintext, &context(workspace_id, resource_id))
        .map(Some)
}

/// Returns the sealed secrets of a stored resource, when it has any.
pub fn sealed_of(row: &resource::Model) -> Option<Sealed> {
    match (&row.secrets_ciphertext, &row.key_id) {
        (Some(ciphertext), Some(key_id)) => Some(Sealed {
            key_id: key_id.clone(),
            ciphertext: ciphertext.clone(),
        }),
        _ => None,
    }
}

/// Opens a stored resource's secrets.
pub fn open(keys: &EncryptionKeys, row: &resource::Model) -> anyhow::Result<Secrets> {
    let Some(sealed) = sealed_of(row) else {
        return Ok(Secrets::new());
    };
    let plaintext = keys
        .open(&sealed, &context(row.workspace_id, row.id))
        .with_context(|| format!("opening the secrets of resource {}", row.id))?;
    serde_json::from_slice(&plaintext).context("the decrypted secrets are not a JSON object")
}
