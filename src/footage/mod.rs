//! Recorded footage: segments, coverage, gaps and timelines.

pub mod graphql;
pub mod model;
pub mod store;
