//! Evidence: clip and snapshot export, read locks and evidence holds.

pub mod exports;
pub mod graphql;
pub mod locks;
pub mod media;
pub mod model;
pub mod snapshots;
pub mod splice;
pub mod store;
