use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use trellis_tokens::Role;
use uuid::Uuid;

use super::entities::invite;

pub struct NewInvite<'a> {
    pub workspace_id: Uuid,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub invited_by: Uuid,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewInvite<'_>,
) -> Result<invite::Model, sea_orm::DbErr> {
    invite::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(new.workspace_id),
        email: Set(new.email.to_string()),
        role: Set(new.role.as_str().to_string()),
        token_hash: Set(new.token_hash.to_string()),
        invited_by: Set(new.invited_by),
        expires_at: Set(new.expires_at),
        accepted_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
}

/// Invites of a workspace that are neither accepted nor revoked, newest first.
pub async fn list_open(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<invite::Model>, sea_orm::DbErr> {
    invite::Entity::find()
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .order_by_desc(invite::Column::CreatedAt)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    invite_id: Uuid,
) -> Result<Option<invite::Model>, sea_orm::DbErr> {
    invite::Entity::find_by_id(invite_id)
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await
}

/// Looks an invite up by the hash of its token. The token itself names the workspace, so this
/// is the one invite lookup without a workspace id.
pub async fn find_by_token_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<invite::Model>, sea_orm::DbErr> {
    invite::Entity::find()
        .filter(invite::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

pub async fn revoke(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    invite_id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    let result = invite::Entity::update_many()
        .col_expr(invite::Column::RevokedAt, Utc::now().into())
        .filter(invite::Column::Id.eq(invite_id))
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Marks an open invite accepted and returns whether this call was the one that did, so a
/// token is used at most once even under concurrent accepts.
pub async fn mark_accepted(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    invite_id: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    let result = invite::Entity::update_many()
        .col_expr(invite::Column::AcceptedAt, Utc::now().into())
        .filter(invite::Column::Id.eq(invite_id))
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .filter(invite::Column::AcceptedAt.is_null())
        .filter(invite::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
