//! On PostgreSQL, a change to a workspace's members sends a notification with the workspace's id
//! on the `trellis_members_changed` channel. Every auth process listens to it and drops the roles
//! it keeps in memory. SQLite has one auth process, which drops them itself, so there the
//! migration does nothing.

use sea_orm_migration::prelude::*;

use crate::notify::Notifier;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NOTIFIER: Notifier = Notifier {
    function: "notify_members_changed",
    channel: "trellis_members_changed",
    tables: &["members"],
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
