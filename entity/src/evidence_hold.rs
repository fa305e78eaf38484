//! `evidence_holds`: time ranges of a camera that retention must keep.

use sea_orm::entity::prelude::*;

/// One hold; active while `released_at` is null.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "evidence_holds")]
pub struct Model {
    /// `hold_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Camera.
    pub camera_id: String,
    /// Held from, ms since the epoch.
    pub start_ms: i64,
    /// Held until, ms since the epoch.
    pub end_ms: i64,
    /// Incident (case) the hold belongs to.
    pub incident_id: Option<String>,
    /// Why.
    pub note: Option<String>,
    /// Who placed it.
    pub created_by_id: String,
    /// Their name at the time.
    pub created_by_name: String,
    /// Placed.
    pub created_at: DateTimeUtc,
    /// Released (null while active).
    pub released_at: Option<DateTimeUtc>,
    /// Who released it.
    pub released_by_name: Option<String>,
}

/// Relations of `evidence_holds`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
