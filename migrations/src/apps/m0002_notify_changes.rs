//! On PostgreSQL, a change to a workspace's resources, apps, actions or releases sends a
//! notification with the workspace's id on the `trellis_apps_changed` channel. Every apps
//! process listens to it and drops the actions it keeps in memory for that workspace. SQLite has
//! one apps process, which drops them itself, so there the migration does nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::notify::{create_function, create_trigger};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables whose rows a run loads.
const TABLES: [&str; 4] = ["resources", "apps", "actions", "releases"];

const FUNCTION: &str = "notify_apps_changed";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        db.execute_unprepared(&create_function(FUNCTION, "trellis_apps_changed"))
            .await?;
        for table in TABLES {
            db.execute_unprepared(&create_trigger(table, FUNCTION))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        for table in TABLES {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS {table}_notify_changed ON {table}"
            ))
            .await?;
        }
        db.execute_unprepared("DROP FUNCTION IF EXISTS notify_apps_changed()")
            .await?;
        Ok(())
    }
}
