//! On PostgreSQL, a change to a workspace's resources, apps, actions or releases sends a
//! notification with the workspace's id on the `trellis_apps_changed` channel. Every apps
//! process listens to it and drops the actions it keeps in memory for that workspace. SQLite has
//! one apps process, which drops them itself, so there the migration does nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables whose rows a run loads.
const TABLES: [&str; 4] = ["resources", "apps", "actions", "releases"];

const CREATE_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION notify_apps_changed() RETURNS trigger AS $$
DECLARE
    workspace uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        workspace := OLD.workspace_id;
    ELSE
        workspace := NEW.workspace_id;
    END IF;
    PERFORM pg_notify('trellis_apps_changed', workspace::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        db.execute_unprepared(CREATE_FUNCTION).await?;
        for table in TABLES {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_notify_changed \
                 AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION notify_apps_changed()"
            ))
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
