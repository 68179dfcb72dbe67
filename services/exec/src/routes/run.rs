use actix_web::{post, web, HttpResponse};
use trellis_apps::runs::Stage;
use trellis_problem::Json;
use trellis_tokens::{AccessError, Caller, Principal, Role};
use uuid::Uuid;

use super::runs_dto::{RunQuery, RunRequest, RunResponse, RunStage};
use crate::runs::{self, RunCaller};
use crate::{ExecError, ExecState};

/// Run an action of an app.
///
/// Viewers run the latest release of apps they may open; editors and above may also run the
/// draft with `?stage=draft`. The action is run as stored: the request sets only its
/// parameters.
#[utoipa::path(
    tag = "runs",
    params(
        ("workspace_id" = Uuid, Path, description = "Workspace id"),
        ("app_id" = Uuid, Path, description = "App id"),
        ("action_id" = Uuid, Path, description = "Action id"),
        RunQuery,
    ),
    request_body = RunRequest,
    responses(
        (status = 200, description = "The run's data and meta", body = RunResponse),
        (status = 400, description = "The parameters are invalid; `field` names the parameter", body = trellis_problem::Problem),
        (status = 403, description = "A viewer asked for the draft", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace, app, release or action, or the app is not shared with the caller", body = trellis_problem::Problem),
        (status = 422, description = "The connector or the transformer failed", body = trellis_problem::Problem),
        (status = 429, description = "A workspace quota is used up", body = trellis_problem::Problem),
        (status = 502, description = "The upstream service failed", body = trellis_problem::Problem),
        (status = 504, description = "The call timed out", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[post("/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}/run")]
pub async fn run_action(
    caller: Caller,
    path: web::Path<(Uuid, Uuid, Uuid)>,
    query: web::Query<RunQuery>,
    body: Json<RunRequest>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let (workspace_id, app_id, action_id) = path.into_inner();
    let stage = query.stage.unwrap_or_default();

    let role = caller.role_in(workspace_id).await?;
    if stage == RunStage::Draft && role < Role::Editor {
        return Err(AccessError::Forbidden {
            have: role,
            need: Role::Editor,
        }
        .into());
    }

    let stage = match stage {
        RunStage::Release => Stage::LatestRelease,
        RunStage::Draft => Stage::Draft,
    };
    let loaded = state
        .actions()?
        .action_for_run(workspace_id, app_id, action_id, stage)
        .await?;
    // Apps not shared with the caller look missing, like everywhere else.
    if !loaded.access.allows(role, caller.user_id()) {
        return Err(ExecError::NotFound("The app"));
    }

    let run_caller = match &caller.principal {
        Principal::User { user_id } => RunCaller::User(*user_id),
        Principal::ApiKey(key) => RunCaller::ApiKey(key.key_id),
    };
    let output = runs::run_action(&state, &loaded, body.0.params, run_caller).await?;

    Ok(HttpResponse::Ok().json(RunResponse::from(output)))
}

/// Run an action of a public app's latest release, without an account.
///
/// An unknown link, a private app, an app without a release and an action of another app
/// all get 404. These runs have a stricter rate limit per client address.
#[utoipa::path(
    tag = "runs",
    params(
        ("public_id" = Uuid, Path, description = "Id of the app's public link"),
        ("action_id" = Uuid, Path, description = "Action id"),
    ),
    request_body = RunRequest,
    responses(
        (status = 200, description = "The run's data and meta", body = RunResponse),
        (status = 400, description = "The parameters are invalid; `field` names the parameter", body = trellis_problem::Problem),
        (status = 404, description = "No such public app or action", body = trellis_problem::Problem),
        (status = 422, description = "The connector or the transformer failed", body = trellis_problem::Problem),
        (status = 429, description = "The rate limit or a workspace quota is used up", body = trellis_problem::Problem),
    )
)]
#[post("/api/v1/public/apps/{public_id}/actions/{action_id}/run")]
pub async fn run_public_action(
    path: web::Path<(Uuid, Uuid)>,
    body: Json<RunRequest>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let (public_id, action_id) = path.into_inner();

    let app = state
        .actions()?
        .public_app(public_id)
        .await?
        .ok_or(ExecError::NotFound("The app"))?;
    let loaded = state
        .actions()?
        .action_for_run(
            app.workspace_id,
            app.app_id,
            action_id,
            Stage::LatestRelease,
        )
        .await?;
    if !loaded.access.public {
        return Err(ExecError::NotFound("The app"));
    }

    let output = runs::run_action(&state, &loaded, body.0.params, RunCaller::Public).await?;

    Ok(HttpResponse::Ok().json(RunResponse::from(output)))
}
