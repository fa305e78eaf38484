//! `webhook_deliveries`: every attempt to deliver an event to a webhook.

use sea_orm::entity::prelude::*;

/// One attempt.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// Monotonic id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The webhook.
    pub webhook_id: String,
    /// The event delivered.
    pub event_seq: i64,
    /// 1 for the first attempt at this event, then 2, 3, ...
    pub attempt: i32,
    /// The HTTP status answered (null when no answer came).
    pub status: Option<i32>,
    /// Whether the receiver took it (a 2xx).
    pub ok: bool,
    /// Milliseconds from sending to the answer (or the failure).
    pub latency_ms: i32,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The start of the answer's body.
    pub response_prefix: Option<String>,
    /// A redelivery asked for by an operator.
    pub redelivery: bool,
    /// When the attempt was made.
    pub at: DateTimeUtc,
}

/// Relations of `webhook_deliveries`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
