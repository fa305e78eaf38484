//! SeaORM entities of Heldar: one module per table.

pub mod api_key;
pub mod audit_log;
pub mod camera;
pub mod refresh_token;
pub mod session;
pub mod user;
