//! `camera_status`: the recorder's view of each camera.

use sea_orm::entity::prelude::*;

/// A status row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "camera_status")]
pub struct Model {
    /// Camera.
    #[sea_orm(primary_key, auto_increment = false)]
    pub camera_id: String,
    /// connecting | recording | offline | error | disabled.
    pub state: crate::vocab::CameraState,
    /// Last recorder start.
    pub last_started_at: Option<DateTimeUtc>,
    /// End of the newest indexed segment.
    pub last_segment_at: Option<DateTimeUtc>,
    /// Recorder restarts since the server started.
    pub reconnect_count: i32,
    /// Segments indexed.
    pub segments_written: i64,
    /// Frame rate of the newest segment.
    pub fps_observed: Option<f64>,
    /// Bitrate of the newest segment, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Tail of the recorder's last error output.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// Relations of `camera_status`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
