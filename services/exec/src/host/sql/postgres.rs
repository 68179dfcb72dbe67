//! PostgreSQL connections of the `sql` import, pooled with deadpool.
//!
//! sqlx's own pool pings every connection as it goes back to the pool, which costs a round
//! trip to the server after every statement. Here a connection goes back as it is when its
//! statement finished, and one whose statement did not finish (an I/O error, a cancelled call,
//! a result cut short) is closed instead of reused.

use std::time::Duration;

use deadpool::managed::{self, Metrics, PoolError, RecycleError, RecycleResult, Timeouts};
use deadpool::Runtime;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection as _, Executor as _};

use super::errors::CONNECT_FAILED;
use super::{bind_all, collect, columns_of, set_postgres_timeout, Limits, PING_AFTER_IDLE};
use crate::runtime_bindings::sql::{SqlError, TypedRows, Value};

/// Maximum wait for a free connection or a new one.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of connections to one PostgreSQL database.
#[derive(Clone)]
pub(super) struct PgTarget {
    pool: managed::Pool<Manager>,
}

/// A pooled connection. `clean` is false from checkout until its statement has finished, so a
/// connection left behind by a cancelled call is never handed out again.
struct Session {
    connection: PgConnection,
    clean: bool,
}

struct Manager {
    options: PgConnectOptions,
    statement_timeout: Duration,
}

impl managed::Manager for Manager {
    type Type = Session;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Session, sqlx::Error> {
        let mut connection = PgConnection::connect_with(&self.options).await?;
        set_postgres_timeout(&mut connection, self.statement_timeout).await?;
        Ok(Session {
            connection,
            clean: true,
        })
    }

    /// Runs when a pooled connection is handed out again. One idle for a while is pinged, so a
    /// connection that the server closed is replaced rather than failing the statement.
    async fn recycle(
        &self,
        session: &mut Session,
        metrics: &Metrics,
    ) -> RecycleResult<sqlx::Error> {
        if !session.clean {
            return Err(RecycleError::message("its last statement did not finish"));
        }
        if metrics.last_used() > PING_AFTER_IDLE {
            session.connection.ping().await?;
        }
        Ok(())
    }
}

impl PgTarget {
    /// Creates an empty pool; connections open on first use.
    pub(super) fn new(
        options: PgConnectOptions,
        statement_timeout: Duration,
        max_connections: u32,
    ) -> Self {
        let manager = Manager {
            options,
            statement_timeout,
        };
        let pool = managed::Pool::builder(manager)
            .max_size(max_connections.max(1) as usize)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(ACQUIRE_TIMEOUT),
                create: Some(ACQUIRE_TIMEOUT),
                recycle: Some(ACQUIRE_TIMEOUT),
            })
            .build()
            .expect("a pool with a runtime and a size builds");
        PgTarget { pool }
    }

    /// Runs a statement that returns rows, up to the row and byte caps.
    pub(super) async fn query(
        &self,
        statement: &str,
        params: Vec<Value>,
        limits: Limits,
    ) -> Result<TypedRows, SqlError> {
        let mut checkout = self.acquire(limits).await?;

        let query = bind_all(sqlx::query(statement), params);
        let collected = collect(query.fetch(&mut checkout.session.connection), limits).await;
        let mut rows = checkout.settle(collected)?;

        if rows.columns.is_empty() {
            let description = checkout.session.connection.describe(statement).await;
            rows.columns = columns_of(description);
        }
        // A result cut short was not read to the end, so its connection is not reused; the
        // server stops sending once it is closed.
        checkout.release(!rows.truncated);
        Ok(rows)
    }

    /// Runs a statement and returns the number of rows it changed.
    pub(super) async fn execute(
        &self,
        statement: &str,
        params: Vec<Value>,
        limits: Limits,
    ) -> Result<u64, SqlError> {
        let mut checkout = self.acquire(limits).await?;

        let query = bind_all(sqlx::query(statement), params);
        let done = query.execute(&mut checkout.session.connection).await;
        let done = checkout.settle(done)?;

        checkout.release(true);
        Ok(done.rows_affected())
    }

    /// Checks out a connection, opening one when none is idle, and applies a statement
    /// timeout shorter than the pool's.
    async fn acquire(&self, limits: Limits) -> Result<Checkout, SqlError> {
        let mut session = self.pool.get().await.map_err(pool_error)?;
        session.clean = false;
        let mut checkout = Checkout {
            session,
            custom_timeout: limits.custom_timeout,
        };
        if limits.custom_timeout {
            let set = set_postgres_timeout(&mut checkout.session.connection, limits.timeout).await;
            checkout.settle(set)?;
        }
        Ok(checkout)
    }
}

/// A connection checked out for one statement. Dropped before `release`, as when the call is
/// cancelled, it stays marked unclean and is closed when next handed out.
struct Checkout {
    session: managed::Object<Manager>,
    /// The session carries a statement timeout of its own, so it is closed after use.
    custom_timeout: bool,
}

impl Checkout {
    /// Passes a statement's result on. After an error the server reported, the connection is
    /// ready for the next statement; after any other, its state is unknown and it stays unclean.
    fn settle<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, SqlError> {
        result.map_err(|error| {
            if matches!(error, sqlx::Error::Database(_)) && !self.custom_timeout {
                self.session.clean = true;
            }
            SqlError::from(error)
        })
    }

    /// Returns the connection to the pool when `reusable`, or closes it.
    fn release(mut self, reusable: bool) {
        if reusable && !self.custom_timeout {
            self.session.clean = true;
        } else {
            drop(managed::Object::take(self.session));
        }
    }
}

fn pool_error(error: PoolError<sqlx::Error>) -> SqlError {
    match error {
        PoolError::Backend(error) => SqlError::from(error),
        PoolError::Timeout(_) => SqlError::from(sqlx::Error::PoolTimedOut),
        PoolError::Closed | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            SqlError::Database(format!(
                "{CONNECT_FAILED}: the connection pool is unavailable"
            ))
        }
    }
}
