//! SeaORM entities of Heldar: one module per table.

pub mod ai_lease;
pub mod ai_task;
pub mod ai_worker;
pub mod api_key;
pub mod audit_log;
pub mod camera;
pub mod camera_owner;
pub mod camera_status;
pub mod clip_export;
pub mod consumer_fanout;
pub mod detection;
pub mod event;
pub mod evidence_hold;
pub mod footage_range;
pub mod instance_lease;
pub mod outbox;
pub mod recording_gap;
pub mod refresh_token;
pub mod segment;
pub mod segment_read_lock;
pub mod session;
pub mod snapshot;
pub mod user;
pub mod vocab;
pub mod zone;
