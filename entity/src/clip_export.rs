//! `clip_exports`: durable clip export jobs.

use sea_orm::entity::prelude::*;

/// One export job and, once READY, its clip.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clip_exports")]
pub struct Model {
    /// `clip_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// queued | running | ready | failed | expired.
    pub status: crate::vocab::ClipStatus,
    /// 0..1.
    pub progress: f64,
    /// Requested start, ms since the epoch.
    pub from_ms: i64,
    /// Requested end, ms since the epoch.
    pub to_ms: i64,
    /// Requested length.
    pub requested_seconds: f64,
    /// Footage inside the window.
    pub covered_seconds: f64,
    /// JSON array of `{from_ms, to_ms}` holes inside the window.
    pub gaps: String,
    /// JSON array of the source segments (id, path, start/end ms, size).
    pub sources: String,
    /// First instant in the output (keyframe-shifted).
    pub actual_from_ms: Option<i64>,
    /// Last instant in the output.
    pub actual_to_ms: Option<i64>,
    /// Clip size.
    pub size_bytes: Option<i64>,
    /// Hex SHA-256 of the clip.
    pub sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Runs started (a restart re-queues a running job once).
    pub attempts: i32,
    /// Requester id.
    pub requested_by_id: String,
    /// Requester name at the time.
    pub requested_by_name: String,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last run started.
    pub started_at: Option<DateTimeUtc>,
    /// Finished (ready or failed).
    pub finished_at: Option<DateTimeUtc>,
    /// When the clip's own retention ends.
    pub expires_at: Option<DateTimeUtc>,
    /// The server instance running it (null unless RUNNING, or from before instances were recorded).
    pub instance_id: Option<String>,
}

/// Relations of `clip_exports`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
