//! Prometheus metrics: a per-process registry, HTTP request counters and latency histograms,
//! and one access-log line per request.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpResponse;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The process's metrics.
pub struct Metrics {
    pub registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl Metrics {
    /// Returns the process-wide metrics, created on first use.
    pub fn global() -> &'static Metrics {
        static METRICS: OnceLock<Metrics> = OnceLock::new();
        METRICS.get_or_init(Metrics::new)
    }

    fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("metric definition is valid");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency in seconds",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("metric definition is valid");
        registry
            .register(Box::new(requests.clone()))
            .expect("metric registers once");
        registry
            .register(Box::new(durations.clone()))
            .expect("metric registers once");
        Metrics {
            registry,
            requests,
            durations,
        }
    }

    /// Registers a service's own counter once per process and returns it.
    pub fn counter(&self, name: &str, help: &str) -> prometheus::IntCounter {
        let counter = prometheus::IntCounter::new(name, help).expect("valid metric");
        if let Err(error) = self.registry.register(Box::new(counter.clone())) {
            tracing::error!(%error, metric = name, "registering a metric failed");
        }
        counter
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics_route() -> HttpResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(error) = encoder.encode(&Metrics::global().registry.gather(), &mut body) {
        tracing::error!(%error, "encoding metrics failed");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, encoder.format_type()))
        .body(body)
}

/// Middleware that counts and times each request and logs one access line.
#[derive(Debug, Clone, Default)]
pub struct MetricsMiddleware;

impl<S, B> Transform<S, ServiceRequest> for MetricsMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = MetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(MetricsService {
            service: Rc::new(service),
        }))
    }
}

/// Returns the workspace id of a tenant route for the access log, or `None` for other routes.
fn workspace_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/workspaces/")?;
    let id = rest.split('/').next()?;
    uuid::Uuid::parse_str(id).ok().map(|id| id.to_string())
}

pub struct MetricsService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for MetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let service = self.service.clone();

        Box::pin(async move {
            let response = service.call(request).await?;

            // The matched pattern keeps ids out of label values; unmatched paths share one.
            let route = response
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            let status = response.status();
            let elapsed = started.elapsed();
            let metrics = Metrics::global();
            metrics
                .requests
                .with_label_values(&[method.as_str(), &route, status.as_str()])
                .inc();
            metrics
                .durations
                .with_label_values(&[method.as_str(), &route])
                .observe(elapsed.as_secs_f64());
            // The workspace id is parsed only when the access log is on.
            tracing::info!(
                http.method = %method,
                http.route = %route,
                http.status = status.as_u16(),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                workspace_id = %workspace_of(response.request().path()).unwrap_or_default(),
                "request served"
            );
            Ok(response)
        })
    }
}
