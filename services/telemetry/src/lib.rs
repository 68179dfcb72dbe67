//! Logging, request ids, metrics and health routes shared by every service.

mod metrics;
mod request_id;

use actix_web::{web, HttpResponse};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub use metrics::{metrics_route, Metrics, MetricsMiddleware};
pub use request_id::{RequestId, RequestIdMiddleware, REQUEST_ID_HEADER};

/// Installs the global subscriber: readable lines for terminals, or one JSON object per line.
/// Calling it again is harmless, so tests may call it freely.
pub fn init_logging(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true))
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    // A second call finds a subscriber already set, which is fine.
    drop(result);
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Adds `/healthz` and `/metrics` to an app; each service adds its own `/readyz`.
pub fn configure_health(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics_route));
}
