//! The exec service's schema: uploaded connector plugins and their component bytes, and the
//! record of every action run.

use sea_orm_migration::prelude::*;

use crate::columns::{id, text, time};

/// Migrations of the exec service, applied in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreatePlugins),
            Box::new(CreateRuns),
            Box::new(CreateInternalHosts),
        ]
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

#[derive(DeriveIden)]
enum ExecRuns {
    Table,
    Id,
    WorkspaceId,
    AppId,
    ActionId,
    ResourceId,
    PluginId,
    Release,
    UserId,
    ApiKeyId,
    Caller,
    Day,
    StartedAt,
    DurationMs,
    Outcome,
    ErrorCode,
    Cached,
    Truncated,
    InputTokens,
    OutputTokens,
    Model,
}

struct CreateRuns;

impl MigrationName for CreateRuns {
    fn name(&self) -> &str {
        "m20261204_000002_exec_create_runs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRuns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExecRuns::Table)
                    .col(id(ExecRuns::Id).primary_key())
                    .col(id(ExecRuns::WorkspaceId))
                    .col(id(ExecRuns::AppId))
                    .col(id(ExecRuns::ActionId))
                    .col(id(ExecRuns::ResourceId))
                    .col(ColumnDef::new(ExecRuns::PluginId).string_len(64).not_null())
                    .col(ColumnDef::new(ExecRuns::Release).integer().null())
                    .col(ColumnDef::new(ExecRuns::UserId).uuid().null())
                    .col(ColumnDef::new(ExecRuns::ApiKeyId).uuid().null())
                    .col(ColumnDef::new(ExecRuns::Caller).string_len(16).not_null())
                    // The UTC date as `YYYY-MM-DD`, so usage groups by day the same way on
                    // every database.
                    .col(ColumnDef::new(ExecRuns::Day).string_len(10).not_null())
                    .col(time(ExecRuns::StartedAt))
                    .col(
                        ColumnDef::new(ExecRuns::DurationMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(ExecRuns::Outcome))
                    .col(ColumnDef::new(ExecRuns::ErrorCode).string().null())
                    .col(ColumnDef::new(ExecRuns::Cached).boolean().not_null())
                    .col(ColumnDef::new(ExecRuns::Truncated).boolean().not_null())
                    .col(ColumnDef::new(ExecRuns::InputTokens).big_integer().null())
                    .col(ColumnDef::new(ExecRuns::OutputTokens).big_integer().null())
                    .col(ColumnDef::new(ExecRuns::Model).string().null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("exec_runs_workspace_started")
                    .table(ExecRuns::Table)
                    .col(ExecRuns::WorkspaceId)
                    .col(ExecRuns::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("exec_runs_workspace_day")
                    .table(ExecRuns::Table)
                    .col(ExecRuns::WorkspaceId)
                    .col(ExecRuns::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecRuns::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ExecInternalHosts {
    Table,
    WorkspaceId,
    Host,
    CreatedBy,
    CreatedAt,
}

/// The internal hosts each workspace's admins allowed its connectors to reach.
struct CreateInternalHosts;

impl MigrationName for CreateInternalHosts {
    fn name(&self) -> &str {
        "m20261205_000001_exec_create_internal_hosts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInternalHosts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExecInternalHosts::Table)
                    .col(id(ExecInternalHosts::WorkspaceId))
                    .col(text(ExecInternalHosts::Host))
                    .col(ColumnDef::new(ExecInternalHosts::CreatedBy).uuid().null())
                    .col(time(ExecInternalHosts::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ExecInternalHosts::WorkspaceId)
                            .col(ExecInternalHosts::Host),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecInternalHosts::Table).to_owned())
            .await
    }
}
