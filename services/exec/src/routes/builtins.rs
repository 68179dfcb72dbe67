use std::collections::HashMap;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use trellis_tokens::Caller;

use super::dto::{BuiltinList, BuiltinPlugin};
use crate::{ExecError, ExecState};

/// Prefix of a built-in connector's id in paths.
const BUILTIN_PREFIX: &str = "builtin:";

/// JSON bodies of the built-in connector routes. The built-ins never change while the process
/// runs, so the bodies are serialized once.
pub(crate) struct BuiltinBodies {
    list: Bytes,
    by_manifest_id: HashMap<String, Bytes>,
}

impl BuiltinBodies {
    fn new(state: &ExecState) -> Self {
        let items: Vec<BuiltinPlugin> = state
            .registry
            .builtins()
            .iter()
            .map(|plugin| BuiltinPlugin {
                id: format!("{BUILTIN_PREFIX}{}", plugin.manifest.id),
                manifest: plugin.manifest.clone(),
            })
            .collect();
        let by_manifest_id = items
            .iter()
            .map(|item| (item.manifest.id.clone(), to_json(item)))
            .collect();
        BuiltinBodies {
            list: to_json(&BuiltinList { items }),
            by_manifest_id,
        }
    }
}

/// Returns the serialized bodies, serializing them on first use.
fn builtin_bodies(state: &ExecState) -> &BuiltinBodies {
    state
        .builtin_bodies
        .get_or_init(|| BuiltinBodies::new(state))
}

fn to_json(value: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("manifests serialize to JSON"))
}

fn json_response(body: &Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body.clone())
}

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
    let bodies = builtin_bodies(&state);

    Ok(json_response(&bodies.list))
}

/// Describe one built-in connector.
#[utoipa::path(
    tag = "plugins",
    params(
        ("plugin_id" = String, Path, description = "Connector id, such as `builtin:echo` or `echo`"),
    ),
    responses(
        (status = 200, description = "The connector and its manifest", body = BuiltinPlugin),
        (status = 401, description = "No valid token", body = trellis_problem::Problem),
        (status = 404, description = "No built-in connector has this id", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/plugins/{plugin_id}")]
pub async fn get_builtin(
    _caller: Caller,
    path: web::Path<String>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let id = path.into_inner();
    let bodies = builtin_bodies(&state);

    let name = id.strip_prefix(BUILTIN_PREFIX).unwrap_or(&id);
    let body = bodies
        .by_manifest_id
        .get(name)
        .ok_or(ExecError::NotFound("The built-in connector"))?;
    Ok(json_response(body))
}
