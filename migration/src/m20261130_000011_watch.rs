//! Watching footage: cameras gain a sub stream (and whether to record it); segments gain the
//! stream profile they belong to and the layout playback needs (where the media starts after
//! the init segment, the track's timescale, and the exact media duration in its ticks).
//! Rows indexed before this have NULL layout columns; playback reads the file's boxes once
//! and fills them in.

use sea_orm_migration::prelude::*;

/// Adds `cameras.sub_stream_url`, `cameras.record_sub`, `segments.profile`,
/// `segments.media_offset`, `segments.timescale`, `segments.duration_ticks`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Cameras {
    Table,
    SubStreamUrl,
    RecordSub,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    Profile,
    MediaOffset,
    Timescale,
    DurationTicks,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            (
                Cameras::Table.into_iden(),
                ColumnDef::new(Cameras::SubStreamUrl)
                    .string()
                    .null()
                    .to_owned(),
            ),
            (
                Cameras::Table.into_iden(),
                ColumnDef::new(Cameras::RecordSub)
                    .boolean()
                    .not_null()
                    .default(false)
                    .to_owned(),
            ),
            (
                Segments::Table.into_iden(),
                ColumnDef::new(Segments::Profile)
                    .string_len(8)
                    .not_null()
                    .default("main")
                    .to_owned(),
            ),
            (
                Segments::Table.into_iden(),
                ColumnDef::new(Segments::MediaOffset)
                    .big_integer()
                    .null()
                    .to_owned(),
            ),
            (
                Segments::Table.into_iden(),
                ColumnDef::new(Segments::Timescale)
                    .integer()
                    .null()
                    .to_owned(),
            ),
            (
                Segments::Table.into_iden(),
                ColumnDef::new(Segments::DurationTicks)
                    .big_integer()
                    .null()
                    .to_owned(),
            ),
        ];
        for (table, mut column) in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Segments::Profile,
            Segments::MediaOffset,
            Segments::Timescale,
            Segments::DurationTicks,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Segments::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Cameras::SubStreamUrl, Cameras::RecordSub] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Cameras::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
