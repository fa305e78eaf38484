//! `sessions`: a sign-in, kept alive by rotating refresh tokens.

use sea_orm::entity::prelude::*;

/// A session row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// `ses_<uuid>`; the `sid` claim of its access tokens.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Sign-in time.
    pub created_at: DateTimeUtc,
    /// Last refresh.
    pub last_used_at: DateTimeUtc,
    /// Expires unless refreshed before then.
    pub idle_expires_at: DateTimeUtc,
    /// Expires then whatever happens.
    pub absolute_expires_at: DateTimeUtc,
    /// Set by logout, refresh-token reuse, password change or deactivation.
    pub revoked_at: Option<DateTimeUtc>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
}

/// Relations of `sessions`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
