//! AI tasks (what workers should run on which camera), their leases, and the workers seen.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `ai_tasks`, `ai_leases`, `ai_workers`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AiTasks {
    Table,
    Id,
    CameraId,
    TaskType,
    StreamProfile,
    Fps,
    Width,
    Priority,
    Config,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AiLeases {
    Table,
    TaskId,
    LeaseId,
    Holder,
    WorkerId,
    CameraId,
    AcquiredAt,
    RenewedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AiWorkers {
    Table,
    Holder,
    WorkerId,
    TaskTypes,
    LastSeen,
    LiveUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AiTasks::Table)
                    .col(string(AiTasks::Id).primary_key())
                    .col(string(AiTasks::CameraId))
                    .col(string(AiTasks::TaskType))
                    .col(string(AiTasks::StreamProfile))
                    .col(double(AiTasks::Fps))
                    .col(integer(AiTasks::Width))
                    .col(integer(AiTasks::Priority))
                    .col(text(AiTasks::Config))
                    .col(boolean(AiTasks::Enabled))
                    .col(timestamp_with_time_zone(AiTasks::CreatedAt))
                    .col(timestamp_with_time_zone(AiTasks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiTasks::Table, AiTasks::CameraId)
                            .to(Cameras::Table, Cameras::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_ai_tasks_camera_type_profile")
                    .table(AiTasks::Table)
                    .col(AiTasks::CameraId)
                    .col(AiTasks::TaskType)
                    .col(AiTasks::StreamProfile)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AiLeases::Table)
                    .col(string(AiLeases::TaskId).primary_key())
                    .col(string(AiLeases::LeaseId))
                    .col(string(AiLeases::Holder))
                    .col(string(AiLeases::WorkerId))
                    .col(string(AiLeases::CameraId))
                    .col(timestamp_with_time_zone(AiLeases::AcquiredAt))
                    .col(timestamp_with_time_zone(AiLeases::RenewedAt))
                    .col(timestamp_with_time_zone(AiLeases::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiLeases::Table, AiLeases::TaskId)
                            .to(AiTasks::Table, AiTasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ai_leases_holder_worker")
                    .table(AiLeases::Table)
                    .col(AiLeases::Holder)
                    .col(AiLeases::WorkerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AiWorkers::Table)
                    .col(string(AiWorkers::Holder))
                    .col(string(AiWorkers::WorkerId))
                    .col(text(AiWorkers::TaskTypes))
                    .col(timestamp_with_time_zone(AiWorkers::LastSeen))
                    .col(timestamp_with_time_zone(AiWorkers::LiveUntil))
                    .primary_key(
                        Index::create()
                            .col(AiWorkers::Holder)
                            .col(AiWorkers::WorkerId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AiWorkers::Table.into_iden(),
            AiLeases::Table.into_iden(),
            AiTasks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
