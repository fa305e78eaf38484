//! Perception: zone geometry and the zone engine that turns tracked detections into
//! enter / exit / dwell / line-cross events. Pure and clock-free: time is passed in, so tests
//! step it. (Ingest, zone storage and the event subscriptions build on this.)

pub mod allocation;
pub mod engine;
pub mod events;
pub mod frames;
pub mod geometry;
pub mod ingest;
pub mod live;
pub mod sampler;
pub mod tickets;
pub mod workers;
pub mod zones;

/// The worker contract's state: the samplers, the ticket key, and when each credential was last
/// warned about unticketed batches.
#[derive(Debug)]
pub struct Ai {
    /// The frame samplers.
    pub samplers: sampler::Samplers,
    /// Signs and checks frame tickets.
    pub tickets: tickets::TicketKey,
    /// Credential → when its last `INGEST_UNTICKETED` warning was logged.
    pub warned: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Ai {
    /// State whose tickets are keyed from the server secret.
    pub fn new(secret: &[u8]) -> Ai {
        Ai {
            samplers: Default::default(),
            tickets: tickets::TicketKey::derive(secret),
            warned: Default::default(),
        }
    }
}

use std::sync::Arc;

/// Perception state shared by ingest, the engine and the subscriptions.
#[derive(Debug)]
pub struct Perception {
    /// Every stored event, in sequence order.
    pub events: tokio::sync::broadcast::Sender<entity::event::Model>,
    /// Serialises event inserts with their broadcast.
    pub write: tokio::sync::Mutex<()>,
    /// The zone engine's state.
    pub engine: tokio::sync::Mutex<engine::ZoneEngine>,
    /// Last occupancy sent per zone.
    pub occupancy: tokio::sync::Mutex<std::collections::HashMap<String, i32>>,
    /// Occupancy changes.
    pub occupancy_changes: tokio::sync::broadcast::Sender<live::ZoneOccupancy>,
    /// Every ingested batch, for live overlays.
    pub batches: tokio::sync::broadcast::Sender<live::DetectionBatch>,
    /// Consumers of ingested batches, in order.
    pub consumers: Vec<Arc<dyn ingest::DetectionConsumer>>,
    /// Copies of each camera's zones.
    pub zones: zones::ZoneCache,
    /// SQLite: ingest writers queue here instead of in SQLite's sleeping busy handler.
    pub ingest_gate: tokio::sync::Mutex<()>,
}

impl Perception {
    /// State with room for `buffer` events per live subscriber.
    pub fn new(buffer: usize) -> Perception {
        Perception {
            events: tokio::sync::broadcast::channel(buffer.max(4)).0,
            write: tokio::sync::Mutex::new(()),
            engine: tokio::sync::Mutex::new(engine::ZoneEngine::default()),
            occupancy: Default::default(),
            occupancy_changes: tokio::sync::broadcast::channel(1024).0,
            batches: tokio::sync::broadcast::channel(1024).0,
            consumers: vec![Arc::new(ingest::ZoneConsumer)],
            zones: Default::default(),
            ingest_gate: tokio::sync::Mutex::new(()),
        }
    }
}
