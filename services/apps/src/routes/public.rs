use actix_web::{web, HttpResponse};
use uuid::Uuid;

use super::releases::opened;
use crate::error::{AppsError, AppsResult};
use crate::storage::{apps, releases};
use crate::AppsData;

/// Opens the latest release of a public app, without an account. An unknown link, a private
/// app and an app without a release all get 404.
#[utoipa::path(get, path = "/api/v1/public/apps/{public_id}", tag = "apps",
    params(("public_id" = Uuid, Path, description = "Id of the app's public link")),
    responses((status = 200, body = super::releases::OpenedApp), (status = 404, body = trellis_problem::Problem)))]
pub async fn open(state: AppsData, path: web::Path<Uuid>) -> AppsResult<HttpResponse> {
    let public_id = path.into_inner();

    let app = apps::find_by_public_id(&state.db, public_id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;
    let row = releases::latest(&state.db, app.workspace_id, app.id)
        .await?
        .ok_or(AppsError::NotFound("The app"))?;

    Ok(HttpResponse::Ok().json(opened(&app, row)?))
}
