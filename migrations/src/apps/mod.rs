//! The apps service's tables.

mod m0001_create_tables;
mod m0002_notify_changes;

use sea_orm_migration::prelude::*;

/// Migrations of the apps service, applied in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_create_tables::Migration),
            Box::new(m0002_notify_changes::Migration),
        ]
    }
}
