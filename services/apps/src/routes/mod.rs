//! HTTP routes of the apps service.

mod actions;
mod apps;
mod audit;
mod internal;
mod public;
mod releases;
mod resources;

use actix_web::web;
use serde::{Deserialize, Deserializer, Serialize};
use trellis_problem::BodyLimit;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::domain::document::MAX_DOCUMENT_BYTES;
use crate::error::{AppsError, AppsResult};

/// Largest request body on app routes: the 5 MiB document plus room for the other fields.
const APP_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 256 * 1024;

/// The apps service's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        resources::create,
        resources::list,
        resources::get,
        resources::update,
        resources::delete,
        resources::test,
        resources::operations,
        apps::create,
        apps::list,
        apps::get,
        apps::update,
        apps::delete,
        apps::versions,
        apps::version,
        releases::create,
        releases::list,
        releases::get,
        releases::latest,
        releases::rollback,
        actions::create,
        actions::list,
        actions::get,
        actions::update,
        actions::delete,
        audit::list,
        public::open,
    ),
    components(schemas(trellis_problem::Problem, crate::AppAccess)),
    tags((name = "resources", description = "Connected data sources and APIs"),
         (name = "apps", description = "Apps, draft revisions, releases and actions"),
         (name = "audit", description = "The workspace's audit log"))
)]
pub struct AppsApi;

/// Mounts the apps routes.
pub fn configure(config: &mut web::ServiceConfig) {
    let resources = "/api/v1/workspaces/{workspace_id}/resources";
    config
        .route(resources, web::get().to(resources::list))
        .route(resources, web::post().to(resources::create))
        .route(
            &format!("{resources}/{{resource_id}}"),
            web::get().to(resources::get),
        )
        .route(
            &format!("{resources}/{{resource_id}}"),
            web::patch().to(resources::update),
        )
        .route(
            &format!("{resources}/{{resource_id}}"),
            web::delete().to(resources::delete),
        )
        .route(
            &format!("{resources}/{{resource_id}}/test"),
            web::post().to(resources::test),
        )
        .route(
            &format!("{resources}/{{resource_id}}/operations"),
            web::get().to(resources::operations),
        )
        .route(
            "/api/v1/workspaces/{workspace_id}/audit",
            web::get().to(audit::list),
        )
        .route(
            "/api/v1/public/apps/{public_id}",
            web::get().to(public::open),
        )
        .route(
            "/internal/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}/for-run",
            web::get().to(internal::action_for_run),
        )
        .route(
            "/internal/v1/public-apps/{public_id}",
            web::get().to(internal::public_app),
        )
        .service(
            web::scope("/api/v1/workspaces/{workspace_id}/apps")
                .app_data(BodyLimit(APP_BODY_LIMIT))
                .route("", web::get().to(apps::list))
                .route("", web::post().to(apps::create))
                .route("/{app_id}", web::get().to(apps::get))
                .route("/{app_id}", web::patch().to(apps::update))
                .route("/{app_id}", web::delete().to(apps::delete))
                .route("/{app_id}/versions", web::get().to(apps::versions))
                .route("/{app_id}/versions/{version}", web::get().to(apps::version))
                .route("/{app_id}/releases", web::get().to(releases::list))
                .route("/{app_id}/releases", web::post().to(releases::create))
                .route("/{app_id}/releases/latest", web::get().to(releases::latest))
                .route("/{app_id}/releases/{number}", web::get().to(releases::get))
                .route(
                    "/{app_id}/releases/{number}/rollback",
                    web::post().to(releases::rollback),
                )
                .route("/{app_id}/actions", web::get().to(actions::list))
                .route("/{app_id}/actions", web::post().to(actions::create))
                .route("/{app_id}/actions/{action_id}", web::get().to(actions::get))
                .route(
                    "/{app_id}/actions/{action_id}",
                    web::patch().to(actions::update),
                )
                .route(
                    "/{app_id}/actions/{action_id}",
                    web::delete().to(actions::delete),
                ),
        );
}

/// Page of a list: `offset` items skipped, at most `limit` returned.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Items to skip (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Items to return, 1 to 200 (default 50).
    #[serde(default = "default_limit")]
    pub limit: u64,
}

fn default_limit() -> u64 {
    50
}

impl Page {
    /// Checks the bounds of the page.
    pub fn checked(&self) -> AppsResult<(u64, u64)> {
        if !(1..=200).contains(&self.limit) {
            return Err(AppsError::invalid(
                "limit",
                "`limit` must be between 1 and 200",
            ));
        }
        Ok((self.offset, self.limit))
    }
}

/// One page of items and the offset of the next, when there is one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}

impl<T> Paged<T> {
    /// Wraps a page; a full page suggests there may be more.
    pub fn new(items: Vec<T>, offset: u64, limit: u64) -> Self {
        let next_offset = (items.len() as u64 == limit).then_some(offset + limit);
        Paged { items, next_offset }
    }
}

/// Deserializes a field that may be absent (outer `None`) or `null` (inner `None`).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
