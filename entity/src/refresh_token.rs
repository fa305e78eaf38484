//! `refresh_tokens`: every refresh token a session was given, stored as a SHA-256 hash.

use sea_orm::entity::prelude::*;

/// A refresh token row; `used_at` set means it was rotated, and presenting it again is reuse.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// SHA-256 hex of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The session it refreshes.
    pub session_id: String,
    /// Issue time.
    pub created_at: DateTimeUtc,
    /// When it was exchanged for a new one.
    pub used_at: Option<DateTimeUtc>,
}

/// Relations of `refresh_tokens`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
