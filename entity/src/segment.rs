//! `segments`: one row per closed recording file.

use sea_orm::entity::prelude::*;

/// A segment row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
pub struct Model {
    /// `seg_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// Path relative to the recordings root (`<camera>/<UTC start>.mp4`); the indexer's key.
    #[sea_orm(unique)]
    pub path: String,
    /// First instant of footage.
    pub start_time: DateTimeUtc,
    /// Last instant (start + probed duration, clamped so segments never overlap).
    pub end_time: DateTimeUtc,
    /// Video codec.
    pub codec: Option<String>,
    /// Frame width.
    pub width: Option<i32>,
    /// Frame height.
    pub height: Option<i32>,
    /// Average frame rate.
    pub fps: Option<f64>,
    /// File size in bytes.
    pub size_bytes: i64,
    /// Readers (exports) holding the file; retention skips it while > 0. Reset at start-up.
    pub read_locks: i32,
    /// Held as evidence: retention never deletes it.
    pub evidence_locked: bool,
    /// Index time.
    pub created_at: DateTimeUtc,
}

/// Relations of `segments`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
