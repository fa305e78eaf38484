//! `audit_log`: append-only record of every change and sign-in.

use sea_orm::entity::prelude::*;

/// An audit row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Monotonic sequence; the cursor.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// User id, key id or `system`.
    pub actor_id: String,
    /// Username or key name at the time.
    pub actor_name: String,
    /// user | api_key | system | anonymous.
    pub actor_kind: String,
    /// Role at the time.
    pub role: Option<String>,
    /// What happened (`login`, `create_user`, …).
    pub action: String,
    /// Kind of the thing acted on.
    pub target_type: Option<String>,
    /// Id of the thing acted on.
    pub target_id: Option<String>,
    /// Camera concerned, for scoped readers.
    pub camera_id: Option<String>,
    /// Details (JSON object).
    pub detail: Json,
    /// When.
    pub created_at: DateTimeUtc,
}

/// Relations of `audit_log`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
