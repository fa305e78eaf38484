//! `camera_owners`: the server instance that runs a camera's recorder and samplers.

use sea_orm::entity::prelude::*;

/// One camera's owner.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "camera_owners")]
pub struct Model {
    /// Camera.
    #[sea_orm(primary_key, auto_increment = false)]
    pub camera_id: String,
    /// The owning instance (random per process start).
    pub instance_id: String,
    /// The claim lapses then unless renewed.
    pub expires_at: DateTimeUtc,
}

/// Relations of `camera_owners`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
