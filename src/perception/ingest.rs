//! `ingestDetections`: validation before any write, one transaction for the outbox row and the
//! detections, then the consumers (the zone engine first), each at most once per batch. A batch
//! whose hand-off did not finish is replayed at start-up.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{consumer_fanout, detection, event, outbox};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::{Value, json};

use crate::auth::principal::Capability;
use crate::cameras::graphql::find_camera;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::input::{in_range, text};
use crate::perception::engine::{Observation, ZoneEventKind};
use crate::perception::geometry::BBox;
use crate::state::AppState;

/// Most detections in one batch.
pub const MAX_DETECTIONS: usize = 1000;
/// Largest `attributes` object, serialized.
pub const MAX_ATTRIBUTES_BYTES: usize = 4096;

/// A detection box in normalized coordinates.
#[derive(InputObject, Clone, Copy)]
pub struct BoxInput {
    /// Left, 0..1.
    pub x: f64,
    /// Top, 0..1.
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
    /// 0..1.
    pub confidence: f64,
    /// Where.
    pub bbox: BoxInput,
    /// The worker's track id, kept across frames (up to 128 characters).
    pub track_id: Option<String>,
    /// A JSON object of up to 4 KB; `provenance` is the server's and is overwritten.
    pub attributes: Option<Json<Value>>,
}

/// One frame's detections.
#[derive(InputObject)]
pub struct DetectionBatchInput {
    /// Camera.
    pub camera_id: ID,
    /// Task type that produced them, 1 to 64 characters.
    pub task_type: String,
    /// The frame's id, unique per camera (1 to 128 characters): a repeat is a duplicate.
    pub frame_id: String,
    /// When the frame was captured (at most 5 minutes in the future).
    pub captured_at: DateTime<Utc>,
    /// At most 1000.
    pub detections: Vec<DetectionInput>,
    /// The `x-frame-ticket` of the frame pull these detections come from. With a ticket, `frameId` and `capturedAt` must be the pull's `x-frame-id` and `x-frame-captured-at`.
    pub frame_ticket: Option<String>,
}

/// What ingest did.
#[derive(SimpleObject)]
pub struct IngestReceipt {
    /// The batch's sequence in the outbox.
    pub seq: Option<i64>,
    /// True when this camera already had this frame id: nothing was changed.
    pub duplicate: bool,
    /// Detections stored.
    pub accepted: i32,
    /// Zone events the batch produced.
    pub events: i32,
    /// Whether a valid frame ticket vouched for the batch.
    pub ticketed: bool,
}

fn unit(field: String, v: f64) -> Result<f64, AppError> {
    in_range(&field, v, 0.0, 1.0)
}

/// Checks a batch; every error names the field (`input.detections[3].bbox.w`).
fn validate(input: &DetectionBatchInput, now: DateTime<Utc>) -> Result<(String, String), AppError> {
    let task_type = text("input.taskType", &input.task_type, 64)?;
    let frame_id = text("input.frameId", &input.frame_id, 128)?;
    if input.captured_at > now + chrono::Duration::minutes(5) {
        return Err(AppError::bad_input(
            "input.capturedAt",
            "is more than 5 minutes in the future; check the worker's clock",
        ));
    }
    if input.detections.len() > MAX_DETECTIONS {
        return Err(AppError::bad_input(
            "input.detections",
            format!("at most {MAX_DETECTIONS} detections a batch"),
        ));
    }
    for (i, d) in input.detections.iter().enumerate() {
        let at = |f: &str| format!("input.detections[{i}].{f}");
        text(&at("label"), &d.label, 64)?;
        unit(at("confidence"), d.confidence)?;
        let b = d.bbox;
        unit(at("bbox.x"), b.x)?;
        unit(at("bbox.y"), b.y)?;
        for (name, v, origin) in [("bbox.w", b.w, b.x), ("bbox.h", b.h, b.y)] {
            if !(v.is_finite() && v > 0.0 && origin + v <= 1.0 + 1e-9) {
                return Err(AppError::bad_input(
                    at(name),
                    "must be over 0 and keep the box inside the frame",
                ));
            }
        }
        if let Some(track) = &d.track_id {
            text(&at("trackId"), track, 128)?;
        }
        if let Some(Json(attrs)) = &d.attributes {
            if !attrs.is_object() {
                return Err(AppError::bad_input(
                    at("attributes"),
                    "must be a JSON object",
                ));
            }
            if attrs.to_string().len() > MAX_ATTRIBUTES_BYTES {
                return Err(AppError::bad_input(
                    at("attributes"),
                    format!("at most {MAX_ATTRIBUTES_BYTES} bytes"),
                ));
            }
        }
    }
    Ok((task_type, frame_id))
}

/// A stored batch handed to consumers.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The outbox row.
    pub outbox: outbox::Model,
    /// Its detections.
    pub detections: Vec<detection::Model>,
}

/// Something that reacts to ingested batches. Each runs at most once per batch.
#[async_trait::async_trait]
pub trait DetectionConsumer: Send + Sync + std::fmt::Debug {
    /// Stable name (the hand-off key).
    fn name(&self) -> &'static str;
    /// Handles one batch; returns how many events it produced.
    async fn handle(&self, state: &AppState, batch: &Batch) -> Result<usize, AppError>;
}

/// The zone engine as a consumer: events go to the log and the bus.
#[derive(Debug)]
pub struct ZoneConsumer;

#[async_trait::async_trait]
impl DetectionConsumer for ZoneConsumer {
    fn name(&self) -> &'static str {
        "zones"
    }

    async fn handle(&self, state: &AppState, batch: &Batch) -> Result<usize, AppError> {
        let camera = &batch.outbox.camera_id;
        let cached = state.perception.zones.get(&state.db, camera).await?;
        let zones = &cached.enabled;
        let observations: Vec<Observation> = batch
            .detections
            .iter()
            .map(|d| Observation {
                track_id: d.track_id.clone(),
                label: d.label.clone(),
                confidence: d.confidence,
                bbox: BBox {
                    x: d.x,
                    y: d.y,
                    w: d.w,
                    h: d.h,
                },
            })
            .collect();
        let now = state.clock.now();
        // The engine guard is held until the events are recorded, so two batches of the same
        // camera can never log their events out of the order the engine produced them.
        let mut engine = state.perception.engine.lock().await;
        let produced = engine.process(camera, zones, &observations, now);
        // Names and severities of the zones concerned (disabled ones too: a TTL exit may
        // concern a zone disabled since, or another camera's zone).
        let mut zone_rows: std::collections::HashMap<String, (String, String)> = Default::default();
        for e in &produced {
            if zone_rows.contains_key(&e.zone_id) {
                continue;
            }
            let theirs = if e.camera_id == *camera {
                cached.clone()
            } else {
                state.perception.zones.get(&state.db, &e.camera_id).await?
            };
            zone_rows.extend(theirs.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for e in &produced {
            let (kind, direction) = match e.kind {
                ZoneEventKind::Enter => ("ZONE_ENTER", None),
                ZoneEventKind::Exit => ("ZONE_EXIT", None),
                ZoneEventKind::Dwell => ("ZONE_DWELL", None),
                ZoneEventKind::CrossAToB => ("LINE_CROSS", Some("AB")),
                ZoneEventKind::CrossBToA => ("LINE_CROSS", Some("BA")),
                ZoneEventKind::StaticSuppressed => ("ZONE_STATIC_SUPPRESSED", None),
            };
            let severity = if e.kind == ZoneEventKind::StaticSuppressed {
                "info".to_owned()
            } else {
                zone_rows
                    .get(&e.zone_id)
                    .map(|z| z.1.clone())
                    .unwrap_or_else(|| "info".into())
            };
            crate::perception::events::record(
                state,
                event::ActiveModel {
                    kind: Set(kind.into()),
                    severity: Set(severity),
                    camera_id: Set(Some(e.camera_id.clone())),
                    zone_id: Set(Some(e.zone_id.clone())),
                    track_id: Set(Some(e.track_id.clone())),
                    label: Set(Some(e.label.clone())),
                    dwell_seconds: Set(e.dwell_seconds),
                    direction: Set(direction.map(str::to_owned)),
                    payload: Set(json!({
                        "zone": zone_rows.get(&e.zone_id).map(|z| &z.0),
                        "frameId": batch.outbox.frame_id,
                        "outboxSeq": batch.outbox.seq,
                    })
                    .to_string()),
                    at: Set(e.at),
                    ..Default::default()
                },
            )
            .await?;
        }
        drop(engine);
        crate::perception::live::publish_occupancy(state, camera, zones).await;
        Ok(produced.len())
    }
}

/// Hands a batch to every consumer that has not had it, then marks it fanned out.
pub async fn fan_out(state: &AppState, batch: &Batch) -> Result<usize, AppError> {
    let mut produced = 0;
    for consumer in &state.perception.consumers {
        let claimed = consumer_fanout::Entity::insert(consumer_fanout::ActiveModel {
            consumer: Set(consumer.name().into()),
            outbox_seq: Set(batch.outbox.seq),
            fanned_at: Set(state.clock.now()),
        })
        .on_conflict(
            OnConflict::columns([
                consumer_fanout::Column::Consumer,
                consumer_fanout::Column::OutboxSeq,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await?;
        if claimed == 1 {
            match consumer.handle(state, batch).await {
                Ok(n) => produced += n,
                Err(err) => {
                    tracing::error!(consumer = consumer.name(), seq = batch.outbox.seq, error = %err, "detection consumer failed");
                }
            }
        }
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::FannedOutAt, Expr::value(state.clock.now()))
        .filter(outbox::Column::Seq.eq(batch.outbox.seq))
        .exec(&state.db)
        .await?;
    Ok(produced)
}

/// Start-up: batches committed but not fully handed off (a crash between commit and fan-out)
/// are handed to the consumers that have not had them, in order.
pub async fn replay(state: &AppState) -> Result<usize, AppError> {
    let pending = outbox::Entity::find()
        .filter(outbox::Column::FannedOutAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .all(&state.db)
        .await?;
    let count = pending.len();
    for row in pending {
        let detections = detection::Entity::find()
            .filter(detection::Column::OutboxSeq.eq(row.seq))
            .order_by_asc(detection::Column::Id)
            .all(&state.db)
            .await?;
        fan_out(
            state,
            &Batch {
                outbox: row,
                detections,
            },
        )
        .await?;
    }
    if count > 0 {
        tracing::warn!(
            batches = count,
            "replayed detection batches a restart interrupted"
        );
    }
    Ok(count)
}

/// (camera, zone, track).
type TrackKey = (String, String, String);
/// (entered at, last event at, dwell announced).
type Visit = (DateTime<Utc>, DateTime<Utc>, bool);

/// Start-up: the engine's tracks that were inside a zone within the track TTL are rebuilt from
/// the event log (an ENTER without a later EXIT), so a restart neither repeats their ENTER nor
/// loses their EXIT; dwell already announced for the visit is not announced again.
pub async fn restore_engine(state: &AppState) -> Result<usize, AppError> {
    // Visits can be long: read a day of zone events to find who entered and never left; a
    // track counts as still present only if it was detected within the TTL.
    let now = state.clock.now();
    let since = now - chrono::Duration::hours(24);
    let alive_after = now - chrono::Duration::seconds(crate::perception::engine::TRACK_TTL_SECS);
    let rows = event::Entity::find()
        .filter(event::Column::Kind.is_in(["ZONE_ENTER", "ZONE_EXIT", "ZONE_DWELL"]))
        .filter(event::Column::At.gte(since))
        .order_by_asc(event::Column::Seq)
        .all(&state.db)
        .await?;
    let mut visits: std::collections::BTreeMap<TrackKey, Visit> = Default::default();
    for e in rows {
        let (Some(camera), Some(zone), Some(track)) = (e.camera_id, e.zone_id, e.track_id) else {
            continue;
        };
        let key = (camera, zone, track);
        match e.kind.as_str() {
            "ZONE_ENTER" => {
                visits.insert(key, (e.at, e.at, false));
            }
            "ZONE_DWELL" => {
                if let Some(v) = visits.get_mut(&key) {
                    v.1 = e.at;
                    v.2 = true;
                }
            }
            _ => {
                visits.remove(&key);
            }
        }
    }
    let mut restored = 0;
    for ((camera, zone, track), (entered_at, last_event, dwelt)) in &visits {
        let seen: Option<DateTime<Utc>> = detection::Entity::find()
            .select_only()
            .column(detection::Column::CreatedAt)
            .filter(detection::Column::CameraId.eq(camera.clone()))
            .filter(detection::Column::TrackId.eq(track.clone()))
            .order_by_desc(detection::Column::Id)
            .limit(1)
            .into_tuple()
            .one(&state.db)
            .await?;
        let last_seen = seen.map_or(*last_event, |s| s.max(*last_event));
        if last_seen < alive_after {
            continue; // gone: the next batch's prune would exit it anyway
        }
        let mut engine = state.perception.engine.lock().await;
        engine.restore_inside(camera, zone, track, *entered_at, last_seen, *dwelt);
        restored += 1;
    }
    Ok(restored)
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
        let now = state.clock.now();
        let (task_type, frame_id) = validate(&input, now)?;
        let camera = find_camera(ctx, Capability::AiIngest, &input.camera_id).await?;
        let produced_by = crate::perception::workers::holder(principal);
        let ticket_task = bind(
            state,
            principal,
            &produced_by,
            &input,
            &camera,
            &task_type,
            &frame_id,
            now,
        )
        .await?;
        // SQLite has one writer: queue here, in order, rather than in its busy handler, which
        // sleeps in growing steps and turns contention into tail latency.
        let _gate = match state.db.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => Some(state.perception.ingest_gate.lock().await),
            _ => None,
        };
        let txn = state.db.begin().await?;
        let inserted = outbox::Entity::insert(outbox::ActiveModel {
            camera_id: Set(input.camera_id.to_string()),
            frame_id: Set(frame_id.clone()),
            task_type: Set(task_type.clone()),
            captured_at: Set(input.captured_at),
            detection_count: Set(input.detections.len() as i32),
            produced_by: Set(produced_by.clone()),
            created_at: Set(now),
            fanned_out_at: Set(None),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([outbox::Column::CameraId, outbox::Column::FrameId])
        .exec_with_returning(&txn)
        .await;
        let row = match inserted {
            Ok(sea_orm::TryInsertResult::Inserted(row)) => row,
            // The frame is already stored: PostgreSQL reports the conflict, SQLite an empty
            // RETURNING.
            Ok(_) | Err(sea_orm::DbErr::RecordNotFound(_)) => {
                txn.rollback().await?;
                return Ok(IngestReceipt {
                    seq: None,
                    duplicate: true,
                    accepted: 0,
                    events: 0,
                    ticketed: ticket_task.is_some(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        let detections: Vec<detection::ActiveModel> = input
            .detections
            .iter()
            .map(|d| {
                let mut attrs = d
                    .attributes
                    .as_ref()
                    .map(|a| a.0.clone())
                    .unwrap_or_else(|| json!({}));
                attrs["provenance"] = json!({
                    "producedBy": produced_by,
                    "ticket": if ticket_task.is_some() { "verified" } else { "none" },
                    "task": ticket_task,
                });
                detection::ActiveModel {
                    outbox_seq: Set(row.seq),
                    camera_id: Set(row.camera_id.clone()),
                    task_type: Set(task_type.clone()),
                    captured_at: Set(input.captured_at),
                    label: Set(d.label.trim().to_owned()),
                    confidence: Set(d.confidence),
                    x: Set(d.bbox.x),
                    y: Set(d.bbox.y),
                    w: Set(d.bbox.w),
                    h: Set(d.bbox.h),
                    track_id: Set(d.track_id.as_ref().map(|t| t.trim().to_owned())),
                    attributes: Set(attrs.to_string()),
                    created_at: Set(now),
                    ..Default::default()
                }
            })
            .collect();
        // The stored rows come back from the insert itself (RETURNING), not a second read.
        let mut stored = if detections.is_empty() {
            Vec::new()
        } else {
            detection::Entity::insert_many(detections)
                .exec_with_returning(&txn)
                .await?
        };
        stored.sort_by_key(|d| d.id);
        txn.commit().await?;
        let accepted = stored.len() as i32;
        let _ = state
            .perception
            .batches
            .send(crate::perception::live::DetectionBatch {
                camera_id: ID(row.camera_id.clone()),
                seq: row.seq,
                frame_id: row.frame_id.clone(),
                task_type: row.task_type.clone(),
                captured_at: row.captured_at,
                detections: stored
                    .iter()
                    .map(|d| crate::perception::live::LiveDetection {
                        label: d.label.clone(),
                        confidence: d.confidence,
                        x: d.x,
                        y: d.y,
                        w: d.w,
                        h: d.h,
                        track_id: d.track_id.clone(),
                    })
                    .collect(),
            });
        let events = fan_out(
            state,
            &Batch {
                outbox: row.clone(),
                detections: stored,
            },
        )
        .await?;
        Ok(IngestReceipt {
            seq: Some(row.seq),
            duplicate: false,
            accepted,
            events: events as i32,
            ticketed: ticket_task.is_some(),
        })
    }
}

/// Where a batch's provenance stands: with a ticket, the ticket must be this credential's, for a
/// task it still leases, enabled, on this camera, and the body must agree with it (the frame id
/// comes from the ticket, so no one can pre-claim another's frames); without one, the
/// `HELDAR_INGEST_PROVENANCE` mode decides. Returns the ticket's task.
#[allow(clippy::too_many_arguments)]
async fn bind(
    state: &AppState,
    principal: &crate::auth::principal::Principal,
    holder: &str,
    input: &DetectionBatchInput,
    camera: &entity::camera::Model,
    task_type: &str,
    frame_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, AppError> {
    use crate::config::Provenance;
    let Some(token) = input.frame_ticket.as_deref() else {
        match state.config.ingest_provenance {
            Provenance::Enforce => {
                return Err(AppError::Unauthenticated(
                    "input.frameTicket: this server requires a frame ticket (HELDAR_INGEST_PROVENANCE=enforce); lease the task, pull the frame with `?task=`, and post its `x-frame-ticket`".into(),
                ));
            }
            Provenance::Warn => warn_unticketed(state, holder, &camera.id).await,
            Provenance::Off => {}
        }
        if frame_id.starts_with("t:") {
            return Err(AppError::bad_input(
                "input.frameId",
                "the `t:` prefix is reserved for ticketed frames",
            ));
        }
        return Ok(None);
    };
    let unauthenticated =
        |why: &str| AppError::Unauthenticated(format!("input.frameTicket: {why}"));
    let ticket = crate::perception::tickets::parse(token).map_err(unauthenticated)?;
    // The MAC is checked before anything is looked up, so a made-up ticket learns nothing
    // (not even whether its task exists). A genuine ticket for another camera than the body's
    // is a contradiction, reported below.
    let keys = &state.ai.tickets;
    let epoch = now.timestamp();
    let for_body = keys.verify(&ticket, holder, &camera.id, epoch);
    let task = entity::ai_task::Entity::find_by_id(ticket.task_id.clone())
        .one(&state.db)
        .await?;
    let task = match (for_body, task) {
        (Ok(()), Some(task)) => task,
        (Err(why), Some(task)) if task.camera_id != camera.id => {
            keys.verify(&ticket, holder, &task.camera_id, epoch)
                .map_err(|_| unauthenticated(why))?;
            task
        }
        (Err(why), _) => return Err(unauthenticated(why)),
        (Ok(()), None) => return Err(unauthenticated("its task no longer exists")),
    };
    if crate::perception::workers::held_lease(state, holder, &task.id, now)
        .await?
        .is_none()
    {
        return Err(unauthenticated(
            "this credential holds no live lease on the ticket's task; renew with `leaseAiTasks`",
        ));
    }
    if !task.enabled {
        return Err(AppError::Forbidden(format!(
            "input.frameTicket: task `{}` was disabled after the ticket was issued",
            task.id
        )));
    }
    if !principal.scope.allows(&task.camera_id) {
        return Err(AppError::Forbidden(
            "input.frameTicket: credential is no longer scoped to the ticket's camera".into(),
        ));
    }
    if task.camera_id != camera.id {
        return Err(AppError::Conflict(format!(
            "input.cameraId: the ticket is for camera `{}`",
            task.camera_id
        )));
    }
    if !camera.enabled {
        return Err(AppError::Forbidden(format!(
            "input.frameTicket: camera `{}` was disabled after the ticket was issued",
            camera.id
        )));
    }
    if task.task_type != task_type {
        return Err(AppError::Conflict(format!(
            "input.taskType: the ticket is for task type `{}`",
            task.task_type
        )));
    }
    if frame_id != ticket.frame_id() {
        return Err(AppError::Conflict(format!(
            "input.frameId: the ticket is for frame `{}` (the pull's x-frame-id)",
            ticket.frame_id()
        )));
    }
    if input.captured_at.timestamp_millis() != ticket.captured_ms {
        return Err(AppError::Conflict(
            "input.capturedAt: it differs from the ticket's capture time (the pull's x-frame-captured-at)".into(),
        ));
    }
    Ok(Some(task.id))
}

/// Under `warn`, one `INGEST_UNTICKETED` event per credential an hour.
async fn warn_unticketed(state: &AppState, holder: &str, camera_id: &str) {
    let due = {
        let Ok(mut warned) = state.ai.warned.lock() else {
            return;
        };
        let due = warned
            .get(holder)
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(3600));
        if due {
            warned.insert(holder.to_owned(), std::time::Instant::now());
        }
        due
    };
    if !due {
        return;
    }
    let row = event::ActiveModel {
        kind: Set("INGEST_UNTICKETED".into()),
        severity: Set("warning".into()),
        camera_id: Set(Some(camera_id.to_owned())),
        payload: Set(json!({"credential": holder, "hint": "workers should post the frame ticket of each pull; set HELDAR_INGEST_PROVENANCE=enforce to require it"}).to_string()),
        at: Set(state.clock.now()),
        ..Default::default()
    };
    if let Err(err) = crate::perception::events::record(state, row).await {
        tracing::warn!(error = %err, "could not log an unticketed-ingest warning");
    }
}
