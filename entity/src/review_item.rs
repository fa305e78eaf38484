//! `review_items`: a camera's zone events grouped into one thing for an operator to review.

use sea_orm::entity::prelude::*;

/// One review item.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "review_items")]
pub struct Model {
    /// `rev_<opening ms, 13 digits>_<first event seq, 12 digits>`: sorts by when it opened.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// `alert` or `detection`.
    pub severity: String,
    /// The first event's time.
    pub started_at: DateTimeUtc,
    /// The last event's time.
    pub ended_at: DateTimeUtc,
    /// The first event's sequence.
    pub first_seq: i64,
    /// The last event's sequence.
    pub last_seq: i64,
    /// Labels seen (JSON list, sorted).
    pub labels: Json,
    /// Zone ids involved (JSON list, sorted).
    pub zone_ids: Json,
    /// The moment to show as its picture: the first event of its highest severity.
    pub thumbnail_at: DateTimeUtc,
    /// Events grouped into it.
    pub event_count: i32,
}

/// Relations of `review_items`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
