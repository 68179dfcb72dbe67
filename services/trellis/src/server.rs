//! Builds and starts the HTTP servers: all services in one process, or one per process.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use trellis_apps::{AppsState, ConnectorCatalog};
use trellis_auth::{AuthSettings, AuthState, LocalDirectory, ServiceToken};
use trellis_config::Settings;
use trellis_exec::actions::{HttpActions, LocalActions};
use trellis_exec::catalog::{HttpCatalog, LocalCatalog};
use trellis_exec::host::network::InternalHost;
use trellis_exec::runs::RecordWriter;
use trellis_exec::runtime::EngineSettings;
use trellis_exec::{ExecSettings, ExecState, RuntimeSettings};
use trellis_gateway::{EdgeAuth, Limiter, Quota, RateLimits, Timeouts};
use trellis_problem::{BodyLimit, Problem};
use trellis_telemetry::{configure_health, MetricsMiddleware, RequestIdMiddleware};
use trellis_tokens::{Access, HttpDirectory, JwksSource, Verifier};

use crate::database::{self, Owner};
use crate::{keys, openapi};

/// A started server.
pub struct Running {
    /// The address it listens on (useful when it was asked for port 0).
    pub address: SocketAddr,
    pub handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Run records still queued are stored once the server has ended.
    records: Option<RecordWriter>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.wait().await;
    }

    /// Waits for the server to end (on a signal or `stop`), then stores the run records that
    /// are still queued.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.task.await.context("the server task failed")?;
        if let Some(records) = &self.records {
            if let Err(error) = records.flush().await {
                tracing::error!(error = %error, "storing the last run records failed");
            }
        }
        served.context("the server failed")
    }
}

/// Set of routes a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every service, in one process.
    Embedded,
    Auth,
    Apps,
    Exec,
}

/// Databases the process checks on `/readyz`.
#[derive(Clone)]
struct Readiness(Vec<DatabaseConnection>);

async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    for db in &readiness.0 {
        let ping = tokio::time::timeout(Duration::from_secs(2), db.ping()).await;
        let failure = match ping {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some("no answer within 2 seconds".to_string()),
        };
        if let Some(error) = failure {
            tracing::warn!(%error, "readiness check failed: database unreachable");
            return Problem::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "The database is unreachable",
            )
            .into_response();
        }
    }
    HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}

impl IntoResponse for Problem {
    fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

async fn not_found() -> HttpResponse {
    Problem::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_found",
        "No route matches this method and path; see /docs for the API reference",
    )
    .into_response()
}

/// Builds the auth state from settings, keys and its database.
async fn auth_state(
    settings: &Settings,
    db: DatabaseConnection,
    verifier: Arc<Verifier>,
) -> anyhow::Result<AuthState> {
    let ring = keys::signing_keys(settings)?;
    let hasher = trellis_auth::passwords::Hasher::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_parallelism,
    )?;
    let window = Duration::from_secs(settings.login_window_seconds);
    let limit = settings.login_max_failures;
    let throttle = match &settings.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.expose())
                .context("key `redis_url` is not a valid Redis URL")?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(2))
                .set_response_timeout(Duration::from_secs(2));
            let connection = redis::aio::ConnectionManager::new_with_config(client, config)
                .await
                .context("connecting to Redis at `redis_url`")?;
            trellis_auth::throttle::Throttle::redis(
                connection,
                &settings.redis_prefix,
                limit,
                window,
            )
        }
        None => trellis_auth::throttle::Throttle::in_memory(limit, window),
    };

    let roles = trellis_notify::follower_for(
        &db,
        trellis_auth::roles::CHANNEL,
        trellis_auth::roles::RoleCache::new,
    );
    let state = AuthState {
        roles,
        db,
        settings: AuthSettings {
            issuer: settings.token_issuer.clone(),
            audience: settings.token_audience.clone(),
            access_token_ttl: chrono::Duration::seconds(settings.access_token_ttl_seconds as i64),
            refresh_token_ttl: chrono::Duration::days(settings.refresh_token_ttl_days as i64),
            invite_ttl: chrono::Duration::hours(settings.invite_ttl_hours as i64),
        },
        keys: Arc::new(RwLock::new(ring)),
        verifier,
        hasher,
        throttle,
    };
    state.publish_keys()?;
    Ok(state)
}

/// Reloads the signing key set file when it changes, so `trellis keys rotate-signing` takes
/// effect without a restart. The task keeps a weak reference to the state and ends once the
/// server that owns it has stopped.
fn spawn_key_reload(state: &web::Data<AuthState>, settings: &Settings) {
    if settings.signing_key.is_some() {
        return;
    }
    let path = settings.signing_keys_path();
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        let modified =
            |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut last = modified(&path);
        let mut interval = tokio::time::interval(Duration::from_secs(10));
        loop {
            interval.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            let now = modified(&path);
            if now == last {
                continue;
            }
            last = now;
            match trellis_tokens::KeyRing::load(&path) {
                Ok(ring) => {
                    *state.keys.write().expect("key ring lock poisoned") = ring;
                    match state.publish_keys() {
                        Ok(()) => tracing::info!(path = %path.display(), "reloaded signing keys"),
                        Err(error) => tracing::error!(
                            error = format!("{error:#}"),
                            "publishing signing keys failed"
                        ),
                    }
                }
                Err(error) => tracing::error!(
                    error = format!("{error:#}"),
                    "reloading signing keys failed; keeping the old ones"
                ),
            }
        }
    });
}

/// Builds the apps state and keeps its encryption keys in step with the key files.
fn apps_state(
    settings: &Settings,
    db: DatabaseConnection,
    catalog: Arc<dyn ConnectorCatalog>,
) -> anyhow::Result<web::Data<AppsState>> {
    let keys = keys::encryption_keys(settings)?;
    let state = web::Data::new(AppsState::new(db, keys, catalog));
    spawn_encryption_key_reload(&state, settings);
    Ok(state)
}

/// Seconds between checks of the encryption key files.
pub const ENCRYPTION_KEY_RELOAD_SECONDS: u64 = 10;

/// Reloads the encryption keys when their files change, so `trellis keys rotate` takes effect
/// without a restart. The task keeps a weak reference to the state and ends once the server
/// that owns it has stopped.
fn spawn_encryption_key_reload(state: &web::Data<AppsState>, settings: &Settings) {
    let settings = settings.clone();
    let paths = [
        settings.data_dir.join("encryption-key"),
        keys::previous_encryption_keys_path(&settings),
    ];
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        let modified = || {
            paths
                .iter()
                .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
                .collect::<Vec<_>>()
        };
        let mut last = modified();
        let mut interval =
            tokio::time::interval(Duration::from_secs(ENCRYPTION_KEY_RELOAD_SECONDS));
        loop {
            interval.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            let now = modified();
            if now == last {
                continue;
            }
            last = now;
            match keys::encryption_keys(&settings) {
                Ok(ring) => {
                    tracing::info!(key_id = %ring.current_id(), "reloaded encryption keys");
                    state.set_keys(ring);
                }
                Err(error) => tracing::error!(
                    error = format!("{error:#}"),
                    "reloading encryption keys failed; keeping the old ones"
                ),
            }
        }
    });
}

/// Shared state one process needs to serve its routes.
struct Parts {
    access: web::Data<Access>,
    auth: Option<(web::Data<AuthState>, web::Data<LocalDirectory>)>,
    apps: Option<web::Data<AppsState>>,
    exec: Option<web::Data<ExecState>>,
    readiness: Readiness,
}

/// Builds the edge rate limits, shared through Redis when it is configured.
async fn rate_limits(settings: &Settings) -> anyhow::Result<RateLimits> {
    let limiter = match &settings.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.expose())
                .context("key `redis_url` is not a valid Redis URL")?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Duration::from_secs(2))
                .set_response_timeout(Duration::from_millis(500));
            let connection = redis::aio::ConnectionManager::new_with_config(client, config)
                .await
                .context("connecting to Redis at `redis_url`")?;
            Limiter::redis(connection, &settings.redis_prefix)
        }
        None => Limiter::in_memory(),
    };
    Ok(RateLimits {
        limiter,
        auth: Quota::per_minute(settings.rate_limit_auth_per_minute),
        workspace: Quota::per_minute(settings.rate_limit_workspace_per_minute),
        api_key: Quota::per_minute(settings.rate_limit_api_key_per_minute),
        user: Quota::per_minute(settings.rate_limit_user_per_minute),
        public_run: Quota::per_minute(settings.rate_limit_public_run_per_minute),
    })
}

/// Returns the service token, which a service in its own process needs to reach the others.
fn service_token(settings: &Settings) -> anyhow::Result<&str> {
    settings
        .service_token
        .as_ref()
        .map(|token| token.expose())
        .context("key `service_token` must be set when services run in separate processes")
}

/// Builds the exec service's state.
async fn exec_state(settings: &Settings, db: DatabaseConnection) -> anyhow::Result<ExecState> {
    let server_internal_hosts = settings
        .exec_internal_hosts
        .iter()
        .map(|text| {
            InternalHost::parse(text).with_context(|| {
                format!(
                    "key `exec_internal_hosts`: `{text}` is not a host or host:port; write \
                     `127.0.0.1:11434` or `[::1]:8000`"
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let exec_settings = ExecSettings {
        server_internal_hosts,
        sqlite_dir: settings.exec_sqlite_dir.clone(),
        redis_url: settings
            .redis_url
            .as_ref()
            .map(|url| url.expose().to_string()),
        redis_prefix: settings.redis_prefix.clone(),
        quota_runs_per_minute: settings.quota_runs_per_minute,
        run_record_window: Duration::from_millis(settings.run_record_window_ms),
        quota_llm_tokens_per_day: settings.quota_llm_tokens_per_day,
        runtime: RuntimeSettings {
            cache_dir: Some(settings.data_dir.join("artifacts")),
            engine: EngineSettings {
                max_instances: settings.exec_max_instances,
                ..RuntimeSettings::default().engine
            },
            ..RuntimeSettings::default()
        },
        ..ExecSettings::default()
    };
    ExecState::new(db, exec_settings).await
}

/// Builds the services of `role`. `catalog` replaces the exec service's connector catalog,
/// for tests.
async fn assemble(
    settings: &Settings,
    role: Role,
    catalog: Option<Arc<dyn ConnectorCatalog>>,
) -> anyhow::Result<Parts> {
    let mut readiness = Vec::new();

    let (access, auth) = if matches!(role, Role::Embedded | Role::Auth) {
        let db = database::open(settings, Owner::Auth).await?;
        readiness.push(db.clone());
        let issuer = &settings.token_issuer;
        let verifier = Arc::new(Verifier::new(
            issuer,
            &settings.token_audience,
            JwksSource::Local,
        ));
        let state = web::Data::new(auth_state(settings, db.clone(), verifier.clone()).await?);
        spawn_key_reload(&state, settings);
        let directory = LocalDirectory {
            db,
            roles: state.roles.clone(),
        };
        let access = Access {
            verifier,
            directory: Arc::new(directory.clone()),
        };
        (access, Some((state, web::Data::new(directory))))
    } else {
        (remote_access(settings).await?, None)
    };

    let exec = if matches!(role, Role::Embedded | Role::Exec) {
        let db = database::open(settings, Owner::Exec).await?;
        readiness.push(db.clone());
        Some(web::Data::new(exec_state(settings, db).await?))
    } else {
        None
    };

    let apps = if matches!(role, Role::Embedded | Role::Apps) {
        let db = database::open(settings, Owner::Apps).await?;
        readiness.push(db.clone());
        let catalog: Arc<dyn ConnectorCatalog> = match (catalog, &exec) {
            (Some(catalog), _) => catalog,
            (None, Some(exec)) => Arc::new(LocalCatalog { exec: exec.clone() }),
            (None, None) => Arc::new(HttpCatalog::new(
                &settings.exec_url,
                service_token(settings)?,
            )),
        };
        Some(apps_state(settings, db, catalog)?)
    } else {
        None
    };

    if let Some(exec) = &exec {
        match &apps {
            Some(apps) => exec.set_action_source(Arc::new(LocalActions::new(apps))),
            None => exec.set_action_source(Arc::new(HttpActions::new(
                &settings.apps_url,
                service_token(settings)?,
            ))),
        }
    }

    Ok(Parts {
        access: web::Data::new(access),
        auth,
        apps,
        exec,
        readiness: Readiness(readiness),
    })
}

/// Builds the access checks of a service in its own process: it verifies tokens with the auth
/// service's public keys and looks up API keys and memberships through auth's internal API.
async fn remote_access(settings: &Settings) -> anyhow::Result<Access> {
    let token = service_token(settings)?;
    let auth_url = settings.auth_url.trim_end_matches('/');
    let source = JwksSource::Remote {
        url: format!("{auth_url}/.well-known/jwks.json"),
        client: reqwest::Client::new(),
    };
    let verifier = Arc::new(Verifier::new(
        &settings.token_issuer,
        &settings.token_audience,
        source,
    ));
    verifier.refresh().await;
    let directory = HttpDirectory::new(auth_url, token);
    Ok(Access {
        verifier,
        directory: Arc::new(directory),
    })
}

/// Starts the routes of `role` on a bound listener. The apps service validates resources and
/// actions against the exec service's connectors: in process, or over exec's internal API.
pub async fn start(
    settings: Settings,
    role: Role,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    start_services(settings, role, listener, None).await
}

/// Starts the routes of `role` on a bound listener, with a connector catalog that replaces
/// the exec service's, for tests.
pub async fn start_with_catalog(
    settings: Settings,
    role: Role,
    listener: TcpListener,
    catalog: Arc<dyn ConnectorCatalog>,
) -> anyhow::Result<Running> {
    start_services(settings, role, listener, Some(catalog)).await
}

async fn start_services(
    settings: Settings,
    role: Role,
    listener: TcpListener,
    catalog: Option<Arc<dyn ConnectorCatalog>>,
) -> anyhow::Result<Running> {
    let parts = assemble(&settings, role, catalog).await?;
    let address = listener.local_addr()?;
    let limit = settings.max_body_bytes;
    let service_token = web::Data::new(ServiceToken(
        settings
            .service_token
            .as_ref()
            .map(|t| t.expose().to_string()),
    ));
    let document = openapi::document();
    let readiness = web::Data::new(parts.readiness);
    // Behind a gateway the gateway limits; only the all-in-one process limits on its own.
    let limits = match role {
        Role::Embedded => Some(web::Data::new(rate_limits(&settings).await?)),
        _ => None,
    };
    let origins = settings.cors_allowed_origins.clone();
    let records_writer = parts.exec.as_ref().map(|exec| exec.record_writer());

    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(BodyLimit(limit))
            .app_data(trellis_problem::path_config())
            .app_data(trellis_problem::query_config())
            .app_data(trellis_problem::json_config(limit))
            .app_data(parts.access.clone())
            .app_data(readiness.clone())
            .app_data(service_token.clone())
            .configure(configure_health)
            .route("/readyz", web::get().to(readyz));
        if let Some(limits) = &limits {
            app = app.app_data(limits.clone());
        }
        // Exec first: its run route lies under the apps scope, which would otherwise match
        // it and return 404.
        if let Some(exec) = &parts.exec {
            app = app
                .app_data(exec.clone())
                .configure(trellis_exec::configure);
        }
        if let Some(state) = &parts.apps {
            app = app
                .app_data(state.clone())
                .configure(trellis_apps::configure);
        }
        if let Some((state, directory)) = &parts.auth {
            app = app
                .app_data(state.clone())
                .app_data(directory.clone())
                .configure(trellis_auth::configure);
        }
        app.configure(|config| openapi::configure(config, document.clone()))
            .default_service(web::to(not_found))
            .wrap(from_fn(trellis_gateway::rate_limit))
            .wrap(cors(&origins))
            .wrap(security_headers())
            .wrap(MetricsMiddleware)
            .wrap(RequestIdMiddleware)
    })
    .listen(listener)
    .context("listening")?
    .shutdown_timeout(30)
    .run();

    let handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%address, ?role, "listening");
    Ok(Running {
        address,
        handle,
        task,
        records: records_writer,
    })
}

/// Headers every response carries.
fn security_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"))
}

/// Cross-origin access for the configured browser origins; with none configured it adds
/// nothing, so requests carrying an `Origin` header are served as before.
fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            "x-request-id",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
        ])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    Condition::new(!origins.is_empty(), cors)
}

/// Binds the address, naming it in the error.
pub fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .with_context(|| format!("binding {address}; is another process using it?"))
}

/// Starts the gateway, which forwards public routes to the services' own processes.
pub async fn start_gateway(settings: Settings, listener: TcpListener) -> anyhow::Result<Running> {
    let address = listener.local_addr()?;
    let limits = web::Data::new(rate_limits(&settings).await?);
    // The gateway verifies access tokens with auth's public keys and looks API keys up
    // through auth, refusing bad credentials at the edge.
    let auth_url = settings.auth_url.trim_end_matches('/');
    let source = JwksSource::Remote {
        url: format!("{auth_url}/.well-known/jwks.json"),
        client: reqwest::Client::new(),
    };
    let verifier = Arc::new(Verifier::new(
        &settings.token_issuer,
        &settings.token_audience,
        source,
    ));
    let token = settings
        .service_token
        .as_ref()
        .map(|t| t.expose().to_string())
        .unwrap_or_default();
    let directory = Arc::new(HttpDirectory::new(auth_url, &token));
    let edge = web::Data::new(EdgeAuth::new(verifier.clone(), directory.clone()));
    let access = web::Data::new(Access {
        verifier,
        directory,
    });
    let limit = settings.max_body_bytes;
    let timeouts = Timeouts {
        default: Duration::from_secs(settings.upstream_timeout_seconds),
        long: Duration::from_secs(settings.upstream_long_timeout_seconds),
    };
    let upstreams = Arc::new(trellis_gateway::Upstreams::new(
        &settings.auth_url,
        &settings.apps_url,
        &settings.exec_url,
        timeouts,
    )?);
    let origins = settings.cors_allowed_origins.clone();
    let document = openapi::document();

    let server = HttpServer::new(move || {
        App::new()
            .app_data(BodyLimit(limit))
            .app_data(web::Data::new(upstreams.for_worker()))
            .app_data(limits.clone())
            .app_data(access.clone())
            .app_data(edge.clone())
            .configure(configure_health)
            .route(
                "/readyz",
                web::get().to(|| async {
                    HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))
                }),
            )
            .configure(|config| openapi::configure(config, document.clone()))
            .default_service(web::to(trellis_gateway::forward))
            .wrap(from_fn(trellis_gateway::rate_limit))
            .wrap(from_fn(trellis_gateway::authenticate))
            .wrap(cors(&origins))
            .wrap(security_headers())
            .wrap(MetricsMiddleware)
            .wrap(RequestIdMiddleware)
    })
    .listen(listener)
    .context("listening")?
    .shutdown_timeout(30)
    .run();

    let handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%address, "gateway listening");
    Ok(Running {
        address,
        handle,
        task,
        records: None,
    })
}
