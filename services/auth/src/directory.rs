//! Lookups the auth service serves to other services: API keys, member roles and the record
//! of member changes.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use trellis_tokens::{AccessError, ApiKeyIdentity, Directory, MemberEvent, Role};
use uuid::Uuid;

use crate::roles::RoleCache;
use crate::secrets;
use crate::storage::{api_keys, member_events, members};

/// Maximum age of an API key's `last_used_at` before a use rewrites it.
const LAST_USED_GRANULARITY: Duration = Duration::from_secs(60);

/// The directory backed by the auth database, for services in the same process.
#[derive(Clone)]
pub struct LocalDirectory {
    pub db: DatabaseConnection,
    /// The roles this process has read; the auth routes mark them out of date.
    pub roles: Arc<RoleCache>,
}

fn unavailable(error: sea_orm::DbErr) -> AccessError {
    tracing::error!(%error, "directory lookup failed");
    AccessError::Unavailable("database".into())
}

#[async_trait::async_trait]
impl Directory for LocalDirectory {
    async fn api_key(&self, key: &str) -> Result<Option<ApiKeyIdentity>, AccessError> {
        let hash = secrets::hash(key);
        let Some(row) = api_keys::find_active_by_hash(&self.db, &hash)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };

        // A key never outranks its creator: it is capped by the creator's current role and
        // stops working when the creator leaves the workspace.
        let creator = self.role_of(row.workspace_id, row.created_by).await?;
        let (Some(creator), Some(own)) = (creator, Role::parse(&row.role)) else {
            return Ok(None);
        };

        let stale = row.last_used_at.is_none_or(|at| {
            (Utc::now() - at).to_std().unwrap_or_default() > LAST_USED_GRANULARITY
        });
        if stale {
            api_keys::touch(&self.db, row.workspace_id, row.id)
                .await
                .map_err(unavailable)?;
        }

        Ok(Some(ApiKeyIdentity {
            key_id: row.id,
            workspace_id: row.workspace_id,
            role: own.min(creator),
        }))
    }

    async fn role_of(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Role>, AccessError> {
        if let Some(role) = self.roles.get(workspace_id, user_id) {
            return Ok(role);
        }

        let as_of = self.roles.changes();
        let role = members::role_of(&self.db, workspace_id, user_id)
            .await
            .map_err(unavailable)?;
        self.roles.store(workspace_id, user_id, role, as_of);
        Ok(role)
    }

    async fn member_events(
        &self,
        workspace_id: Uuid,
        limit: u64,
    ) -> Result<Vec<MemberEvent>, AccessError> {
        member_events::latest(&self.db, workspace_id, limit)
            .await
            .map_err(unavailable)
    }
}
