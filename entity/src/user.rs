//! `users`: people who sign in with a password.

use sea_orm::entity::prelude::*;

/// A user row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// `usr_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Unique login name (trimmed).
    #[sea_orm(unique)]
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// admin | manager | guard | viewer | integration.
    pub role: String,
    /// Name shown in the UI.
    pub display_name: Option<String>,
    /// Camera ids the user is limited to; NULL = every camera.
    pub camera_ids: Option<Json>,
    /// Inactive users cannot sign in and their tokens stop working.
    pub active: bool,
    /// Consecutive failed logins.
    pub failed_login_count: i32,
    /// Logins are refused until then.
    pub locked_until: Option<DateTimeUtc>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// Relations of `users`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Sessions of the user.
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
