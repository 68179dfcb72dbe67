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
use crate::catalog::{ConnectionTest, ConnectorManifest, OperationListing};
use crate::domain::config::{self, Secrets};
use crate::domain::parse_name;
use crate::error::{AppsError, AppsResult};
use crate::storage::audit;
use crate::storage::entities::resource;
use crate::storage::resources::{self, ResourceFields};
use crate::{secrets, AppsData, AppsState};

/// A new resource. It has no `Debug` output because its config contains secrets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    pub name: String,
    /// Connector id, such as `sql`.
    pub plugin_id: String,
    /// Connector version.
    pub plugin_version: String,
    /// Config, validated against the connector's config schema; secret fields are encrypted.
    #[schema(value_type = Object)]
    pub config: Value,
}

/// Changes to a resource. A new `config` replaces the stored one, but a secret field it omits
/// keeps its stored value. A secret field set to `null` is removed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcePatch {
    pub name: Option<String>,
    pub plugin_id: Option<String>,
    pub plugin_version: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// A resource. Secret values are never returned; `secrets_set` names those that have one.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceView {
    pub id: Uuid,
    pub name: String,
    pub plugin_id: String,
    pub plugin_version: String,
    /// The config without its secret fields.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Dotted paths of the secret fields that have a value.
    pub secrets_set: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn view(row: resource::Model) -> ResourceView {
    ResourceView {
        id: row.id,
        name: row.name,
        plugin_id: row.plugin_id,
        plugin_version: row.plugin_version,
        config: row.config,
        secrets_set: serde_json::from_value(row.secrets_set).unwrap_or_default(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

async fn manifest(
    state: &AppsState,
    workspace_id: Uuid,
    plugin_id: &str,
    version: &str,
) -> AppsResult<ConnectorManifest> {
    state
        .catalog
        .describe(workspace_id, plugin_id, version)
        .await
        .map_err(|error| AppsError::CatalogUnavailable(error.0))?
        .ok_or_else(|| {
            AppsError::invalid(
                "plugin_id",
                format!("The connector `{plugin_id}` version `{version}` is not available in this workspace"),
            )
        })
}

/// Validates a full config and splits it into the stored fields.
fn prepare(
    state: &AppsState,
    workspace_id: Uuid,
    resource_id: Uuid,
    name: String,
    manifest: &ConnectorManifest,
    plain: Value,
    secrets_by_path: Secrets,
) -> AppsResult<ResourceFields> {
    let paths = config::secret_paths(manifest);
    let full = config::merge(plain, &secrets_by_path);
    config::validate(manifest, &full, &paths)?;

    let (plain, secrets_by_path) = config::split(full.expose().clone(), &paths);
    let sealed = secrets::seal(&state.keys(), workspace_id, resource_id, &secrets_by_path)?;
    Ok(ResourceFields {
        name,
        plugin_id: manifest.id.clone(),
        plugin_version: manifest.version.clone(),
        config: plain,
        secrets_set: secrets_by_path.keys().cloned().collect(),
        sealed,
    })
}

/// Creates a resource (admins and owners).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/resources", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path)), request_body = ResourceRequest,
    responses((status = 201, body = ResourceView), (status = 400, body = trellis_problem::Problem),
              (status = 403, body = trellis_problem::Problem), (status = 404, body = trellis_problem::Problem)))]
pub async fn create(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<Uuid>,
    body: Json<ResourceRequest>,
) -> AppsResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let body = body.0;
    caller.require(workspace_id, Role::Admin).await?;
    let name = parse_name("name", &body.name)?;
    if !body.config.is_object() {
        return Err(AppsError::invalid(
            "config",
            "`config` must be a JSON object",
        ));
    }

    let manifest = manifest(&state, workspace_id, &body.plugin_id, &body.plugin_version).await?;
    let resource_id = Uuid::now_v7();
    let fields = prepare(
        &state,
        workspace_id,
        resource_id,
        name,
        &manifest,
        body.config,
        Secrets::new(),
    )?;

    let txn = state.db.begin().await?;
    let row = resources::insert(&txn, workspace_id, resource_id, fields, caller.user_id()).await?;
    let event = audit::Event {
        action: "resource.create",
        target_type: "resource",
        target_id: row.id,
        details: json!({"name": row.name, "plugin_id": row.plugin_id, "secrets_set": row.secrets_set}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, resource_id = %row.id, "resource created");
    Ok(HttpResponse::Created().json(view(row)))
}

/// Lists resources (editors and above); secret values are never included.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/resources", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), Page),
    responses((status = 200, body = Paged<ResourceView>), (status = 403, body = trellis_problem::Problem)))]
pub async fn list(
    state: AppsData,
    caller: Caller,
    path: web::Path<Uuid>,
    page: web::Query<Page>,
) -> AppsResult<HttpResponse> {
    let workspace_id = path.into_inner();
    let (offset, limit) = page.checked()?;
    caller.require(workspace_id, Role::Editor).await?;

    let rows = resources::list(&state.db, workspace_id, offset, limit).await?;

    let items = rows.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(Paged::new(items, offset, limit)))
}

/// Returns a resource (editors and above); secret values are never included.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/resources/{resource_id}", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    responses((status = 200, body = ResourceView), (status = 404, body = trellis_problem::Problem)))]
pub async fn get(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, resource_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let row = resources::find(&state.db, workspace_id, resource_id)
        .await?
        .ok_or(AppsError::NotFound("The resource"))?;

    Ok(HttpResponse::Ok().json(view(row)))
}

/// Updates a resource (admins and owners). Secret fields the new config omits keep their value.
#[utoipa::path(patch, path = "/api/v1/workspaces/{workspace_id}/resources/{resource_id}", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    request_body = ResourcePatch,
    responses((status = 200, body = ResourceView), (status = 400, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem)))]
pub async fn update(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<ResourcePatch>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, resource_id) = path.into_inner();
    let body = body.0;
    caller.require(workspace_id, Role::Admin).await?;
    let name = body
        .name
        .as_deref()
        .map(|name| parse_name("name", name))
        .transpose()?;
    if body
        .config
        .as_ref()
        .is_some_and(|config| !config.is_object())
    {
        return Err(AppsError::invalid(
            "config",
            "`config` must be a JSON object",
        ));
    }

    let changed: Vec<&str> = [
        name.as_ref().map(|_| "name"),
        body.plugin_id.as_ref().map(|_| "plugin_id"),
        body.plugin_version.as_ref().map(|_| "plugin_version"),
        body.config.as_ref().map(|_| "config"),
    ]
    .into_iter()
    .flatten()
    .collect();

    let stored = resources::find(&state.db, workspace_id, resource_id)
        .await?
        .ok_or(AppsError::NotFound("The resource"))?;
    let plugin_id = body.plugin_id.as_deref().unwrap_or(&stored.plugin_id);
    let version = body
        .plugin_version
        .as_deref()
        .unwrap_or(&stored.plugin_version);
    let manifest = manifest(&state, workspace_id, plugin_id, version).await?;
    let stored_secrets = secrets::open(&state.keys(), &stored)?;
    let paths = config::secret_paths(&manifest);
    let (plain, kept) = match body.config {
        Some(update) => {
            let kept = config::update_secrets(&update, &paths, &stored_secrets);
            (config::split(update, &paths).0, kept)
        }
        None => (stored.config.clone(), stored_secrets),
    };
    let name = name.unwrap_or(stored.name.clone());
    let fields = prepare(
        &state,
        workspace_id,
        resource_id,
        name,
        &manifest,
        plain,
        kept,
    )?;

    let txn = state.db.begin().await?;
    let row = resources::update(&txn, workspace_id, resource_id, fields)
        .await?
        .ok_or(AppsError::NotFound("The resource"))?;
    let event = audit::Event {
        action: "resource.update",
        target_type: "resource",
        target_id: row.id,
        details: json!({"changed": changed, "secrets_set": row.secrets_set}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, resource_id = %row.id, "resource updated");
    Ok(HttpResponse::Ok().json(view(row)))
}

/// Deletes a resource (admins and owners) that no draft action uses.
#[utoipa::path(delete, path = "/api/v1/workspaces/{workspace_id}/resources/{resource_id}", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = trellis_problem::Problem),
              (status = 409, description = "Actions still use the resource", body = trellis_problem::Problem)))]
pub async fn delete(
    state: AppsData,
    caller: Caller,
    request: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, resource_id) = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let txn = state.db.begin().await?;
    let users = resources::count_actions_using(&txn, workspace_id, resource_id).await?;
    if users > 0 {
        return Err(AppsError::conflict(
            "resource_in_use",
            format!("{users} draft actions use this resource; point them at another resource or delete them first"),
        ));
    }
    // NOTE: releases keep their frozen actions, so a released action of a deleted resource
    // fails to load for a run with a not-found error.
    let deleted = resources::delete(&txn, workspace_id, resource_id).await?;
    if deleted == 0 {
        return Err(AppsError::NotFound("The resource"));
    }
    let event = audit::Event {
        action: "resource.delete",
        target_type: "resource",
        target_id: resource_id,
        details: json!({}),
    };
    audit::record(&txn, workspace_id, &Actor::of(&caller, &request), event).await?;
    txn.commit().await?;
    state.run_cache.invalidate(workspace_id);

    tracing::info!(workspace_id = %workspace_id, resource_id = %resource_id, "resource deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Tests the connection of a stored resource (admins and owners).
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/resources/{resource_id}/test", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    responses((status = 200, body = ConnectionTestView), (status = 404, body = trellis_problem::Problem),
              (status = 503, body = trellis_problem::Problem)))]
pub async fn test(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, resource_id) = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let row = resources::find(&state.db, workspace_id, resource_id)
        .await?
        .ok_or(AppsError::NotFound("The resource"))?;
    let manifest = manifest(&state, workspace_id, &row.plugin_id, &row.plugin_version).await?;
    let opened = secrets::open(&state.keys(), &row)?;
    let full = config::merge(row.config.clone(), &opened);

    let result: ConnectionTest = state
        .catalog
        .test_connection(workspace_id, &manifest, &full)
        .await
        .map_err(|error| AppsError::CatalogUnavailable(error.0))?;

    tracing::info!(workspace_id = %workspace_id, resource_id = %resource_id, ok = result.ok, "resource connection tested");
    Ok(HttpResponse::Ok().json(ConnectionTestView {
        ok: result.ok,
        message: result.message,
    }))
}

/// Result of a connection test.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTestView {
    pub ok: bool,
    pub message: String,
}

/// The operations a resource offers: its connector's fixed operations, and for a connector
/// whose operations depend on the config (such as `openapi`) those its operation list returns
/// for this resource (editors and above). An action may name any of them.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/resources/{resource_id}/operations", tag = "resources",
    security(("bearer" = [])), params(("workspace_id" = Uuid, Path), ("resource_id" = Uuid, Path)),
    responses((status = 200, body = ResourceOperations), (status = 400, body = trellis_problem::Problem),
              (status = 404, body = trellis_problem::Problem), (status = 503, body = trellis_problem::Problem)))]
pub async fn operations(
    state: AppsData,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> AppsResult<HttpResponse> {
    let (workspace_id, resource_id) = path.into_inner();
    caller.require(workspace_id, Role::Editor).await?;

    let row = resources::find(&state.db, workspace_id, resource_id)
        .await?
        .ok_or(AppsError::NotFound("The resource"))?;
    let manifest = manifest(&state, workspace_id, &row.plugin_id, &row.plugin_version).await?;
    let mut operations: Vec<OperationView> = manifest
        .operations
        .iter()
        .map(|operation| OperationView {
            name: operation.name.clone(),
            description: operation.description.clone(),
            read_only: operation.read_only,
            input_schema: operation.input_schema.clone(),
            from_config: false,
        })
        .collect();
    if manifest.operation_list.is_some() {
        let opened = secrets::open(&state.keys(), &row)?;
        let full = config::merge(row.config.clone(), &opened);
        let listing = state
            .catalog
            .list_operations(workspace_id, &manifest, &full, true)
            .await
            .map_err(|error| AppsError::CatalogUnavailable(error.0))?;
        match listing {
            OperationListing::Listed { operations: listed } => {
                operations.extend(listed.into_iter().map(|operation| OperationView {
                    name: operation.name,
                    description: operation.description,
                    read_only: operation.read_only,
                    input_schema: operation.input_schema,
                    from_config: true,
                }))
            }
            OperationListing::Failed { message } => {
                return Err(AppsError::invalid(
                    "config",
                    format!("The connector could not list the resource's operations: {message}"),
                ))
            }
        }
    }
    Ok(HttpResponse::Ok().json(ResourceOperations { operations }))
}

/// The operations of a resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceOperations {
    pub operations: Vec<OperationView>,
}

/// One operation an action may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationView {
    pub name: String,
    pub description: String,
    /// True when the operation changes nothing upstream.
    pub read_only: bool,
    /// JSON Schema of the operation's input.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// True for an operation that the resource's config defines, such as an operation of an
    /// OpenAPI document, rather than the connector itself.
    pub from_config: bool,
}
