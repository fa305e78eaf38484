//! The event log: every zone event, outage, gap and sweep, with a monotonic sequence, a bus
//! that delivers new events in order (across instances on PostgreSQL), and its GraphQL face.

pub mod bus;
pub mod graphql;
pub mod model;
pub mod store;
