//! The record of changes to a workspace's members and invites, which the workspace's audit log
//! shows beside the apps service's own events.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use trellis_tokens::{Actor, MemberEvent};
use uuid::Uuid;

use super::entities::member_event;

/// One change to record.
pub struct Change<'a> {
    /// Kind of change, such as `member.remove`.
    pub action: &'a str,
    /// `member` or `invite`.
    pub target_type: &'a str,
    pub target_id: Uuid,
    pub details: Value,
}

pub async fn record(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    actor: &Actor,
    change: Change<'_>,
) -> Result<(), DbErr> {
    member_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace_id),
        actor_user_id: Set(actor.user_id),
        actor_api_key_id: Set(actor.api_key_id),
        action: Set(change.action.to_string()),
        target_type: Set(change.target_type.to_string()),
        target_id: Set(change.target_id),
        details: Set(change.details),
        client_address: Set(actor.client_address.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Returns the workspace's latest `limit` events, newest first.
pub async fn latest(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    limit: u64,
) -> Result<Vec<MemberEvent>, DbErr> {
    let rows = member_event::Entity::find()
        .filter(member_event::Column::WorkspaceId.eq(workspace_id))
        .order_by_desc(member_event::Column::CreatedAt)
        .order_by_desc(member_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| MemberEvent {
            id: row.id,
            actor_user_id: row.actor_user_id,
            actor_api_key_id: row.actor_api_key_id,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            details: row.details,
            client_address: row.client_address,
            created_at: row.created_at,
        })
        .collect())
}
