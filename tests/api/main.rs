//! Integration tests: the server driven as a client would, over HTTP and websockets, on SQLite
//! and (with `HELDAR_TEST_DATABASE_URL`) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod auth;
mod cameras;
mod claims;
mod cli;
mod evidence;
mod footage;
mod guards;
mod http_platform;
mod node_clients;
mod perception;
mod schema_file;
mod workers;
mod ws_protocol;
