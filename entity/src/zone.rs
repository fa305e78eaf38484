//! `zones`: regions and tripwires of a camera that the zone engine watches.

use sea_orm::entity::prelude::*;

/// One zone.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "zones")]
pub struct Model {
    /// `zone_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// Name, unique per camera.
    pub name: String,
    /// region | line.
    pub kind: crate::vocab::ZoneKind,
    /// JSON `[[x, y], …]`, normalized 0..1.
    pub points: String,
    /// any | ab | ba (lines).
    pub direction: crate::vocab::LineDirection,
    /// JSON array of labels; empty = all.
    pub labels: String,
    /// Detections below this confidence are invisible to the zone.
    pub min_confidence: f64,
    /// Consecutive observations before membership flips.
    pub confirm_frames: i32,
    /// Seconds inside before a dwell event (0 = none).
    pub dwell_seconds: f64,
    /// info | warning | critical.
    pub severity: crate::vocab::Severity,
    /// Watched by the engine.
    pub enabled: bool,
    /// Motionless objects are suppressed.
    pub static_suppression: bool,
    /// Movement below which an object counts as motionless.
    pub static_epsilon: f64,
    /// Seconds motionless before suppression.
    pub static_after_seconds: f64,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of `zones`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
