use chrono::Utc;
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::{app, release};

pub struct NewRelease {
    pub number: i32,
    pub name: String,
    pub document: Value,
    pub actions: Value,
    pub source_version: i64,
    pub rolled_back_from: Option<i32>,
    pub created_by: Option<Uuid>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    new: NewRelease,
) -> Result<release::Model, DbErr> {
    release::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(workspace_id),
        app_id: Set(app_id),
        number: Set(new.number),
        name: Set(new.name),
        document: Set(new.document),
        actions: Set(new.actions),
        source_version: Set(new.source_version),
        rolled_back_from: Set(new.rolled_back_from),
        created_by: Set(new.created_by),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
}

/// Releases of an app, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<Vec<release::Model>, DbErr> {
    release::Entity::find()
        .filter(release::Column::WorkspaceId.eq(workspace_id))
        .filter(release::Column::AppId.eq(app_id))
        .order_by_desc(release::Column::Number)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
    number: i32,
) -> Result<Option<release::Model>, DbErr> {
    release::Entity::find()
        .filter(release::Column::WorkspaceId.eq(workspace_id))
        .filter(release::Column::AppId.eq(app_id))
        .filter(release::Column::Number.eq(number))
        .one(db)
        .await
}

/// Reads, in one statement, an app's access rules with the number and frozen actions of its
/// latest release. The release fields are `None` when the app has none; `Ok(None)` means no
/// such app in the workspace.
pub async fn latest_actions_and_access(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
) -> Result<Option<(Value, Option<i32>, Option<Value>)>, DbErr> {
    let releases = app::Entity::belongs_to(release::Entity)
        .from(app::Column::Id)
        .to(release::Column::AppId)
        .on_condition(move |_, releases| {
            Expr::col((releases, release::Column::WorkspaceId))
                .eq(workspace_id)
                .into_condition()
        });
    app::Entity::find_by_id(app_id)
        .filter(app::Column::WorkspaceId.eq(workspace_id))
        .join(JoinType::LeftJoin, releases.into())
        .order_by_desc(release::Column::Number)
        .select_only()
        .column(app::Column::Access)
        .column(release::Column::Number)
        .column(release::Column::Actions)
        .into_tuple()
        .one(db)
        .await
}

/// Returns the release with the highest number.
pub async fn latest(
    db: &impl ConnectionTrait,
    workspace_id: Uuid,
    app_id: Uuid,
) -> Result<Option<release::Model>, DbErr> {
    release::Entity::find()
        .filter(release::Column::WorkspaceId.eq(workspace_id))
        .filter(release::Column::AppId.eq(app_id))
        .order_by_desc(release::Column::Number)
        .one(db)
        .await
}
