//! `review_marks`: which credential holder has reviewed which review item.

use sea_orm::entity::prelude::*;

/// One holder's mark on one item.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "review_marks")]
pub struct Model {
    /// The review item.
    #[sea_orm(primary_key, auto_increment = false)]
    pub item_id: String,
    /// The user (or API key) who reviewed it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub holder_id: String,
    /// When.
    pub reviewed_at: DateTimeUtc,
}

/// Relations of `review_marks`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
