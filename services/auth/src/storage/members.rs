use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use trellis_tokens::Role;
use uuid::Uuid;

use super::entities::{member, user};

pub async fn insert(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<member::Model, sea_orm::DbErr> {
    member::ActiveModel {
        workspace_id: Set(workspace_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<member::Model>, sea_orm::DbErr> {
    member::Entity::find_by_id((workspace_id, user_id))
        .one(db)
        .await
}

/// Returns the member's role, or `None` when the user is not a member.
pub async fn role_of(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Role>, sea_orm::DbErr> {
    Ok(find(db, workspace_id, user_id)
        .await?
        .and_then(|m| Role::parse(&m.role)))
}

/// Members with their user rows, oldest first, one page at a time.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<(member::Model, user::Model)>, sea_orm::DbErr> {
    let members = member::Entity::find()
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(member::Column::CreatedAt)
        .order_by_asc(member::Column::UserId)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
    let users = user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(members
        .into_iter()
        .filter_map(|m| {
            users
                .iter()
                .find(|u| u.id == m.user_id)
                .map(|u| (m, u.clone()))
        })
        .collect())
}

pub async fn count_owners(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    member::Entity::find()
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .filter(member::Column::Role.eq(Role::Owner.as_str()))
        .count(db)
        .await
}

pub async fn set_role(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<member::Model, sea_orm::DbErr> {
    member::ActiveModel {
        workspace_id: Set(workspace_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_string()),
        ..Default::default()
    }
    .update(db)
    .await
}

pub async fn delete(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<(), sea_orm::DbErr> {
    member::Entity::delete_by_id((workspace_id, user_id))
        .exec(db)
        .await
        .map(|_| ())
}
