//! Recorded footage: recorder, its health monitor, indexer, segments, coverage, gaps and timelines.

pub mod graphql;
pub mod health;
pub mod indexer;
pub mod media;
pub mod model;
pub mod recorder;
pub mod store;
