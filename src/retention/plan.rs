//! The retention plan: which recordings go, in the reference's phases, never held or
//! read-locked footage. Phases, in order: age per camera (`retention_hours`), per-camera quota,
//! the global size cap shared fairly between cameras, then the free-disk floor. The preview
//! shows exactly this plan; the sweep deletes it.

use std::collections::{BTreeMap, HashSet, VecDeque};

use async_graphql::{ComplexObject, Enum, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{camera, segment};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::AppError;
use crate::events::model::Severity;
use crate::evidence::locks::not_held;
use crate::footage::recorder::recordings_root;
use crate::graphql::scalars::Long;
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

impl RetentionReason {
    /// The reason as metrics label it (`age`, `camera_quota`, `size_cap`, `disk_floor`).
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionReason::Age => "age",
            RetentionReason::CameraQuota => "camera_quota",
            RetentionReason::SizeCap => "size_cap",
            RetentionReason::DiskFloor => "disk_floor",
        }
    }
}

/// A condition deletion cannot fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum RetentionWarningCode {
    /// Held footage alone exceeds a camera's quota.
    CameraQuotaProtected,
    /// Held footage alone exceeds the global size cap.
    LockedExceedsCap,
    /// A camera over its fair share holds only held or in-use footage.
    OverShareAllProtected,
    /// The free-disk floor is not below the disk's size.
    FloorUnsatisfiable,
    /// The recordings disk's free space cannot be read.
    DiskStatsUnavailable,
}

impl RetentionWarningCode {
    /// The code as the sweep's event payload writes it (`camera_quota_protected`).
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionWarningCode::CameraQuotaProtected => "camera_quota_protected",
            RetentionWarningCode::LockedExceedsCap => "locked_exceeds_cap",
            RetentionWarningCode::OverShareAllProtected => "over_share_all_protected",
            RetentionWarningCode::FloorUnsatisfiable => "floor_unsatisfiable",
            RetentionWarningCode::DiskStatsUnavailable => "disk_stats_unavailable",
        }
    }
}

/// A condition the sweep could not fix by deleting unprotected footage.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionWarning {
    /// How serious: WARNING or CRITICAL.
    pub severity: Severity,
    /// Which condition.
    pub code: RetentionWarningCode,
    /// Camera concerned, if one.
    pub camera_id: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// A segment the sweep would delete.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct RetentionCandidate {
    /// Id of the segment (`seg_…`).
    pub segment_id: String,
    /// Id of the segment's camera.
    pub camera_id: String,
    /// First instant of the segment's footage.
    pub start: DateTime<Utc>,
    /// Last instant of the segment's footage.
    pub end: DateTime<Utc>,
    /// File size in bytes.
    #[graphql(skip)]
    pub size_bytes: i64,
    /// Why it was picked: the first rule that applies, in the order AGE, CAMERA_QUOTA, SIZE_CAP, DISK_FLOOR.
    pub reason: RetentionReason,
    /// The file, relative to the recordings root.
    #[graphql(skip)]
    pub path: String,
    /// Start, epoch ms.
    #[graphql(skip)]
    pub start_ms: i64,
    /// End, epoch ms.
    #[graphql(skip)]
    pub end_ms: i64,
    /// A main-stream segment (its deletion is a hole in coverage); sub-stream copies are not.
    #[graphql(skip)]
    pub main: bool,
    /// On this server's disk (an unplaced row may not be): its bytes free this disk.
    #[graphql(skip)]
    pub here: bool,
    /// Placed on another server's disk (a row the age rule takes for a server that stopped
    /// sweeping): only its row goes here; the file is that server's to remove.
    #[graphql(skip)]
    pub elsewhere: bool,
}

#[ComplexObject]
impl RetentionCandidate {
    /// File size in bytes.
    async fn size_bytes(&self) -> Long {
        Long(self.size_bytes)
    }

    /// Its file is not on this server's disk: recorded by another server of the fleet and a day
    /// past its camera's retention (that server stopped sweeping its own), or a row no server
    /// has claimed. The sweep takes the row, so coverage stops offering it, and counts it in
    /// `forgottenSegments`, not in the deleted totals (an unclaimed row's file found on this
    /// disk after all is deleted with it, and counted as deleted).
    async fn elsewhere(&self) -> bool {
        !self.here
    }
}

/// Segments and bytes for one reason.
#[derive(Debug, Clone, SimpleObject)]
pub struct ReasonTotal {
    /// The rule these segments were picked by.
    pub reason: RetentionReason,
    /// Segments picked by this rule.
    pub segments: Long,
    /// Bytes of those segments.
    pub bytes: Long,
}

/// What the next sweep would delete, and why.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionPreview {
    /// When this plan was computed, by the server's clock.
    pub planned_at: DateTime<Utc>,
    /// The first candidates, in deletion order: those whose files this server would delete
    /// and those of rows it would only forget (`elsewhere`), `totalSegments +
    /// forgottenSegments` in all.
    pub segments: Vec<RetentionCandidate>,
    /// Segments the sweep would delete with their files, including those past `first`.
    pub total_segments: Long,
    /// Bytes those deletions would free.
    pub total_bytes: Long,
    /// The segments of `totalSegments`, per reason; reasons with none are left out.
    pub by_reason: Vec<ReasonTotal>,
    /// Rows the sweep would take out of the index without deleting a file here: other
    /// servers' segments a day past retention and rows no server has claimed (candidates with
    /// `elsewhere`; the sweep deletes an unclaimed row's file it finds here, and counts it as
    /// deleted).
    pub forgotten_segments: Long,
    /// Conditions deletion cannot fix.
    pub warnings: Vec<RetentionWarning>,
}

/// Rows of one table a sweep removed after their time to live.
#[derive(Debug, Clone, SimpleObject)]
pub struct PrunedTable {
    /// The table: `audit_log`, `event`, `recording_gap` (after `HELDAR_AUDIT_RETENTION_DAYS`),
    /// `detection`, `outbox`, `consumer_fanout` (after `HELDAR_DETECTION_RETENTION_DAYS`),
    /// `session`, `refresh_token` (ended sessions, after `HELDAR_SESSION_RETENTION_DAYS`),
    /// `clip_export` (expired or failed jobs, after `HELDAR_FINISHED_JOB_RETENTION_DAYS`).
    pub table: String,
    /// Rows removed.
    pub rows: Long,
}

/// What a sweep did.
#[derive(Debug, Clone, SimpleObject)]
pub struct RetentionReport {
    /// When the sweep started, by the server's clock.
    pub started_at: DateTime<Utc>,
    /// Recording segments this sweep deleted, rows and files.
    pub deleted_segments: Long,
    /// Bytes of the deleted segments: what the sweep freed on this server's disk.
    pub deleted_bytes: Long,
    /// Rows this sweep took out of the index without deleting a file here (coverage no longer
    /// offers them): other servers' segments a day past their camera's retention, their files
    /// left to those servers, and rows no server has claimed whose file was not on this disk
    /// (one that was is deleted and counted as deleted). Not in `deletedSegments`,
    /// `deletedBytes` or `byReason`.
    pub forgotten_segments: Long,
    /// Candidates kept because a read lock or hold appeared before the delete.
    pub skipped_locked: Long,
    /// Deleted segments per reason; reasons with none are left out.
    pub by_reason: Vec<ReasonTotal>,
    /// Clips removed after their own retention.
    pub expired_clips: Long,
    /// Snapshots removed after their retention.
    pub expired_snapshots: Long,
    /// Clips and snapshots evicted, oldest first, to keep them under `HELDAR_EXPORTS_MAX_SIZE`
    /// (never one under an active evidence hold); done before any recording is considered.
    pub evicted_exports: Long,
    /// Rows removed after their time to live, in all (the sum of `pruned`).
    pub pruned_rows: Long,
    /// Rows removed after their time to live, per table; tables with none are left out.
    pub pruned: Vec<PrunedTable>,
    /// Recording files, main and sub-stream, no segment row accounts for, removed: an hour old, and of a deleted camera, older than this server's oldest segment of their stream, or begun over an hour before their camera's retention ends, with no active hold over them.
    pub reclaimed_orphans: Long,
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
pub struct Ledger {
    /// This instance's id: the ledger holds the segments on its disk.
    here: String,
    cameras: BTreeMap<String, CameraLedger>,
    planned: HashSet<String>,
    /// The candidates, in deletion order.
    pub out: Vec<RetentionCandidate>,
    /// Conditions deletion cannot fix.
    pub warnings: Vec<RetentionWarning>,
}

/// Segments whose files are on this instance's disk (`here` is its id). Servers sharing one
/// database each keep their recordings in their own data directory and each sweeps its own:
/// the quotas, the size cap and the disk floor count and take only these, so a server short
/// of disk never deletes footage another server's disk holds. Rows from before segments said
/// where they are get placed at start-up ([`crate::footage::indexer::adopt_local`]).
pub fn stored_here(here: &str) -> Condition {
    Condition::all().add(segment::Column::InstanceId.eq(here))
}

/// How long past its camera's retention another server's footage stays before any server's
/// sweep expires its rows: a running server expires its own on its next sweep (and unlinks
/// their files); rows still there a day later belong to a server that stopped sweeping (gone
/// for good, or down), and coverage should not go on offering footage retention has ended.
pub const ELSEWHERE_GRACE_HOURS: i64 = 24;

/// Segments the age rule may take on this instance (`here`) for a camera whose retention ends
/// at `cutoff`, in two sets: its own and unplaced rows (every server claims the rows of its
/// files when it starts, so these are rows whose file no server has); then, apart so that a
/// gone server's backlog never delays this server's own, another server's once they are
/// [`ELSEWHERE_GRACE_HOURS`] past the cutoff (only their rows; a server that comes back
/// removes the files as orphans past retention).
fn aged_here(here: &str, cutoff: DateTime<Utc>) -> [Condition; 2] {
    let overdue = cutoff - chrono::Duration::hours(ELSEWHERE_GRACE_HOURS);
    [
        Condition::all()
            .add(segment::Column::EndMs.lt(cutoff.timestamp_millis()))
            .add(
                Condition::any()
                    .add(segment::Column::InstanceId.eq(here))
                    .add(segment::Column::InstanceId.is_null()),
            ),
        Condition::all()
            .add(segment::Column::EndMs.lt(overdue.timestamp_millis()))
            .add(segment::Column::InstanceId.ne(here)),
    ]
}

/// Deletable now: no read lock, no evidence flag, no active hold overlapping.
pub fn deletable() -> Condition {
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
                .filter(stored_here(&self.here))
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
        // An unplaced row is not in this server's totals (its file may be on no disk here).
        if let Some(cam) = self.cameras.get_mut(&c.camera_id).filter(|_| c.here) {
            cam.total -= c.size_bytes;
        }
        self.planned.insert(c.segment_id.clone());
        self.out.push(c);
    }

    fn warn(
        &mut self,
        severity: Severity,
        code: RetentionWarningCode,
        camera: Option<&str>,
        message: String,
    ) {
        self.warnings.push(RetentionWarning {
            severity,
            code,
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
                    RetentionWarningCode::LockedExceedsCap,
                    None,
                    format!("held footage ({protected} bytes) alone exceeds the limit ({max} bytes); release holds or raise the limit"),
                );
            }
            return Ok(());
        }
        let mut last: Option<String> = None;
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
            // On a tie the camera already being pruned goes on paying, as it would inside the
            // reference's batches: a camera that was never over its share is not cut because
            // the pruned one came down to meet it (R5).
            let mut worst: Option<(String, i64)> = None;
            for id in &holders {
                let over = self.cameras[id].total - share;
                let better = match &worst {
                    None => over > 0,
                    Some((_, most)) => {
                        over > *most || (over == *most && last.as_deref() == Some(id.as_str()))
                    }
                };
                if better {
                    worst = Some((id.clone(), over));
                }
            }
            let victim = match worst {
                Some((camera, _)) => match self.peek(db, &camera).await? {
                    Some(v) => v,
                    None => {
                        self.warn(
                            Severity::Critical,
                            RetentionWarningCode::OverShareAllProtected,
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
            last = Some(victim.camera_id.clone());
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
        main: s.profile == "main",
        here: true,
        elsewhere: false,
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

/// Plans a sweep at `now`: the phases in order, each taking from what the earlier left.
pub async fn plan(state: &AppState, now: DateTime<Utc>) -> Result<Ledger, AppError> {
    let db = &state.db;
    let cameras = camera::Entity::find().all(db).await?;
    let mut ledger = Ledger::open(db, state.ownership.instance_id()).await?;
    ledger.by_age(db, &cameras, now).await?;
    ledger.by_camera_quota(db, &cameras).await?;
    // The global size cap, shared fairly.
    let cap = state.config.max_recordings_size.as_u64() as i64;
    if cap > 0 {
        ledger.fair_share(db, cap, RetentionReason::SizeCap).await?;
    }
    let floor = state.config.min_free_disk.as_u64();
    if floor > 0 {
        let disk = disk_space(&recordings_root(state));
        ledger.by_disk_floor(db, floor, disk).await?;
    }
    Ok(ledger)
}

impl Ledger {
    /// Every camera's bytes on this instance's disk (`here` is its id), and how many of them
    /// are held.
    async fn open(db: &impl ConnectionTrait, here: &str) -> Result<Ledger, AppError> {
        let totals: Vec<(String, Option<i64>, Option<i64>)> = segment::Entity::find()
            .filter(stored_here(here))
            .select_only()
            .column(segment::Column::CameraId)
            .column_as(Expr::cust("CAST(SUM(size_bytes) AS BIGINT)"), "total")
            .column_as(
                Expr::cust(
                    "CAST(SUM(CASE WHEN evidence_locked THEN size_bytes ELSE 0 END) AS BIGINT)",
                ),
                "protected",
            )
            .group_by(segment::Column::CameraId)
            .into_tuple()
            .all(db)
            .await?;
        let cameras = totals
            .into_iter()
            .map(|(id, total, protected)| {
                let camera = CameraLedger {
                    total: total.unwrap_or(0),
                    protected: protected.unwrap_or(0),
                    cursor: None,
                    queue: VecDeque::new(),
                    exhausted: false,
                };
                (id, camera)
            })
            .collect();
        Ok(Ledger {
            here: here.to_owned(),
            cameras,
            planned: HashSet::new(),
            out: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// Phase 1: footage older than each camera's retention; at most 5000 a camera per sweep (and
    /// as many of other servers' rows) so one sweep stays short.
    async fn by_age(
        &mut self,
        db: &impl ConnectionTrait,
        cameras: &[camera::Model],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        for cam in cameras {
            let cutoff = now - chrono::Duration::hours(i64::from(cam.retention_hours.max(1)));
            for set in aged_here(&self.here, cutoff) {
                let old = segment::Entity::find()
                    .filter(segment::Column::CameraId.eq(cam.id.clone()))
                    .filter(set)
                    .filter(deletable())
                    .order_by_asc(segment::Column::StartMs)
                    .limit(5000)
                    .all(db)
                    .await?;
                for s in old {
                    let here = s.instance_id.as_deref() == Some(self.here.as_str());
                    let elsewhere = !here && s.instance_id.is_some();
                    let c = RetentionCandidate {
                        here,
                        elsewhere,
                        ..candidate(s, RetentionReason::Age)
                    };
                    self.take(c, RetentionReason::Age);
                }
            }
        }
        Ok(())
    }

    /// Phase 2: each camera's own quota; held bytes count against it but are never taken.
    async fn by_camera_quota(
        &mut self,
        db: &impl ConnectionTrait,
        cameras: &[camera::Model],
    ) -> Result<(), AppError> {
        for cam in cameras {
            let Some(quota) = cam.storage_quota_bytes.filter(|q| *q > 0) else {
                continue;
            };
            let Some(protected) = self.cameras.get(&cam.id).map(|c| c.protected) else {
                continue;
            };
            let budget = quota - protected;
            if budget <= 0 {
                if protected > quota {
                    self.warn(
                        Severity::Warning,
                        RetentionWarningCode::CameraQuotaProtected,
                        Some(&cam.id),
                        format!("held footage ({protected} bytes) exceeds the camera's quota ({quota} bytes); release holds or raise the quota"),
                    );
                }
                continue;
            }
            while self.deletable_bytes(&cam.id) > budget {
                match self.peek(db, &cam.id).await? {
                    Some(v) => self.take(v, RetentionReason::CameraQuota),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Phase 4: the free-disk floor, from one reading of the disk (`None`: unreadable).
    async fn by_disk_floor(
        &mut self,
        db: &impl ConnectionTrait,
        floor: u64,
        disk: Option<(u64, u64)>,
    ) -> Result<(), AppError> {
        match disk {
            None => self.warn(
                Severity::Warning,
                RetentionWarningCode::DiskStatsUnavailable,
                None,
                "cannot read the recordings disk's free space; the free-disk floor is not enforced".into(),
            ),
            Some((_, total)) if floor >= total => self.warn(
                Severity::Critical,
                RetentionWarningCode::FloorUnsatisfiable,
                None,
                format!("HELDAR_MIN_FREE_DISK ({floor} bytes) is not below the disk's size ({total} bytes); nothing is pruned for it"),
            ),
            Some((free, _)) => {
                let planned: i64 = self
                    .out
                    .iter()
                    .filter(|c| c.here)
                    .map(|c| c.size_bytes)
                    .sum();
                let deficit = floor as i64 - free as i64 - planned;
                if deficit > 0 {
                    let fleet: i64 = self.cameras.values().map(|c| c.total).sum();
                    self.fair_share(db, (fleet - deficit).max(0), RetentionReason::DiskFloor)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Segments and bytes of `candidates`, by reason.
pub fn totals<'c>(
    candidates: impl IntoIterator<Item = &'c RetentionCandidate>,
) -> Vec<ReasonTotal> {
    let mut by: BTreeMap<RetentionReason, (i64, i64)> = BTreeMap::new();
    for c in candidates {
        let entry = by.entry(c.reason).or_default();
        entry.0 += 1;
        entry.1 += c.size_bytes;
    }
    by.into_iter()
        .map(|(reason, (segments, bytes))| ReasonTotal {
            reason,
            segments: Long(segments),
            bytes: Long(bytes),
        })
        .collect()
}

/// What the next sweep would delete now, and why (the first `limit` candidates listed).
pub async fn preview(state: &AppState, limit: usize) -> Result<RetentionPreview, AppError> {
    let now = state.clock.now();
    let ledger = plan(state, now).await?;
    let own = || ledger.out.iter().filter(|c| c.here);
    Ok(RetentionPreview {
        planned_at: now,
        total_segments: Long(own().count() as i64),
        total_bytes: Long(own().map(|c| c.size_bytes).sum()),
        by_reason: totals(own()),
        forgotten_segments: Long(ledger.out.iter().filter(|c| !c.here).count() as i64),
        segments: ledger.out.into_iter().take(limit).collect(),
        warnings: ledger.warnings,
    })
}
