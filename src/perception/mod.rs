//! Perception ingest: AI workers post each frame's detections; they are validated, stored with
//! their outbox row and handed to the consumers (the zone engine first) in one transaction;
//! batches whose hand-off failed are handed off later by the drain. Live overlays see every
//! batch.

pub mod consumers;
pub mod graphql;
pub mod ingest;
pub mod live;
pub mod model;
pub mod provenance;
pub mod store;

use std::sync::Arc;

/// Ingest's state on this instance.
#[derive(Debug)]
pub struct Perception {
    /// Every ingested batch, for live overlays.
    pub batches: tokio::sync::broadcast::Sender<live::DetectionBatch>,
    /// Consumers of ingested batches, in order.
    pub consumers: Vec<Arc<dyn consumers::DetectionConsumer>>,
    /// SQLite: ingest writers queue here instead of in SQLite's sleeping busy handler.
    pub ingest_gate: tokio::sync::Mutex<()>,
    /// SQLite: batches waiting for the writer, written together by the next one.
    pub ingest_queue: std::sync::Mutex<Vec<ingest::Job>>,
}

impl Default for Perception {
    fn default() -> Self {
        Perception {
            batches: tokio::sync::broadcast::channel(1024).0,
            consumers: vec![Arc::new(crate::zones::consumer::ZoneConsumer)],
            ingest_gate: Default::default(),
            ingest_queue: Default::default(),
        }
    }
}
