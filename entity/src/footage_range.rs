//! `footage_ranges`: continuous footage per camera, the coalesced union of its segments.

use sea_orm::entity::prelude::*;

/// One continuous range: segments whose seams are under 3 s, joined.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "footage_ranges")]
pub struct Model {
    /// Camera.
    #[sea_orm(primary_key, auto_increment = false)]
    pub camera_id: String,
    /// First instant, ms since the epoch.
    #[sea_orm(primary_key, auto_increment = false)]
    pub start_ms: i64,
    /// Last instant, ms since the epoch.
    pub end_ms: i64,
}

/// Relations of `footage_ranges`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
