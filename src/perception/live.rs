//! Live feeds for front-ends: zone occupancy and each ingested batch (for overlays).

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::principal::Capability;
use crate::cameras::graphql::find_camera;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::state::AppState;

/// Tracks inside a zone now.
#[derive(SimpleObject, Clone, Debug)]
pub struct ZoneOccupancy {
    /// Camera.
    pub camera_id: ID,
    /// Zone.
    pub zone_id: ID,
    /// Tracks inside (not suppressed, seen within the track TTL).
    pub count: i32,
    /// When it was counted.
    pub at: DateTime<Utc>,
}

/// One detected object of a live batch.
#[derive(SimpleObject, Clone, Debug)]
pub struct LiveDetection {
    /// Label.
    pub label: String,
    /// Confidence.
    pub confidence: f64,
    /// Box left.
    pub x: f64,
    /// Box top.
    pub y: f64,
    /// Box width.
    pub w: f64,
    /// Box height.
    pub h: f64,
    /// Track.
    pub track_id: Option<String>,
}

/// One ingested frame's detections.
#[derive(SimpleObject, Clone, Debug)]
pub struct DetectionBatch {
    /// Camera.
    pub camera_id: ID,
    /// Outbox sequence.
    pub seq: i64,
    /// The worker's frame id.
    pub frame_id: String,
    /// Task type.
    pub task_type: String,
    /// Capture time.
    pub captured_at: DateTime<Utc>,
    /// The objects.
    pub detections: Vec<LiveDetection>,
}

/// Counts the camera's zones (as the batch just processed saw them) and sends the changes.
pub async fn publish_occupancy(
    state: &AppState,
    camera_id: &str,
    zones: &[crate::perception::engine::ZoneSpec],
) {
    let now = state.clock.now();
    // Counted and published under the engine's guard, so two batches of one camera cannot
    // publish their counts in the opposite order and leave a stale one last.
    let engine = state.perception.engine.lock().await;
    let counts: Vec<(String, i32)> = zones
        .iter()
        .map(|z| (z.id.clone(), engine.occupancy(camera_id, &z.id, now) as i32))
        .collect();
    let mut last = state.perception.occupancy.lock().await;
    for (zone_id, count) in counts {
        if last.get(&zone_id).copied().unwrap_or(0) != count {
            last.insert(zone_id.clone(), count);
            let _ = state.perception.occupancy_changes.send(ZoneOccupancy {
                camera_id: ID(camera_id.to_owned()),
                zone_id: ID(zone_id),
                count,
                at: now,
            });
        }
    }
}

/// Live subscriptions.
#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// Tracks inside each enabled zone of the camera now, then every change.
    async fn zone_occupancy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Camera.")] camera_id: ID,
    ) -> Result<impl Stream<Item = ZoneOccupancy> + use<>, AppError> {
        find_camera(ctx, Capability::EventsRead, &camera_id).await?;
        let state = ctx.state()?;
        let receiver = state.perception.occupancy_changes.subscribe();
        let zones = crate::perception::zones::enabled_specs(&state.db, &camera_id).await?;
        let now = state.clock.now();
        let current: Vec<ZoneOccupancy> = {
            let engine = state.perception.engine.lock().await;
            zones
                .iter()
                .map(|z| ZoneOccupancy {
                    camera_id: camera_id.clone(),
                    zone_id: ID(z.id.clone()),
                    count: engine.occupancy(&camera_id, &z.id, now) as i32,
                    at: now,
                })
                .collect()
        };
        let wanted = camera_id.clone();
        let changes = BroadcastStream::new(receiver).filter_map(move |change| {
            let change = change.ok().filter(|c| c.camera_id == wanted);
            async move { change }
        });
        Ok(stream::iter(current).chain(changes))
    }

    /// Every batch ingested for the camera, for drawing live overlays.
    async fn detections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Camera.")] camera_id: ID,
    ) -> Result<impl Stream<Item = DetectionBatch> + use<>, AppError> {
        find_camera(ctx, Capability::VideoLive, &camera_id).await?;
        let receiver = ctx.state()?.perception.batches.subscribe();
        Ok(BroadcastStream::new(receiver).filter_map(move |batch| {
            let batch = batch.ok().filter(|b| b.camera_id == camera_id);
            async move { batch }
        }))
    }
}
