//! Heldar GraphQL: the control plane of a video-surveillance recorder, as one GraphQL API.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cameras;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod evidence;
pub mod footage;
pub mod graphql;
pub mod http;
pub mod perception;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod worker;
