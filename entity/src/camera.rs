//! `cameras`: the camera registry.

use sea_orm::entity::prelude::*;

/// A camera row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cameras")]
pub struct Model {
    /// Stable slug (`front_door`), also the recordings directory name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Display name, unique.
    #[sea_orm(unique)]
    pub name: String,
    /// Source URL, credentials included; never sent to clients.
    pub stream_url: String,
    /// A disabled camera is neither recorded nor analysed.
    pub enabled: bool,
    /// Record this camera.
    pub record_enabled: bool,
    /// Segment length in seconds (2..3600).
    pub segment_seconds: i32,
    /// Hours of footage kept.
    pub retention_hours: i32,
    /// Largest footage size for this camera, in bytes; NULL = no quota.
    pub storage_quota_bytes: Option<i64>,
    /// Lower-resolution stream (live view, the AI sampler), credentials included; NULL = none.
    pub sub_stream_url: Option<String>,
    /// Record the sub stream too (beside the main one).
    pub record_sub: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// Relations of `cameras`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
