//! The exec service's schema: uploaded connector plugins and their component bytes.

use sea_orm_migration::prelude::*;

/// Migrations of the exec service, applied in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePlugins)]
    }
}

#[derive(DeriveIden)]
enum ExecPlugins {
    Table,
    Id,
    WorkspaceId,
    PluginKey,
    Version,
    Name,
    Description,
    Manifest,
    ContentHash,
    SizeBytes,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExecComponents {
    Table,
    WorkspaceId,
    ContentHash,
    Bytes,
    CreatedAt,
}

struct CreatePlugins;

impl MigrationName for CreatePlugins {
    fn name(&self) -> &str {
        "m20261204_000001_exec_create_plugins"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePlugins {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExecPlugins::Table)
                    .col(
                        ColumnDef::new(ExecPlugins::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ExecPlugins::WorkspaceId).uuid().not_null())
                    .col(
                        ColumnDef::new(ExecPlugins::PluginKey)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExecPlugins::Version)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ExecPlugins::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ExecPlugins::Description).text().not_null())
                    .col(ColumnDef::new(ExecPlugins::Manifest).json().not_null())
                    .col(
                        ColumnDef::new(ExecPlugins::ContentHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExecPlugins::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ExecPlugins::CreatedBy).uuid().null())
                    .col(
                        ColumnDef::new(ExecPlugins::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        // One version of a connector id per workspace.
        manager
            .create_index(
                Index::create()
                    .name("exec_plugins_workspace_key_version")
                    .table(ExecPlugins::Table)
                    .col(ExecPlugins::WorkspaceId)
                    .col(ExecPlugins::PluginKey)
                    .col(ExecPlugins::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ExecComponents::Table)
                    .col(
                        ColumnDef::new(ExecComponents::WorkspaceId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExecComponents::ContentHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ExecComponents::Bytes).blob().not_null())
                    .col(
                        ColumnDef::new(ExecComponents::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ExecComponents::WorkspaceId)
                            .col(ExecComponents::ContentHash),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecComponents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ExecPlugins::Table).to_owned())
            .await
    }
}
