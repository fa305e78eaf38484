//! Perception: zone geometry and the zone engine that turns tracked detections into
//! enter / exit / dwell / line-cross events. Pure and clock-free: time is passed in, so tests
//! step it. (Ingest, zone storage and the event subscriptions build on this.)

pub mod engine;
pub mod events;
pub mod geometry;
pub mod ingest;
pub mod zones;

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
    /// Consumers of ingested batches, in order.
    pub consumers: Vec<Arc<dyn ingest::DetectionConsumer>>,
}

impl Default for Perception {
    fn default() -> Self {
        Perception {
            events: tokio::sync::broadcast::channel(4096).0,
            write: tokio::sync::Mutex::new(()),
            engine: tokio::sync::Mutex::new(engine::ZoneEngine::default()),
            consumers: vec![Arc::new(ingest::ZoneConsumer)],
        }
    }
}
