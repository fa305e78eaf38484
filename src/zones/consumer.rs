//! The zone engine as an ingest consumer: each batch's detections become zone events in the
//! log; occupancy is counted after each commit; a batch whose transaction fails is taken back
//! out of the engine; at start-up, and after a COMMIT that failed (it may have happened), the
//! engine is rebuilt from the log.

use std::collections::{BTreeMap, HashMap};

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{detection, event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;

use crate::error::AppError;
use crate::events::model::{CrossingDirection, EventKind, NewEvent, Severity};
use crate::perception::consumers::{Batch, DetectionConsumer, Outcome};
use crate::state::AppState;
use crate::zones::engine::{
    Observation, RestoredVisit, TRACK_TTL_SECS, Undo, ZoneEngine, ZoneEvent, ZoneEventKind,
    ZoneSpec,
};
use crate::zones::geometry::{BBox, ground_point};
use crate::zones::store::{CameraZones, ZoneLabel};

/// Tracks inside a zone now.
#[derive(SimpleObject, Clone, Debug)]
pub struct ZoneOccupancy {
    /// The zone's camera.
    pub camera_id: ID,
    /// Id of the zone counted.
    pub zone_id: ID,
    /// Tracks inside (not suppressed, seen within the track TTL).
    pub count: i32,
    /// When it was counted.
    pub at: DateTime<Utc>,
}

/// The zone engine as a consumer: events go to the log (in the batch's transaction) and, after
/// the commit, to the bus.
#[derive(Debug)]
pub struct ZoneConsumer;

#[async_trait::async_trait]
impl DetectionConsumer for ZoneConsumer {
    fn name(&self) -> &'static str {
        "zones"
    }

    /// The engine is rebuilt from the log, as at start-up (a commit that failed may have
    /// recorded the batch's events).
    async fn resync(&self, state: &AppState) {
        if let Err(err) = restore_engine(state).await {
            tracing::error!(error = %err, "could not rebuild the zone engine after a failed commit");
        }
    }

    async fn handle<'a>(
        &'a self,
        state: &'a AppState,
        txn: &DatabaseTransaction,
        batch: &Batch,
    ) -> Result<Box<dyn Outcome + 'a>, AppError> {
        let camera = &batch.outbox.camera_id;
        let cached = state.zones.cache.get(txn, camera).await?;
        let observations: Vec<Observation> = batch.detections.iter().map(observation).collect();
        let now = state.clock.now();
        // On PostgreSQL the engine's guard is kept until the transaction ends, so the engine's
        // order is the log's order and no other batch builds on a transaction that may fail.
        // On SQLite the writer's locks, held by the caller until the end of the transaction,
        // already give both for writers, and several batches may share one transaction (group
        // commit): the guard is released after each. A `zoneOccupancy` snapshot taken in
        // between may count a batch whose transaction is still open.
        let mut engine = state.zones.engine.lock().await;
        let source = Some(batch.outbox.task_type.as_str());
        let (produced, undo) =
            engine.process_undoable(camera, source, &cached.enabled, &observations, now);
        let recorded = async {
            // Names and severities of the zones concerned (disabled ones too: a TTL exit may
            // concern a zone disabled since, or another camera's zone).
            let mut labels: HashMap<String, ZoneLabel> = HashMap::new();
            for e in &produced {
                if labels.contains_key(&e.zone_id) {
                    continue;
                }
                let theirs = if e.camera_id == *camera {
                    cached.clone()
                } else {
                    state.zones.cache.get(txn, &e.camera_id).await?
                };
                labels.extend(theirs.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let rows = produced
                .iter()
                .map(|e| zone_event(e, labels.get(&e.zone_id), batch).into())
                .collect();
            crate::events::store::record_in(txn, rows).await
        }
        .await;
        match recorded {
            Ok(events) => Ok(Box::new(ZoneOutcome {
                engine: (state.db.get_database_backend() == DatabaseBackend::Postgres)
                    .then_some(engine),
                undo,
                events,
                camera: camera.clone(),
                zones: cached,
            })),
            Err(err) => {
                engine.undo(undo);
                Err(err)
            }
        }
    }
}

/// A batch's zone events, written and waiting for the commit (on PostgreSQL with the engine
/// held), and how to take the batch back out of the engine if the commit does not come.
struct ZoneOutcome<'a> {
    engine: Option<tokio::sync::MutexGuard<'a, ZoneEngine>>,
    undo: Undo,
    events: Vec<event::Model>,
    camera: String,
    zones: std::sync::Arc<CameraZones>,
}

#[async_trait::async_trait]
impl Outcome for ZoneOutcome<'_> {
    fn produced(&self) -> usize {
        self.events.len()
    }

    async fn committed(self: Box<Self>, state: &AppState) {
        let ZoneOutcome {
            engine,
            events,
            camera,
            zones,
            ..
        } = *self;
        // A track timed out on another camera (pruning runs on any camera's batch): that
        // camera's counts changed too.
        let others: std::collections::BTreeSet<String> = events
            .iter()
            .filter_map(|e| e.camera_id.clone())
            .filter(|c| *c != camera)
            .collect();
        crate::events::store::publish(state, events);
        drop(engine);
        publish_occupancy(state, &camera, &zones.enabled).await;
        for other in others {
            match state.zones.cache.get(&state.db, &other).await {
                Ok(theirs) => publish_occupancy(state, &other, &theirs.enabled).await,
                Err(err) => {
                    tracing::warn!(camera = %other, error = %err, "zone occupancy not published")
                }
            }
        }
    }

    /// The batch's transaction failed: its changes to the engine are put back (the writers
    /// abandon batches newest first, and no other batch ran on the engine in between: on
    /// PostgreSQL the guard is still held, on SQLite the writer's locks are), so line sides,
    /// static suppression and open visits survive it.
    async fn abandoned(self: Box<Self>, state: &AppState) {
        let ZoneOutcome { engine, undo, .. } = *self;
        match engine {
            Some(mut engine) => engine.undo(undo),
            None => state.zones.engine.lock().await.undo(undo),
        }
    }
}

fn observation(d: &detection::Model) -> Observation {
    Observation {
        track_id: d.track_id.clone(),
        label: d.label.clone(),
        confidence: d.confidence,
        bbox: BBox {
            x: d.x,
            y: d.y,
            w: d.w,
            h: d.h,
        },
    }
}

/// The log entry of an engine event: kind and direction from the event, severity from its zone
/// (static suppression is always `info`).
fn zone_event(e: &ZoneEvent, zone: Option<&ZoneLabel>, batch: &Batch) -> NewEvent {
    let (kind, direction) = match e.kind {
        ZoneEventKind::Enter => (EventKind::ZoneEnter, None),
        ZoneEventKind::Exit => (EventKind::ZoneExit, None),
        ZoneEventKind::Dwell => (EventKind::ZoneDwell, None),
        ZoneEventKind::CrossAToB => (EventKind::LineCross, Some(CrossingDirection::Ab)),
        ZoneEventKind::CrossBToA => (EventKind::LineCross, Some(CrossingDirection::Ba)),
        ZoneEventKind::StaticSuppressed => (EventKind::ZoneStaticSuppressed, None),
    };
    let severity = match (e.kind, zone) {
        (ZoneEventKind::StaticSuppressed, _) | (_, None) => Severity::Info,
        (_, Some(zone)) => zone.severity,
    };
    NewEvent::new(kind, severity, e.at)
        .camera(e.camera_id.clone())
        .track(e.zone_id.clone(), e.track_id.clone(), e.label.clone())
        .dwell_seconds(e.dwell_seconds)
        .direction(direction)
        .payload(json!({
            "zone": zone.map(|z| &z.name),
            "frameId": batch.outbox.frame_id,
            "outboxSeq": batch.outbox.seq,
        }))
}

/// Counts the camera's zones (as the batch just processed saw them) and sends the changes.
pub async fn publish_occupancy(state: &AppState, camera_id: &str, zones: &[ZoneSpec]) {
    let now = state.clock.now();
    // Counted and published under the engine's guard, so two batches of one camera cannot
    // publish their counts in the opposite order and leave a stale one last.
    let engine = state.zones.engine.lock().await;
    let counts: Vec<(String, i32)> = zones
        .iter()
        .map(|z| (z.id.clone(), engine.occupancy(camera_id, &z.id, now) as i32))
        .collect();
    let mut last = state.zones.occupancy.lock().await;
    for (zone_id, count) in counts {
        if last.get(&zone_id).copied().unwrap_or(0) != count {
            last.insert(zone_id.clone(), count);
            let _ = state.zones.occupancy_changes.send(ZoneOccupancy {
                camera_id: ID(camera_id.to_owned()),
                zone_id: ID(zone_id),
                count,
                at: now,
            });
        }
    }
}

/// A track's visit to a zone, as the event log tells it.
#[derive(Debug, Clone, Copy)]
struct Visit {
    entered_at: DateTime<Utc>,
    last_event_at: DateTime<Utc>,
    dwell_announced: bool,
    /// Suppressed as a static object since its last ENTER.
    suppressed: bool,
}

/// Start-up: the engine's tracks that were inside a zone within the track TTL are rebuilt from
/// the event log (an ENTER without a later EXIT), so a restart neither repeats their ENTER nor
/// loses their EXIT; dwell already announced for the visit is not announced again.
pub async fn restore_engine(state: &AppState) -> Result<usize, AppError> {
    let (fresh, restored) = rebuilt_engine(state, &state.db).await?;
    *state.zones.engine.lock().await = fresh;
    Ok(restored)
}

/// (camera, zone, track) → its visit, for each visit the zone events (in log order) leave open.
fn open_visits(rows: Vec<event::Model>) -> BTreeMap<(String, String, String), Visit> {
    let mut visits: BTreeMap<(String, String, String), Visit> = BTreeMap::new();
    for e in rows {
        let (Some(camera), Some(zone), Some(track)) = (e.camera_id, e.zone_id, e.track_id) else {
            continue;
        };
        let key = (camera, zone, track);
        match EventKind::parse(&e.kind) {
            Some(EventKind::ZoneEnter) => {
                let visit = Visit {
                    entered_at: e.at,
                    last_event_at: e.at,
                    dwell_announced: false,
                    suppressed: false,
                };
                visits.insert(key, visit);
            }
            // A motionless object stays suppressed (uncounted, no dwell) until it moves, which
            // logs an ENTER; one suppressed before it entered is restored suppressed too.
            Some(EventKind::ZoneStaticSuppressed) => {
                let visit = visits.entry(key).or_insert(Visit {
                    entered_at: e.at,
                    last_event_at: e.at,
                    dwell_announced: false,
                    suppressed: true,
                });
                visit.last_event_at = e.at;
                visit.suppressed = true;
            }
            Some(EventKind::ZoneDwell) => {
                if let Some(v) = visits.get_mut(&key) {
                    v.last_event_at = e.at;
                    v.dwell_announced = true;
                }
            }
            _ => {
                visits.remove(&key);
            }
        }
    }
    visits
}

/// An engine holding the visits the log says are open, and how many.
async fn rebuilt_engine(
    state: &AppState,
    db: &impl ConnectionTrait,
) -> Result<(ZoneEngine, usize), AppError> {
    // Visits can be long: read a day of zone events to find who entered and never left; a
    // track counts as still present only if it was detected within the TTL.
    let now = state.clock.now();
    let since = now - chrono::Duration::hours(24);
    let alive_after = now - chrono::Duration::seconds(TRACK_TTL_SECS);
    let kinds = [
        EventKind::ZoneEnter,
        EventKind::ZoneExit,
        EventKind::ZoneDwell,
        EventKind::ZoneStaticSuppressed,
    ];
    let rows = event::Entity::find()
        .filter(event::Column::Kind.is_in(kinds.map(EventKind::as_str)))
        .filter(event::Column::At.gte(since))
        .order_by_asc(event::Column::Seq)
        .all(db)
        .await?;
    let visits = open_visits(rows);
    let mut engine = ZoneEngine::default();
    let mut restored = 0;
    for ((camera, zone, track), visit) in &visits {
        let seen: Option<(DateTime<Utc>, String, f64, f64, f64, f64)> = detection::Entity::find()
            .select_only()
            .column(detection::Column::CreatedAt)
            .column(detection::Column::TaskType)
            .column(detection::Column::X)
            .column(detection::Column::Y)
            .column(detection::Column::W)
            .column(detection::Column::H)
            .filter(detection::Column::CameraId.eq(camera.clone()))
            .filter(detection::Column::TrackId.eq(track.clone()))
            .order_by_desc(detection::Column::Id)
            .limit(1)
            .into_tuple()
            .one(db)
            .await?;
        let last_seen = seen
            .as_ref()
            .map_or(visit.last_event_at, |s| s.0.max(visit.last_event_at));
        let source = seen.as_ref().map(|s| s.1.as_str());
        if last_seen < alive_after {
            continue; // gone: the next batch's prune would exit it anyway
        }
        // Where a suppressed object stands: moving away from it lifts the suppression, and a
        // re-born track id there inherits it.
        let suppressed_at = seen
            .as_ref()
            .filter(|_| visit.suppressed)
            .and_then(|&(_, _, x, y, w, h)| ground_point(BBox { x, y, w, h }));
        let restored_visit = RestoredVisit {
            entered_at: visit.entered_at,
            last_seen,
            dwell_emitted: visit.dwell_announced,
            source,
            suppressed_at,
        };
        engine.restore_inside(camera, zone, track, restored_visit);
        restored += 1;
    }
    Ok((engine, restored))
}
