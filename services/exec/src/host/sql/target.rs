//! The database a call may use, built from a resource config's structured fields.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx_mysql::mysql::{MySqlConnectOptions, MySqlSslMode};
use uuid::Uuid;

/// Environment variables that sqlx's PostgreSQL options read and that would otherwise apply
/// to every tenant's database.
const LEAKING_PG_VARIABLES: &[&str] = &["PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGOPTIONS"];

/// Maximum number of resources whose targets are kept; past it the cache starts over.
const CACHED_TARGETS: usize = 4096;

/// Targets built from resource configs, kept while a resource's config is unchanged. Building
/// one parses and hashes the config and reads the server's user name for the PostgreSQL
/// defaults, on every call otherwise.
#[derive(Default)]
pub struct TargetCache {
    entries: Mutex<HashMap<Uuid, (Value, Option<DatabaseTarget>)>>,
}

impl TargetCache {
    /// Returns the target of a resource's config, as [`DatabaseTarget::from_config`] builds
    /// it. A resource's entry is used only for a config equal to the one it was built from.
    pub fn target(
        &self,
        resource_id: Uuid,
        config: &Value,
    ) -> Result<Option<DatabaseTarget>, String> {
        // Direct calls and connection tests have no resource.
        if resource_id.is_nil() {
            return DatabaseTarget::from_config(resource_id, config);
        }
        if let Some((built_from, target)) = self.lock().get(&resource_id) {
            if built_from == config {
                return Ok(target.clone());
            }
        }

        let target = DatabaseTarget::from_config(resource_id, config)?;
        let mut entries = self.lock();
        if entries.len() >= CACHED_TARGETS {
            entries.clear();
        }
        entries.insert(resource_id, (config.clone(), target.clone()));
        Ok(target)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (Value, Option<DatabaseTarget>)>> {
        self.entries.lock().expect("database target lock poisoned")
    }
}

/// The database a call may use.
#[derive(Clone)]
pub struct DatabaseTarget {
    pub resource_id: Uuid,
    pub(super) connection: Connection,
    /// The database server a resource config names. `None` for SQLite and for trusted URLs.
    pub(super) endpoint: Option<Endpoint>,
    /// SHA-256 of the connection settings, so a changed config gets a new pool.
    pub(super) fingerprint: [u8; 32],
}

/// A database server named by a tenant's config, which the host checks with the address guard
/// before it opens the first connection.
#[derive(Clone)]
pub(super) struct Endpoint {
    pub host: String,
    pub port: u16,
    /// Whether connections may go to the checked address in place of the name. A TLS mode that
    /// verifies the host name needs the name.
    pub pin: bool,
}

#[derive(Clone)]
pub(super) enum Connection {
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
    /// A file name relative to the server's SQLite folder.
    SqliteFile(String),
    /// Options from a trusted URL, which may name any file.
    Sqlite(SqliteConnectOptions),
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseTarget")
            .field("resource_id", &self.resource_id)
            .finish_non_exhaustive()
    }
}

/// The structured fields of a SQL resource config; other fields are ignored.
#[derive(Deserialize)]
struct DatabaseConfig {
    engine: String,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    tls_mode: Option<String>,
    /// PEM of the certificate authority that signed the server's certificate.
    tls_ca_cert: Option<String>,
    /// PEM of the client certificate, with `tls_client_key`.
    tls_client_cert: Option<String>,
    tls_client_key: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum TlsMode {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl DatabaseTarget {
    /// Builds the target from a resource config's `engine`, `host`, `port`, `database`,
    /// `user`, `password`, `tls_mode` (`disable`, `require`, `verify-ca` or `verify-full`, the
    /// default) and PEM fields `tls_ca_cert`, `tls_client_cert` and `tls_client_key`.
    ///
    /// Returns `Ok(None)` when the config has no `engine` field, and an error naming the field
    /// when a field is invalid. For SQLite, `database` is a file name inside the server's SQLite
    /// folder.
    pub fn from_config(resource_id: Uuid, config: &Value) -> Result<Option<Self>, String> {
        let Some(object) = config.as_object() else {
            return Ok(None);
        };
        if !object.contains_key("engine") {
            return Ok(None);
        }
        let parsed: DatabaseConfig = serde_json::from_value(config.clone())
            .map_err(|error| format!("the SQL config is invalid: {error}"))?;
        let fingerprint = Sha256::digest(serde_json::to_vec(config).unwrap_or_default()).into();

        let (connection, default_port) = match parsed.engine.as_str() {
            "postgres" | "postgresql" => (Connection::Postgres(postgres_options(&parsed)?), 5432),
            "mysql" | "mariadb" => (Connection::MySql(mysql_options(&parsed)?), 3306),
            "sqlite" => (Connection::SqliteFile(sqlite_file(&parsed)?), 0),
            other => {
                return Err(format!(
                    "`engine` must be postgres, mysql, mariadb or sqlite, not `{other}`"
                ))
            }
        };
        let endpoint = match &connection {
            Connection::Postgres(_) | Connection::MySql(_) => Some(Endpoint {
                host: network_host(&parsed)?.to_string(),
                port: parsed.port.unwrap_or(default_port),
                pin: tls_mode(&parsed)? != TlsMode::VerifyFull,
            }),
            Connection::SqliteFile(_) | Connection::Sqlite(_) => None,
        };
        Ok(Some(DatabaseTarget {
            resource_id,
            connection,
            endpoint,
            fingerprint,
        }))
    }

    /// Builds a target from a `postgres://`, `mysql://`, `mariadb://` or `sqlite:` URL. Only
    /// for URLs the operator or a test controls: a `sqlite:` URL may name any file.
    pub fn from_url(resource_id: Uuid, url: &str) -> Result<Self, String> {
        let invalid = |error: sqlx::Error| format!("the database URL is invalid: {error}");
        let invalid_mysql =
            |error: sqlx_mysql::Error| format!("the database URL is invalid: {error}");
        let connection = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Connection::Postgres(PgConnectOptions::from_str(url).map_err(invalid)?)
        } else if let Some(rest) = url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
        {
            let url = format!("mysql://{rest}");
            Connection::MySql(MySqlConnectOptions::from_str(&url).map_err(invalid_mysql)?)
        } else if url.starts_with("sqlite:") {
            Connection::Sqlite(SqliteConnectOptions::from_str(url).map_err(invalid)?)
        } else {
            return Err(
                "the database URL must start with postgres://, mysql://, mariadb:// or sqlite:"
                    .into(),
            );
        };
        let fingerprint = Sha256::digest(url.as_bytes()).into();
        Ok(DatabaseTarget {
            resource_id,
            connection,
            endpoint: None,
            fingerprint,
        })
    }
}

fn tls_mode(config: &DatabaseConfig) -> Result<TlsMode, String> {
    match config.tls_mode.as_deref().unwrap_or("verify-full") {
        "disable" => Ok(TlsMode::Disable),
        "require" => Ok(TlsMode::Require),
        "verify-ca" => Ok(TlsMode::VerifyCa),
        "verify-full" => Ok(TlsMode::VerifyFull),
        other => Err(format!(
            "`tls_mode` must be disable, require, verify-ca or verify-full, not `{other}`"
        )),
    }
}

/// Returns the `host` field after checking that it is a host name or an IP address. A path
/// would make PostgreSQL connect through a Unix socket on the server itself.
fn network_host(config: &DatabaseConfig) -> Result<&str, String> {
    let host = required(&config.host, "host")?.trim();
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
    if !host.chars().all(allowed) {
        return Err(format!(
            "`host` must be a host name or an IP address, not `{host}`; Unix sockets are not \
             supported"
        ));
    }
    Ok(host.trim_start_matches('[').trim_end_matches(']'))
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, String> {
    match value.as_deref() {
        Some(text) if !text.trim().is_empty() => Ok(text),
        _ => Err(format!("`{field}` is missing")),
    }
}

/// Returns the PEM fields after checking that client certificate and key come together.
fn pem_fields(config: &DatabaseConfig) -> Result<Pems<'_>, String> {
    let client_cert = config.tls_client_cert.as_deref();
    let client_key = config.tls_client_key.as_deref();
    if client_cert.is_some() != client_key.is_some() {
        return Err("`tls_client_cert` and `tls_client_key` must be given together".into());
    }
    for (field, pem) in [
        ("tls_ca_cert", config.tls_ca_cert.as_deref()),
        ("tls_client_cert", client_cert),
        ("tls_client_key", client_key),
    ] {
        if pem.is_some_and(|text| !text.contains("-----BEGIN ")) {
            return Err(format!(
                "`{field}` must be PEM text starting with -----BEGIN"
            ));
        }
    }
    Ok(Pems {
        ca: config.tls_ca_cert.as_deref(),
        client_cert,
        client_key,
    })
}

struct Pems<'a> {
    ca: Option<&'a str>,
    client_cert: Option<&'a str>,
    client_key: Option<&'a str>,
}

fn postgres_options(config: &DatabaseConfig) -> Result<PgConnectOptions, String> {
    if let Some(variable) = LEAKING_PG_VARIABLES
        .iter()
        .find(|name| std::env::var_os(name).is_some())
    {
        return Err(format!(
            "the server's environment sets {variable}, which would apply to every tenant's \
             PostgreSQL connection; unset it to use PostgreSQL resources"
        ));
    }
    let mode = tls_mode(config)?;
    let pems = pem_fields(config)?;

    // `new_without_pgpass` skips ~/.pgpass, and each field below replaces what it read from the
    // PG* environment variables. The password is always set, so PGPASSWORD never applies.
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(network_host(config)?)
        .port(config.port.unwrap_or(5432))
        .username(required(&config.user, "user")?)
        .password(config.password.as_deref().unwrap_or(""))
        .database(required(&config.database, "database")?)
        .application_name("trellis")
        .ssl_mode(match mode {
            TlsMode::Disable => PgSslMode::Disable,
            TlsMode::Require => PgSslMode::Require,
            TlsMode::VerifyCa => PgSslMode::VerifyCa,
            TlsMode::VerifyFull => PgSslMode::VerifyFull,
        });
    if let Some(ca) = pems.ca {
        options = options.ssl_root_cert_from_pem(ca.as_bytes().to_vec());
    }
    if let (Some(cert), Some(key)) = (pems.client_cert, pems.client_key) {
        options = options
            .ssl_client_cert_from_pem(cert)
            .ssl_client_key_from_pem(key);
    }
    Ok(options)
}

fn mysql_options(config: &DatabaseConfig) -> Result<MySqlConnectOptions, String> {
    let mode = tls_mode(config)?;
    let pems = pem_fields(config)?;

    let mut options = MySqlConnectOptions::new()
        .host(network_host(config)?)
        .port(config.port.unwrap_or(3306))
        .username(required(&config.user, "user")?)
        .ssl_mode(match mode {
            TlsMode::Disable => MySqlSslMode::Disabled,
            TlsMode::Require => MySqlSslMode::Required,
            TlsMode::VerifyCa => MySqlSslMode::VerifyCa,
            TlsMode::VerifyFull => MySqlSslMode::VerifyIdentity,
        });
    // An empty password means none, as MySQL clients treat it.
    if let Some(password) = config.password.as_deref().filter(|text| !text.is_empty()) {
        options = options.password(password);
    }
    if let Some(database) = config.database.as_deref().filter(|name| !name.is_empty()) {
        options = options.database(database);
    }
    if let Some(ca) = pems.ca {
        options = options.ssl_ca_from_pem(ca.as_bytes().to_vec());
    }
    if let (Some(cert), Some(key)) = (pems.client_cert, pems.client_key) {
        options = options
            .ssl_client_cert_from_pem(cert)
            .ssl_client_key_from_pem(key);
    }
    Ok(options)
}

/// Checks that a SQLite file name stays inside the server's SQLite folder.
fn sqlite_file(config: &DatabaseConfig) -> Result<String, String> {
    let name = required(&config.database, "database")?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    let escapes =
        name.starts_with('/') || name.split('/').any(|part| part.is_empty() || part == "..");
    if !name.chars().all(allowed) || escapes {
        return Err(format!(
            "`database` must be a relative file name of letters, digits, `.`, `_`, `-` and `/` \
             without `..`, not `{name}`"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(config: Value) -> Result<Option<DatabaseTarget>, String> {
        DatabaseTarget::from_config(Uuid::nil(), &config)
    }

    #[test]
    fn config_without_engine_is_no_database() {
        assert!(target(json!({"base_url": "https://example.test"}))
            .unwrap()
            .is_none());
        assert!(target(json!("text")).unwrap().is_none());
    }

    #[test]
    fn unknown_engine_names_field() {
        let error = target(json!({"engine": "oracle"})).err().unwrap();

        assert!(error.contains("`engine`"), "{error}");
    }

    #[test]
    fn missing_host_names_field() {
        let error = target(json!({"engine": "postgres", "user": "u", "database": "d"}))
            .err()
            .unwrap();

        assert_eq!(error, "`host` is missing");
    }

    #[test]
    fn invalid_tls_mode_names_field() {
        let config = json!({
            "engine": "mysql", "host": "db", "user": "u", "tls_mode": "prefer"
        });

        let error = target(config).err().unwrap();

        assert!(error.contains("`tls_mode`"), "{error}");
    }

    #[test]
    fn client_cert_needs_key() {
        let config = json!({
            "engine": "postgres", "host": "db", "user": "u", "database": "d",
            "tls_client_cert": "-----BEGIN CERTIFICATE-----\n"
        });

        let error = target(config).err().unwrap();

        assert!(error.contains("`tls_client_key`"), "{error}");
    }

    #[test]
    fn wrong_port_type_is_an_error() {
        let config = json!({"engine": "postgres", "host": "db", "port": "x"});

        let error = target(config).err().unwrap();

        assert!(error.contains("the SQL config is invalid"), "{error}");
    }

    #[test]
    fn password_with_special_characters_is_kept() {
        let password = "p@ss:w/rd %41+ x";
        let config = json!({
            "engine": "postgres", "host": "db", "user": "u", "database": "d",
            "password": password, "tls_mode": "disable"
        });

        let target = target(config).unwrap().unwrap();

        let Connection::Postgres(options) = target.connection else {
            panic!("expected PostgreSQL options");
        };
        assert_eq!(options.get_host(), "db");
        assert_eq!(options.get_username(), "u");
        assert_eq!(options.get_database(), Some("d"));
    }

    #[test]
    fn sqlite_file_cannot_leave_folder() {
        for name in [
            "/etc/passwd",
            "../x.db",
            "a/../../x.db",
            "a//b",
            "x.db?mode=rwc",
        ] {
            let result = target(json!({"engine": "sqlite", "database": name}));

            assert!(result.is_err(), "{name}");
        }
        assert!(target(json!({"engine": "sqlite", "database": "team/app.db"})).is_ok());
    }

    #[test]
    fn cached_targets_follow_the_config() {
        let cache = TargetCache::default();
        let resource = Uuid::now_v7();
        let first = json!({"engine": "postgres", "host": "db.test", "database": "a", "user": "u"});
        let second = json!({"engine": "postgres", "host": "db.test", "database": "b", "user": "u"});

        let built = cache.target(resource, &first).unwrap().unwrap();
        let again = cache.target(resource, &first).unwrap().unwrap();
        let changed = cache.target(resource, &second).unwrap().unwrap();
        let back = cache.target(resource, &first).unwrap().unwrap();

        assert_eq!(built.fingerprint, again.fingerprint);
        assert_ne!(built.fingerprint, changed.fingerprint);
        assert_eq!(back.fingerprint, built.fingerprint);
        assert_eq!(cache.lock().len(), 1);
        assert!(cache
            .target(resource, &json!({"engine": "oracle"}))
            .is_err());
        assert!(cache.target(Uuid::nil(), &first).unwrap().is_some());
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn fingerprint_changes_with_config() {
        let first = json!({"engine": "sqlite", "database": "a.db"});
        let second = json!({"engine": "sqlite", "database": "b.db"});

        let first = target(first).unwrap().unwrap().fingerprint;
        let second = target(second).unwrap().unwrap().fingerprint;

        assert_ne!(first, second);
    }

    #[test]
    fn socket_path_host_is_rejected() {
        let config = json!({
            "engine": "postgres", "host": "/var/run/postgresql", "user": "postgres",
            "database": "postgres"
        });

        let error = target(config).err().unwrap();

        assert!(
            error.contains("`host` must be a host name or an IP address"),
            "{error}"
        );
    }

    #[test]
    fn endpoint_pins_unless_name_is_verified() {
        let config = |mode: &str| {
            json!({
                "engine": "mysql", "host": "[::1]", "user": "root", "tls_mode": mode
            })
        };

        let pinned = target(config("require"))
            .unwrap()
            .unwrap()
            .endpoint
            .unwrap();
        let named = target(config("verify-full"))
            .unwrap()
            .unwrap()
            .endpoint
            .unwrap();

        assert_eq!(pinned.host, "::1");
        assert_eq!(pinned.port, 3306);
        assert!(pinned.pin);
        assert!(!named.pin);
    }
}
