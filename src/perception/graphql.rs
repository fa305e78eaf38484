//! `ingestDetections`: the input types and a thin resolver (authorize → parse → ingest → map).

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::scalars::Long;
use crate::perception::{ingest, model};
use crate::zones::geometry::BBox;

/// A detection box in normalized coordinates.
#[derive(InputObject, Clone, Copy)]
pub struct BoxInput {
    /// Left edge as a fraction of the frame width, 0 to 1.
    pub x: f64,
    /// Top edge as a fraction of the frame height, 0 to 1.
    pub y: f64,
    /// Width, over 0; x + w at most 1.
    pub w: f64,
    /// Height, over 0; y + h at most 1.
    pub h: f64,
}

/// One detected object.
#[derive(InputObject)]
pub struct DetectionInput {
    /// Label, 1 to 64 characters.
    pub label: String,
    /// Detector confidence, 0 to 1.
    pub confidence: f64,
    /// Bounding box in normalized frame coordinates.
    pub bbox: BoxInput,
    /// The worker's track id, kept across frames (up to 128 characters).
    pub track_id: Option<String>,
    /// A JSON object of up to 4 KB; `provenance` is the server's and is overwritten.
    pub attributes: Option<Json<Value>>,
}

/// One frame's detections.
#[derive(InputObject)]
pub struct DetectionBatchInput {
    /// Id of the camera the frame came from; the credential needs `ai:ingest` on it.
    pub camera_id: ID,
    /// Task type that produced them, 1 to 64 characters.
    pub task_type: String,
    /// The frame's id, unique per camera (1 to 128 characters): a repeat is a duplicate.
    pub frame_id: String,
    /// When the frame was captured (at most 5 minutes in the future).
    pub captured_at: DateTime<Utc>,
    /// The objects detected, at most 1000; an empty list reports an empty scene.
    pub detections: Vec<DetectionInput>,
    /// The `x-frame-ticket` of the frame pull these detections come from. With a ticket, `frameId` and `capturedAt` must be the pull's `x-frame-id` and `x-frame-captured-at`.
    pub frame_ticket: Option<String>,
}

/// What `ingestDetections` did with the batch.
#[derive(SimpleObject)]
pub struct IngestReceipt {
    /// The batch's sequence in the outbox.
    pub seq: Option<Long>,
    /// True when this camera already had this frame id: nothing was changed.
    pub duplicate: bool,
    /// Detections stored from the batch; 0 for a duplicate.
    pub accepted: i32,
    /// Zone events the batch produced.
    pub events: i32,
    /// Whether a valid frame ticket vouched for the batch.
    pub ticketed: bool,
}

/// Ingest mutations.
#[derive(Default)]
pub struct IngestMutation;

#[Object]
impl IngestMutation {
    /// Stores one frame's detections (for `ai:ingest` credentials scoped to the camera) and runs the zone engine on them.
    async fn ingest_detections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The frame and its detections.")] input: DetectionBatchInput,
    ) -> Result<IngestReceipt, AppError> {
        let principal = ctx.require_camera(Capability::AiIngest, &input.camera_id)?;
        let state = ctx.state()?;
        let frame_ticket = input.frame_ticket.clone();
        let batch = model::parse(input.into(), state.clock.now())?;
        let camera = find_camera(ctx, Capability::AiIngest, &batch.get().camera_id).await?;
        let receipt =
            ingest::ingest(state, principal, &camera, batch, frame_ticket.as_deref()).await?;
        Ok(IngestReceipt {
            seq: receipt.seq.map(Long),
            duplicate: receipt.duplicate,
            accepted: receipt.accepted as i32,
            events: receipt.events as i32,
            ticketed: receipt.ticketed,
        })
    }
}

impl From<DetectionBatchInput> for model::Batch {
    fn from(input: DetectionBatchInput) -> Self {
        model::Batch {
            camera_id: input.camera_id.0,
            task_type: input.task_type,
            frame_id: input.frame_id,
            captured_at: input.captured_at,
            detections: input
                .detections
                .into_iter()
                .map(|d| model::Detection {
                    label: d.label,
                    confidence: d.confidence,
                    bbox: BBox {
                        x: d.bbox.x,
                        y: d.bbox.y,
                        w: d.bbox.w,
                        h: d.bbox.h,
                    },
                    track_id: d.track_id,
                    attributes: d.attributes.map(|a| a.0),
                })
                .collect(),
        }
    }
}
