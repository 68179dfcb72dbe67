//! The merged OpenAPI document of every service, served at `/api/openapi.json` with a
//! reference page at `/docs`.

use actix_web::web;
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Process health.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up")))]
#[allow(dead_code)]
fn healthz() {}

/// Readiness: every database of the process responds.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready"),
              (status = 503, description = "A database is unreachable", body = trellis_problem::Problem)))]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics in the text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", content_type = "text/plain")))]
#[allow(dead_code)]
fn metrics() {}

#[derive(OpenApi)]
#[openapi(
    info(title = "Trellis", description = "Internal tools and AI apps over any data source or API."),
    paths(healthz, readyz, metrics),
    tags((name = "operations", description = "Health, readiness and metrics"))
)]
struct OperationsApi;

/// Builds the merged document.
pub fn document() -> Document {
    let mut document = OperationsApi::openapi();
    document.merge(trellis_auth::AuthApi::openapi());
    document.merge(trellis_exec::ExecApi::openapi());
    document.merge(trellis_apps::AppsApi::openapi());
    document.info.version = env!("CARGO_PKG_VERSION").to_string();
    document
}

/// Renders the document as pretty JSON with a trailing newline, as committed in openapi/trellis.json.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

/// Mounts `/api/openapi.json` and the reference page at `/docs`.
pub fn configure(config: &mut web::ServiceConfig, document: Document) {
    config
        .route(
            "/docs",
            web::get().to(|| async {
                actix_web::HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/docs/"))
                    .finish()
            }),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", document));
}
