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
    /// First instant of footage, milliseconds since the epoch (integers keep range scans cheap).
    pub start_ms: i64,
    /// Last instant (start + probed duration, clamped so segments never overlap), ms since the epoch.
    pub end_ms: i64,
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
    /// Stream profile: `main` (what coverage, exports and snapshots use) or `sub`.
    pub profile: String,
    /// Where the first fragment starts (the init segment's length); NULL until read.
    pub media_offset: Option<i64>,
    /// Ticks per second of the video track; NULL until read.
    pub timescale: Option<i32>,
    /// Exact media duration in `timescale` ticks; NULL until read.
    pub duration_ticks: Option<i64>,
    /// The server instance whose data directory holds the file (null: indexed before this
    /// was recorded; any instance's retention may sweep it).
    pub instance_id: Option<String>,
}

/// Relations of `segments`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// First instant of footage.
    pub fn start(&self) -> DateTimeUtc {
        from_ms(self.start_ms)
    }

    /// Last instant of footage.
    pub fn end(&self) -> DateTimeUtc {
        from_ms(self.end_ms)
    }
}

/// A time from milliseconds since the epoch (the epoch itself if out of range).
pub fn from_ms(ms: i64) -> DateTimeUtc {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
