//! Heldar's migrations: one module per schema change, append-only.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_identity;

/// Applies Heldar's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_000001_identity::Migration)]
    }
}
