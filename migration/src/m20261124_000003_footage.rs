//! Segments, recording gaps and camera recorder status.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `segments`, `recording_gaps`, `camera_status`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
    CameraId,
    Path,
    StartMs,
    EndMs,
    Codec,
    Width,
    Height,
    Fps,
    SizeBytes,
    ReadLocks,
    EvidenceLocked,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecordingGaps {
    Table,
    Id,
    CameraId,
    GapStart,
    GapEnd,
    Seconds,
    Reason,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CameraStatus {
    Table,
    CameraId,
    State,
    LastStartedAt,
    LastSegmentAt,
    ReconnectCount,
    SegmentsWritten,
    FpsObserved,
    BitrateKbps,
    LastError,
    UpdatedAt,
}

fn camera_fk(table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Cameras::Table, Cameras::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Segments::Table)
                    .col(string(Segments::Id).primary_key())
                    .col(string(Segments::CameraId))
                    .col(string_uniq(Segments::Path))
                    .col(big_integer(Segments::StartMs))
                    .col(big_integer(Segments::EndMs))
                    .col(string_null(Segments::Codec))
                    .col(integer_null(Segments::Width))
                    .col(integer_null(Segments::Height))
                    .col(double_null(Segments::Fps))
                    .col(big_integer(Segments::SizeBytes))
                    .col(integer(Segments::ReadLocks).default(0))
                    .col(boolean(Segments::EvidenceLocked).default(false))
                    .col(timestamp_with_time_zone(Segments::CreatedAt))
                    .foreign_key(&mut camera_fk(Segments::Table, Segments::CameraId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segments_camera_start")
                    .table(Segments::Table)
                    .col(Segments::CameraId)
                    .col(Segments::StartMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segments_camera_end")
                    .table(Segments::Table)
                    .col(Segments::CameraId)
                    .col(Segments::EndMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecordingGaps::Table)
                    .col(string(RecordingGaps::Id).primary_key())
                    .col(string(RecordingGaps::CameraId))
                    .col(timestamp_with_time_zone(RecordingGaps::GapStart))
                    .col(timestamp_with_time_zone(RecordingGaps::GapEnd))
                    .col(double(RecordingGaps::Seconds))
                    .col(string(RecordingGaps::Reason))
                    .col(timestamp_with_time_zone(RecordingGaps::CreatedAt))
                    .foreign_key(&mut camera_fk(
                        RecordingGaps::Table,
                        RecordingGaps::CameraId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_recording_gaps_camera_start")
                    .table(RecordingGaps::Table)
                    .col(RecordingGaps::CameraId)
                    .col(RecordingGaps::GapStart)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CameraStatus::Table)
                    .col(string(CameraStatus::CameraId).primary_key())
                    .col(string(CameraStatus::State))
                    .col(timestamp_with_time_zone_null(CameraStatus::LastStartedAt))
                    .col(timestamp_with_time_zone_null(CameraStatus::LastSegmentAt))
                    .col(integer(CameraStatus::ReconnectCount).default(0))
                    .col(big_integer(CameraStatus::SegmentsWritten).default(0))
                    .col(double_null(CameraStatus::FpsObserved))
                    .col(double_null(CameraStatus::BitrateKbps))
                    .col(text_null(CameraStatus::LastError))
                    .col(timestamp_with_time_zone(CameraStatus::UpdatedAt))
                    .foreign_key(&mut camera_fk(CameraStatus::Table, CameraStatus::CameraId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CameraStatus::Table.into_iden(),
            RecordingGaps::Table.into_iden(),
            Segments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
