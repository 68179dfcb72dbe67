//! The `sql` import: pools for PostgreSQL, MySQL/MariaDB and SQLite keyed by workspace,
//! resource and worker thread, a statement timeout that the server enforces, and row and byte
//! caps.

mod decode;
mod errors;
mod mysql;
mod numeric;
mod postgres;
mod target;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Column as _, Database, Executor, TypeInfo};
use tokio::runtime::{Handle, RuntimeFlavor};
use uuid::Uuid;

use self::decode::DecodeRow;
use self::errors::{with_timeout, CONNECT_FAILED, DNS_FAILED};
use self::mysql::MySqlTarget;
use self::postgres::PgTarget;
use self::target::{Connection, Endpoint};
pub use self::target::{DatabaseTarget, TargetCache};
use crate::host::guard::{self, GuardError};
use crate::host::network::NetworkPolicy;
use crate::runtime::HostState;
use crate::runtime_bindings::sql::{
    Column, Host, Rows, SqlError, StatementOptions, TypedRows, Value,
};

/// Maximum time to resolve a database server's host name.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle for longer than this is pinged before a statement uses it, so one
/// that the server closed is replaced rather than failing the statement. A connection in steady
/// use skips the extra round trip.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Limits of SQL access.
#[derive(Debug, Clone)]
pub struct SqlSettings {
    /// Maximum run time of one statement, after which the server cancels it. A connector may
    /// ask for less per statement, never more.
    pub statement_timeout: Duration,
    pub max_rows: usize,
    /// Bytes of row data returned per query, estimated from the decoded values.
    pub max_bytes: usize,
    /// Connections to one resource's database per single-threaded runtime (each HTTP worker
    /// has one), or per process on a multi-threaded runtime.
    pub max_connections_per_pool: u32,
    /// Folder of the SQLite files that resources may name. SQLite resources are rejected when
    /// it is unset.
    pub sqlite_dir: Option<PathBuf>,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            statement_timeout: Duration::from_secs(5),
            max_rows: 1_000,
            max_bytes: 4 << 20,
            max_connections_per_pool: 3,
            sqlite_dir: None,
        }
    }
}

#[derive(Clone)]
enum Pool {
    Postgres(PgTarget),
    MySql(MySqlTarget),
    Sqlite(SqlitePool),
}

/// Key of a pool: workspace id, resource id, a SHA-256 fingerprint of the connection
/// settings, and the thread of a single-threaded runtime (see [`runtime_thread`]).
type PoolKey = (Uuid, Uuid, [u8; 32], Option<ThreadId>);

/// Pools keyed by workspace, resource and connection settings, so tenants never share one.
#[derive(Default)]
pub struct SqlPools {
    settings: SqlSettings,
    pools: Mutex<HashMap<PoolKey, Pool>>,
}

/// The limits of one statement after the host's caps are applied.
#[derive(Clone, Copy)]
struct Limits {
    timeout: Duration,
    /// True when the timeout differs from the one set on every pooled connection.
    custom_timeout: bool,
    rows: usize,
    bytes: usize,
}

impl SqlPools {
    pub fn new(settings: SqlSettings) -> Self {
        SqlPools {
            settings,
            pools: Mutex::default(),
        }
    }

    fn limits(&self, options: Option<&StatementOptions>) -> Limits {
        let settings = &self.settings;
        let requested = options.and_then(|options| options.timeout_ms);
        let timeout = requested
            .map(|ms| Duration::from_millis(ms.max(1).into()))
            .filter(|timeout| *timeout < settings.statement_timeout)
            .unwrap_or(settings.statement_timeout);
        let cap = |requested: Option<u32>, maximum: usize| {
            requested.map_or(maximum, |value| (value as usize).min(maximum))
        };
        Limits {
            timeout,
            custom_timeout: timeout != settings.statement_timeout,
            rows: cap(options.and_then(|o| o.max_rows), settings.max_rows),
            bytes: cap(options.and_then(|o| o.max_bytes), settings.max_bytes),
        }
    }

    // TODO: pools are never closed; evict idle ones once resources can be deleted.
    /// Returns the pool of a workspace's database, creating it on first use. Before the first
    /// connection to a server that a config names, the host is resolved once and checked with
    /// the address guard, unless an admin allowed it as an internal host.
    async fn pool(
        &self,
        workspace_id: Uuid,
        target: &DatabaseTarget,
        network: &NetworkPolicy,
    ) -> Result<Pool, SqlError> {
        let key = (
            workspace_id,
            target.resource_id,
            target.fingerprint,
            runtime_thread(),
        );
        if let Some(pool) = self.pools.lock().expect("sql pool lock poisoned").get(&key) {
            return Ok(pool.clone());
        }
        let address = match &target.endpoint {
            Some(endpoint) => checked_address(endpoint, network).await?,
            None => None,
        };
        let pool = self.connect(&target.connection, address)?;
        self.pools
            .lock()
            .expect("sql pool lock poisoned")
            .insert(key, pool.clone());
        Ok(pool)
    }

    /// Creates a lazy pool. `address` replaces the host name when the connection is pinned to
    /// the address the guard checked.
    fn connect(&self, connection: &Connection, address: Option<IpAddr>) -> Result<Pool, SqlError> {
        let settings = &self.settings;
        let timeout = settings.statement_timeout;

        match connection {
            Connection::Postgres(options) => {
                let mut options = options.clone();
                if let Some(address) = address {
                    options = options.host(&address.to_string());
                }
                let target = PgTarget::new(options, timeout, settings.max_connections_per_pool);
                Ok(Pool::Postgres(target))
            }
            Connection::MySql(options) => {
                let mut options = options.clone();
                if let Some(address) = address {
                    options = options.host(&address.to_string());
                }
                Ok(Pool::MySql(MySqlTarget::connect(options, settings)))
            }
            Connection::SqliteFile(name) => {
                let folder = settings.sqlite_dir.as_ref().ok_or_else(|| {
                    SqlError::Unavailable(
                        "SQLite resources are disabled on this server; set the SQLite folder \
                         to enable them"
                            .into(),
                    )
                })?;
                let options = SqliteConnectOptions::new()
                    .filename(folder.join(name))
                    .create_if_missing(true);
                Ok(self.sqlite_pool(options))
            }
            Connection::Sqlite(options) => Ok(self.sqlite_pool(options.clone())),
        }
    }

    // NOTE: SQLite has no server to cancel a statement; the host's own timeout drops the
    // future, and the statement stops at its next step.
    fn sqlite_pool(&self, options: SqliteConnectOptions) -> Pool {
        // A file has no server that could close a connection, so there is nothing to ping.
        let pool = SqlitePoolOptions::new()
            .max_connections(self.settings.max_connections_per_pool)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Pool::Sqlite(pool)
    }
}

/// Returns the current thread when it runs a single-threaded runtime, as each HTTP worker does.
///
/// A socket belongs to the runtime that opened it, and only that runtime's thread reads its
/// events. A connection used by another worker therefore costs two thread wake-ups per statement
/// (the owner's, then the caller's) and waits whenever the owner is busy, so each such thread
/// gets pools of its own. The threads of a multi-threaded runtime share one.
fn runtime_thread() -> Option<ThreadId> {
    let flavor = Handle::try_current().ok()?.runtime_flavor();
    (flavor == RuntimeFlavor::CurrentThread).then(|| std::thread::current().id())
}

async fn set_postgres_timeout(
    connection: &mut sqlx::PgConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    let statement = format!("SET statement_timeout = {}", timeout.as_millis());
    connection.execute(statement.as_str()).await?;
    Ok(())
}

/// Resolves a database server's host once and checks every address with the address guard.
/// Returns the address to connect to when the connection may be pinned to it.
async fn checked_address(
    endpoint: &Endpoint,
    network: &NetworkPolicy,
) -> Result<Option<IpAddr>, SqlError> {
    let allow_internal = network.allows_internal_address(&endpoint.host, endpoint.port);
    let addresses = guard::resolve(
        &endpoint.host,
        endpoint.port,
        allow_internal,
        RESOLVE_TIMEOUT,
    )
    .await
    .map_err(|error| match error {
        GuardError::Rejected(message) => SqlError::Database(format!(
            "{CONNECT_FAILED}: {message}, such as 127.0.0.1:5432 in the server's \
                 `exec_internal_hosts` setting"
        )),
        GuardError::Resolve(message) => SqlError::Database(format!("{DNS_FAILED}: {message}")),
    })?;
    Ok(endpoint.pin.then(|| addresses[0].ip()))
}

impl HostState {
    async fn sql_pool(&mut self) -> Result<Pool, SqlError> {
        let target = self.call.database.as_ref().ok_or_else(|| {
            SqlError::Unavailable("this call has no database; bind a SQL resource".into())
        })?;
        self.services
            .sql
            .pool(self.call.workspace_id, target, &self.call.network)
            .await
    }

    async fn run_query(
        &mut self,
        statement: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<TypedRows, SqlError> {
        let pool = self.sql_pool().await?;
        let limits = self.services.sql.limits(options.as_ref());

        let work = async move {
            match &pool {
                Pool::Postgres(target) => target.query(&statement, params, limits).await,
                Pool::MySql(target) => target.query(statement, params, limits).await,
                Pool::Sqlite(pool) => {
                    let mut connection = pool.acquire().await?;
                    let query = bind_all(sqlx::query(&statement), params);
                    let mut rows = collect(query.fetch(&mut *connection), limits).await?;
                    if rows.columns.is_empty() {
                        rows.columns = columns_of((&mut *connection).describe(&statement).await);
                    }
                    Ok(rows)
                }
            }
        };
        // Boxed, the large statement future is not copied again as it moves into the timeout.
        with_timeout(limits.timeout, Box::pin(work)).await
    }

    async fn run_execute(
        &mut self,
        statement: String,
        params: Vec<Value>,
        options: Option<StatementOptions>,
    ) -> Result<u64, SqlError> {
        let pool = self.sql_pool().await?;
        let limits = self.services.sql.limits(options.as_ref());

        let work = async move {
            let affected = match &pool {
                Pool::Postgres(target) => target.execute(&statement, params, limits).await?,
                Pool::MySql(target) => target.execute(statement, params, limits).await?,
                Pool::Sqlite(pool) => bind_all(sqlx::query(&statement), params)
                    .execute(pool)
                    .await?
                    .rows_affected(),
            };
            Ok(affected)
        };
        // Boxed, the large statement future is not copied again as it moves into the timeout.
        with_timeout(limits.timeout, Box::pin(work)).await
    }
}

impl Host for HostState {
    async fn query(&mut self, statement: String, params: Vec<Value>) -> Result<Rows, SqlError> {
        let typed = self.run_query(statement, params, None).await?;
        Ok(Rows {
            columns: typed
                .columns
                .into_iter()
                .map(|column| column.name)
                .collect(),
            rows: typed.rows,
            truncated: typed.truncated,
        })
    }

    async fn execute(&mut self, statement: String, params: Vec<Value>) -> Result<u64, SqlError> {
        self.run_execute(statement, params, None).await
    }

    async fn query_with_options(
        &mut self,
        statement: String,
        params: Vec<Value>,
        options: StatementOptions,
    ) -> Result<TypedRows, SqlError> {
        self.run_query(statement, params, Some(options)).await
    }

    async fn execute_with_options(
        &mut self,
        statement: String,
        params: Vec<Value>,
        options: StatementOptions,
    ) -> Result<u64, SqlError> {
        self.run_execute(statement, params, Some(options)).await
    }
}

/// Returns the columns of a statement that produced no rows, so an empty result still names
/// them. Failing to describe only leaves the list empty.
fn columns_of<DB: Database>(description: Result<sqlx::Describe<DB>, sqlx::Error>) -> Vec<Column> {
    let Ok(description) = description else {
        return Vec::new();
    };
    description
        .columns()
        .iter()
        .map(|column| Column {
            name: column.name().to_string(),
            type_name: column.type_info().name().to_string(),
        })
        .collect()
}

fn bind_all<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>,
    params: Vec<Value>,
) -> sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<String>),
            Value::Boolean(flag) => query.bind(flag),
            Value::Integer(number) => query.bind(number),
            Value::Float(number) => query.bind(number),
            Value::Text(text) => query.bind(text),
            Value::Bytes(bytes) => query.bind(bytes),
        };
    }
    query
}

/// Reads rows until the stream ends or a cap is reached. The first row names the columns.
async fn collect<R, E, S>(mut stream: S, limits: Limits) -> Result<TypedRows, E>
where
    R: DecodeRow,
    S: futures_util::Stream<Item = Result<R, E>> + Unpin,
{
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;

    while let Some(row) = stream.try_next().await? {
        if columns.is_empty() {
            columns = row.column_list();
        }
        if rows.len() >= limits.rows {
            truncated = true;
            break;
        }
        let values: Vec<Value> = (0..row.width())
            .map(|index| {
                let type_name = columns.get(index).map_or("", |c| c.type_name.as_str());
                row.decode_value(index, type_name)
            })
            .collect();
        bytes += values.iter().map(value_size).sum::<usize>();
        if bytes > limits.bytes {
            truncated = true;
            break;
        }
        rows.push(values);
    }
    Ok(TypedRows {
        columns,
        rows,
        truncated,
    })
}

fn value_size(value: &Value) -> usize {
    match value {
        Value::Text(text) => text.len(),
        Value::Bytes(bytes) => bytes.len(),
        _ => 8,
    }
}
