use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{action, resource};
use crate::crypto::Sealed;

/// A resource's stored fields, as written on create and update.
pub struct ResourceFields {
    pub name: String,
    pub plugin_id: String,
    pub plugin_version: String,
    /// The config without its secret fields.
    pub config: Value,
    pub secrets_set: Vec<String>,
    pub sealed: Option<Sealed>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
    fields: ResourceFields,
    created_by: Option<Uuid>,
) -> Result<resource::Model, DbErr> {
    let now = Utc::now();
    let (ciphertext, key_id) = unzip(fields.sealed);
    resource::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace_id),
        name: Set(fields.name),
        plugin_id: Set(fields.plugin_id),
        plugin_version: Set(fields.plugin_version),
        config: Set(fields.config),
        secrets_set: Set(Value::from(fields.secrets_set)),
        secrets_ciphertext: Set(ciphertext),
        key_id: Set(key_id),
        created_by: Set(created_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

fn unzip(sealed: Option<Sealed>) -> (Option<String>, Option<String>) {
    match sealed {
        Some(sealed) => (Some(sealed.ciphertext), Some(sealed.key_id)),
        None => (None, None),
    }
}

/// Resources of a workspace, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<resource::Model>, DbErr> {
    resource::Entity::find()
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(resource::Column::CreatedAt)
        .order_by_asc(resource::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<resource::Model>, DbErr> {
    resource::Entity::find_by_id(id)
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await
}

/// Replaces a resource's fields; returns the updated row, or `None` when it is gone.
pub async fn update(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
    fields: ResourceFields,
) -> Result<Option<resource::Model>, DbErr> {
    let (ciphertext, key_id) = unzip(fields.sealed);
    let result = resource::Entity::update_many()
        .col_expr(resource::Column::Name, fields.name.into())
        .col_expr(resource::Column::PluginId, fields.plugin_id.into())
        .col_expr(
            resource::Column::PluginVersion,
            fields.plugin_version.into(),
        )
        .col_expr(resource::Column::Config, fields.config.into())
        .col_expr(
            resource::Column::SecretsSet,
            Value::from(fields.secrets_set).into(),
        )
        .col_expr(resource::Column::SecretsCiphertext, ciphertext.into())
        .col_expr(resource::Column::KeyId, key_id.into())
        .col_expr(resource::Column::UpdatedAt, Utc::now().into())
        .filter(resource::Column::Id.eq(id))
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(db, workspace_id, id).await
}

pub async fn delete(db: &impl ConnectionTrait, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    let result = resource::Entity::delete_many()
        .filter(resource::Column::Id.eq(id))
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Counts the draft actions that use a resource.
pub async fn count_actions_using(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    resource_id: Uuid,
) -> Result<u64, DbErr> {
    action::Entity::find()
        .filter(action::Column::WorkspaceId.eq(workspace_id))
        .filter(action::Column::ResourceId.eq(resource_id))
        .count(db)
        .await
}

/// Resources of every workspace whose secrets are sealed under a key other than `key_id`,
/// ordered by id after `after`. Key rotation is the one caller, and it spans workspaces.
pub async fn sealed_under_other_keys(
    db: &impl ConnectionTrait,
    key_id: &str,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<resource::Model>, DbErr> {
    let mut query = resource::Entity::find()
        .filter(resource::Column::KeyId.is_not_null())
        .filter(resource::Column::KeyId.ne(key_id));
    if let Some(after) = after {
        query = query.filter(resource::Column::Id.gt(after));
    }
    query
        .order_by_asc(resource::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Counts the resources of every workspace still sealed under a key other than `key_id`.
pub async fn count_sealed_under_other_keys(
    db: &impl ConnectionTrait,
    key_id: &str,
) -> Result<u64, DbErr> {
    resource::Entity::find()
        .filter(resource::Column::KeyId.is_not_null())
        .filter(resource::Column::KeyId.ne(key_id))
        .count(db)
        .await
}

/// Swaps a resource's ciphertext for one sealed under a new key, unless the row changed since
/// it was read. Returns whether the row was updated.
pub async fn replace_ciphertext(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
    old: &Sealed,
    new: Sealed,
) -> Result<bool, DbErr> {
    let result = resource::Entity::update_many()
        .col_expr(resource::Column::SecretsCiphertext, new.ciphertext.into())
        .col_expr(resource::Column::KeyId, new.key_id.into())
        .filter(resource::Column::Id.eq(id))
        .filter(resource::Column::WorkspaceId.eq(workspace_id))
        .filter(resource::Column::KeyId.eq(old.key_id.as_str()))
        .filter(resource::Column::SecretsCiphertext.eq(old.ciphertext.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
