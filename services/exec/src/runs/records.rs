//! Storage of run records. Every function takes the workspace id, and every query is scoped
//! by it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::ExecError;

pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One run of an action (see the `exec` module of the migrations crate).
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "exec_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub app_id: Uuid,
        pub action_id: Uuid,
        pub resource_id: Uuid,
        pub plugin_id: String,
        pub release: Option<i32>,
        pub user_id: Option<Uuid>,
        pub api_key_id: Option<Uuid>,
        pub caller: String,
        pub day: String,
        pub started_at: DateTimeUtc,
        pub duration_ms: i64,
        pub outcome: String,
        pub error_code: Option<String>,
        pub cached: bool,
        pub truncated: bool,
        pub input_tokens: Option<i64>,
        pub output_tokens: Option<i64>,
        pub model: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use entity::Model as RunRecord;
use entity::{ActiveModel, Column, Entity};

/// Formats the day a run counts toward, in UTC.
pub fn day_of(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d").to_string()
}

/// Stores runs in one statement. Each record carries its own workspace id.
pub async fn insert_many(db: &DatabaseConnection, runs: Vec<RunRecord>) -> Result<(), ExecError> {
    if runs.is_empty() {
        return Ok(());
    }
    let rows = runs.into_iter().map(active_model);
    Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .context("storing run records failed")?;
    Ok(())
}

fn active_model(run: RunRecord) -> ActiveModel {
    ActiveModel {
        id: Set(run.id),
        workspace_id: Set(run.workspace_id),
        app_id: Set(run.app_id),
        action_id: Set(run.action_id),
        resource_id: Set(run.resource_id),
        plugin_id: Set(run.plugin_id),
        release: Set(run.release),
        user_id: Set(run.user_id),
        api_key_id: Set(run.api_key_id),
        caller: Set(run.caller),
        day: Set(run.day),
        started_at: Set(run.started_at),
        duration_ms: Set(run.duration_ms),
        outcome: Set(run.outcome),
        error_code: Set(run.error_code),
        cached: Set(run.cached),
        truncated: Set(run.truncated),
        input_tokens: Set(run.input_tokens),
        output_tokens: Set(run.output_tokens),
        model: Set(run.model),
    }
}

/// Filters of a run listing. `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub app_id: Option<Uuid>,
    pub action_id: Option<Uuid>,
    pub outcome: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only runs by this user.
    pub user_id: Option<Uuid>,
    /// Only runs by this API key.
    pub api_key_id: Option<Uuid>,
}

/// Lists a workspace's runs, newest first.
pub async fn list(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    filter: &RunFilter,
    offset: u64,
    limit: u64,
) -> Result<Vec<RunRecord>, ExecError> {
    let mut query = Entity::find().filter(Column::WorkspaceId.eq(workspace_id));
    if let Some(app_id) = filter.app_id {
        query = query.filter(Column::AppId.eq(app_id));
    }
    if let Some(action_id) = filter.action_id {
        query = query.filter(Column::ActionId.eq(action_id));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(Column::StartedAt.gte(since));
    }
    if let Some(user_id) = filter.user_id {
        query = query.filter(Column::UserId.eq(user_id));
    }
    if let Some(api_key_id) = filter.api_key_id {
        query = query.filter(Column::ApiKeyId.eq(api_key_id));
    }
    let rows = query
        .order_by_desc(Column::StartedAt)
        .order_by_desc(Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
        .context("listing runs")?;
    Ok(rows)
}

/// Sums of the runs of one day, app and resource.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct UsageRow {
    pub day: String,
    pub app_id: Uuid,
    pub resource_id: Uuid,
    pub runs: i64,
    pub errors: i64,
    pub duration_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// Sums a workspace's runs per day, app and resource over the days `from..=to`
/// (`YYYY-MM-DD`).
pub async fn usage(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    from: &str,
    to: &str,
) -> Result<Vec<UsageRow>, ExecError> {
    // Sums are cast so PostgreSQL returns BIGINT rather than NUMERIC.
    let rows = Entity::find()
        .select_only()
        .column(Column::Day)
        .column(Column::AppId)
        .column(Column::ResourceId)
        .column_as(Expr::cust("COUNT(*)"), "runs")
        .column_as(
            Expr::cust("CAST(SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS BIGINT)"),
            "errors",
        )
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(duration_ms), 0) AS BIGINT)"),
            "duration_ms",
        )
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT)"),
            "input_tokens",
        )
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT)"),
            "output_tokens",
        )
        .filter(Column::WorkspaceId.eq(workspace_id))
        .filter(Column::Day.gte(from))
        .filter(Column::Day.lte(to))
        .group_by(Column::Day)
        .group_by(Column::AppId)
        .group_by(Column::ResourceId)
        .order_by_asc(Column::Day)
        .order_by_asc(Column::AppId)
        .order_by_asc(Column::ResourceId)
        .into_model::<UsageRow>()
        .all(db)
        .await
        .context("summing usage")?;
    Ok(rows)
}
