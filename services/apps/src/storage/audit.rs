use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::audit_event;

pub use trellis_tokens::Actor;

/// One change to record.
pub struct Event<'a> {
    /// Kind of change, such as `resource.create`.
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Uuid,
    /// Facts about the change; never secret values.
    pub details: Value,
}

pub async fn record(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    actor: &Actor,
    event: Event<'_>,
) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace_id),
        actor_user_id: Set(actor.user_id),
        actor_api_key_id: Set(actor.api_key_id),
        action: Set(event.action.to_string()),
        target_type: Set(event.target_type.to_string()),
        target_id: Set(event.target_id),
        details: Set(event.details),
        client_address: Set(actor.client_address.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Events of a workspace, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(audit_event::Column::CreatedAt)
        .order_by_desc(audit_event::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}
