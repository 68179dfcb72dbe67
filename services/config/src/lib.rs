//! Layered settings: defaults, then an optional TOML file, then `TRELLIS_*` environment
//! variables. A variable named `TRELLIS_<KEY>_FILE` reads the value of `<key>` from a file, for
//! secrets mounted by an orchestrator. Unknown keys and bad values stop start-up with a message
//! that names the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Prefix of every environment variable that sets a key.
pub const ENV_PREFIX: &str = "TRELLIS_";

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A value that never prints itself.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the secret value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting, flat so each maps to one `TRELLIS_<KEY>` variable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address of `trellis serve` and of the gateway.
    pub listen: SocketAddr,
    /// Address of the auth service when it runs as its own process.
    pub auth_listen: SocketAddr,
    /// Address of the apps service when it runs as its own process.
    pub apps_listen: SocketAddr,
    /// Address of the exec service when it runs as its own process.
    pub exec_listen: SocketAddr,
    /// Base URL the gateway and other services use to reach the auth service.
    pub auth_url: String,
    /// Base URL the gateway uses to reach the apps service.
    pub apps_url: String,
    /// Base URL the gateway uses to reach the exec service.
    pub exec_url: String,
    /// Folder for the embedded databases and generated keys.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; when unset every service uses an SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// Connections per service in the database pool.
    pub database_max_connections: u32,
    /// Redis URL for throttling and caches; when unset they live in memory.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key, so deployments can share one Redis.
    pub redis_prefix: String,
    /// `text` for terminals or `json` for log collectors.
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, for example `info` or `trellis_auth=debug,info`.
    pub log_level: String,
    /// `iss` of access tokens.
    pub token_issuer: String,
    /// `aud` of access tokens.
    pub token_audience: String,
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl_seconds: u64,
    /// Absolute lifetime of a refresh-token family, in days.
    pub refresh_token_ttl_days: u64,
    /// Lifetime of workspace invites, in hours.
    pub invite_ttl_hours: u64,
    /// Path of the signing key set (JSON); defaults to `signing-keys.json` in `data_dir`.
    pub signing_keys_file: Option<PathBuf>,
    /// An Ed25519 private key as PKCS#8 PEM; when set it signs instead of the key set file.
    pub signing_key: Option<Secret>,
    /// Base64 of the 32-byte key that encrypts stored secrets; defaults to a generated key
    /// kept in `data_dir`.
    pub encryption_key: Option<Secret>,
    /// Token that services present to each other's internal routes.
    pub service_token: Option<Secret>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Browser origins allowed to call the API (`https://tools.example.com`), or `*` for any.
    /// Empty allows none.
    pub cors_allowed_origins: Vec<String>,
    /// Seconds the gateway waits for a service's response to most requests.
    pub upstream_timeout_seconds: u64,
    /// Seconds the gateway waits for action runs, direct plugin calls and plugin uploads.
    pub upstream_long_timeout_seconds: u64,
    /// Failed logins allowed per account and per client address within the window.
    pub login_max_failures: u32,
    /// Length of the failed-login window, in seconds.
    pub login_window_seconds: u64,
    /// Requests per minute each client address may send to sign-up, sign-in and refresh routes.
    pub rate_limit_auth_per_minute: u32,
    /// Requests per minute each workspace may send to its tenant routes.
    pub rate_limit_workspace_per_minute: u32,
    /// Requests per minute each API key may send.
    pub rate_limit_api_key_per_minute: u32,
    /// Requests per minute each signed-in user may send to routes outside a workspace
    /// (`/api/v1/me`, the workspace list, the plugin catalog).
    pub rate_limit_user_per_minute: u32,
    /// Anonymous runs of each public app's actions per minute, from all clients together.
    pub rate_limit_public_run_per_minute: u32,
    /// Action runs each workspace may start per minute; 0 turns the quota off.
    pub quota_runs_per_minute: u64,
    /// How long exec gathers run records before storing them in one transaction, in
    /// milliseconds. The records of that span are lost if the process is killed.
    pub run_record_window_ms: u64,
    /// Connector instances each exec process runs at once. Every instance slot reserves
    /// virtual address space for its memories up front.
    pub exec_max_instances: u32,
    /// LLM tokens each workspace's runs may use per UTC day; 0 turns the quota off.
    pub quota_llm_tokens_per_day: u64,
    /// Hosts (`host` or `host:port`) that the connectors of every workspace may reach on
    /// loopback, private or link-local addresses, such as a model server on the same machine.
    /// Empty allows none.
    pub exec_internal_hosts: Vec<String>,
    /// Folder of the SQLite files that SQL resources may name by relative file name; SQLite
    /// resources are rejected when it is unset.
    pub exec_sqlite_dir: Option<PathBuf>,
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// Argon2id parallelism (OWASP: 1).
    pub argon2_parallelism: u32,
}

impl Default for Settings {
    fn default() -> Self {
        let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Settings {
            listen: local(8080),
            auth_listen: local(8081),
            apps_listen: local(8082),
            exec_listen: local(8083),
            auth_url: "http://127.0.0.1:8081".into(),
            apps_url: "http://127.0.0.1:8082".into(),
            exec_url: "http://127.0.0.1:8083".into(),
            data_dir: PathBuf::from("./trellis-data"),
            database_url: None,
            database_max_connections: 10,
            redis_url: None,
            redis_prefix: "trellis".into(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            token_issuer: "trellis".into(),
            token_audience: "trellis-api".into(),
            access_token_ttl_seconds: 15 * 60,
            refresh_token_ttl_days: 30,
            invite_ttl_hours: 7 * 24,
            signing_keys_file: None,
            signing_key: None,
            encryption_key: None,
            service_token: None,
            max_body_bytes: 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            upstream_timeout_seconds: 30,
            upstream_long_timeout_seconds: 75,
            login_max_failures: 5,
            login_window_seconds: 15 * 60,
            rate_limit_auth_per_minute: 60,
            rate_limit_workspace_per_minute: 3000,
            rate_limit_api_key_per_minute: 1200,
            rate_limit_user_per_minute: 600,
            rate_limit_public_run_per_minute: 300,
            quota_runs_per_minute: 600,
            run_record_window_ms: 20,
            exec_max_instances: 256,
            quota_llm_tokens_per_day: 1_000_000,
            exec_internal_hosts: Vec::new(),
            exec_sqlite_dir: None,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

/// Error from loading settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid settings: {0}")]
    Invalid(String),
    #[error("reading {variable} from {path} failed: {source}")]
    SecretFile {
        variable: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Settings {
    /// Loads defaults, then `file` when given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let variables: Vec<(String, String)> = std::env::vars().collect();
        Settings::load_from(file, &variables)
    }

    /// Loads defaults, then `file` when given, then the given environment variables.
    pub fn load_from(
        file: Option<&Path>,
        variables: &[(String, String)],
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "the settings file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }

        let (plain, from_files) = split_environment(variables)?;
        let plain: BTreeMap<String, String> = plain;
        for (key, value) in plain.into_iter().chain(from_files) {
            figment = figment.merge(env_value(&key, &value));
        }

        let settings: Settings = figment.extract().map_err(|error| {
            let messages: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
            ConfigError::Invalid(messages.join("; "))
        })?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid =
            |key: &str, why: &str| Err(ConfigError::Invalid(format!("key `{key}`: {why}")));
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return invalid(
                    "database_url",
                    "must be a postgres:// URL, or unset for SQLite",
                );
            }
        }
        if let Some(url) = &self.redis_url {
            if !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://")) {
                return invalid("redis_url", "must be a redis:// or rediss:// URL");
            }
        }
        if self.access_token_ttl_seconds == 0 || self.access_token_ttl_seconds > 3600 {
            return invalid("access_token_ttl_seconds", "must be between 1 and 3600");
        }
        if self.refresh_token_ttl_days == 0 {
            return invalid("refresh_token_ttl_days", "must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes", "must be at least 1024");
        }
        for (key, value) in [
            (
                "rate_limit_auth_per_minute",
                self.rate_limit_auth_per_minute,
            ),
            (
                "rate_limit_workspace_per_minute",
                self.rate_limit_workspace_per_minute,
            ),
            (
                "rate_limit_api_key_per_minute",
                self.rate_limit_api_key_per_minute,
            ),
            (
                "rate_limit_user_per_minute",
                self.rate_limit_user_per_minute,
            ),
            (
                "rate_limit_public_run_per_minute",
                self.rate_limit_public_run_per_minute,
            ),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1 request per minute");
            }
        }
        for origin in &self.cors_allowed_origins {
            let valid = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && origin.matches('/').count() == 2);
            if !valid {
                return invalid(
                    "cors_allowed_origins",
                    &format!("`{origin}` is not an origin; write `https://host[:port]` or `*`"),
                );
            }
        }
        if self.upstream_timeout_seconds == 0 || self.upstream_long_timeout_seconds == 0 {
            return invalid(
                "upstream_timeout_seconds",
                "upstream timeouts must be at least 1 second",
            );
        }
        if self.run_record_window_ms > 10_000 {
            return invalid("run_record_window_ms", "must be at most 10000 (10 seconds)");
        }
        if self.exec_max_instances == 0 {
            return invalid("exec_max_instances", "must be at least 1");
        }
        if self.login_max_failures == 0 {
            return invalid("login_max_failures", "must be at least 1");
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism.max(1) {
            return invalid("argon2_memory_kib", "must be at least 8 KiB per lane");
        }
        if self.log_level.trim().is_empty() {
            return invalid("log_level", "must not be empty; try `info`");
        }
        Ok(())
    }

    /// Returns the path of the signing key set.
    pub fn signing_keys_path(&self) -> PathBuf {
        self.signing_keys_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("signing-keys.json"))
    }
}

/// Splits `TRELLIS_*` variables into plain values and values read from `_FILE` paths, with
/// keys lower-cased and the prefix removed.
#[allow(clippy::type_complexity)]
fn split_environment(
    variables: &[(String, String)],
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>), ConfigError> {
    let mut plain = BTreeMap::new();
    let mut from_files = BTreeMap::new();
    for (name, value) in variables {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if let Some(base) = key
            .strip_suffix("_file")
            .filter(|base| is_file_variant(base))
        {
            let path = PathBuf::from(value);
            let content =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
                    variable: name.clone(),
                    path: path.clone(),
                    source,
                })?;
            from_files.insert(
                base.to_string(),
                content.trim_end_matches(['\r', '\n']).to_string(),
            );
        } else {
            plain.insert(key, value.clone());
        }
    }
    Ok((plain, from_files))
}

/// Keys whose value may come from a `_FILE` variable. `signing_keys_file` is itself a path
/// and keeps its name.
fn is_file_variant(base: &str) -> bool {
    matches!(
        base,
        "database_url" | "redis_url" | "signing_key" | "encryption_key" | "service_token"
    )
}

/// Converts one environment value to a figment provider; numbers and booleans are parsed the way
/// figment parses environment values.
fn env_value(key: &str, value: &str) -> Serialized<figment::value::Value> {
    let parsed: figment::value::Value = value.parse().unwrap_or_else(|_| value.into());
    Serialized::default(key, parsed)
}

fn describe(error: &figment::Error) -> String {
    let key = error.path.join(".");
    let mut message = match &error.kind {
        figment::error::Kind::UnknownField(name, _) => {
            format!("unknown key `{name}`; see the settings table in the README")
        }
        other => format!("key `{key}`: {other}"),
    };
    if let Some(metadata) = &error.metadata {
        message.push_str(&format!(" (from {})", metadata.name));
    }
    message
}

#[cfg(test)]
mod tests;
