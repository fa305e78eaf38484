//! Heldar's migrations: one module per schema change, append-only.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_identity;
mod m20261124_000002_cameras;
mod m20261124_000003_footage;
mod m20261124_000004_footage_ranges;
mod m20261124_000005_evidence;
mod m20261124_000006_perception;
mod m20261124_000007_ai;
mod m20261124_000008_camera_owners;
mod m20261130_000009_instances;
mod m20261130_000010_integrations;
mod m20261130_000011_watch;
mod m20261201_000012_review_last_seq;
mod m20261201_000013_segment_instance;

/// Applies Heldar's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_identity::Migration),
            Box::new(m20261124_000002_cameras::Migration),
            Box::new(m20261124_000003_footage::Migration),
            Box::new(m20261124_000004_footage_ranges::Migration),
            Box::new(m20261124_000005_evidence::Migration),
            Box::new(m20261124_000006_perception::Migration),
            Box::new(m20261124_000007_ai::Migration),
            Box::new(m20261124_000008_camera_owners::Migration),
            Box::new(m20261130_000009_instances::Migration),
            Box::new(m20261130_000010_integrations::Migration),
            Box::new(m20261130_000011_watch::Migration),
            Box::new(m20261201_000012_review_last_seq::Migration),
            Box::new(m20261201_000013_segment_instance::Migration),
        ]
    }
}
