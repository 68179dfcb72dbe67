//! Request and response bodies of the run, run-list and usage routes.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::runs::records::{RunRecord, UsageRow};
use crate::runs::{RunOutput, Usage};

/// Which definition of an action a run uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStage {
    /// The app's latest release.
    #[default]
    Release,
    /// The draft; editors and above only.
    Draft,
}

/// Query of the run route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// `release` (the default) runs the latest release; `draft` runs the draft.
    pub stage: Option<RunStage>,
}

/// A run request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The run's parameters, checked against the action's parameter schema; `{}` by default.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// What a run returns beside its data.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunMeta {
    pub run_id: Uuid,
    pub duration_ms: u64,
    /// True when the connector capped its result.
    pub truncated: bool,
    /// True when the result came from the action's result cache.
    pub cached: bool,
    /// Usage the connector reported, such as LLM tokens.
    pub usage: Option<Usage>,
}

/// The result of a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunResponse {
    /// The connector's output after the action's transformer.
    #[schema(value_type = Object)]
    pub data: Value,
    pub meta: RunMeta,
}

impl From<RunOutput> for RunResponse {
    fn from(output: RunOutput) -> Self {
        RunResponse {
            data: output.data,
            meta: RunMeta {
                run_id: output.run_id,
                duration_ms: output.duration_ms,
                truncated: output.truncated,
                cached: output.cached,
                usage: output.usage,
            },
        }
    }
}

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Ok,
    Error,
}

/// Filters and paging of the run list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunListQuery {
    pub app_id: Option<Uuid>,
    pub action_id: Option<Uuid>,
    pub outcome: Option<RunOutcome>,
    /// Only runs started at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Items to skip; 0 by default.
    pub offset: Option<u64>,
    /// Items per page, 1 to 100; 50 by default.
    pub limit: Option<u64>,
}

/// A recorded run. It holds no input, output or config, so no secret can appear in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: Uuid,
    pub app_id: Uuid,
    pub action_id: Uuid,
    pub resource_id: Uuid,
    pub plugin_id: String,
    /// Release number; `null` for a run of the draft.
    pub release: Option<i32>,
    pub user_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    /// `user`, `api_key` or `public` (anonymous, through a public link).
    pub caller: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// `ok` or `error`.
    pub outcome: String,
    /// Problem code of a failed run, such as `connector_timed_out`.
    pub error_code: Option<String>,
    pub cached: bool,
    pub truncated: bool,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub model: Option<String>,
}

impl From<RunRecord> for RunView {
    fn from(run: RunRecord) -> Self {
        RunView {
            id: run.id,
            app_id: run.app_id,
            action_id: run.action_id,
            resource_id: run.resource_id,
            plugin_id: run.plugin_id,
            release: run.release,
            user_id: run.user_id,
            api_key_id: run.api_key_id,
            caller: run.caller,
            started_at: run.started_at,
            duration_ms: run.duration_ms,
            outcome: run.outcome,
            error_code: run.error_code,
            cached: run.cached,
            truncated: run.truncated,
            input_tokens: run.input_tokens,
            output_tokens: run.output_tokens,
            model: run.model,
        }
    }
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub items: Vec<RunView>,
    /// Offset of the next page, when this one is full.
    pub next_offset: Option<u64>,
}

/// Range of the usage report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// First day (UTC, `YYYY-MM-DD`); 29 days before `to` by default.
    pub from: Option<NaiveDate>,
    /// Last day (UTC, `YYYY-MM-DD`); today by default.
    pub to: Option<NaiveDate>,
}

/// Sums of one day's runs of one app on one resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageItem {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub app_id: Uuid,
    pub resource_id: Uuid,
    pub runs: i64,
    pub errors: i64,
    /// Total duration of the runs, in milliseconds.
    pub duration_ms: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

impl From<UsageRow> for UsageItem {
    fn from(row: UsageRow) -> Self {
        UsageItem {
            day: row.day,
            app_id: row.app_id,
            resource_id: row.resource_id,
            runs: row.runs,
            errors: row.errors,
            duration_ms: row.duration_ms,
            input_tokens: row.input_tokens,
            output_tokens: row.output_tokens,
        }
    }
}

/// The usage report of a range of days.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// One item per day, app and resource with at least one run.
    pub items: Vec<UsageItem>,
}
