//! `recording_gaps`: holes the indexer found between segments, with why when known.

use sea_orm::entity::prelude::*;

/// A recorded gap.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "recording_gaps")]
pub struct Model {
    /// `gap_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// End of the footage before the hole.
    pub gap_start: DateTimeUtc,
    /// Start of the footage after it.
    pub gap_end: DateTimeUtc,
    /// Length in seconds.
    pub seconds: f64,
    /// camera_offline | login_refused | recorder_restart | recording_disabled | disk_full |
    /// pruned | stream_paused | unknown.
    pub reason: crate::vocab::GapReason,
    /// When it was found.
    pub created_at: DateTimeUtc,
}

/// Relations of `recording_gaps`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
