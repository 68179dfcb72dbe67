//! Triggers that announce changes to other processes on PostgreSQL with `NOTIFY`. SQLite has one
//! process per database, which needs no announcements, so there these migrations do nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// A trigger function and the tables whose row changes run it.
pub(crate) struct Notifier {
    /// Name of the trigger function.
    pub function: &'static str,
    /// Channel that receives the changed row's `workspace_id`.
    pub channel: &'static str,
    pub tables: &'static [&'static str],
}

impl Notifier {
    /// Creates the function and one trigger per table, on PostgreSQL only.
    pub(crate) async fn create(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        db.execute_unprepared(&self.function_statement()).await?;
        for table in self.tables {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {table}_notify_changed \
                 AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {}()",
                self.function
            ))
            .await?;
        }
        Ok(())
    }

    /// Drops the triggers and the function, on PostgreSQL only.
    pub(crate) async fn drop(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();

        for table in self.tables {
            db.execute_unprepared(&format!(
                "DROP TRIGGER IF EXISTS {table}_notify_changed ON {table}"
            ))
            .await?;
        }
        db.execute_unprepared(&format!("DROP FUNCTION IF EXISTS {}()", self.function))
            .await?;
        Ok(())
    }

    fn function_statement(&self) -> String {
        let (function, channel) = (self.function, self.channel);
        format!(
            r#"
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
DECLARE
    workspace uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        workspace := OLD.workspace_id;
    ELSE
        workspace := NEW.workspace_id;
    END IF;
    PERFORM pg_notify('{channel}', workspace::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql"#
        )
    }
}
