//! `api_keys`: machine credentials, exchanged for short access tokens.

use sea_orm::entity::prelude::*;

/// An API key row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// `key_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Label.
    pub name: String,
    /// SHA-256 hex of the key.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// First characters of the key, to recognise it.
    pub key_prefix: String,
    /// Role the key acts with.
    pub role: String,
    /// Camera ids the key is limited to; NULL = every camera.
    pub camera_ids: Option<Json>,
    /// The key stops working then.
    pub expires_at: Option<DateTimeUtc>,
    /// Soft revocation: the row stays so audit rows still resolve.
    pub revoked_at: Option<DateTimeUtc>,
    /// Last exchange (debounced).
    pub last_used_at: Option<DateTimeUtc>,
    /// Id of the admin who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
}

/// Relations of `api_keys`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
