//! Retention: which recordings go, in the reference's phases, and the sweep that deletes them
//! without ever touching held or read-locked footage.
//!
//! Phases, in order: age per camera (`retention_hours`), per-camera quota, the global size cap
//! shared fairly between cameras, the free-disk floor, then row lifetimes (clips, snapshots,
//! audit, events, old gaps). A planner computes the candidates (the preview shows exactly
//! that); the sweep deletes each with a conditional delete that re-checks both locks at the
//! moment of deletion, and unlinks the file only after its row is gone.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use async_graphql::{Enum, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{audit_log, camera, clip_export, event, recording_gap, segment, snapshot};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use serde_json::json;

use crate::auth::token::new_id;
use crate::error::AppError;
use crate::evidence::jobs::{self, status};
use crate::evidence::locks::not_held;
use crate::footage::graphql::{CoverageChange, CoverageChangeKind, GapReason};
use crate::footage::recorder::recordings_root;
use crate::footage::store;
use crate::state::AppState;

/// Why a segment is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Enum)]
pub enum RetentionReason {
    /// Older than the camera's `retentionHours`.
    Age,
    /// The camera is over its own storage quota.
    CameraQuota,
    /// All recordings are over `HELDAR_MAX_RECORDINGS_SIZE`; the camera is most over its fair share.
    SizeCap,
    /// The disk is below `HELDAR_MIN_FREE_DISK`.
    DiskFloor,
}

/// How serious an event or a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum)]
pub enum Severity {
    /// For the record.
    Info,
    /// Needs attention soon.
    Warning,
    /// Footage is at risk or a limit cannot be met.
    Critical,
}

impl Severity {
    /// The stored name (`info`, `warning`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity a stored name stands for (unknown names are `Info`).
    pub fn parse(stored: &str) -> Severity {
        match stored {
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => Severity::Info,
        }
    }
}

/// A condition the sweep could not fix by deleting unprotected footage.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionWarning {
    /// How serious.
    pub severity: Severity,
    /// Stable code: `camera_quota_protected`, `locked_exceeds_cap`, `over_share_all_protected`, `floor_unsatisfiable`, `disk_stats_unavailable`.
    pub code: String,
    /// Camera concerned, if one.
    pub camera_id: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// A segment the sweep would delete.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionCandidate {
    /// Segment id.
    pub segment_id: String,
    /// Camera.
    pub camera_id: String,
    /// Segment start.
    pub start: DateTime<Utc>,
    /// Segment end.
    pub end: DateTime<Utc>,
    /// File size.
    pub size_bytes: i64,
    /// Why.
    pub reason: RetentionReason,
    #[graphql(skip)]
    path: String,
    #[graphql(skip)]
    start_ms: i64,
    #[graphql(skip)]
    end_ms: i64,
}

/// Segments and bytes for one reason.
#[derive(Debug, Clone, SimpleObject)]
pub struct ReasonTotal {
    /// Reason.
    pub reason: RetentionReason,
    /// Segments.
    pub segments: i64,
    /// Bytes.
    pub bytes: i64,
}

/// What the next sweep would delete, and why.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionPreview {
    /// When planned.
    pub planned_at: DateTime<Utc>,
    /// The first candidates, in deletion order.
    pub segments: Vec<RetentionCandidate>,
    /// All candidates.
    pub total_segments: i64,
    /// Their bytes.
    pub total_bytes: i64,
    /// Split by reason.
    pub by_reason: Vec<ReasonTotal>,
    /// Conditions deletion cannot fix.
    pub warnings: Vec<RetentionWarning>,
}

/// What a sweep did.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionReport {
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Segments deleted.
    pub deleted_segments: i64,
    /// Their bytes.
    pub deleted_bytes: i64,
    /// Candidates kept because a read lock or hold appeared before the delete.
    pub skipped_locked: i64,
    /// Deleted, by reason.
    pub by_reason: Vec<ReasonTotal>,
    /// Clips removed after their own retention.
    pub expired_clips: i64,
    /// Snapshots removed after their retention.
    pub expired_snapshots: i64,
    /// Audit, event and gap rows removed after `HELDAR_AUDIT_RETENTION_DAYS`.
    pub pruned_rows: i64,
    /// Recording files no segment row accounts for (older than an hour, and older than the camera's oldest segment or of a deleted camera), removed.
    pub reclaimed_orphans: i64,
    /// Conditions deletion cannot fix.
    pub warnings: Vec<RetentionWarning>,
}

struct CameraLedger {
    total: i64,
    protected: i64,
    cursor: Option<(i64, String)>,
    queue: VecDeque<RetentionCandidate>,
    exhausted: bool,
}

/// The planner's view: per-camera bytes and lazily fetched deletable segments, oldest first.
struct Ledger {
    cameras: BTreeMap<String, CameraLedger>,
    planned: HashSet<String>,
    out: Vec<RetentionCandidate>,
    warnings: Vec<RetentionWarning>,
}

/// Deletable now: no read lock, no evidence flag, no active hold overlapping.
fn deletable() -> Condition {
    Condition::all()
        .add(segment::Column::ReadLocks.eq(0))
        .add(segment::Column::EvidenceLocked.eq(false))
        .add(not_held())
}

impl Ledger {
    fn deletable_bytes(&self, camera: &str) -> i64 {
        self.cameras
            .get(camera)
            .map(|c| c.total - c.protected)
            .unwrap_or(0)
    }

    /// The camera's oldest deletable segment not yet planned.
    async fn peek(
        &mut self,
        db: &impl ConnectionTrait,
        camera_id: &str,
    ) -> Result<Option<RetentionCandidate>, AppError> {
        let Some(cam) = self.cameras.get_mut(camera_id) else {
            return Ok(None);
        };
        loop {
            while let Some(front) = cam.queue.front() {
                if self.planned.contains(&front.segment_id) {
                    cam.queue.pop_front();
                } else {
                    return Ok(Some(front.clone()));
                }
            }
            if cam.exhausted {
                return Ok(None);
            }
            let mut query = segment::Entity::find()
                .filter(segment::Column::CameraId.eq(camera_id))
                .filter(deletable());
            if let Some((start, id)) = &cam.cursor {
                query = query.filter(
                    Condition::any()
                        .add(segment::Column::StartMs.gt(*start))
                        .add(
                            Condition::all()
                                .add(segment::Column::StartMs.eq(*start))
                                .add(segment::Column::Id.gt(id.clone())),
                        ),
                );
            }
            let rows = query
                .order_by_asc(segment::Column::StartMs)
                .order_by_asc(segment::Column::Id)
                .limit(256)
                .all(db)
                .await?;
            cam.exhausted = rows.len() < 256;
            if let Some(last) = rows.last() {
                cam.cursor = Some((last.start_ms, last.id.clone()));
            }
            cam.queue
                .extend(rows.into_iter().map(|s| candidate(s, RetentionReason::Age)));
        }
    }

    fn take(&mut self, mut c: RetentionCandidate, reason: RetentionReason) {
        c.reason = reason;
        if let Some(cam) = self.cameras.get_mut(&c.camera_id) {
            cam.total -= c.size_bytes;
        }
        self.planned.insert(c.segment_id.clone());
        self.out.push(c);
    }

    fn warn(&mut self, severity: Severity, code: &str, camera: Option<&str>, message: String) {
        self.warnings.push(RetentionWarning {
            severity,
            code: code.into(),
            camera_id: camera.map(str::to_owned),
            message,
        });
    }

    /// Deletes until the fleet is at most `max` bytes: always from the camera most over its
    /// equal share; if that camera holds only protected footage, stop rather than take a
    /// compliant camera's footage; if nobody is over its share, the fleet's oldest goes.
    async fn fair_share(
        &mut self,
        db: &impl ConnectionTrait,
        max: i64,
        reason: RetentionReason,
    ) -> Result<(), AppError> {
        let protected: i64 = self.cameras.values().map(|c| c.protected).sum();
        if protected >= max {
            if protected > max {
                self.warn(
                    Severity::Critical,
                    "locked_exceeds_cap",
                    None,
                    format!("held footage ({protected} bytes) alone exceeds the limit ({max} bytes); release holds or raise the limit"),
                );
            }
            return Ok(());
        }
        for _ in 0..100_000 {
            let total: i64 = self.cameras.values().map(|c| c.total).sum();
            if total <= max {
                return Ok(());
            }
            let holders: Vec<String> = self
                .cameras
                .iter()
                .filter(|(_, c)| c.total > 0)
                .map(|(id, _)| id.clone())
                .collect();
            let share = max / holders.len().max(1) as i64;
            let worst = holders
                .iter()
                .map(|id| (id.clone(), self.cameras[id].total - share))
                .filter(|(_, over)| *over > 0)
                .max_by_key(|(_, over)| *over);
            let victim = match worst {
                Some((camera, _)) => match self.peek(db, &camera).await? {
                    Some(v) => v,
                    None => {
                        self.warn(
                            Severity::Critical,
                            "over_share_all_protected",
                            Some(&camera),
                            format!("camera `{camera}` is over its fair share with only held or in-use footage; nothing else is taken"),
                        );
                        return Ok(());
                    }
                },
                None => {
                    let mut oldest: Option<RetentionCandidate> = None;
                    for camera in &holders {
                        if let Some(v) = self.peek(db, camera).await?
                            && oldest.as_ref().is_none_or(|o| v.start_ms < o.start_ms)
                        {
                            oldest = Some(v);
                        }
                    }
                    match oldest {
                        Some(v) => v,
                        None => return Ok(()),
                    }
                }
            };
            self.take(victim, reason);
        }
        Ok(())
    }
}

fn candidate(s: segment::Model, reason: RetentionReason) -> RetentionCandidate {
    RetentionCandidate {
        segment_id: s.id,
        camera_id: s.camera_id,
        start: segment::from_ms(s.start_ms),
        end: segment::from_ms(s.end_ms),
        size_bytes: s.size_bytes,
        reason,
        path: s.path,
        start_ms: s.start_ms,
        end_ms: s.end_ms,
    }
}

/// Free and total bytes of the filesystem holding `path`.
fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some((
        stat.f_bavail.saturating_mul(stat.f_frsize),
        stat.f_blocks.saturating_mul(stat.f_frsize),
    ))
}

/// Plans a sweep at `now`.
async fn plan(state: &AppState, now: DateTime<Utc>) -> Result<Ledger, AppError> {
    let db = &state.db;
    let cameras = camera::Entity::find().all(db).await?;
    let totals: Vec<(String, i64, i64)> = segment::Entity::find()
        .select_only()
        .column(segment::Column::CameraId)
        .column_as(Expr::cust("CAST(SUM(size_bytes) AS BIGINT)"), "total")
        .column_as(
            Expr::cust("CAST(SUM(CASE WHEN evidence_locked THEN size_bytes ELSE 0 END) AS BIGINT)"),
            "protected",
        )
        .group_by(segment::Column::CameraId)
        .into_tuple::<(String, Option<i64>, Option<i64>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(c, t, p)| (c, t.unwrap_or(0), p.unwrap_or(0)))
        .collect();
    let mut ledger = Ledger {
        cameras: totals
            .into_iter()
            .map(|(id, total, protected)| {
                (
                    id,
                    CameraLedger {
                        total,
                        protected,
                        cursor: None,
                        queue: VecDeque::new(),
                        exhausted: false,
                    },
                )
            })
            .collect(),
        planned: HashSet::new(),
        out: Vec::new(),
        warnings: Vec::new(),
    };
    // 1. Age, per camera; at most 5000 a camera per sweep so one sweep stays short.
    for cam in &cameras {
        let cutoff = now - chrono::Duration::hours(i64::from(cam.retention_hours.max(1)));
        let old = segment::Entity::find()
            .filter(segment::Column::CameraId.eq(cam.id.clone()))
            .filter(segment::Column::EndMs.lt(cutoff.timestamp_millis()))
            .filter(deletable())
            .order_by_asc(segment::Column::StartMs)
            .limit(5000)
            .all(db)
            .await?;
        for s in old {
            ledger.take(candidate(s, RetentionReason::Age), RetentionReason::Age);
        }
    }
    // 2. Per-camera quota: held bytes count against it but are never taken.
    for cam in &cameras {
        let Some(quota) = cam.storage_quota_bytes.filter(|q| *q > 0) else {
            continue;
        };
        let Some(ledger_cam) = ledger.cameras.get(&cam.id) else {
            continue;
        };
        let protected = ledger_cam.protected;
        let budget = quota - protected;
        if budget <= 0 {
            if protected > quota {
                ledger.warn(
                    Severity::Warning,
                    "camera_quota_protected",
                    Some(&cam.id),
                    format!("held footage ({protected} bytes) exceeds the camera's quota ({quota} bytes); release holds or raise the quota"),
                );
            }
            continue;
        }
        while ledger.deletable_bytes(&cam.id) > budget {
            match ledger.peek(db, &cam.id).await? {
                Some(v) => ledger.take(v, RetentionReason::CameraQuota),
                None => break,
            }
        }
    }
    // 3. Global size cap, shared fairly.
    let cap = state.config.max_recordings_size.as_u64() as i64;
    if cap > 0 {
        ledger.fair_share(db, cap, RetentionReason::SizeCap).await?;
    }
    // 4. Free-disk floor.
    let floor = state.config.min_free_disk.as_u64();
    if floor > 0 {
        match disk_space(&recordings_root(state)) {
            None => ledger.warn(
                Severity::Warning,
                "disk_stats_unavailable",
                None,
                "cannot read the recordings disk's free space; the free-disk floor is not enforced".into(),
            ),
            Some((_, total)) if floor >= total => ledger.warn(
                Severity::Critical,
                "floor_unsatisfiable",
                None,
                format!("HELDAR_MIN_FREE_DISK ({floor} bytes) is not below the disk's size ({total} bytes); nothing is pruned for it"),
            ),
            Some((free, _)) => {
                let planned: i64 = ledger.out.iter().map(|c| c.size_bytes).sum();
                let deficit = floor as i64 - free as i64 - planned;
                if deficit > 0 {
                    let fleet: i64 = ledger.cameras.values().map(|c| c.total).sum();
                    ledger
                        .fair_share(db, (fleet - deficit).max(0), RetentionReason::DiskFloor)
                        .await?;
                }
            }
        }
    }
    Ok(ledger)
}

fn totals(candidates: &[RetentionCandidate]) -> Vec<ReasonTotal> {
    let mut by: BTreeMap<RetentionReason, (i64, i64)> = BTreeMap::new();
    for c in candidates {
        let entry = by.entry(c.reason).or_default();
        entry.0 += 1;
        entry.1 += c.size_bytes;
    }
    by.into_iter()
        .map(|(reason, (segments, bytes))| ReasonTotal {
            reason,
            segments,
            bytes,
        })
        .collect()
}

/// What the next sweep would delete now, and why (the first `limit` candidates listed).
pub async fn preview(state: &AppState, limit: usize) -> Result<RetentionPreview, AppError> {
    let now = state.clock.now();
    let ledger = plan(state, now).await?;
    Ok(RetentionPreview {
        planned_at: now,
        total_segments: ledger.out.len() as i64,
        total_bytes: ledger.out.iter().map(|c| c.size_bytes).sum(),
        by_reason: totals(&ledger.out),
        segments: ledger.out.into_iter().take(limit).collect(),
        warnings: ledger.warnings,
    })
}

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
    if deleted == 1 {
        store::remove_span(&txn, &c.camera_id, c.start_ms, c.end_ms).await?;
    }
    txn.commit().await?;
    Ok(deleted == 1)
}

/// One sweep: plan, delete, record pruned spans as gaps, expire rows; one event per sweep.
pub async fn sweep(state: &AppState) -> Result<RetentionReport, AppError> {
    let _one_at_a_time = state.media.sweep.lock().await;
    let started_at = state.clock.now();
    let ledger = plan(state, started_at).await?;
    let root = recordings_root(state);
    let mut deleted = Vec::new();
    let mut skipped = 0;
    let mut failure = None;
    for c in ledger.out {
        let gone = match delete_segment_if_unprotected(state, &c).await {
            Ok(gone) => gone,
            Err(err) => {
                // Stop, but still disclose what was already deleted.
                failure = Some(err);
                break;
            }
        };
        if gone {
            match tokio::fs::remove_file(root.join(&c.path)).await {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    tracing::warn!(segment = %c.segment_id, error = %err, "segment row deleted but its file could not be removed; orphan left");
                }
            }
            deleted.push(c);
        } else {
            skipped += 1;
        }
    }
    record_pruned(state, &deleted, started_at).await?;
    if let Some(err) = failure {
        return Err(err);
    }
    let (expired_clips, expired_snapshots) = expire_media(state, started_at).await?;
    let pruned_rows = expire_rows(state, started_at).await?;
    let reclaimed_orphans = reclaim_orphans(state).await?;
    let report = RetentionReport {
        started_at,
        deleted_segments: deleted.len() as i64,
        deleted_bytes: deleted.iter().map(|c| c.size_bytes).sum(),
        skipped_locked: skipped,
        by_reason: totals(&deleted),
        expired_clips,
        expired_snapshots,
        pruned_rows,
        reclaimed_orphans,
        warnings: ledger.warnings,
    };
    let severity = report
        .warnings
        .iter()
        .map(|w| w.severity)
        .max()
        .unwrap_or(Severity::Info);
    let payload = json!({
        "deletedSegments": report.deleted_segments,
        "deletedBytes": report.deleted_bytes,
        "skippedLocked": report.skipped_locked,
        "byReason": report.by_reason.iter().map(|r| json!({"reason": format!("{:?}", r.reason), "segments": r.segments, "bytes": r.bytes})).collect::<Vec<_>>(),
        "expiredClips": expired_clips,
        "expiredSnapshots": expired_snapshots,
        "prunedRows": pruned_rows,
        "reclaimedOrphans": reclaimed_orphans,
        "warnings": report.warnings.iter().map(|w| json!({"severity": w.severity.as_str(), "code": w.code, "cameraId": w.camera_id, "message": w.message})).collect::<Vec<_>>(),
    });
    crate::perception::events::record(
        state,
        event::ActiveModel {
            kind: Set("RETENTION_SWEEP".into()),
            severity: Set(severity.as_str().into()),
            payload: Set(payload.to_string()),
            at: Set(started_at),
            ..Default::default()
        },
    )
    .await?;
    if report.deleted_segments > 0 || !report.warnings.is_empty() {
        tracing::info!(
            deleted = report.deleted_segments,
            bytes = report.deleted_bytes,
            skipped,
            warnings = report.warnings.len(),
            "retention sweep"
        );
    }
    Ok(report)
}

/// Deleted spans become gaps with reason `pruned`, and coverage subscribers hear of them.
async fn record_pruned(
    state: &AppState,
    deleted: &[RetentionCandidate],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut by_camera: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    for c in deleted {
        by_camera
            .entry(&c.camera_id)
            .or_default()
            .push((c.start_ms, c.end_ms));
    }
    for (camera, mut spans) in by_camera {
        spans.sort();
        let mut joined: Vec<(i64, i64)> = Vec::new();
        for (s, e) in spans {
            match joined.last_mut() {
                Some(last) if s - last.1 < store::JOIN_MS => last.1 = last.1.max(e),
                _ => joined.push((s, e)),
            }
        }
        for (s, e) in joined {
            recording_gap::Entity::insert(recording_gap::ActiveModel {
                id: Set(new_id("gap")),
                camera_id: Set(camera.to_owned()),
                gap_start: Set(segment::from_ms(s)),
                gap_end: Set(segment::from_ms(e)),
                seconds: Set((e - s) as f64 / 1000.0),
                reason: Set(GapReason::Pruned.as_str().into()),
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

/// Clips and snapshots past their own retention: files removed, clips marked EXPIRED.
async fn expire_media(state: &AppState, now: DateTime<Utc>) -> Result<(i64, i64), AppError> {
    let clips = clip_export::Entity::find()
        .filter(clip_export::Column::Status.eq(status::READY))
        .filter(clip_export::Column::ExpiresAt.lt(now))
        .all(&state.db)
        .await?;
    let dir = jobs::exports_dir(state);
    for clip in &clips {
        clip_export::Entity::update_many()
            .col_expr(clip_export::Column::Status, Expr::value(status::EXPIRED))
            .filter(clip_export::Column::Id.eq(clip.id.clone()))
            .exec(&state.db)
            .await?;
        for ext in ["mp4", "json"] {
            let _ = tokio::fs::remove_file(dir.join(format!("{}.{ext}", clip.id))).await;
        }
        jobs::publish(state, &clip.id).await;
    }
    let snaps = snapshot::Entity::find()
        .filter(snapshot::Column::ExpiresAt.lt(now))
        .all(&state.db)
        .await?;
    let snap_dir = jobs::snapshots_dir(state);
    for snap in &snaps {
        snapshot::Entity::delete_by_id(snap.id.clone())
            .exec(&state.db)
            .await?;
        let _ = tokio::fs::remove_file(snap_dir.join(format!("{}.jpg", snap.id))).await;
    }
    Ok((clips.len() as i64, snaps.len() as i64))
}

/// Audit entries, events and recorded gaps older than `HELDAR_AUDIT_RETENTION_DAYS`.
async fn expire_rows(state: &AppState, now: DateTime<Utc>) -> Result<i64, AppError> {
    let horizon = now - chrono::Duration::days(state.config.audit_retention_days as i64);
    let mut n = 0;
    n += audit_log::Entity::delete_many()
        .filter(audit_log::Column::CreatedAt.lt(horizon))
        .exec(&state.db)
        .await?
        .rows_affected;
    n += event::Entity::delete_many()
        .filter(event::Column::At.lt(horizon))
        .exec(&state.db)
        .await?
        .rows_affected;
    n += recording_gap::Entity::delete_many()
        .filter(recording_gap::Column::GapEnd.lt(horizon))
        .exec(&state.db)
        .await?
        .rows_affected;
    Ok(n as i64)
}

/// Removes recording files nothing accounts for: any `.mp4` at least an hour old in the
/// directory of a camera that no longer exists, and, for existing cameras, one whose name-time is
/// before the camera's oldest segment (retention deleted the row, the unlink failed). Files newer
/// than the oldest segment are left to the indexer, which may not have reached them yet.
async fn reclaim_orphans(state: &AppState) -> Result<i64, AppError> {
    let root = recordings_root(state);
    let Ok(mut dirs) = tokio::fs::read_dir(&root).await else {
        return Ok(0);
    };
    let hour = std::time::Duration::from_secs(3600);
    let mut removed = 0;
    while let Ok(Some(dir)) = dirs.next_entry().await {
        if !dir.file_type().await.map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let camera_id = dir.file_name().to_string_lossy().into_owned();
        let exists = camera::Entity::find_by_id(camera_id.clone())
            .one(&state.db)
            .await?
            .is_some();
        let oldest: Option<i64> = if exists {
            let first: Option<i64> = segment::Entity::find()
                .select_only()
                .column(segment::Column::StartMs)
                .filter(segment::Column::CameraId.eq(camera_id.clone()))
                .order_by_asc(segment::Column::StartMs)
                .limit(1)
                .into_tuple()
                .one(&state.db)
                .await?;
            match first {
                Some(ms) => Some(ms),
                None => continue,
            }
        } else {
            None
        };
        let Ok(mut files) = tokio::fs::read_dir(dir.path()).await else {
            continue;
        };
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
            let before_oldest = oldest.is_none_or(|ms| start.timestamp_millis() < ms);
            if !(old_enough && before_oldest) {
                continue;
            }
            // Re-check just before unlinking: a row may have appeared meanwhile.
            let path = format!("{camera_id}/{name}");
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
    }
    Ok(removed)
}

/// Sweeps every `HELDAR_RETENTION_INTERVAL_SECS` (never when 0) until the process stops.
pub async fn run(state: AppState) {
    let every = state.config.retention_interval_secs;
    if every == 0 {
        return;
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
