//! What every scenario shares: the server process, the load loop, clients, statistics and
//! the report.

pub mod client;
pub mod ffmpeg;
pub mod load;
pub mod report;
pub mod server;
pub mod stats;
pub mod ws;
