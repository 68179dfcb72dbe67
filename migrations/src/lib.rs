//! Database migrations, one module per service schema.

use sea_orm_migration::prelude::*;

pub mod exec;

/// Every service's migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut migrations = Vec::new();
        migrations.extend(exec::migrations());
        migrations
    }
}
