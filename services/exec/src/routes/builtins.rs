use actix_web::{get, web, HttpResponse};
use trellis_tokens::Caller;

use super::dto::{BuiltinList, BuiltinPlugin};
use crate::{ExecError, ExecState};

/// List the built-in connectors.
#[utoipa::path(
    tag = "plugins",
    responses(
        (status = 200, description = "The built-in connectors", body = BuiltinList),
        (status = 401, description = "No valid token", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/plugins")]
pub async fn list_builtins(
    _caller: Caller,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let items = state
        .registry
        .builtins()
        .iter()
        .map(|plugin| BuiltinPlugin {
            id: format!("builtin:{}", plugin.manifest.id),
            manifest: plugin.manifest.clone(),
        })
        .collect();

    Ok(HttpResponse::Ok().json(BuiltinList { items }))
}
