//! Internal routes that the exec service calls with the service token, when it runs in its own
//! process. They are not part of the public API and the gateway never forwards them.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use trellis_tokens::{has_service_token, AccessError};
use uuid::Uuid;

use crate::error::{AppsError, AppsResult};
use crate::runs::{self, Stage};
use crate::AppsData;

fn check(request: &HttpRequest) -> AppsResult<()> {
    if has_service_token(request) {
        return Ok(());
    }
    Err(AppsError::Access(AccessError::Unauthenticated(
        "A valid service token is required".into(),
    )))
}

/// Query of the action-for-run route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageQuery {
    pub stage: Stage,
}

/// Returns an action with its decrypted resource config, for a run.
pub async fn action_for_run(
    request: HttpRequest,
    state: AppsData,
    path: web::Path<(Uuid, Uuid, Uuid)>,
    query: web::Query<StageQuery>,
) -> AppsResult<HttpResponse> {
    check(&request)?;
    let (workspace_id, app_id, action_id) = path.into_inner();

    let action =
        runs::load_action_for_run(&state, workspace_id, app_id, action_id, query.stage).await?;

    Ok(HttpResponse::Ok().json(&*action))
}

/// Resolves a public link id to its workspace and app.
pub async fn public_app(
    request: HttpRequest,
    state: AppsData,
    path: web::Path<Uuid>,
) -> AppsResult<HttpResponse> {
    check(&request)?;

    let app = runs::find_public_app(&state, path.into_inner())
        .await?
        .ok_or(AppsError::NotFound("The app"))?;

    Ok(HttpResponse::Ok().json(app))
}
