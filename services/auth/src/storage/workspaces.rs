use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{api_key, invite, member, workspace};

pub async fn insert(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<workspace::Model, sea_orm::DbErr> {
    workspace::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
) -> Result<Option<workspace::Model>, sea_orm::DbErr> {
    workspace::Entity::find_by_id(workspace_id).one(db).await
}

pub async fn rename(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    name: &str,
) -> Result<workspace::Model, sea_orm::DbErr> {
    workspace::ActiveModel {
        id: Set(workspace_id),
        name: Set(name.to_string()),
        ..Default::default()
    }
    .update(db)
    .await
}

/// Deletes a workspace with its members, invites and API keys.
pub async fn delete(db: &impl ConnectionTrait, workspace_id: Uuid) -> Result<(), sea_orm::DbErr> {
    api_key::Entity::delete_many()
        .filter(api_key::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    invite::Entity::delete_many()
        .filter(invite::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    member::Entity::delete_many()
        .filter(member::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    workspace::Entity::delete_by_id(workspace_id)
        .exec(db)
        .await?;
    Ok(())
}

/// Lists the workspaces a user belongs to, with the user's role in each.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<(workspace::Model, member::Model)>, sea_orm::DbErr> {
    let memberships = member::Entity::find()
        .filter(member::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    let ids: Vec<Uuid> = memberships.iter().map(|m| m.workspace_id).collect();
    let workspaces = workspace::Entity::find()
        .filter(workspace::Column::Id.is_in(ids))
        .all(db)
        .await?;
    let mut pairs: Vec<_> = workspaces
        .into_iter()
        .filter_map(|w| {
            memberships
                .iter()
                .find(|m| m.workspace_id == w.id)
                .map(|m| (w, m.clone()))
        })
        .collect();
    pairs.sort_by_key(|(w, _)| w.id);
    Ok(pairs)
}

/// Locks the workspace row until the transaction ends, so checks such as "at least one owner
/// remains" cannot race. SQLite runs one writer at a time and needs no row lock.
pub async fn lock(db: &impl ConnectionTrait, workspace_id: Uuid) -> Result<(), sea_orm::DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        workspace::Entity::find_by_id(workspace_id)
            .lock_exclusive()
            .one(db)
            .await?;
    }
    Ok(())
}
