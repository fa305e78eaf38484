//! `outbox`: one row per ingested detection batch; the idempotency ledger and the hand-off queue.

use sea_orm::entity::prelude::*;

/// One batch.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// Monotonic sequence.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Camera.
    pub camera_id: String,
    /// The worker's frame id, unique per camera (a repeat is a duplicate).
    pub frame_id: String,
    /// Task type that produced it.
    pub task_type: String,
    /// When the frame was captured.
    pub captured_at: DateTimeUtc,
    /// Detections in the batch.
    pub detection_count: i32,
    /// `apikey:<id>` or `user:<id>`.
    pub produced_by: String,
    /// Ingested.
    pub created_at: DateTimeUtc,
    /// When every consumer had it (null until then: replayed after a crash).
    pub fanned_out_at: Option<DateTimeUtc>,
}

/// Relations of `outbox`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
