//! Zones, the detection outbox, detections, and per-consumer hand-off records.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `zones`, `outbox`, `detections`, `consumer_fanout`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Zones {
    Table,
    Id,
    CameraId,
    Name,
    Kind,
    Points,
    Direction,
    Labels,
    MinConfidence,
    ConfirmFrames,
    DwellSeconds,
    Severity,
    Enabled,
    StaticSuppression,
    StaticEpsilon,
    StaticAfterSeconds,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    CameraId,
    FrameId,
    TaskType,
    CapturedAt,
    DetectionCount,
    ProducedBy,
    CreatedAt,
    FannedOutAt,
}

#[derive(DeriveIden)]
enum Detections {
    Table,
    Id,
    OutboxSeq,
    CameraId,
    TaskType,
    CapturedAt,
    Label,
    Confidence,
    X,
    Y,
    W,
    H,
    TrackId,
    Attributes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConsumerFanout {
    Table,
    Consumer,
    OutboxSeq,
    FannedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Zones::Table)
                    .col(string(Zones::Id).primary_key())
                    .col(string(Zones::CameraId))
                    .col(string(Zones::Name))
                    .col(string(Zones::Kind))
                    .col(text(Zones::Points))
                    .col(string(Zones::Direction))
                    .col(text(Zones::Labels))
                    .col(double(Zones::MinConfidence))
                    .col(integer(Zones::ConfirmFrames))
                    .col(double(Zones::DwellSeconds))
                    .col(string(Zones::Severity))
                    .col(boolean(Zones::Enabled))
                    .col(boolean(Zones::StaticSuppression))
                    .col(double(Zones::StaticEpsilon))
                    .col(double(Zones::StaticAfterSeconds))
                    .col(timestamp_with_time_zone(Zones::CreatedAt))
                    .col(timestamp_with_time_zone(Zones::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Zones::Table, Zones::CameraId)
                            .to(Cameras::Table, Cameras::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_zones_camera_name")
                    .table(Zones::Table)
                    .col(Zones::CameraId)
                    .col(Zones::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_integer(Outbox::Seq).auto_increment().primary_key())
                    .col(string(Outbox::CameraId))
                    .col(string(Outbox::FrameId))
                    .col(string(Outbox::TaskType))
                    .col(timestamp_with_time_zone(Outbox::CapturedAt))
                    .col(integer(Outbox::DetectionCount))
                    .col(string(Outbox::ProducedBy))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::FannedOutAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_outbox_camera_frame")
                    .table(Outbox::Table)
                    .col(Outbox::CameraId)
                    .col(Outbox::FrameId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_fanned_out")
                    .table(Outbox::Table)
                    .col(Outbox::FannedOutAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Detections::Table)
                    .col(big_integer(Detections::Id).auto_increment().primary_key())
                    .col(big_integer(Detections::OutboxSeq))
                    .col(string(Detections::CameraId))
                    .col(string(Detections::TaskType))
                    .col(timestamp_with_time_zone(Detections::CapturedAt))
                    .col(string(Detections::Label))
                    .col(double(Detections::Confidence))
                    .col(double(Detections::X))
                    .col(double(Detections::Y))
                    .col(double(Detections::W))
                    .col(double(Detections::H))
                    .col(string_null(Detections::TrackId))
                    .col(text(Detections::Attributes))
                    .col(timestamp_with_time_zone(Detections::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_detections_camera_captured")
                    .table(Detections::Table)
                    .col(Detections::CameraId)
                    .col(Detections::CapturedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConsumerFanout::Table)
                    .col(string(ConsumerFanout::Consumer))
                    .col(big_integer(ConsumerFanout::OutboxSeq))
                    .col(timestamp_with_time_zone(ConsumerFanout::FannedAt))
                    .primary_key(
                        Index::create()
                            .col(ConsumerFanout::Consumer)
                            .col(ConsumerFanout::OutboxSeq),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConsumerFanout::Table.into_iden(),
            Detections::Table.into_iden(),
            Outbox::Table.into_iden(),
            Zones::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
