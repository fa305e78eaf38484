//! Server instances sharing one database: each renews a lease, and what it holds (segment read
//! locks, running exports) carries its id, so a restarting instance recovers only its own and
//! those of instances whose lease lapsed, never a live neighbour's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `instance_leases` and `segment_read_locks`; adds `clip_exports.instance_id`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InstanceLeases {
    Table,
    InstanceId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SegmentReadLocks {
    Table,
    SegmentId,
    InstanceId,
    Count,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ClipExports {
    Table,
    InstanceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(InstanceLeases::Table)
                    .col(string(InstanceLeases::InstanceId).primary_key())
                    .col(timestamp_with_time_zone(InstanceLeases::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SegmentReadLocks::Table)
                    .col(string(SegmentReadLocks::SegmentId))
                    .col(string(SegmentReadLocks::InstanceId))
                    .col(integer(SegmentReadLocks::Count))
                    .primary_key(
                        Index::create()
                            .col(SegmentReadLocks::SegmentId)
                            .col(SegmentReadLocks::InstanceId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SegmentReadLocks::Table, SegmentReadLocks::SegmentId)
                            .to(Segments::Table, Segments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_segment_read_locks_instance")
                    .table(SegmentReadLocks::Table)
                    .col(SegmentReadLocks::InstanceId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ClipExports::Table)
                    .add_column(string_null(ClipExports::InstanceId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClipExports::Table)
                    .drop_column(ClipExports::InstanceId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(SegmentReadLocks::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(InstanceLeases::Table).to_owned())
            .await
    }
}
