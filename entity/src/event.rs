//! `events`: the event log (camera, retention and, later, perception events), in sequence order.

use sea_orm::entity::prelude::*;

/// One event.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    /// Monotonic sequence (the cursor).
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Kind, e.g. `RETENTION_SWEEP`.
    pub kind: String,
    /// info | warning | critical.
    pub severity: crate::vocab::Severity,
    /// Camera concerned.
    pub camera_id: Option<String>,
    /// Zone concerned.
    pub zone_id: Option<String>,
    /// Track concerned.
    pub track_id: Option<String>,
    /// Object label.
    pub label: Option<String>,
    /// Dwell seconds.
    pub dwell_seconds: Option<f64>,
    /// Line-cross direction.
    pub direction: Option<String>,
    /// JSON details.
    pub payload: String,
    /// When it happened.
    pub at: DateTimeUtc,
}

/// Relations of `events`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
