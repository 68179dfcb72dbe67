use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::action;

/// An action's stored fields, as written on create and update.
pub struct ActionFields {
    pub name: String,
    pub resource_id: Uuid,
    pub operation: String,
    pub input: Value,
    pub transformer: Option<String>,
    pub params_schema: Option<Value>,
    pub timeout_ms: i64,
    pub cache_ttl_seconds: i64,
    pub requires_confirmation: bool,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    fields: ActionFields,
    created_by: Option<Uuid>,
) -> Result<action::Model, DbErr> {
    let now = Utc::now();
    action::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace_id),
        app_id: Set(app_id),
        name: Set(fields.name),
        resource_id: Set(fields.resource_id),
        operation: Set(fields.operation),
        input: Set(fields.input),
        transformer: Set(fields.transformer),
        params_schema: Set(fields.params_schema),
        timeout_ms: Set(fields.timeout_ms),
        cache_ttl_seconds: Set(fields.cache_ttl_seconds),
        requires_confirmation: Set(fields.requires_confirmation),
        created_by: Set(created_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

/// Actions of an app, oldest first; all of them when `limit` is `None`, and then `offset` is
/// ignored.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    offset: u64,
    limit: Option<u64>,
) -> Result<Vec<action::Model>, DbErr> {
    let query = action::Entity::find()
        .filter(action::Column::WorkspaceId.eq(workspace_id))
        .filter(action::Column::AppId.eq(app_id))
        .order_by_asc(action::Column::CreatedAt)
        .order_by_asc(action::Column::Id);
    // SQLite accepts OFFSET only after LIMIT.
    match limit {
        Some(limit) => query.offset(offset).limit(limit).all(db).await,
        None => query.all(db).await,
    }
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    id: Uuid,
) -> Result<Option<action::Model>, DbErr> {
    action::Entity::find_by_id(id)
        .filter(action::Column::WorkspaceId.eq(workspace_id))
        .filter(action::Column::AppId.eq(app_id))
        .one(db)
        .await
}

/// Replaces an action's fields; returns the updated row, or `None` when it is gone.
pub async fn update(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    id: Uuid,
    fields: ActionFields,
) -> Result<Option<action::Model>, DbErr> {
    let Some(row) = find(db, workspace_id, app_id, id).await? else {
        return Ok(None);
    };
    let mut active: action::ActiveModel = row.into();
    active.name = Set(fields.name);
    active.resource_id = Set(fields.resource_id);
    active.operation = Set(fields.operation);
    active.input = Set(fields.input);
    active.transformer = Set(fields.transformer);
    active.params_schema = Set(fields.params_schema);
    active.timeout_ms = Set(fields.timeout_ms);
    active.cache_ttl_seconds = Set(fields.cache_ttl_seconds);
    active.requires_confirmation = Set(fields.requires_confirmation);
    active.updated_at = Set(Utc::now());
    active.update(db).await.map(Some)
}

pub async fn delete(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    id: Uuid,
) -> Result<u64, DbErr> {
    let result = action::Entity::delete_many()
        .filter(action::Column::Id.eq(id))
        .filter(action::Column::WorkspaceId.eq(workspace_id))
        .filter(action::Column::AppId.eq(app_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
