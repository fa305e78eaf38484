//! The camera registry.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `cameras`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
    Name,
    StreamUrl,
    Enabled,
    RecordEnabled,
    SegmentSeconds,
    RetentionHours,
    StorageQuotaBytes,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Cameras::Table)
                    .col(string(Cameras::Id).primary_key())
                    .col(string_uniq(Cameras::Name))
                    .col(text(Cameras::StreamUrl))
                    .col(boolean(Cameras::Enabled).default(true))
                    .col(boolean(Cameras::RecordEnabled).default(true))
                    .col(integer(Cameras::SegmentSeconds).default(60))
                    .col(integer(Cameras::RetentionHours).default(24))
                    .col(big_integer_null(Cameras::StorageQuotaBytes))
                    .col(timestamp_with_time_zone(Cameras::CreatedAt))
                    .col(timestamp_with_time_zone(Cameras::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Cameras::Table).to_owned())
            .await
    }
}
