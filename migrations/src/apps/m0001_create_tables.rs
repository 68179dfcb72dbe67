use sea_orm_migration::prelude::*;

use crate::columns::{id, text, time};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Resources {
    Table,
    Id,
    WorkspaceId,
    Name,
    PluginId,
    PluginVersion,
    Config,
    SecretsSet,
    SecretsCiphertext,
    KeyId,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Apps {
    Table,
    Id,
    WorkspaceId,
    Name,
    Document,
    Version,
    Access,
    PublicId,
    LatestRelease,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AppVersions {
    Table,
    Id,
    WorkspaceId,
    AppId,
    Version,
    Name,
    Document,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Actions {
    Table,
    Id,
    WorkspaceId,
    AppId,
    Name,
    ResourceId,
    Operation,
    Input,
    Transformer,
    ParamsSchema,
    TimeoutMs,
    CacheTtlSeconds,
    RequiresConfirmation,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Releases {
    Table,
    Id,
    WorkspaceId,
    AppId,
    Number,
    Name,
    Document,
    Actions,
    SourceVersion,
    RolledBackFrom,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    WorkspaceId,
    ActorUserId,
    ActorApiKeyId,
    Action,
    TargetType,
    TargetId,
    Details,
    ClientAddress,
    CreatedAt,
}

fn optional_id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).uuid().null().to_owned()
}

fn optional_text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}

fn json(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).json_binary().not_null().to_owned()
}

/// Cascades deletes of an app to a child table.
fn app_parent(from: impl IntoTableRef, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from, column)
        .to(Apps::Table, Apps::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Resources::Table)
                    .col(id(Resources::Id).primary_key())
                    .col(id(Resources::WorkspaceId))
                    .col(text(Resources::Name))
                    .col(text(Resources::PluginId))
                    .col(text(Resources::PluginVersion))
                    .col(json(Resources::Config))
                    .col(json(Resources::SecretsSet))
                    .col(optional_text(Resources::SecretsCiphertext))
                    .col(ColumnDef::new(Resources::KeyId).string().null())
                    .col(optional_id(Resources::CreatedBy))
                    .col(time(Resources::CreatedAt))
                    .col(time(Resources::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("resources_by_workspace")
                    .table(Resources::Table)
                    .col(Resources::WorkspaceId)
                    .col(Resources::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("resources_by_key")
                    .table(Resources::Table)
                    .col(Resources::KeyId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Apps::Table)
                    .col(id(Apps::Id).primary_key())
                    .col(id(Apps::WorkspaceId))
                    .col(text(Apps::Name))
                    .col(json(Apps::Document))
                    .col(ColumnDef::new(Apps::Version).big_integer().not_null())
                    .col(json(Apps::Access))
                    .col(optional_id(Apps::PublicId).unique_key())
                    .col(ColumnDef::new(Apps::LatestRelease).integer().null())
                    .col(optional_id(Apps::CreatedBy))
                    .col(time(Apps::CreatedAt))
                    .col(time(Apps::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("apps_by_workspace")
                    .table(Apps::Table)
                    .col(Apps::WorkspaceId)
                    .col(Apps::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AppVersions::Table)
                    .col(id(AppVersions::Id).primary_key())
                    .col(id(AppVersions::WorkspaceId))
                    .col(id(AppVersions::AppId))
                    .col(
                        ColumnDef::new(AppVersions::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(text(AppVersions::Name))
                    .col(json(AppVersions::Document))
                    .col(optional_id(AppVersions::CreatedBy))
                    .col(time(AppVersions::CreatedAt))
                    .foreign_key(&mut app_parent(AppVersions::Table, AppVersions::AppId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("app_versions_by_app")
                    .table(AppVersions::Table)
                    .col(AppVersions::AppId)
                    .col(AppVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Actions::Table)
                    .col(id(Actions::Id).primary_key())
                    .col(id(Actions::WorkspaceId))
                    .col(id(Actions::AppId))
                    .col(text(Actions::Name))
                    .col(id(Actions::ResourceId))
                    .col(text(Actions::Operation))
                    .col(json(Actions::Input))
                    .col(optional_text(Actions::Transformer))
                    .col(ColumnDef::new(Actions::ParamsSchema).json_binary().null())
                    .col(ColumnDef::new(Actions::TimeoutMs).big_integer().not_null())
                    .col(
                        ColumnDef::new(Actions::CacheTtlSeconds)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Actions::RequiresConfirmation)
                            .boolean()
                            .not_null(),
                    )
                    .col(optional_id(Actions::CreatedBy))
                    .col(time(Actions::CreatedAt))
                    .col(time(Actions::UpdatedAt))
                    .foreign_key(&mut app_parent(Actions::Table, Actions::AppId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("actions_by_app_and_name")
                    .table(Actions::Table)
                    .col(Actions::AppId)
                    .col(Actions::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("actions_by_resource")
                    .table(Actions::Table)
                    .col(Actions::WorkspaceId)
                    .col(Actions::ResourceId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Releases::Table)
                    .col(id(Releases::Id).primary_key())
                    .col(id(Releases::WorkspaceId))
                    .col(id(Releases::AppId))
                    .col(ColumnDef::new(Releases::Number).integer().not_null())
                    .col(text(Releases::Name))
                    .col(json(Releases::Document))
                    .col(json(Releases::Actions))
                    .col(
                        ColumnDef::new(Releases::SourceVersion)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Releases::RolledBackFrom).integer().null())
                    .col(optional_id(Releases::CreatedBy))
                    .col(time(Releases::CreatedAt))
                    .foreign_key(&mut app_parent(Releases::Table, Releases::AppId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("releases_by_app")
                    .table(Releases::Table)
                    .col(Releases::AppId)
                    .col(Releases::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(id(AuditEvents::Id).primary_key())
                    .col(id(AuditEvents::WorkspaceId))
                    .col(optional_id(AuditEvents::ActorUserId))
                    .col(optional_id(AuditEvents::ActorApiKeyId))
                    .col(text(AuditEvents::Action))
                    .col(text(AuditEvents::TargetType))
                    .col(id(AuditEvents::TargetId))
                    .col(json(AuditEvents::Details))
                    .col(optional_text(AuditEvents::ClientAddress))
                    .col(time(AuditEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_by_workspace")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::WorkspaceId)
                    .col(AuditEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            Releases::Table.into_iden(),
            Actions::Table.into_iden(),
            AppVersions::Table.into_iden(),
            Apps::Table.into_iden(),
            Resources::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
