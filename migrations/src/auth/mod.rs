//! The auth service's tables.

mod m0001_create_tables;
mod m0002_member_events;
mod m0003_notify_member_changes;

use sea_orm_migration::prelude::*;

/// Migrations of the auth service, applied in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_create_tables::Migration),
            Box::new(m0002_member_events::Migration),
            Box::new(m0003_notify_member_changes::Migration),
        ]
    }
}
