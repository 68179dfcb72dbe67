use actix_web::{get, web, HttpResponse};
use chrono::{Days, Utc};
use trellis_tokens::{Caller, Principal, Role};
use uuid::Uuid;

use super::runs_dto::{RunListQuery, RunOutcome, RunPage, RunView, UsageQuery, UsageReport};
use crate::runs::records::{self, RunFilter};
use crate::{ExecError, ExecState};

/// Largest page of runs.
const MAX_LIMIT: u64 = 100;
/// Maximum range of the usage report, in days.
const MAX_USAGE_DAYS: u64 = 366;

/// List the workspace's runs, newest first.
///
/// Admins and owners see every run; other members see only the runs they started, and an API
/// key below admin sees only its own runs.
#[utoipa::path(
    tag = "runs",
    params(("workspace_id" = Uuid, Path, description = "Workspace id"), RunListQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "A filter is invalid", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/workspaces/{workspace_id}/runs")]
pub async fn list_runs(
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<RunListQuery>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let workspace_id = path.into_inner();
    let query = query.into_inner();
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ExecError::Validation {
            field: "limit".into(),
            message: format!("`limit` must be between 1 and {MAX_LIMIT}"),
        });
    }

    let role = caller.require(workspace_id, Role::Viewer).await?;

    let mut filter = RunFilter {
        app_id: query.app_id,
        action_id: query.action_id,
        outcome: query.outcome.map(|outcome| match outcome {
            RunOutcome::Ok => "ok".to_string(),
            RunOutcome::Error => "error".to_string(),
        }),
        since: query.since,
        ..RunFilter::default()
    };
    if role < Role::Admin {
        match &caller.principal {
            Principal::User { user_id } => filter.user_id = Some(*user_id),
            Principal::ApiKey(key) => filter.api_key_id = Some(key.key_id),
        }
    }
    state.records.flush().await?;
    let rows = records::list(&state.db, workspace_id, &filter, offset, limit).await?;

    let next_offset = (rows.len() as u64 == limit).then_some(offset + limit);
    let items = rows.into_iter().map(RunView::from).collect();
    Ok(HttpResponse::Ok().json(RunPage { items, next_offset }))
}

/// Sum the workspace's runs, errors, duration and LLM tokens per day, app and resource
/// (admins and owners).
#[utoipa::path(
    tag = "runs",
    params(("workspace_id" = Uuid, Path, description = "Workspace id"), UsageQuery),
    responses(
        (status = 200, description = "Usage per day, app and resource", body = UsageReport),
        (status = 400, description = "The range is invalid", body = trellis_problem::Problem),
        (status = 403, description = "The caller is not an admin", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/workspaces/{workspace_id}/usage")]
pub async fn usage(
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<UsageQuery>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let workspace_id = path.into_inner();
    let to = query.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = match query.from {
        Some(from) => from,
        None => to.checked_sub_days(Days::new(29)).unwrap_or(to),
    };
    let days = (to - from).num_days();
    if days < 0 || days as u64 >= MAX_USAGE_DAYS {
        return Err(ExecError::Validation {
            field: "from".into(),
            message: format!(
                "`from` must be on or before `to`, and the range at most {MAX_USAGE_DAYS} days"
            ),
        });
    }

    caller.require(workspace_id, Role::Admin).await?;

    let from_day = from.format("%Y-%m-%d").to_string();
    let to_day = to.format("%Y-%m-%d").to_string();
    state.records.flush().await?;
    let rows = records::usage(&state.db, workspace_id, &from_day, &to_day).await?;

    Ok(HttpResponse::Ok().json(UsageReport {
        from,
        to,
        items: rows.into_iter().map(Into::into).collect(),
    }))
}
