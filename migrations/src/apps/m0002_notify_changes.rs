//! On PostgreSQL, a change to a workspace's resources, apps, actions or releases sends a
//! notification with the workspace's id on the `trellis_apps_changed` channel. Every apps
//! process listens to it and drops the actions it keeps in memory for that workspace. SQLite has
//! one apps process, which drops them itself, so there the migration does nothing.

use sea_orm_migration::prelude::*;

use crate::notify::Notifier;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NOTIFIER: Notifier = Notifier {
    function: "notify_apps_changed",
    channel: "trellis_apps_changed",
    // The tables whose rows a run loads.
    tables: &["resources", "apps", "actions", "releases"],
};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        NOTIFIER.create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        NOTIFIER.drop(manager).await
    }
}
