//! Webhooks: the event log pushed to HTTP receivers, signed the Standard Webhooks way, each
//! webhook with a durable cursor, delivered in order with retries, and refused for receivers on
//! private networks unless an operator allows them.

pub mod delivery;
pub mod graphql;
pub mod model;
pub mod sealing;
pub mod store;
