//! Which server's disk holds each segment's file: instances sharing one database each keep
//! their recordings in their own data directory, and each sweeps only its own (a server whose
//! disk is short must not delete footage that lives on another's).

use sea_orm_migration::prelude::*;

/// Adds `segments.instance_id` (null for segments indexed before it: any instance sweeps those).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    InstanceId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Segments::Table)
                    .add_column(ColumnDef::new(Segments::InstanceId).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Segments::Table)
                    .drop_column(Segments::InstanceId)
                    .to_owned(),
            )
            .await
    }
}
