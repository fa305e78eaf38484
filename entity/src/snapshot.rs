//! `snapshots`: JPEG frames exported from recorded footage.

use sea_orm::entity::prelude::*;

/// One exported frame.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "snapshots")]
pub struct Model {
    /// `snap_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// Requested instant, ms since the epoch.
    pub at_ms: i64,
    /// Segment the frame came from.
    pub segment_id: String,
    /// JPEG size.
    pub size_bytes: i64,
    /// Hex SHA-256 of the JPEG.
    pub sha256: String,
    /// Requester id.
    pub requested_by_id: String,
    /// Requester name at the time.
    pub requested_by_name: String,
    /// Created.
    pub created_at: DateTimeUtc,
    /// When retention removes it.
    pub expires_at: DateTimeUtc,
}

/// Relations of `snapshots`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
