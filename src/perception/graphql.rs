//! `ingestDetections`: the input types and a thin resolver (authorize → parse → ingest → map);
//! and `detections`, the stored detections of a camera as a paged query.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::detection;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::input::text;
use crate::graphql::paging::{Counted, KeyPart, Keyset, Order, PageArgs, paged, time_key};
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

/// One stored detection: an object a worker reported in one frame.
#[derive(SimpleObject)]
pub struct Detection {
    /// The detection's id (`det_<n>`).
    #[graphql(owned)]
    pub id: ID,
    /// Id of the camera the frame came from.
    pub camera_id: ID,
    /// The `seq` of the batch (`IngestReceipt.seq`) that brought it.
    pub batch_seq: Long,
    /// Task type that produced it, as the worker sent it.
    pub task_type: String,
    /// When the frame was captured, as the worker reported it.
    pub captured_at: DateTime<Utc>,
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
    /// The worker's attributes as a JSON object, with the server's `provenance`.
    pub attributes: Json<Value>,
    /// When the server stored it.
    pub stored_at: DateTime<Utc>,
}

impl From<detection::Model> for Detection {
    fn from(m: detection::Model) -> Self {
        Detection {
            id: ID(format!("det_{}", m.id)),
            camera_id: ID(m.camera_id),
            batch_seq: Long(m.outbox_seq),
            task_type: m.task_type,
            captured_at: m.captured_at,
            label: m.label,
            confidence: m.confidence,
            x: m.x,
            y: m.y,
            w: m.w,
            h: m.h,
            track_id: m.track_id,
            attributes: Json(serde_json::from_str(&m.attributes).unwrap_or_default()),
            stored_at: m.created_at,
        }
    }
}

/// Stored detection queries.
#[derive(Default)]
pub struct DetectionsQuery;

#[Object]
impl DetectionsQuery {
    /// A camera's stored detections, newest capture first by default, kept for
    /// `HELDAR_DETECTION_RETENTION_DAYS`. Both bounds are inclusive.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a GraphQL argument; Relay paging alone adds four"
    )]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn detections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(desc = "Captured at or after this instant (any offset).")] from: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "Captured at or before this instant (any offset).")] to: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "Only this label (exact, e.g. `person`).")] label: Option<String>,
        #[graphql(desc = "Only this track id.")] track_id: Option<String>,
        #[graphql(
            desc = "NEWEST_FIRST (the default) or OLDEST_FIRST, by capture time.",
            default_with = "Some(Order::NewestFirst)"
        )]
        order: Option<Order>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<Detection>, AppError> {
        let order = order.unwrap_or(Order::NewestFirst);
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(AppError::bad_input("to", "must not be before `from`"));
        }
        let label = label.map(|l| text("label", &l, 64)).transpose()?;
        let track_id = track_id.map(|t| text("trackId", &t, 128)).transpose()?;
        find_camera(ctx, Capability::EventsRead, &camera_id).await?;
        let mut query =
            detection::Entity::find().filter(detection::Column::CameraId.eq(camera_id.as_str()));
        if let Some(from) = from {
            query = query.filter(detection::Column::CapturedAt.gte(from));
        }
        if let Some(to) = to {
            query = query.filter(detection::Column::CapturedAt.lte(to));
        }
        if let Some(label) = label {
            query = query.filter(detection::Column::Label.eq(label));
        }
        if let Some(track_id) = track_id {
            query = query.filter(detection::Column::TrackId.eq(track_id));
        }
        let keyset = Keyset {
            parts: vec![
                KeyPart::Time(detection::Column::CapturedAt),
                KeyPart::Int(detection::Column::Id),
            ],
            order,
            key_of: |row: &detection::Model| format!("{}|{}", time_key(&row.captured_at), row.id),
        };
        let args = PageArgs::new(first, after, last, before);
        paged(&ctx.state()?.db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(Detection::from(row))
        })
        .await
    }
}
