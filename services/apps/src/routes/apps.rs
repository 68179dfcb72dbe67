use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trellis_problem::Json;
use trellis_tokens::{Actor, Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, Paged};
use crate::domain::access::AppAccess;
use crate::domain::{document, parse_name};
use crate::error::{AppsError, AppsResult};
use crate::storage::apps::{self, AppChanges, NewApp};
use crate::storage::audit;
use crate::storage::entities::{app, app_version};
use crate::AppsData;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    pub name: String,
    /// The app document: an object with `components`, `layout` and `settings`, at most 5 MiB.
    /// Defaults to an empty document.
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    /// Access rules for the app's releases; every member may open them by default.
    pub access: Option<AppAccess>,
}

/// Changes to an app's draft. `version` must be the version the client last read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    pub version: i64,
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub document: Option<Value>,
    pub access: Option<AppAccess>,
}

/// An app with its draft, as editors see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    pub id: Uuid,
    pub name: String,
    /// Draft version; send it back with the next change.
    pub version: i64,
    #[schema(value_type = Object)]
    pub document: Value,
    pub access: AppAccess,
    /// Id of the public link, while the app is public.
    pub public_id: Option<Uuid>,
    /// Number of the release viewers see, when there is one.
    pub latest_release: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An app in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppSummary {
    pub id: Uuid,
    pub name: String,
    pub latest_release: Option<i32>,
    pub public: bool,
    pub updated_at: DateTime<Utc>,
}

/// One saved draft revision.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppVersionView {
    pub version: i64,
    pub name: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// One saved draft revision with its document.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppVersionDocument {
    pub version: i64,
    pub name: String,
    #[schema(value_type = Object)]
    pub document: Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub(super) fn access_of(row: &app::Model) -> AppsResult<AppAccess> {
    serde_json::from_value(row.access.clone()).map_err(|error| AppsError::Internal(error.into()))
}

fn view(row: app::Model) -> AppsResult<AppView> {
    Ok(AppView {
        access: access_of(&row)?,
        id: row.id,
        name: row.name,
        version: row.version,
        document: row.document,
        public_id: row.public_id,
        latest_release: row.latest_release,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn summary(row: &app::Model) -> AppSummary {
    AppSummary {
        id: row.id,
        name: row.name.clone(),
        latest_release: row.latest_release,
        public: row.public_id.is_some(),
        updated_at: row.updated_at,
    }
}

fn version_view(row: app_version::Model) -> AppVersionView {
    AppVersionView {
        version: row.version,
        name: row.name,
        created_by: row.created_by,
        created_at: row.created_at,
    }
}

/// Only admins and owners may publish an app to anyone with a link.
fn check_public(access: &AppAccess, role: Role) -> AppsResult<()> {
    if access.public && role < Role::Admin {
        return Err(AppsError::Forbidden(
            "Only admins and owners may make an app public".into(),
        ));
    }
    Ok(())
}

fn access_json(access: &AppAccess) -> AppsResult<Value> {
    serde_json::to_value(access).map_err(|error| AppsError::Internal(error.into()))
}

/// Creates an app (editors and above); its first draft revision is version 1.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/apps", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path)), request_body = AppRequest,
    responses((status = 201, body = AppView), (status = 400, body = trellis_problem::Problem),
              (status = 403, body = trellis_problem::Problem), (status = 413, body = trellis_problem::Problem)))]
pub async fn create(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<Uuid>,
    body: Json<AppRequest>,
) -> AppsResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let body = body.0;
    let role = caller.require(workspace_id, Role::Editor).await?;
    let name = parse_name("name", &body.name)?;
    let document = body.document.unwrap_or_else(document::empty);
    document::validate(&document)?;
    let access = body.access.unwrap_or_default().validated()?;
    check_public(&access, role)?;

    let new = NewApp {
        name,
        document,
        access: access_json(&access)?,
        public_id: access.public.then(Uuid::new_v4),
        created_by: caller.user_id(),
    };
    let txn = state.db.begin().await?;
    let row = apps::insert(&txn, workspace_id, new).await?;
    let event = audit::Event {
        action: "app.create",
        target_type: "app",
        target_id: row.id,
        details: json!({"name": row.name, "version": row.version, "access": row.access}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, app_id = %row.id, "app created");
    Ok(HttpResponse::Created().json(view(row)?))
}

/// Lists apps. Editors and above see every app; viewers see the released apps they may open.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<AppSummary>), (status = 404, body = trellis_problem::Problem)))]
pub async fn list(
    state: AppsData,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AppsResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    let role = caller.require(workspace_id, Role::Viewer).await?;

    let rows = apps::list(&state.db, workspace_id, offset, limit).await?;

    // NOTE: a viewer's page is filtered after paging, so it may hold fewer than `limit` items
    // while `next_offset` still points at more.
    let mut items = Vec::new();
    for row in &rows {
        let visible = role >= Role::Editor
            || (row.latest_release.is_some() && access_of(row)?.allows(role, caller.user_id()));
        if visible {
            items.push(summary(row));
        }
    }
    let next_offset = (rows.len() as u64 == limit).then_some(offset + limit);
    Ok(HttpResponse::Ok().json(Paged { items, next_offset }))
}

/// Returns an app with its draft (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path)),
    responses((status = 200, body = AppView), (status = 404, body = trellis_problem::Problem)))]
pub async fn get(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let row = apps::find(&state.db, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;

    Ok(HttpResponse::Ok().json(view(row)?))
}

/// Saves a change to an app's draft as a new draft revision (editors and above). A `version`
/// other than the current one gets 409, so concurrent edits are never lost silently.
#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path)),
    request_body = AppPatch,
    responses((status = 200, body = AppView), (status = 400, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem),
              (status = 409, description = "The draft changed since `version`", body = trellis_problem::Problem),
              (status = 413, body = trellis_problem::Problem)))]
pub async fn update(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<AppPatch>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    let body = body.0;
    let role = caller.require(workspace_id, Role::Editor).await?;
    let name = body
        .name
        .as_deref()
        .map(|name| parse_name("name", name))
        .transpose()?;
    if let Some(document) = &body.document {
        document::validate(document)?;
    }
    let access = body.access.map(AppAccess::validated).transpose()?;

    let stored = apps::find(&state.db, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    if stored.version != body.version {
        return Err(stale(stored.version));
    }
    let stored_access = access_of(&stored)?;
    let access = access.unwrap_or(stored_access.clone());
    if access.public && !stored_access.public {
        check_public(&access, role)?;
    }
    // The link stays the same while the app stays public; making it private revokes it.
    let public_id = match (access.public, stored.public_id) {
        (true, Some(id)) => Some(id),
        (true, None) => Some(Uuid::new_v4()),
        (false, _) => None,
    };
    let changes = AppChanges {
        name: name.unwrap_or(stored.name.clone()),
        document: body.document.unwrap_or(stored.document.clone()),
        access: access_json(&access)?,
        public_id,
    };

    let txn = state.db.begin().await?;
    let row = apps::save(
        &txn,
        workspace_id,
        app_id,
        body.version,
        changes,
        caller.user_id(),
    )
    .await?
    .ok_or_else(|| stale(body.version + 1))?;
    let event = audit::Event {
        action: "app.update",
        target_type: "app",
        target_id: row.id,
        details: json!({"version": row.version, "access": row.access}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    Ok(HttpResponse::Ok().json(view(row)?))
}

fn stale(current: i64) -> AppsError {
    AppsError::conflict(
        "stale_version",
        format!("The app was changed by someone else; its draft is now at version {current} or later. Reload it and apply your change again"),
    )
}

/// Deletes an app with its revisions, actions and releases (editors and above).
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = trellis_problem::Problem)))]
pub async fn delete(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let txn = state.db.begin().await?;
    let deleted = apps::delete(&txn, workspace_id, app_id).await?;
    if deleted == 0 {
        return Err(AppsError::NotFound("The app"));
    }
    let event = audit::Event {
        action: "app.delete",
        target_type: "app",
        target_id: app_id,
        details: json!({}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, app_id = %app_id, "app deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Lists an app's draft revisions, newest first (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/versions", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<AppVersionView>), (status = 404, body = trellis_problem::Problem)))]
pub async fn versions(
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
    let rows = apps::list_versions(&state.db, workspace_id, app_id, offset, limit).await?;

    let items = rows.into_iter().map(version_view).collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Returns one draft revision with its document (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/versions/{version}", tag = "apps",
    security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), ("version" = i64, Path)),
    responses((status = 200, body = AppVersionDocument), (status = 404, body = trellis_problem::Problem)))]
pub async fn version(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid, i64)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id, version) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let row = apps::find_version(&state.db, workspace_id, app_id, version)
        .await?
        .ok_or(AppsError::NotFound("The app version"))?;

    Ok(HttpResponse::Ok().json(AppVersionDocument {
        version: row.version,
        name: row.name,
        document: row.document,
        created_by: row.created_by,
        created_at: row.created_at,
    }))
}
