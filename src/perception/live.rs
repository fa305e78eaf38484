//! Each ingested batch, live, for front-ends drawing overlays.

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;

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

/// Ingest subscriptions.
#[derive(Default)]
pub struct PerceptionSubscription;

#[Subscription]
impl PerceptionSubscription {
    /// Every batch ingested for the camera, for drawing live overlays.
    async fn detections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Camera.")] camera_id: ID,
    ) -> Result<impl Stream<Item = DetectionBatch> + use<>, AppError> {
        find_camera(ctx, Capability::VideoLive, &camera_id).await?;
        let receiver = ctx.state()?.perception.batches.subscribe();
        Ok(BroadcastStream::new(receiver).filter_map(move |batch| {
            let batch = match batch {
                Ok(batch) => Some(batch).filter(|b| b.camera_id == camera_id),
                // Overlays show the present: a subscriber this far behind skips to it.
                Err(lagged) => {
                    tracing::warn!(error = %lagged, "a detections subscriber fell behind; batches skipped");
                    None
                }
            };
            async move { batch }
        }))
    }
}
