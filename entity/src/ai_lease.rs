//! `ai_leases`: which worker holds a task, until when. Expiry is a predicate, not a reaper.

use sea_orm::entity::prelude::*;

/// One task's lease.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ai_leases")]
pub struct Model {
    /// The task leased.
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_id: String,
    /// `ail_…`, shared by the tasks one worker holds.
    pub lease_id: String,
    /// The credential: `apikey:<id>` or `user:<id>`.
    pub holder: String,
    /// The worker of that credential.
    pub worker_id: String,
    /// The task's camera when leased.
    pub camera_id: String,
    /// First acquired.
    pub acquired_at: DateTimeUtc,
    /// Last renewed.
    pub renewed_at: DateTimeUtc,
    /// Lapses at.
    pub expires_at: DateTimeUtc,
}

/// Relations of `ai_leases`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
