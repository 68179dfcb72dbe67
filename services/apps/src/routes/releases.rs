use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::Serialize;
use serde_json::{json, Value};
use trellis_tokens::{Actor, Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::apps::access_of;
use super::{Page, Paged};
use crate::domain::action::FrozenAction;
use crate::error::{AppsError, AppsResult};
use crate::storage::entities::{app, release};
use crate::storage::releases::{self, NewRelease};
use crate::storage::{actions, apps, audit, is_unique_violation};
use crate::AppsData;

/// A release with everything it froze, as editors see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseView {
    pub number: i32,
    pub name: String,
    #[schema(value_type = Object)]
    pub document: Value,
    pub actions: Vec<FrozenAction>,
    /// Draft version the release froze.
    pub source_version: i64,
    /// Release this one restored, when a rollback made it.
    pub rolled_back_from: Option<i32>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A release as its users open it: the document and the actions they may run.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenedApp {
    pub app_id: Uuid,
    pub name: String,
    pub release: i32,
    #[schema(value_type = Object)]
    pub document: Value,
    pub actions: Vec<ActionSummary>,
    pub released_at: DateTime<Utc>,
}

/// An action of a release, without its definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionSummary {
    pub id: Uuid,
    pub name: String,
    /// JSON Schema of the run parameters.
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Value>,
    pub requires_confirmation: bool,
}

fn frozen_actions(row: &release::Model) -> AppsResult<Vec<FrozenAction>> {
    serde_json::from_value(row.actions.clone()).map_err(|error| AppsError::Internal(error.into()))
}

fn view(row: release::Model) -> AppsResult<ReleaseView> {
    Ok(ReleaseView {
        actions: frozen_actions(&row)?,
        number: row.number,
        name: row.name,
        document: row.document,
        source_version: row.source_version,
        rolled_back_from: row.rolled_back_from,
        created_by: row.created_by,
        created_at: row.created_at,
    })
}

/// Builds the view of a release that viewers and public links get.
pub(super) fn opened(app: &app::Model, row: release::Model) -> AppsResult<OpenedApp> {
    let actions = frozen_actions(&row)?
        .into_iter()
        .map(|action| ActionSummary {
            id: action.id,
            name: action.name,
            params_schema: action.params_schema,
            requires_confirmation: action.requires_confirmation,
        })
        .collect();
    Ok(OpenedApp {
        app_id: app.id,
        name: row.name,
        release: row.number,
        document: row.document,
        actions,
        released_at: row.created_at,
    })
}

fn release_conflict() -> AppsError {
    AppsError::conflict(
        "release_conflict",
        "Another release of this app was made at the same moment; try again",
    )
}

/// Freezes the app's current draft and its actions as the next numbered release, which
/// viewers then see (editors and above).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/releases", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path)),
    responses((status = 201, body = ReleaseView), (status = 404, body = trellis_problem::Problem),
              (status = 409, body = trellis_problem::Problem)))]
pub async fn create(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let txn = state.db.begin().await?;
    let app = apps::find(&txn, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    let drafts = actions::list(&txn, workspace_id, app_id, 0, None).await?;
    let frozen: Vec<FrozenAction> = drafts.iter().map(FrozenAction::from).collect();
    let new = NewRelease {
        number: app.latest_release.unwrap_or(0) + 1,
        name: app.name.clone(),
        document: app.document.clone(),
        actions: serde_json::to_value(frozen).map_err(|error| AppsError::Internal(error.into()))?,
        source_version: app.version,
        rolled_back_from: None,
        created_by: caller.user_id(),
    };
    let row = match releases::insert(&txn, workspace_id, app_id, new).await {
        Err(error) if is_unique_violation(&error) => return Err(release_conflict()),
        other => other?,
    };
    apps::set_latest_release(&txn, workspace_id, app_id, row.number).await?;
    let event = audit::Event {
        action: "release.create",
        target_type: "app",
        target_id: app_id,
        details: json!({"release": row.number, "source_version": row.source_version}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, app_id = %app_id, release = row.number, "app released");
    Ok(HttpResponse::Created().json(view(row)?))
}

/// Lists an app's releases, newest first (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/releases", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<ReleaseView>), (status = 404, body = trellis_problem::Problem)))]
pub async fn list(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    page: web::Query<Page>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Editor).await?;

    apps::find(&state.db, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    let rows = releases::list(&state.db, workspace_id, app_id, offset, limit).await?;

    let items = rows.into_iter().map(view).collect::<AppsResult<Vec<_>>>()?;
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Returns one release with everything it froze (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/releases/{number}", tag = "apps",
    security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), ("number" = i32, Path)),
    responses((status = 200, body = ReleaseView), (status = 404, body = trellis_problem::Problem)))]
pub async fn get(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid, i32)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id, number) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let row = releases::find(&state.db, workspace_id, app_id, number)
        .await?
        .ok_or(AppsError::NotFound("The release"))?;

    Ok(HttpResponse::Ok().json(view(row)?))
}

/// Opens the app's latest release: what viewers see. Members the app's access rules leave out,
/// and every member when the app has no release, get 404.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/releases/latest", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path)),
    responses((status = 200, body = OpenedApp), (status = 404, body = trellis_problem::Problem)))]
pub async fn latest(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    let role = caller.require(workspace_id, Role::Viewer).await?;

    let app = apps::find(&state.db, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    if !access_of(&app)?.allows(role, caller.user_id()) {
        return Err(AppsError::NotFound("The app"));
    }
    let row = releases::latest(&state.db, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("A release of the app"))?;

    Ok(HttpResponse::Ok().json(opened(&app, row)?))
}

/// Rolls back to an earlier release by publishing a copy of it as the next release, so viewers
/// see it again while the history stays as it was. The draft is left alone (editors and above).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/releases/{number}/rollback", tag = "apps",
    security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), ("number" = i32, Path)),
    responses((status = 201, body = ReleaseView), (status = 404, body = trellis_problem::Problem),
              (status = 409, body = trellis_problem::Problem)))]
pub async fn rollback(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid, i32)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id, number) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let txn = state.db.begin().await?;
    let app = apps::find(&txn, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    let target = releases::find(&txn, workspace_id, app_id, number)
        .await?
        .ok_or(AppsError::NotFound("The release"))?;
    let new = NewRelease {
        number: app.latest_release.unwrap_or(0) + 1,
        name: target.name,
        document: target.document,
        actions: target.actions,
        source_version: target.source_version,
        rolled_back_from: Some(number),
        created_by: caller.user_id(),
    };
    let row = match releases::insert(&txn, workspace_id, app_id, new).await {
        Err(error) if is_unique_violation(&error) => return Err(release_conflict()),
        other => other?,
    };
    apps::set_latest_release(&txn, workspace_id, app_id, row.number).await?;
    let event = audit::Event {
        action: "release.rollback",
        target_type: "app",
        target_id: app_id,
        details: json!({"release": row.number, "rolled_back_from": number}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, app_id = %app_id, release = row.number, rolled_back_from = number, "app rolled back");
    Ok(HttpResponse::Created().json(view(row)?))
}
