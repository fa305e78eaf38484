//! `instance_leases`: the server instances sharing the database, each alive while its lease
//! is renewed.

use sea_orm::entity::prelude::*;

/// One instance's lease.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instance_leases")]
pub struct Model {
    /// The instance (kept in its data directory, so it survives a restart).
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: String,
    /// The instance counts as gone after this unless it renews.
    pub expires_at: DateTimeUtc,
}

/// Relations of `instance_leases`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
