//! Re-encryption of every stored secret under the current key, in batches, while the service
//! keeps serving.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::crypto::EncryptionKeys;
use crate::secrets;
use crate::storage::resources;

/// Resources re-encrypted per database round trip.
pub const DEFAULT_BATCH_SIZE: u64 = 100;

/// Outcome of a re-encryption pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Resources now sealed under the current key.
    pub reencrypted: u64,
    /// Resources whose secrets no configured key opens; they are left as they are.
    pub failed: Vec<Uuid>,
    /// Resources still sealed under an older key after the pass.
    pub remaining: u64,
}

/// Re-encrypts the secrets of every resource in every workspace that is sealed under a key
/// other than the current one.
///
/// Each row is swapped only if it is unchanged since it was read, so an update that a user
/// makes meanwhile wins. That update is sealed under the key its server has loaded, and a later
/// pass picks it up if that is still an old key. Old keys must stay in the ring until a pass
/// reports nothing remaining.
pub async fn reencrypt_all(
    db: &DatabaseConnection,
    keys: &EncryptionKeys,
    batch_size: u64,
) -> anyhow::Result<RotationReport> {
    let mut report = RotationReport::default();
    let current = keys.current_id().to_string();
    let mut after = None;

    loop {
        let batch =
            resources::sealed_under_other_keys(db, &current, after, batch_size.max(1)).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = Some(last.id);

        for row in batch {
            let Some(old) = secrets::sealed_of(&row) else {
                continue;
            };
            let opened = match secrets::open(keys, &row) {
                Ok(opened) => opened,
                Err(error) => {
                    tracing::error!(
                        workspace_id = %row.workspace_id,
                        resource_id = %row.id,
                        key_id = %old.key_id,
                        error = format!("{error:#}"),
                        "re-encrypting a resource's secrets failed"
                    );
                    report.failed.push(row.id);
                    continue;
                }
            };
            let Some(new) = secrets::seal(keys, row.workspace_id, row.id, &opened)? else {
                continue;
            };
            if resources::replace_ciphertext(db, row.workspace_id, row.id, &old, new).await? {
                report.reencrypted += 1;
            }
        }
    }

    report.remaining = resources::count_sealed_under_other_keys(db, &current).await?;
    tracing::info!(
        key_id = %current,
        reencrypted = report.reencrypted,
        failed = report.failed.len(),
        remaining = report.remaining,
        "re-encryption pass finished"
    );
    Ok(report)
}
