//! Internal routes that the apps service calls with the service token, when it runs in its
//! own process. They are not part of the public API and the gateway never forwards them.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use trellis_tokens::{has_service_token, AccessError};
use uuid::Uuid;

use crate::catalog::{self, TestConnectionRequest};
use crate::{ExecError, ExecState};

fn check(request: &HttpRequest) -> Result<(), ExecError> {
    if has_service_token(request) {
        return Ok(());
    }
    Err(AccessError::Unauthenticated("A valid service token is required".into()).into())
}

/// Returns the catalog manifest of a workspace's connector version.
#[get("/internal/v1/workspaces/{workspace_id}/connectors/{plugin_id}/{version}")]
pub async fn describe_connector(
    request: HttpRequest,
    path: web::Path<(Uuid, String, String)>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    check(&request)?;
    let (workspace_id, plugin_id, version) = path.into_inner();

    let manifest = catalog::describe(&state, workspace_id, &plugin_id, &version)
        .await?
        .ok_or(ExecError::NotFound("The connector"))?;

    Ok(HttpResponse::Ok().json(manifest))
}

/// Runs a connector's connection test with a decrypted config.
#[post("/internal/v1/workspaces/{workspace_id}/connectors/{plugin_id}/{version}/test")]
pub async fn test_connector(
    request: HttpRequest,
    path: web::Path<(Uuid, String, String)>,
    body: trellis_problem::Json<TestConnectionRequest>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    check(&request)?;
    let (workspace_id, plugin_id, version) = path.into_inner();

    let test = catalog::test_connection(&state, workspace_id, &plugin_id, &version, &body.0.config)
        .await?;

    Ok(HttpResponse::Ok().json(test))
}

/// Query of the operation-list route.
#[derive(serde::Deserialize)]
pub struct ListQuery {
    /// Whether the list carries input schemas (default true).
    schemas: Option<bool>,
}

/// Lists the operations a connector's operation list returns for a decrypted config.
#[post("/internal/v1/workspaces/{workspace_id}/connectors/{plugin_id}/{version}/operations")]
pub async fn list_connector_operations(
    request: HttpRequest,
    path: web::Path<(Uuid, String, String)>,
    query: web::Query<ListQuery>,
    body: trellis_problem::Json<TestConnectionRequest>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    check(&request)?;
    let (workspace_id, plugin_id, version) = path.into_inner();

    let listing = catalog::list_operations(
        &state,
        workspace_id,
        &plugin_id,
        &version,
        &body.0.config,
        query.schemas.unwrap_or(true),
    )
    .await?;

    Ok(HttpResponse::Ok().json(listing))
}
