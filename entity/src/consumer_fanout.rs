//! `consumer_fanout`: a consumer has handled a batch (so it runs at most once per batch).

use sea_orm::entity::prelude::*;

/// One hand-off.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consumer_fanout")]
pub struct Model {
    /// Consumer name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub consumer: String,
    /// Batch.
    #[sea_orm(primary_key, auto_increment = false)]
    pub outbox_seq: i64,
    /// When.
    pub fanned_at: DateTimeUtc,
}

/// Relations of `consumer_fanout`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
