//! Database migrations, one set per service. On PostgreSQL each service's tables live in a
//! schema of the service's name; on SQLite each service has its own database file.

pub mod apps;
pub mod auth;
mod columns;
pub mod exec;
mod notify;

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};

/// Creates the service's schema on PostgreSQL when it is missing; SQLite needs nothing.
pub async fn ensure_schema(db: &DatabaseConnection, schema: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        schema.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "schema names are lowercase letters and underscores"
    );
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await?;
    }
    Ok(())
}
