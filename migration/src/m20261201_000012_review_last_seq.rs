//! Review items by the newest event they hold: every instance tells its own `reviewItems`
//! subscribers of the items grouped since it last looked, whichever instance grouped them.

use sea_orm_migration::prelude::*;

/// Adds the index `idx_review_items_last_seq`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReviewItems {
    Table,
    LastSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_review_items_last_seq")
                    .table(ReviewItems::Table)
                    .col(ReviewItems::LastSeq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_review_items_last_seq")
                    .table(ReviewItems::Table)
                    .to_owned(),
            )
            .await
    }
}
