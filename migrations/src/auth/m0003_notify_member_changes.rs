//! On PostgreSQL, a change to a workspace's members sends a notification with the workspace's id
//! on the `trellis_members_changed` channel. Every auth process listens to it and drops the roles
//! it keeps in memory. SQLite has one auth process, which drops them itself, so there the
//! migration does nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

use crate::notify::{create_function, create_trigger};

#[derive(DeriveMigrationName)]
pub struct Migration;

const FUNCTION: &str = "notify_members_changed";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        db.execute_unprepared(&create_function(FUNCTION, "trellis_members_changed"))
            .await?;
        db.execute_unprepared(&create_trigger("members", FUNCTION))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        db.execute_unprepared("DROP TRIGGER IF EXISTS members_notify_changed ON members")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS notify_members_changed()")
            .await?;
        Ok(())
    }
}
