//! Recorded footage: recorder, indexer, segments, coverage, gaps and timelines.

pub mod demo;
pub mod graphql;
pub mod indexer;
pub mod model;
pub mod recorder;
pub mod store;
