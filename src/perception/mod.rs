//! Perception: zone geometry and the zone engine that turns tracked detections into
//! enter / exit / dwell / line-cross events. Pure and clock-free: time is passed in, so tests
//! step it. (Ingest, zone storage and the event subscriptions build on this.)

pub mod engine;
pub mod geometry;
