//! `ai_tasks`: what AI workers should run on a camera, and how many frames they want.

use sea_orm::entity::prelude::*;

/// One task.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_tasks")]
pub struct Model {
    /// `ait_…`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// Free-form kind of work (`detect`, `motion`, `anpr`, …).
    pub task_type: String,
    /// `sub` or `main`.
    pub stream_profile: crate::vocab::StreamProfile,
    /// Frames a second wanted, 0.1..30.
    pub fps: f64,
    /// Frame width wanted, 160..3840.
    pub width: i32,
    /// Higher is served first when the frame budget is short.
    pub priority: i32,
    /// Worker settings, a JSON object.
    pub config: String,
    /// Whether workers should run it.
    pub enabled: bool,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of `ai_tasks`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
