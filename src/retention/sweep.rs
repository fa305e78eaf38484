//! The sweep: deletes what the plan ([`crate::retention::plan`]) names, each segment with a
//! conditional delete that re-checks both locks at the moment of deletion, unlinking the file
//! only after its row is gone; then row lifetimes (clips, snapshots, audit, events, old gaps,
//! detections, ended sessions, finished jobs) and orphan files. One `RETENTION_SWEEP` event per sweep.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    audit_log, camera, clip_export, consumer_fanout, detection, event, evidence_hold, outbox,
    recording_gap, refresh_token, segment, session, snapshot,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set, TransactionTrait,
};
use serde_json::json;

use crate::error::AppError;
use crate::events::model::{EventKind, NewEvent, Severity};
use crate::evidence::exports;
use crate::footage::model::{CoverageChange, CoverageChangeKind, GapReason, join_spans_ms};
use crate::footage::recorder::recordings_root;
use crate::footage::store;
use crate::graphql::scalars::Long;
use crate::ids::new_id;
use crate::retention::plan::{
    PrunedTable, RetentionCandidate, RetentionReport, deletable, plan, totals,
};
use crate::state::AppState;
use entity::vocab::ClipStatus;

/// Deletes one segment if, at this instant, nothing reads or holds it; its range is updated in
/// the same transaction. The file is unlinked by the caller only after this returns true.
pub async fn delete_segment_if_unprotected(
    state: &AppState,
    c: &RetentionCandidate,
) -> Result<bool, AppError> {
    let txn = state.db.begin().await?;
    crate::evidence::locks::lock_camera_holds(&txn, &c.camera_id).await?;
    let deleted = segment::Entity::delete_many()
        .filter(segment::Column::Id.eq(c.segment_id.clone()))
        .filter(deletable())
        .exec(&txn)
        .await?
        .rows_affected;
    if deleted == 1 && c.main {
        store::remove_span(&txn, &c.camera_id, c.start_ms, c.end_ms).await?;
    }
    txn.commit().await?;
    Ok(deleted == 1)
}

/// One sweep: plan, delete, record pruned spans as gaps, expire rows; one event per sweep.
pub async fn sweep(state: &AppState) -> Result<RetentionReport, AppError> {
    let _one_at_a_time = state.sweep_lock.lock().await;
    let started_at = state.clock.now();
    let evicted_exports = evict_exports(state).await?;
    let ledger = plan(state, started_at).await?;
    let root = recordings_root(state);
    let mut deleted = Vec::new();
    let mut skipped = 0;
    let mut failure = None;
    for mut c in ledger.out {
        let gone = match delete_segment_if_unprotected(state, &c).await {
            Ok(gone) => gone,
            Err(err) => {
                // Stop, but still disclose what was already deleted.
                failure = Some(err);
                break;
            }
        };
        // Another server's file is that server's to remove (it may not even be on this disk).
        if gone && !c.elsewhere {
            match tokio::fs::remove_file(root.join(&c.path)).await {
                // A row no server claimed whose file was here after all: it freed this disk.
                Ok(()) => c.here = true,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(segment = %c.segment_id, error = %err, "segment row deleted but its file could not be removed; orphan left");
                }
            }
        }
        if gone {
            deleted.push(c);
        } else {
            skipped += 1;
        }
    }
    record_pruned(state, &deleted, started_at).await?;
    // Rows whose files were not on this disk (another server's, or no server's) freed nothing.
    let (deleted, forgotten): (Vec<_>, Vec<_>) = deleted.into_iter().partition(|c| c.here);
    for total in totals(&deleted) {
        let (segments, bytes) = (total.segments.0 as u64, total.bytes.0 as u64);
        crate::telemetry::retention_deleted(total.reason.as_str(), segments, bytes);
    }
    if let Some(err) = failure {
        return Err(err);
    }
    let (expired_clips, expired_snapshots) = expire_media(state, started_at).await?;
    let pruned = expire_rows(state, started_at).await?;
    let pruned_rows = pruned.iter().map(|p| p.rows.0).sum();
    let reclaimed_orphans = reclaim_orphans(state, started_at).await?;
    let trimmed = crate::playback::previews::trim(state).await?;
    if trimmed > 0 {
        tracing::info!(files = trimmed, "retention trimmed the preview cache");
    }
    let report = RetentionReport {
        started_at,
        deleted_segments: Long(deleted.len() as i64),
        deleted_bytes: Long(deleted.iter().map(|c| c.size_bytes).sum()),
        skipped_locked: Long(skipped),
        by_reason: totals(&deleted),
        forgotten_segments: Long(forgotten.len() as i64),
        expired_clips: Long(expired_clips),
        expired_snapshots: Long(expired_snapshots),
        evicted_exports: Long(evicted_exports),
        pruned_rows: Long(pruned_rows),
        pruned,
        reclaimed_orphans: Long(reclaimed_orphans),
        warnings: ledger.warnings,
    };
    announce(state, &report).await?;
    if report.deleted_segments.0 > 0
        || report.forgotten_segments.0 > 0
        || !report.warnings.is_empty()
    {
        tracing::info!(
            deleted = report.deleted_segments.0,
            bytes = report.deleted_bytes.0,
            forgotten = report.forgotten_segments.0,
            skipped,
            warnings = report.warnings.len(),
            "retention sweep"
        );
    }
    Ok(report)
}

/// The sweep's `RETENTION_SWEEP` event, as serious as its worst warning.
async fn announce(state: &AppState, report: &RetentionReport) -> Result<(), AppError> {
    let severity = report
        .warnings
        .iter()
        .map(|w| w.severity)
        .max()
        .unwrap_or(Severity::Info);
    let payload = json!({
        "instanceId": state.ownership.instance_id(),
        "deletedSegments": report.deleted_segments,
        "deletedBytes": report.deleted_bytes,
        "forgottenSegments": report.forgotten_segments,
        "skippedLocked": report.skipped_locked,
        "byReason": report.by_reason.iter().map(|r| json!({"reason": format!("{:?}", r.reason), "segments": r.segments, "bytes": r.bytes})).collect::<Vec<_>>(),
        "expiredClips": report.expired_clips,
        "expiredSnapshots": report.expired_snapshots,
        "evictedExports": report.evicted_exports,
        "prunedRows": report.pruned_rows,
        "reclaimedOrphans": report.reclaimed_orphans,
        "warnings": report.warnings.iter().map(|w| json!({"severity": w.severity.as_str(), "code": w.code.as_str(), "cameraId": w.camera_id, "message": w.message})).collect::<Vec<_>>(),
    });
    let event = NewEvent::new(EventKind::RetentionSweep, severity, report.started_at);
    crate::events::store::record(state, event.payload(payload)).await?;
    Ok(())
}

/// Deleted spans become gaps with reason `pruned`, and coverage subscribers hear of them.
async fn record_pruned(
    state: &AppState,
    deleted: &[RetentionCandidate],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut by_camera: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    for c in deleted.iter().filter(|c| c.main) {
        by_camera
            .entry(&c.camera_id)
            .or_default()
            .push((c.start_ms, c.end_ms));
    }
    for (camera, mut spans) in by_camera {
        spans.sort();
        for (s, e) in join_spans_ms(spans) {
            recording_gap::Entity::insert(recording_gap::ActiveModel {
                id: Set(new_id("gap")),
                camera_id: Set(camera.to_owned()),
                gap_start: Set(segment::from_ms(s)),
                gap_end: Set(segment::from_ms(e)),
                seconds: Set((e - s) as f64 / 1000.0),
                reason: Set(GapReason::Pruned),
                created_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    recording_gap::Column::CameraId,
                    recording_gap::Column::GapStart,
                ])
                .update_columns([recording_gap::Column::Reason, recording_gap::Column::GapEnd])
                .to_owned(),
            )
            .exec_without_returning(&state.db)
            .await?;
            let _ = state.footage_events.send(CoverageChange {
                camera_id: camera.to_owned().into(),
                kind: CoverageChangeKind::SegmentDeleted,
                from: segment::from_ms(s),
                to: segment::from_ms(e),
            });
        }
    }
    Ok(())
}

/// Clips and snapshots past their own retention.
async fn expire_media(state: &AppState, now: DateTime<Utc>) -> Result<(i64, i64), AppError> {
    let clips = clip_export::Entity::find()
        .filter(clip_export::Column::Status.eq(ClipStatus::Ready))
        .filter(clip_export::Column::ExpiresAt.lt(now))
        .all(&state.db)
        .await?;
    for clip in &clips {
        expire_clip(state, &clip.id).await?;
    }
    let snaps = snapshot::Entity::find()
        .filter(snapshot::Column::ExpiresAt.lt(now))
        .all(&state.db)
        .await?;
    for snap in &snaps {
        expire_snapshot(state, &snap.id).await?;
    }
    Ok((clips.len() as i64, snaps.len() as i64))
}

/// A clip's files removed and its row marked EXPIRED (subscribers are told).
async fn expire_clip(state: &AppState, id: &str) -> Result<(), AppError> {
    clip_export::Entity::update_many()
        .col_expr(
            clip_export::Column::Status,
            Expr::value(ClipStatus::Expired),
        )
        .filter(clip_export::Column::Id.eq(id))
        .exec(&state.db)
        .await?;
    let dir = exports::exports_dir(state);
    for ext in ["mp4", "json"] {
        let _ = tokio::fs::remove_file(dir.join(format!("{id}.{ext}"))).await;
    }
    exports::publish(state, id).await;
    Ok(())
}

/// A snapshot's row and file removed.
async fn expire_snapshot(state: &AppState, id: &str) -> Result<(), AppError> {
    snapshot::Entity::delete_by_id(id.to_owned())
        .exec(&state.db)
        .await?;
    let dir = exports::snapshots_dir(state);
    let _ = tokio::fs::remove_file(dir.join(format!("{id}.jpg"))).await;
    Ok(())
}

/// A finished clip or a snapshot, as eviction sees it.
struct Exported {
    created_at: DateTime<Utc>,
    clip: bool,
    id: String,
    camera_id: String,
    from_ms: i64,
    to_ms: i64,
    size: i64,
}

/// Keeps exported clips and snapshots under `HELDAR_EXPORTS_MAX_SIZE`: evicts the oldest first,
/// never one whose footage is under an active evidence hold. Runs before any recording is
/// considered, so exports never push other cameras' footage out. Returns how many went.
async fn evict_exports(state: &AppState) -> Result<i64, AppError> {
    let quota = state.config.exports_max_size.as_u64() as i64;
    if quota == 0 {
        return Ok(0); // no limit
    }
    let clips = clip_export::Entity::find()
        .filter(clip_export::Column::Status.eq(ClipStatus::Ready))
        .all(&state.db)
        .await?;
    let snaps = snapshot::Entity::find().all(&state.db).await?;
    let mut items: Vec<Exported> = clips
        .into_iter()
        .map(|c| Exported {
            created_at: c.created_at,
            clip: true,
            size: c.size_bytes.unwrap_or(0),
            id: c.id,
            camera_id: c.camera_id,
            from_ms: c.from_ms,
            to_ms: c.to_ms,
        })
        .chain(snaps.into_iter().map(|s| Exported {
            created_at: s.created_at,
            clip: false,
            size: s.size_bytes,
            id: s.id,
            camera_id: s.camera_id,
            from_ms: s.at_ms,
            to_ms: s.at_ms,
        }))
        .collect();
    let mut total: i64 = items.iter().map(|i| i.size).sum();
    if total <= quota {
        return Ok(0);
    }
    let holds = evidence_hold::Entity::find()
        .filter(evidence_hold::Column::ReleasedAt.is_null())
        .all(&state.db)
        .await?;
    let held = |camera: &str, from: i64, to: i64| {
        holds
            .iter()
            .any(|h| h.camera_id == camera && h.start_ms <= to && from <= h.end_ms)
    };
    items.sort_by_key(|i| i.created_at);
    let mut evicted = 0;
    for item in items {
        if total <= quota {
            break;
        }
        if held(&item.camera_id, item.from_ms, item.to_ms) {
            continue;
        }
        if item.clip {
            expire_clip(state, &item.id).await?;
        } else {
            expire_snapshot(state, &item.id).await?;
        }
        total -= item.size;
        evicted += 1;
    }
    Ok(evicted)
}

/// The last phase: rows past their time to live. Audit entries, events, recorded gaps, review
/// items and webhook deliveries after `HELDAR_AUDIT_RETENTION_DAYS`; detections with their batches and hand-off marks after
/// `HELDAR_DETECTION_RETENTION_DAYS` (only batches already handed to every consumer); ended
/// sessions with their refresh tokens after `HELDAR_SESSION_RETENTION_DAYS`; expired and
/// failed export rows after `HELDAR_FINISHED_JOB_RETENTION_DAYS`.
async fn expire_rows(state: &AppState, now: DateTime<Utc>) -> Result<Vec<PrunedTable>, AppError> {
    let days = |n: u64| now - chrono::Duration::days(n as i64);
    let config = &state.config;
    let db = &state.db;
    let mut counts = expire_logs(db, days(config.audit_retention_days)).await?;
    counts.extend(expire_detections(db, days(config.detection_retention_days)).await?);
    counts.extend(expire_sessions(db, days(config.session_retention_days)).await?);
    let jobs = clip_export::Entity::delete_many()
        .filter(clip_export::Column::Status.is_in([ClipStatus::Expired, ClipStatus::Failed]))
        .filter(clip_export::Column::FinishedAt.lt(days(config.finished_job_retention_days)))
        .exec(db)
        .await?;
    counts.push(("clip_export", jobs.rows_affected));
    Ok(counts
        .into_iter()
        .filter(|(_, rows)| *rows > 0)
        .map(|(table, rows)| PrunedTable {
            table: table.to_owned(),
            rows: Long(rows as i64),
        })
        .collect())
}

/// Rows removed per table.
type Counts = Vec<(&'static str, u64)>;

/// Audit entries, events, recorded gaps, review items and webhook deliveries before `horizon`.
async fn expire_logs(db: &DatabaseConnection, horizon: DateTime<Utc>) -> Result<Counts, AppError> {
    let audit = audit_log::Entity::delete_many()
        .filter(audit_log::Column::CreatedAt.lt(horizon))
        .exec(db)
        .await?;
    let events = event::Entity::delete_many()
        .filter(event::Column::At.lt(horizon))
        .exec(db)
        .await?;
    let gaps = recording_gap::Entity::delete_many()
        .filter(recording_gap::Column::GapEnd.lt(horizon))
        .exec(db)
        .await?;
    // Review items go with their events (their marks with them); the delivery log too.
    let reviews = entity::review_item::Entity::delete_many()
        .filter(entity::review_item::Column::EndedAt.lt(horizon))
        .exec(db)
        .await?;
    let deliveries = entity::webhook_delivery::Entity::delete_many()
        .filter(entity::webhook_delivery::Column::At.lt(horizon))
        .exec(db)
        .await?;
    Ok(vec![
        ("audit_log", audit.rows_affected),
        ("event", events.rows_affected),
        ("recording_gap", gaps.rows_affected),
        ("review_item", reviews.rows_affected),
        ("webhook_delivery", deliveries.rows_affected),
    ])
}

/// Ingest batches from before `horizon` that every consumer has had, with their detections and
/// hand-off marks. A batch still waiting for a consumer is kept, however old.
async fn expire_detections(
    db: &DatabaseConnection,
    horizon: DateTime<Utc>,
) -> Result<Counts, AppError> {
    // The batches are chosen once: one handed on between the deletes below is left for the
    // next sweep, never half pruned. A sweep takes at most 10,000 at a time.
    let handed: Vec<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Seq)
        .filter(outbox::Column::FannedOutAt.is_not_null())
        .filter(outbox::Column::CreatedAt.lt(horizon))
        .order_by_asc(outbox::Column::Seq)
        .limit(10_000)
        .into_tuple()
        .all(db)
        .await?;
    if handed.is_empty() {
        return Ok(Vec::new());
    }
    let detections = detection::Entity::delete_many()
        .filter(detection::Column::OutboxSeq.is_in(handed.clone()))
        .exec(db)
        .await?;
    let marks = consumer_fanout::Entity::delete_many()
        .filter(consumer_fanout::Column::OutboxSeq.is_in(handed.clone()))
        .exec(db)
        .await?;
    let batches = outbox::Entity::delete_many()
        .filter(outbox::Column::Seq.is_in(handed))
        .exec(db)
        .await?;
    Ok(vec![
        ("detection", detections.rows_affected),
        ("consumer_fanout", marks.rows_affected),
        ("outbox", batches.rows_affected),
    ])
}

/// Sessions that ended (revoked, or past their idle or absolute end) before `horizon`, with
/// their refresh tokens.
async fn expire_sessions(
    db: &DatabaseConnection,
    horizon: DateTime<Utc>,
) -> Result<Counts, AppError> {
    let ended = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(
            Condition::any()
                .add(session::Column::RevokedAt.lt(horizon))
                .add(session::Column::AbsoluteExpiresAt.lt(horizon))
                .add(session::Column::IdleExpiresAt.lt(horizon)),
        )
        .into_query();
    let tokens = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::SessionId.in_subquery(ended.clone()))
        .exec(db)
        .await?;
    let sessions = session::Entity::delete_many()
        .filter(session::Column::Id.in_subquery(ended))
        .exec(db)
        .await?;
    Ok(vec![
        ("refresh_token", tokens.rows_affected),
        ("session", sessions.rows_affected),
    ])
}

/// Removes recording files nothing accounts for, main and sub-stream alike (`<camera>/` and
/// `<camera>/sub/`), once at least an hour old: any in the directory of a camera that no longer
/// exists; for an existing camera, one that began before this server's oldest segment of its
/// stream (retention deleted the row, the unlink failed), or more than an hour before the
/// camera's retention cutoff (its row was expired elsewhere: by another server while this one
/// was away), unless an active hold overlaps it (held footage is never deleted, indexed or
/// not). Other files are left to the indexer, which may not have reached them yet.
async fn reclaim_orphans(state: &AppState, now: DateTime<Utc>) -> Result<i64, AppError> {
    let root = recordings_root(state);
    let Ok(mut dirs) = tokio::fs::read_dir(&root).await else {
        return Ok(0);
    };
    let mut removed = 0;
    while let Ok(Some(dir)) = dirs.next_entry().await {
        if !dir.file_type().await.map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let camera_id = dir.file_name().to_string_lossy().into_owned();
        let camera = camera::Entity::find_by_id(camera_id.clone())
            .one(&state.db)
            .await?;
        // The camera's active holds, read once for both of its streams.
        let held: Vec<(i64, i64)> = match &camera {
            Some(_) => crate::evidence::locks::active_holds(&state.db, &camera_id)
                .await?
                .into_iter()
                .map(|h| (h.start_ms, h.end_ms))
                .collect(),
            None => Vec::new(),
        };
        for (profile, path, prefix) in [
            ("main", dir.path(), camera_id.clone()),
            ("sub", dir.path().join("sub"), format!("{camera_id}/sub")),
        ] {
            let keep = match &camera {
                None => Keep::default(),
                Some(camera) => {
                    let retained =
                        now - chrono::Duration::hours(i64::from(camera.retention_hours.max(1)) + 1);
                    let oldest = oldest_here(state, &camera_id, profile).await?;
                    Keep {
                        from: Some(oldest.map_or(retained.timestamp_millis(), |ms| {
                            ms.max(retained.timestamp_millis())
                        })),
                        // A file may run past its nominal length: a minute's margin.
                        span_ms: (i64::from(camera.segment_seconds.max(1)) + 60) * 1000,
                        held: held.clone(),
                    }
                }
            };
            removed += reclaim_in(state, &path, &prefix, &keep).await?;
        }
    }
    Ok(removed)
}

/// Start (epoch ms) of this server's oldest segment of a camera's stream: another server's
/// older rows say nothing about the files on this disk.
async fn oldest_here(
    state: &AppState,
    camera_id: &str,
    profile: &str,
) -> Result<Option<i64>, AppError> {
    Ok(segment::Entity::find()
        .select_only()
        .column(segment::Column::StartMs)
        .filter(segment::Column::CameraId.eq(camera_id))
        .filter(segment::Column::Profile.eq(profile))
        .filter(crate::retention::plan::stored_here(
            state.ownership.instance_id(),
        ))
        .order_by_asc(segment::Column::StartMs)
        .limit(1)
        .into_tuple()
        .one(&state.db)
        .await?)
}

/// What orphan reclamation keeps of a camera's files; the default (a deleted camera's) keeps
/// nothing.
#[derive(Default)]
struct Keep {
    /// Files that began at or after this (epoch ms) are the indexer's business.
    from: Option<i64>,
    /// How long a file may run from the time in its name, in ms.
    span_ms: i64,
    /// Active holds on the camera, (start, end) in epoch ms: footage they overlap stays.
    held: Vec<(i64, i64)>,
}

impl Keep {
    fn keeps(&self, start_ms: i64) -> bool {
        self.from.is_some_and(|from| start_ms >= from)
            || self
                .held
                .iter()
                .any(|&(s, e)| s < start_ms + self.span_ms && e > start_ms)
    }
}

/// Removes the recordings in `dir` (named `<prefix>/<file>` in segment rows) that no row
/// accounts for, are at least an hour old and that `keep` does not keep.
async fn reclaim_in(
    state: &AppState,
    dir: &std::path::Path,
    prefix: &str,
    keep: &Keep,
) -> Result<i64, AppError> {
    let hour = std::time::Duration::from_secs(3600);
    let Ok(mut files) = tokio::fs::read_dir(dir).await else {
        return Ok(0);
    };
    let mut removed = 0;
    while let Ok(Some(file)) = files.next_entry().await {
        let name = file.file_name().to_string_lossy().into_owned();
        let Some(start) = crate::footage::indexer::start_from_name(&name) else {
            continue;
        };
        let old_enough = file
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= hour);
        if !old_enough || keep.keeps(start.timestamp_millis()) {
            continue;
        }
        // Re-check just before unlinking: a row may have appeared meanwhile.
        let path = format!("{prefix}/{name}");
        let tracked = segment::Entity::find()
            .filter(segment::Column::Path.eq(path.clone()))
            .one(&state.db)
            .await?
            .is_some();
        if !tracked && tokio::fs::remove_file(file.path()).await.is_ok() {
            tracing::warn!(file = %path, "removed a recording file no segment accounts for");
            removed += 1;
        }
    }
    Ok(removed)
}

/// Sweeps every `HELDAR_RETENTION_INTERVAL_SECS` (never when 0) until the process stops.
pub async fn run(state: AppState) {
    let every = state.config.retention_interval_secs;
    if every == 0 {
        return std::future::pending().await;
    }
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(every));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(err) = sweep(&state).await {
            tracing::warn!(error = %err, "retention sweep failed; retrying next interval");
        }
    }
}
