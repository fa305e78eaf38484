//! One module per scenario.

pub mod console;
pub mod export;
pub mod footage;
pub mod graphql_vs_raw;
pub mod integrations;
pub mod login;
pub mod perception;
pub mod perception_http;
pub mod token_verify;
pub mod watch;
pub mod workers;
