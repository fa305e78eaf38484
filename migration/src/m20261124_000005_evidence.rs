//! Clip exports, snapshots, evidence holds, and the event log (retention writes the first rows).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `clip_exports`, `snapshots`, `evidence_holds`, `events`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClipExports {
    Table,
    Id,
    CameraId,
    Status,
    Progress,
    FromMs,
    ToMs,
    RequestedSeconds,
    CoveredSeconds,
    Gaps,
    Sources,
    ActualFromMs,
    ActualToMs,
    SizeBytes,
    Sha256,
    Error,
    Attempts,
    RequestedById,
    RequestedByName,
    CreatedAt,
    StartedAt,
    FinishedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Snapshots {
    Table,
    Id,
    CameraId,
    AtMs,
    SegmentId,
    SizeBytes,
    Sha256,
    RequestedById,
    RequestedByName,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum EvidenceHolds {
    Table,
    Id,
    CameraId,
    StartMs,
    EndMs,
    IncidentId,
    Note,
    CreatedById,
    CreatedByName,
    CreatedAt,
    ReleasedAt,
    ReleasedByName,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    Kind,
    Severity,
    CameraId,
    ZoneId,
    TrackId,
    Label,
    DwellSeconds,
    Direction,
    Payload,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClipExports::Table)
                    .col(string(ClipExports::Id).primary_key())
                    .col(string(ClipExports::CameraId))
                    .col(string(ClipExports::Status))
                    .col(double(ClipExports::Progress).default(0.0))
                    .col(big_integer(ClipExports::FromMs))
                    .col(big_integer(ClipExports::ToMs))
                    .col(double(ClipExports::RequestedSeconds))
                    .col(double(ClipExports::CoveredSeconds))
                    .col(text(ClipExports::Gaps))
                    .col(text(ClipExports::Sources))
                    .col(big_integer_null(ClipExports::ActualFromMs))
                    .col(big_integer_null(ClipExports::ActualToMs))
                    .col(big_integer_null(ClipExports::SizeBytes))
                    .col(string_null(ClipExports::Sha256))
                    .col(text_null(ClipExports::Error))
                    .col(integer(ClipExports::Attempts).default(0))
                    .col(string(ClipExports::RequestedById))
                    .col(string(ClipExports::RequestedByName))
                    .col(timestamp_with_time_zone(ClipExports::CreatedAt))
                    .col(timestamp_with_time_zone_null(ClipExports::StartedAt))
                    .col(timestamp_with_time_zone_null(ClipExports::FinishedAt))
                    .col(timestamp_with_time_zone_null(ClipExports::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_clip_exports_status")
                    .table(ClipExports::Table)
                    .col(ClipExports::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Snapshots::Table)
                    .col(string(Snapshots::Id).primary_key())
                    .col(string(Snapshots::CameraId))
                    .col(big_integer(Snapshots::AtMs))
                    .col(string(Snapshots::SegmentId))
                    .col(big_integer(Snapshots::SizeBytes))
                    .col(string(Snapshots::Sha256))
                    .col(string(Snapshots::RequestedById))
                    .col(string(Snapshots::RequestedByName))
                    .col(timestamp_with_time_zone(Snapshots::CreatedAt))
                    .col(timestamp_with_time_zone(Snapshots::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EvidenceHolds::Table)
                    .col(string(EvidenceHolds::Id).primary_key())
                    .col(string(EvidenceHolds::CameraId))
                    .col(big_integer(EvidenceHolds::StartMs))
                    .col(big_integer(EvidenceHolds::EndMs))
                    .col(string_null(EvidenceHolds::IncidentId))
                    .col(text_null(EvidenceHolds::Note))
                    .col(string(EvidenceHolds::CreatedById))
                    .col(string(EvidenceHolds::CreatedByName))
                    .col(timestamp_with_time_zone(EvidenceHolds::CreatedAt))
                    .col(timestamp_with_time_zone_null(EvidenceHolds::ReleasedAt))
                    .col(string_null(EvidenceHolds::ReleasedByName))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_evidence_holds_camera")
                    .table(EvidenceHolds::Table)
                    .col(EvidenceHolds::CameraId)
                    .col(EvidenceHolds::StartMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_integer(Events::Seq).auto_increment().primary_key())
                    .col(string(Events::Kind))
                    .col(string(Events::Severity))
                    .col(string_null(Events::CameraId))
                    .col(string_null(Events::ZoneId))
                    .col(string_null(Events::TrackId))
                    .col(string_null(Events::Label))
                    .col(double_null(Events::DwellSeconds))
                    .col(string_null(Events::Direction))
                    .col(text(Events::Payload))
                    .col(timestamp_with_time_zone(Events::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_events_at")
                    .table(Events::Table)
                    .col(Events::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Events::Table.into_iden(),
            EvidenceHolds::Table.into_iden(),
            Snapshots::Table.into_iden(),
            ClipExports::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
