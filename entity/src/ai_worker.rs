//! `ai_workers`: the workers of each credential and when each last asked for work (sharding).

use sea_orm::entity::prelude::*;

/// One worker of one credential.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_workers")]
pub struct Model {
    /// The credential: `apikey:<id>` or `user:<id>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub holder: String,
    /// The worker's own id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub worker_id: String,
    /// The task types it asks for, sorted, as JSON (`[]`: all); workers share only with
    /// workers asking for the same.
    pub task_types: String,
    /// Last lease call.
    pub last_seen: DateTimeUtc,
    /// Counts as live (in the sharing) until then: its last call plus its lease length.
    pub live_until: DateTimeUtc,
}

/// Relations of `ai_workers`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
