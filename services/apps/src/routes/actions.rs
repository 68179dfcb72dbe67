use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trellis_problem::Json;
use trellis_tokens::{Actor, Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{double_option, Page, Paged};
use crate::catalog::OperationListing;
use crate::domain::action::{self as rules, FrozenAction, DEFAULT_TIMEOUT_MS};
use crate::domain::config;
use crate::domain::parse_name;
use crate::error::{AppsError, AppsResult};
use crate::storage::actions::{self, ActionFields};
use crate::storage::entities::action;
use crate::storage::{apps, audit, is_unique_violation, resources};
use crate::{secrets, AppsData, AppsState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Name, unique within the app.
    pub name: String,
    pub resource_id: Uuid,
    /// One of the operations of the resource's connector.
    pub operation: String,
    /// Connector input; its strings may hold `{{ }}` templates over the run's parameters.
    #[schema(value_type = Object)]
    pub input: Value,
    /// jq program applied to the connector's result.
    pub transformer: Option<String>,
    /// JSON Schema of the run parameters.
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Value>,
    /// Run timeout in milliseconds, 100 to 300000 (default 30000).
    pub timeout_ms: Option<u64>,
    /// Seconds an identical run's result is reused, 0 to 86400 (default 0: no caching).
    pub cache_ttl_seconds: Option<u64>,
    /// Whether the app requests confirmation from the user before a run (default false).
    pub requires_confirmation: Option<bool>,
}

/// Changes to an action; an absent field keeps its value and `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionPatch {
    pub name: Option<String>,
    pub resource_id: Option<Uuid>,
    pub operation: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub input: Option<Value>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub transformer: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub params_schema: Option<Option<Value>>,
    pub timeout_ms: Option<u64>,
    pub cache_ttl_seconds: Option<u64>,
    pub requires_confirmation: Option<bool>,
}

/// An action of an app's draft.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    pub app_id: Uuid,
    #[serde(flatten)]
    pub action: FrozenAction,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(row: action::Model) -> ActionView {
    ActionView {
        app_id: row.app_id,
        action: FrozenAction::from(&row),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Checks a whole action definition against the rules and the resource's connector.
async fn validate(
    state: &AppsState,
    workspace_id: Uuid,
    definition: &FrozenAction,
) -> AppsResult<()> {
    parse_name("name", &definition.name)?;
    rules::validate_input(&definition.input)?;
    if let Some(code) = &definition.transformer {
        rules::validate_transformer(code)?;
    }
    if let Some(schema) = &definition.params_schema {
        rules::validate_params_schema(schema)?;
    }
    rules::validate_timeout(definition.timeout_ms)?;
    rules::validate_cache_ttl(definition.cache_ttl_seconds)?;

    let resource = resources::find(&state.db, workspace_id, definition.resource_id)
        .await?
        .ok_or_else(|| {
            AppsError::invalid(
                "resource_id",
                "No resource with this id exists in the workspace",
            )
        })?;
    let manifest = state
        .catalog
        .describe(workspace_id, &resource.plugin_id, &resource.plugin_version)
        .await
        .map_err(|error| AppsError::CatalogUnavailable(error.0))?
        .ok_or_else(|| {
            AppsError::invalid(
                "resource_id",
                format!(
                    "The resource's connector `{}` version `{}` is no longer available",
                    resource.plugin_id, resource.plugin_version
                ),
            )
        })?;
    if manifest
        .operations
        .iter()
        .any(|operation| operation.name == definition.operation)
    {
        return Ok(());
    }
    let mut names: Vec<String> = manifest.operations.iter().map(|o| o.name.clone()).collect();
    if manifest.operation_list.is_some() {
        // The connector's operations depend on the resource's config: ask it.
        let opened = secrets::open(&state.keys(), &resource)?;
        let full = config::merge(resource.config.clone(), &opened);
        let listing = state
            .catalog
            .list_operations(workspace_id, &manifest, &full, false)
            .await
            .map_err(|error| AppsError::CatalogUnavailable(error.0))?;
        match listing {
            OperationListing::Listed { operations } => {
                if operations.iter().any(|o| o.name == definition.operation) {
                    return Ok(());
                }
                names.extend(operations.into_iter().map(|o| o.name));
            }
            OperationListing::Failed { message } => {
                return Err(AppsError::invalid(
                    "operation",
                    format!(
                        "The connector `{}` has no fixed operation `{}`, and listing the \
                         resource's operations failed: {message}",
                        manifest.id, definition.operation
                    ),
                ));
            }
        }
    }
    const SHOWN: usize = 50;
    let more = names.len().saturating_sub(SHOWN);
    names.truncate(SHOWN);
    Err(AppsError::invalid(
        "operation",
        format!(
            "The connector `{}` has no operation `{}` for this resource; it offers {}{}",
            manifest.id,
            definition.operation,
            names.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    ))
}

fn fields(definition: FrozenAction) -> ActionFields {
    ActionFields {
        name: definition.name.trim().to_string(),
        resource_id: definition.resource_id,
        operation: definition.operation,
        input: definition.input,
        transformer: definition.transformer,
        params_schema: definition.params_schema,
        timeout_ms: definition.timeout_ms as i64,
        cache_ttl_seconds: definition.cache_ttl_seconds as i64,
        requires_confirmation: definition.requires_confirmation,
    }
}

fn duplicate_name() -> AppsError {
    AppsError::conflict(
        "duplicate_name",
        "The app already has an action with this name; choose another",
    )
}

async fn require_app(state: &AppsState, workspace_id: Uuid, app_id: Uuid) -> AppsResult<()> {
    apps::find(&state.db, workspace_id, app_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    Ok(())
}

/// Adds an action to an app's draft (editors and above).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path)),
    request_body = ActionRequest,
    responses((status = 201, body = ActionView), (status = 400, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem), (status = 409, body = trellis_problem::Problem)))]
pub async fn create(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<ActionRequest>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    let body = body.0;
    caller.require(workspace_id, Role::Editor).await?;
    require_app(&state, workspace_id, app_id).await?;

    let definition = FrozenAction {
        id: Uuid::nil(),
        name: body.name,
        resource_id: body.resource_id,
        operation: body.operation,
        input: body.input,
        transformer: body.transformer,
        params_schema: body.params_schema,
        timeout_ms: body.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        cache_ttl_seconds: body.cache_ttl_seconds.unwrap_or(0),
        requires_confirmation: body.requires_confirmation.unwrap_or(false),
    };
    validate(&state, workspace_id, &definition).await?;

    let txn = state.db.begin().await?;
    let inserted = actions::insert(
        &txn,
        workspace_id,
        app_id,
        fields(definition),
        caller.user_id(),
    )
    .await;
    let row = match inserted {
        Err(error) if is_unique_violation(&error) => return Err(duplicate_name()),
        other => other?,
    };
    let event = audit::Event {
        action: "action.create",
        target_type: "action",
        target_id: row.id,
        details: json!({"app_id": app_id, "name": row.name, "resource_id": row.resource_id, "operation": row.operation}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    Ok(HttpResponse::Created().json(view(row)))
}

/// Lists the actions of an app's draft (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions", tag = "apps",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<ActionView>), (status = 404, body = trellis_problem::Problem)))]
pub async fn list(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    page: web::Query<Page>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id) = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Editor).await?;

    require_app(&state, workspace_id, app_id).await?;
    let rows = actions::list(&state.db, workspace_id, app_id, offset, Some(limit)).await?;

    let items = rows.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Returns an action of an app's draft (editors and above).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}", tag = "apps",
    security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), ("action_id" = Uuid, Path)),
    responses((status = 200, body = ActionView), (status = 404, body = trellis_problem::Problem)))]
pub async fn get(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id, action_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let row = actions::find(&state.db, workspace_id, app_id, action_id)
        .await?
        .ok_or(AppsError::NotFound("The action"))?;

    Ok(HttpResponse::Ok().json(view(row)))
}

/// Changes an action of an app's draft; releases keep their frozen copy (editors and above).
#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}", tag = "apps",
    security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), ("action_id" = Uuid, Path)),
    request_body = ActionPatch,
    responses((status = 200, body = ActionView), (status = 400, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem), (status = 409, body = trellis_problem::Problem)))]
pub async fn update(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid, Uuid)>,
    body: Json<ActionPatch>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id, action_id) = path.into_inner();
    let body = body.0;
    caller.require(workspace_id, Role::Editor).await?;

    let stored = actions::find(&state.db, workspace_id, app_id, action_id)
        .await?
        .ok_or(AppsError::NotFound("The action"))?;
    let stored = FrozenAction::from(&stored);
    let definition = FrozenAction {
        id: stored.id,
        name: body.name.unwrap_or(stored.name),
        resource_id: body.resource_id.unwrap_or(stored.resource_id),
        operation: body.operation.unwrap_or(stored.operation),
        input: body.input.unwrap_or(stored.input),
        transformer: body.transformer.unwrap_or(stored.transformer),
        params_schema: body.params_schema.unwrap_or(stored.params_schema),
        timeout_ms: body.timeout_ms.unwrap_or(stored.timeout_ms),
        cache_ttl_seconds: body.cache_ttl_seconds.unwrap_or(stored.cache_ttl_seconds),
        requires_confirmation: body
            .requires_confirmation
            .unwrap_or(stored.requires_confirmation),
    };
    validate(&state, workspace_id, &definition).await?;

    let txn = state.db.begin().await?;
    let updated = actions::update(&txn, workspace_id, app_id, action_id, fields(definition)).await;
    let row = match updated {
        Err(error) if is_unique_violation(&error) => return Err(duplicate_name()),
        other => other?.ok_or(AppsError::NotFound("The action"))?,
    };
    let event = audit::Event {
        action: "action.update",
        target_type: "action",
        target_id: row.id,
        details: json!({"app_id": app_id, "name": row.name, "resource_id": row.resource_id, "operation": row.operation}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    Ok(HttpResponse::Ok().json(view(row)))
}

/// Removes an action from an app's draft; releases keep their frozen copy (editors and above).
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}", tag = "apps",
    security(("bearer" = [])),
    params(("workspace_id" = Uuid, Path), ("app_id" = Uuid, Path), ("action_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = trellis_problem::Problem)))]
pub async fn delete(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, app_id, action_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let txn = state.db.begin().await?;
    let deleted = actions::delete(&txn, workspace_id, app_id, action_id).await?;
    if deleted == 0 {
        return Err(AppsError::NotFound("The action"));
    }
    let event = audit::Event {
        action: "action.delete",
        target_type: "action",
        target_id: action_id,
        details: json!({"app_id": app_id}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    Ok(HttpResponse::NoContent().finish())
}
