//! Retention: which recordings go, in the reference's phases, and the sweep that deletes them
//! without ever touching held or read-locked footage.

pub mod graphql;
pub mod plan;
pub mod sweep;
