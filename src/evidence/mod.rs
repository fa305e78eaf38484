//! Evidence: clip and snapshot export, read locks, evidence holds, and retention.

pub mod graphql;
pub mod http;
pub mod jobs;
pub mod locks;
pub mod model;
pub mod retention;
