//! The server itself: version, clock.

pub mod graphql;
