//! Which server instance runs each camera's recorder and samplers, when several share one
//! database: a lease per camera, renewed by its owner and claimable once it lapses.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `camera_owners`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CameraOwners {
    Table,
    CameraId,
    InstanceId,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CameraOwners::Table)
                    .col(string(CameraOwners::CameraId).primary_key())
                    .col(string(CameraOwners::InstanceId))
                    .col(timestamp_with_time_zone(CameraOwners::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CameraOwners::Table, CameraOwners::CameraId)
                            .to(Cameras::Table, Cameras::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CameraOwners::Table).to_owned())
            .await
    }
}
