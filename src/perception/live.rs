//! Each ingested batch, live, for front-ends drawing overlays.

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::scalars::Long;

/// One detected object of a live batch.
#[derive(SimpleObject, Clone, Debug)]
pub struct LiveDetection {
    /// What the object is, as the worker named it, e.g. `person`.
    pub label: String,
    /// Detector confidence, 0 to 1.
    pub confidence: f64,
    /// Box left edge as a fraction of the frame width, 0 to 1.
    pub x: f64,
    /// Box top edge as a fraction of the frame height, 0 to 1.
    pub y: f64,
    /// Box width as a fraction of the frame width.
    pub w: f64,
    /// Box height as a fraction of the frame height.
    pub h: f64,
    /// The worker's track id, kept across frames; null when the worker sent none.
    pub track_id: Option<String>,
}

/// One ingested frame's detections.
#[derive(SimpleObject, Clone, Debug)]
pub struct DetectionBatch {
    /// Id of the camera the frame came from.
    pub camera_id: ID,
    /// The batch's position in the ingest outbox, increasing; the `seq` of its `IngestReceipt`.
    pub seq: Long,
    /// The worker's frame id.
    pub frame_id: String,
    /// Task type that produced the detections, as the worker sent it.
    pub task_type: String,
    /// When the frame was captured, as the worker reported it.
    pub captured_at: DateTime<Utc>,
    /// The objects detected in the frame; empty when the worker saw none.
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
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
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
