//! `segment_read_locks`: how many of a segment's read locks each instance holds, so locks of an
//! instance that died can be taken back without touching a live instance's.

use sea_orm::entity::prelude::*;

/// One instance's read locks on one segment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segment_read_locks")]
pub struct Model {
    /// The segment.
    #[sea_orm(primary_key, auto_increment = false)]
    pub segment_id: String,
    /// The instance holding them.
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: String,
    /// Locks held (each also counted in `segments.read_locks`).
    pub count: i32,
}

/// Relations of `segment_read_locks`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
