//! The camera registry.

pub mod graphql;
pub mod model;
