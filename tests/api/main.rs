//! Integration tests: the server driven as a client would, over HTTP and websockets, on SQLite
//! and (with `HELDAR_TEST_DATABASE_URL`) PostgreSQL.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test that cannot go on should fail loudly where it stands"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "tests run short child processes (ffmpeg, node, the server binary) and wait on them synchronously; the server's own code may not"
)]

mod helpers;

mod auth;
mod cameras;
mod claims;
mod cli;
mod console;
mod evidence;
mod footage;
mod frontend;
mod guards;
mod hardening;
mod http_platform;
mod mqtt;
mod node_clients;
mod perception;
mod python_clients;
mod review;
mod schema_file;
mod sse;
mod watch;
mod webhooks;
mod workers;
mod ws_protocol;
