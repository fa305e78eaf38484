//! `footage_ranges`: each camera's continuous footage, kept by the store as segments come and go.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `footage_ranges` and fills it from the segments already indexed.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum FootageRanges {
    Table,
    CameraId,
    StartMs,
    EndMs,
}

/// Segments starting less than 3 s after everything before them ended join one range (the
/// footage model's tolerance); window functions exist on SQLite ≥ 3.25 and PostgreSQL.
const BACKFILL: &str = "INSERT INTO footage_ranges (camera_id, start_ms, end_ms) \
    SELECT camera_id, MIN(start_ms), MAX(end_ms) FROM ( \
      SELECT camera_id, start_ms, end_ms, \
             SUM(brk) OVER (PARTITION BY camera_id ORDER BY start_ms, id ROWS UNBOUNDED PRECEDING) AS island \
      FROM ( \
        SELECT id, camera_id, start_ms, end_ms, \
               CASE WHEN start_ms - MAX(end_ms) OVER (PARTITION BY camera_id ORDER BY start_ms, id \
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) >= 3000 THEN 1 ELSE 0 END AS brk \
        FROM segments) marked) islands \
    GROUP BY camera_id, island";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FootageRanges::Table)
                    .col(string(FootageRanges::CameraId))
                    .col(big_integer(FootageRanges::StartMs))
                    .col(big_integer(FootageRanges::EndMs))
                    .primary_key(
                        Index::create()
                            .col(FootageRanges::CameraId)
                            .col(FootageRanges::StartMs),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FootageRanges::Table, FootageRanges::CameraId)
                            .to(Cameras::Table, Cameras::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_footage_ranges_camera_end")
                    .table(FootageRanges::Table)
                    .col(FootageRanges::CameraId)
                    .col(FootageRanges::EndMs)
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FootageRanges::Table).to_owned())
            .await
    }
}
