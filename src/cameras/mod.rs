//! The camera registry.

pub mod graphql;
pub mod model;
pub mod status;
pub mod store;
