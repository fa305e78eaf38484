//! `detections`: the objects of each ingested batch.

use sea_orm::entity::prelude::*;

/// One detection.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "detections")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Its batch.
    pub outbox_seq: i64,
    /// Camera.
    pub camera_id: String,
    /// Task type.
    pub task_type: String,
    /// Frame capture time.
    pub captured_at: DateTimeUtc,
    /// Label.
    pub label: String,
    /// Confidence 0..1.
    pub confidence: f64,
    /// Box left.
    pub x: f64,
    /// Box top.
    pub y: f64,
    /// Box width.
    pub w: f64,
    /// Box height.
    pub h: f64,
    /// Track id.
    pub track_id: Option<String>,
    /// JSON object (server-owned keys rewritten).
    pub attributes: String,
    /// Stored.
    pub created_at: DateTimeUtc,
}

/// Relations of `detections`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
