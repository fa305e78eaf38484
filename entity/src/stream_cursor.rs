//! `stream_cursors`: how far a server-side reader of the event log (the review grouper, the MQTT
//! publisher) has got, so a restart resumes where it stopped.

use sea_orm::entity::prelude::*;

/// One reader's position.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_cursors")]
pub struct Model {
    /// The reader, e.g. `review` or `mqtt`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The last event sequence it finished.
    pub seq: i64,
}

/// Relations of `stream_cursors`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
