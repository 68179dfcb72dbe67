use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{app, app_version};

pub struct NewApp {
    pub name: String,
    pub document: Value,
    pub access: Value,
    pub public_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
}

/// Inserts an app at version 1 and records that version as its first draft revision.
pub async fn insert(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    new: NewApp,
) -> Result<app::Model, DbErr> {
    let now = Utc::now();
    let row = app::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace_id),
        name: Set(new.name),
        document: Set(new.document),
        version: Set(1),
        access: Set(new.access),
        public_id: Set(new.public_id),
        latest_release: Set(None),
        created_by: Set(new.created_by),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    insert_version(db, &row, new.created_by).await?;
    Ok(row)
}

async fn insert_version(
    db: &impl ConnectionTrait,
    row: &app::Model,
    created_by: Option<Uuid>,
) -> Result<(), DbErr> {
    app_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(row.workspace_id),
        app_id: Set(row.id),
        version: Set(row.version),
        name: Set(row.name.clone()),
        document: Set(row.document.clone()),
        created_by: Set(created_by),
        created_at: Set(row.updated_at),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Apps of a workspace, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<app::Model>, DbErr> {
    app::Entity::find()
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(app::Column::CreatedAt)
        .order_by_asc(app::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<app::Model>, DbErr> {
    app::Entity::find_by_id(id)
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await
}

/// Returns the access settings of a workspace's app, without reading its document.
pub async fn find_access(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Value>, DbErr> {
    app::Entity::find_by_id(id)
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .select_only()
        .column(app::Column::Access)
        .into_tuple()
        .one(db)
        .await
}

/// Looks an app up by its public link id. The public id names the workspace, so this is the
/// one app lookup without a workspace id.
pub async fn find_by_public_id(
    db: &impl ConnectionTrait,
    public_id: Uuid,
) -> Result<Option<app::Model>, DbErr> {
    app::Entity::find()
        .filter(app::Column::PublicId.eq(public_id))
        .one(db)
        .await
}

/// Returns the workspace id, app id and latest release number of the app behind a public
/// link, without reading its document.
pub async fn find_public_link(
    db: &impl ConnectionTrait,
    public_id: Uuid,
) -> Result<Option<(Uuid, Uuid, Option<i32>)>, DbErr> {
    app::Entity::find()
        .filter(app::Column::PublicId.eq(public_id))
        .select_only()
        .column(app::Column::WorkspaceId)
        .column(app::Column::Id)
        .column(app::Column::LatestRelease)
        .into_tuple()
        .one(db)
        .await
}

/// New values of an app's draft.
pub struct AppChanges {
    pub name: String,
    pub document: Value,
    pub access: Value,
    pub public_id: Option<Uuid>,
}

/// Saves a draft when its version is still `expected_version`, raising the version by one and
/// recording the new draft revision. Returns `None` when the version moved on or the app is
/// gone.
pub async fn save(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
    expected_version: i64,
    changes: AppChanges,
    saved_by: Option<Uuid>,
) -> Result<Option<app::Model>, DbErr> {
    let result = app::Entity::update_many()
        .col_expr(app::Column::Name, changes.name.into())
        .col_expr(app::Column::Document, changes.document.into())
        .col_expr(app::Column::Access, changes.access.into())
        .col_expr(app::Column::PublicId, changes.public_id.into())
        .col_expr(app::Column::Version, Expr::col(app::Column::Version).add(1))
        .col_expr(app::Column::UpdatedAt, Utc::now().into())
        .filter(app::Column::Id.eq(id))
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .filter(app::Column::Version.eq(expected_version))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    let Some(row) = find(db, workspace_id, id).await? else {
        return Ok(None);
    };
    insert_version(db, &row, saved_by).await?;
    Ok(Some(row))
}

pub async fn set_latest_release(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    id: Uuid,
    number: i32,
) -> Result<(), DbErr> {
    app::Entity::update_many()
        .col_expr(app::Column::LatestRelease, Some(number).into())
        .filter(app::Column::Id.eq(id))
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Deletes an app; its revisions, actions and releases go with it.
pub async fn delete(db: &impl ConnectionTrait, workspace_id: Uuid, id: Uuid) -> Result<u64, DbErr> {
    use super::entities::{action, release};

    action::Entity::delete_many()
        .filter(action::Column::AppId.eq(id))
        .filter(action::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    release::Entity::delete_many()
        .filter(release::Column::AppId.eq(id))
        .filter(release::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    app_version::Entity::delete_many()
        .filter(app_version::Column::AppId.eq(id))
        .filter(app_version::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    let result = app::Entity::delete_many()
        .filter(app::Column::Id.eq(id))
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Draft revisions of an app, newest first.
pub async fn list_versions(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<app_version::Model>, DbErr> {
    app_version::Entity::find()
        .filter(app_version::Column::WorkspaceId.eq(workspace_id))
        .filter(app_version::Column::AppId.eq(app_id))
        .order_by_desc(app_version::Column::Version)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

pub async fn find_version(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    version: i64,
) -> Result<Option<app_version::Model>, DbErr> {
    app_version::Entity::find()
        .filter(app_version::Column::WorkspaceId.eq(workspace_id))
        .filter(app_version::Column::AppId.eq(app_id))
        .filter(app_version::Column::Version.eq(version))
        .one(db)
        .await
}
