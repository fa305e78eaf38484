//! Zones: regions and tripwires over a camera's picture, their geometry, the engine that turns
//! tracked detections into enter / exit / dwell / line-cross events, and its occupancy.

pub mod consumer;
pub mod engine;
pub mod geometry;
pub mod graphql;
pub mod model;
pub mod store;

/// The zone engine's state on this instance: tracks, occupancy, and copies of the zone table.
#[derive(Debug)]
pub struct Zones {
    /// The engine's tracks and visits.
    pub engine: tokio::sync::Mutex<engine::ZoneEngine>,
    /// Last occupancy sent per zone.
    pub occupancy: tokio::sync::Mutex<std::collections::HashMap<String, i32>>,
    /// Occupancy changes, for `zoneOccupancy`.
    pub occupancy_changes: tokio::sync::broadcast::Sender<consumer::ZoneOccupancy>,
    /// Copies of each camera's zones.
    pub cache: store::ZoneCache,
}

impl Default for Zones {
    fn default() -> Self {
        Zones {
            engine: Default::default(),
            occupancy: Default::default(),
            occupancy_changes: tokio::sync::broadcast::channel(1024).0,
            cache: Default::default(),
        }
    }
}
