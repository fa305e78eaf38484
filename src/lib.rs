//! Heldar GraphQL: the control plane of a video-surveillance recorder, as one GraphQL API.
#![warn(clippy::too_many_lines)]

pub mod ai;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cameras;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod evidence;
pub mod fleet;
pub mod footage;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod mqtt;
pub mod node;
pub mod perception;
pub mod playback;
pub mod retention;
pub mod review;
pub mod schema;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod webhooks;
pub mod worker;
pub mod zones;
