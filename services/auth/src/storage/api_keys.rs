use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use trellis_tokens::Role;
use uuid::Uuid;

use super::entities::api_key;

pub struct NewApiKey<'a> {
    pub workspace_id: Uuid,
    pub name: &'a str,
    pub role: Role,
    pub key_hash: &'a str,
    pub prefix: &'a str,
    pub created_by: Uuid,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewApiKey<'_>,
) -> Result<api_key::Model, sea_orm::DbErr> {
    api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(new.workspace_id),
        name: Set(new.name.to_string()),
        role: Set(new.role.as_str().to_string()),
        key_hash: Set(new.key_hash.to_string()),
        prefix: Set(new.prefix.to_string()),
        created_by: Set(new.created_by),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
}

/// Keys of a workspace that are not revoked, newest first.
pub async fn list_active(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<api_key::Model>, sea_orm::DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::WorkspaceId.eq(workspace_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .order_by_desc(api_key::Column::CreatedAt)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

pub async fn revoke(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    key_id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    let result = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Utc::now().into())
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::WorkspaceId.eq(workspace_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Looks an active key up by the hash of its secret. The key itself names the workspace, so
/// this is the one key lookup without a workspace id.
pub async fn find_active_by_hash(
    db: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<api_key::Model>, sea_orm::DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(key_hash))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await
}

pub async fn touch(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    key_id: Uuid,
) -> Result<(), sea_orm::DbErr> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Utc::now().into())
        .filter(api_key::Column::Id.eq(key_id))
        .filter(api_key::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await
        .map(|_| ())
}
