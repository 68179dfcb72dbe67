//! Storage of run records. Every function takes the workspace id, and every query is scoped
//! by it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
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

/// Formats the day a run counts toward, in UTC, as `YYYY-MM-DD`. A `NaiveDate` prints that form
/// itself, where a `strftime` pattern would be parsed again on every call.
pub fn day_of(time: DateTime<Utc>) -> String {
    time.date_naive().to_string()
}

/// Row counts of the statements a batch is split into, largest first. The database keeps each
/// connection's prepared statements by SQL text, so a few fixed sizes are prepared once and then
/// reused. One statement per batch would have a new size, and be prepared again, almost every
/// time. At 20 columns, 64 rows bind 1,280 parameters, far below the limits of SQLite (32,766
/// by default since 3.32) and PostgreSQL (65,535).
const CHUNK_SIZES: [usize; 4] = [64, 16, 4, 1];

/// Stores runs in one transaction. Each record carries its own workspace id.
pub async fn insert_many(db: &DatabaseConnection, runs: Vec<RunRecord>) -> Result<(), ExecError> {
    if runs.is_empty() {
        return Ok(());
    }
    let transaction = db.begin().await.context("storing run records failed")?;

    // The last size is 1, so every record goes into some statement.
    let mut rows = runs.into_iter().map(active_model);
    for size in CHUNK_SIZES {
        while rows.len() >= size {
            let chunk: Vec<ActiveModel> = rows.by_ref().take(size).collect();
            Entity::insert_many(chunk)
                .exec_without_returning(&transaction)
                .await
                .context("storing run records failed")?;
        }
    }

    transaction
        .commit()
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use sea_orm::Database;
    use sea_orm_migration::MigratorTrait;

    use super::*;

    fn record(workspace_id: Uuid, started_at: DateTime<Utc>) -> RunRecord {
        RunRecord {
            id: Uuid::now_v7(),
            workspace_id,
            app_id: Uuid::now_v7(),
            action_id: Uuid::now_v7(),
            resource_id: Uuid::now_v7(),
            plugin_id: "sql".into(),
            release: Some(1),
            user_id: None,
            api_key_id: None,
            caller: "public".into(),
            day: day_of(started_at),
            started_at,
            duration_ms: 3,
            outcome: "ok".into(),
            error_code: None,
            cached: false,
            truncated: false,
            input_tokens: None,
            output_tokens: None,
            model: None,
        }
    }

    #[tokio::test]
    async fn batch_of_odd_size_stored_whole() {
        let data = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            data.path().join("exec.sqlite").display()
        );
        let db = Database::connect(url).await.unwrap();
        trellis_migrations::exec::Migrator::up(&db, None)
            .await
            .unwrap();
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();

        // 150 = 2 x 64 + 16 + 4 + 2 x 1, and 3 fills no statement of 4.
        let batch: Vec<RunRecord> = (0..150).map(|_| record(first, now)).collect();
        let mut expected: Vec<Uuid> = batch.iter().map(|record| record.id).collect();
        expected.sort();
        insert_many(&db, batch).await.unwrap();
        insert_many(&db, (0..3).map(|_| record(second, now)).collect())
            .await
            .unwrap();

        let filter = RunFilter::default();
        let stored = list(&db, first, &filter, 0, 1000).await.unwrap();
        let mut ids: Vec<Uuid> = stored.iter().map(|record| record.id).collect();
        ids.sort();
        assert_eq!(ids, expected);
        assert_eq!(list(&db, second, &filter, 0, 1000).await.unwrap().len(), 3);
    }

    #[test]
    fn day_is_utc_date_zero_padded() {
        let time = Utc.with_ymd_and_hms(2026, 3, 7, 23, 59, 59).unwrap();
        assert_eq!(day_of(time), "2026-03-07");
        let early = Utc.with_ymd_and_hms(987, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(day_of(early), "0987-01-01");
    }
}
