use sea_orm_migration::prelude::*;

use crate::columns::{id, text, time};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MemberEvents {
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MemberEvents::Table)
                    .col(id(MemberEvents::Id).primary_key())
                    .col(id(MemberEvents::WorkspaceId))
                    .col(ColumnDef::new(MemberEvents::ActorUserId).uuid().null())
                    .col(ColumnDef::new(MemberEvents::ActorApiKeyId).uuid().null())
                    .col(text(MemberEvents::Action))
                    .col(text(MemberEvents::TargetType))
                    .col(id(MemberEvents::TargetId))
                    .col(
                        ColumnDef::new(MemberEvents::Details)
                            .json_binary()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MemberEvents::ClientAddress).text().null())
                    .col(time(MemberEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("member_events_by_workspace")
                    .table(MemberEvents::Table)
                    .col(MemberEvents::WorkspaceId)
                    .col(MemberEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MemberEvents::Table).to_owned())
            .await
    }
}
