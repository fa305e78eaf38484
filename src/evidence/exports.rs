//! Clip exports, the media job runner: durable clip exports run under a global permit pool shared with
//! snapshots, with ffmpeg's progress streamed to subscribers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::vocab::ClipStatus;
use entity::{clip_export, segment};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, watch};

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::evidence::locks::ReadLock;
use crate::evidence::model::{self, DisclosedGap, Source};
use crate::evidence::splice;
use crate::footage::model::{GapReason, TimeRange, explain};
use crate::footage::recorder::recordings_root;
use crate::footage::store;
use crate::ids::new_id;
use crate::state::AppState;

/// A run that restarts interrupt more than this many times is failed instead of re-queued.
const MAX_ATTEMPTS: i32 = 2;

/// Shared by the runner, the resolvers and snapshots.
#[derive(Debug)]
pub struct MediaJobs {
    /// The global media-job permits.
    pub permits: Arc<Semaphore>,
    wake: Notify,
    cancels: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// Every change of an export (status, progress), for `clipExport` subscriptions.
    pub updates: broadcast::Sender<clip_export::Model>,
    /// Key of signed media links (derived from the token secret).
    pub url_key: Vec<u8>,
    /// Serialises "count the caller's unfinished exports, then queue one".
    queueing: tokio::sync::Mutex<()>,
}

impl MediaJobs {
    /// A pool of `permits` media jobs; links are signed with a key derived from `secret`.
    pub fn new(permits: usize, secret: &[u8]) -> MediaJobs {
        use hmac::Mac;
        let url_key = hmac::Hmac::<Sha256>::new_from_slice(secret)
            .map(|mut mac| {
                mac.update(b"heldar media links v1");
                mac.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        MediaJobs {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            wake: Notify::new(),
            cancels: Mutex::new(HashMap::new()),
            updates: broadcast::channel(1024).0,
            url_key,
            queueing: tokio::sync::Mutex::new(()),
        }
    }

    /// Tells the runner a job was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks a running job to stop; false when it is not running here.
    pub fn cancel(&self, id: &str) -> bool {
        self.cancels
            .lock()
            .ok()
            .and_then(|c| c.get(id).map(|tx| tx.send(true).is_ok()))
            .unwrap_or(false)
    }

    /// Waits up to `wait` for a permit (snapshots); UNAVAILABLE when the pool stays full.
    pub async fn permit(&self, wait: Duration) -> Result<OwnedSemaphorePermit, AppError> {
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::Unavailable(format!(
                "all {} media job slots are busy; retry shortly",
                self.permits.available_permits().max(1)
            ))),
        }
    }
}

/// Queues an export of `window` on `camera_id` for `principal` (already checked) and wakes
/// the runner. `NO_FOOTAGE` when nothing overlaps the window; the holes inside it are
/// disclosed with their recorded reasons.
pub async fn queue(
    state: &AppState,
    principal: &Principal,
    camera_id: &str,
    window: TimeRange,
) -> Result<clip_export::Model, AppError> {
    // Every overlapping segment, however many (never a truncated list).
    let segments = store::segments_overlapping(&state.db, camera_id, window).await?;
    if segments.is_empty() {
        return Err(AppError::Domain {
            code: "NO_FOOTAGE",
            message: "no recorded footage in the requested window".into(),
        });
    }
    let sources: Vec<Source> = segments
        .into_iter()
        .map(|s| Source {
            id: s.id,
            path: s.path,
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            size_bytes: s.size_bytes,
        })
        .collect();
    let (from_ms, to_ms) = (window.from.timestamp_millis(), window.to.timestamp_millis());
    let recorded = store::recorded_gaps(&state.db, camera_id, window).await?;
    let pauses = pause_holes(&recorded);
    let plan = model::clip_plan(from_ms, to_ms, &sources, &pauses);
    let gaps: Vec<DisclosedGap> = plan
        .gaps
        .iter()
        .map(|g| DisclosedGap {
            from_ms: g.from_ms,
            to_ms: g.to_ms,
            reason: explain(g.from_ms, g.to_ms, &recorded).map(|r| r.as_str().to_owned()),
        })
        .collect();
    // One credential cannot fill the queue: its unfinished exports are capped.
    let _queueing = state.media.queueing.lock().await;
    let unfinished = sea_orm::PaginatorTrait::count(
        clip_export::Entity::find()
            .filter(clip_export::Column::RequestedById.eq(principal.id.clone()))
            .filter(clip_export::Column::Status.is_in([ClipStatus::Queued, ClipStatus::Running])),
        &state.db,
    )
    .await?;
    let cap = state.config.exports_per_credential;
    if unfinished >= cap {
        return Err(AppError::Domain {
            code: "EXPORT_QUEUE_FULL",
            message: format!(
                "{unfinished} of your exports are queued or running, the limit; wait for one to finish or cancel one"
            ),
        });
    }
    let row = clip_export::ActiveModel {
        id: Set(new_id("clip")),
        camera_id: Set(camera_id.to_owned()),
        status: Set(ClipStatus::Queued),
        progress: Set(0.0),
        from_ms: Set(from_ms),
        to_ms: Set(to_ms),
        requested_seconds: Set((to_ms - from_ms) as f64 / 1000.0),
        covered_seconds: Set(plan.covered_seconds),
        gaps: Set(json!(gaps).to_string()),
        sources: Set(json!(sources).to_string()),
        actual_from_ms: Set(None),
        actual_to_ms: Set(None),
        size_bytes: Set(None),
        sha256: Set(None),
        error: Set(None),
        attempts: Set(0),
        requested_by_id: Set(principal.id.clone()),
        requested_by_name: Set(principal.name.clone()),
        created_at: Set(state.clock.now()),
        started_at: Set(None),
        finished_at: Set(None),
        expires_at: Set(None),
        instance_id: Set(None),
    }
    .insert(&state.db)
    .await?;
    state.media.wake();
    Ok(row)
}

/// Stops a queued or running export on behalf of `by`: it ends FAILED with "cancelled", its
/// process is stopped and its read locks released. `CONFLICT` when it has finished already.
pub async fn cancel(
    state: &AppState,
    job: clip_export::Model,
    by: &str,
) -> Result<clip_export::Model, AppError> {
    if job.status.is_final() {
        return Err(AppError::Conflict(format!(
            "export `{}` has already finished ({})",
            job.id, job.status
        )));
    }
    let mut row = job.clone().into_active_model();
    row.status = Set(ClipStatus::Failed);
    row.error = Set(Some(format!("cancelled by {by}")));
    row.finished_at = Set(Some(state.clock.now()));
    // The runner's own outcome is stored only while RUNNING, so this one stands.
    let row = row.update(&state.db).await?;
    state.media.cancel(&job.id);
    let _ = state.media.updates.send(row.clone());
    Ok(row)
}

/// Periodically (with the lease renewal): what instances whose lease lapsed left behind.
pub async fn recover_lapsed(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    recover_instances(state, now, false).await
}

/// Takes back the read locks and RUNNING exports of every instance that is not alive at `now`
/// (its lease lapsed, or it has none), and of this one too when `including_self` (start-up);
/// then forgets the lapsed leases.
async fn recover_instances(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
    including_self: bool,
) -> Result<(), AppError> {
    use entity::instance_lease;
    let me = state.ownership.instance_id();
    let live: Vec<String> = instance_lease::Entity::find()
        .filter(instance_lease::Column::ExpiresAt.gte(now))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|l| l.instance_id)
        .filter(|id| !(including_self && id == me))
        .collect();
    let alone = including_self && live.is_empty();
    let released = crate::evidence::locks::recover_read_locks(&state.db, &live, alone).await?;
    if released > 0 {
        tracing::warn!(
            segments = released,
            "took back read locks of a previous run or of a lapsed instance"
        );
    }
    // Run by nobody alive (or by nobody recorded): with no live instance, every RUNNING one.
    let mut interrupted =
        clip_export::Entity::find().filter(clip_export::Column::Status.eq(ClipStatus::Running));
    if !live.is_empty() {
        interrupted = interrupted.filter(
            Condition::any()
                .add(clip_export::Column::InstanceId.is_null())
                .add(clip_export::Column::InstanceId.is_not_in(live.clone())),
        );
    }
    let interrupted = interrupted.all(&state.db).await?;
    for job in interrupted {
        requeue_interrupted(state, job, now).await?;
    }
    instance_lease::Entity::delete_many()
        .filter(instance_lease::Column::ExpiresAt.lt(now))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// An export whose runner went away: re-queued, or failed after [`MAX_ATTEMPTS`] runs. The
/// update is conditional on it still RUNNING on the same instance, so a runner that finished
/// meanwhile keeps its outcome.
async fn requeue_interrupted(
    state: &AppState,
    job: clip_export::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let mut update = clip_export::Entity::update_many()
        .col_expr(clip_export::Column::Progress, Expr::value(0.0))
        .col_expr(
            clip_export::Column::InstanceId,
            Expr::value(Option::<String>::None),
        )
        .filter(clip_export::Column::Id.eq(job.id.clone()))
        .filter(clip_export::Column::Status.eq(ClipStatus::Running));
    update = match &job.instance_id {
        Some(instance) => update.filter(clip_export::Column::InstanceId.eq(instance.clone())),
        None => update.filter(clip_export::Column::InstanceId.is_null()),
    };
    if job.attempts >= MAX_ATTEMPTS {
        update = update
            .col_expr(clip_export::Column::Status, Expr::value(ClipStatus::Failed))
            .col_expr(
                clip_export::Column::Error,
                Expr::value(format!(
                    "interrupted by a server restart {} times; export again",
                    job.attempts
                )),
            )
            .col_expr(clip_export::Column::FinishedAt, Expr::value(now));
    } else {
        update = update.col_expr(clip_export::Column::Status, Expr::value(ClipStatus::Queued));
    }
    if update.exec(&state.db).await?.rows_affected > 0 {
        tracing::warn!(export = %job.id, attempts = job.attempts, instance = ?job.instance_id, "export interrupted: its server went away");
        state.media.wake();
    }
    Ok(())
}

/// `<data dir>/exports`.
pub fn exports_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("exports")
}

/// `<data dir>/snapshots`.
pub fn snapshots_dir(state: &AppState) -> PathBuf {
    state.config.data_dir.join("snapshots")
}

/// Start-up, before serving (this instance's lease already renewed): what this instance left
/// behind in its last run, and what instances whose lease lapsed left, is taken back (read
/// locks released; exports it left RUNNING re-queued once, then failed with the reason);
/// leftover partial files and concat lists removed. A live neighbour's locks and jobs are not
/// touched.
pub async fn recover(state: &AppState) -> Result<(), AppError> {
    let now = crate::fleet::ownership::register_lease(state).await?;
    recover_instances(state, now, true).await?;
    for dir in [exports_dir(state), snapshots_dir(state)] {
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(AppError::internal)?;
        if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                if entry.file_name().to_string_lossy().ends_with(".part") {
                    let _ = tokio::fs::remove_file(entry.path()).await;
                }
            }
        }
    }
    if let Ok(mut entries) = tokio::fs::read_dir(recordings_root(state)).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            if entry.file_name().to_string_lossy().ends_with(".ffconcat") {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }
    Ok(())
}

/// Runs queued exports, oldest first, each holding one permit, until the process stops.
pub async fn run(state: AppState) {
    loop {
        let Ok(permit) = state.media.permits.clone().acquire_owned().await else {
            return;
        };
        let notified = state.media.wake.notified();
        match claim_next(&state).await {
            Ok(Some(job)) => {
                tokio::spawn(run_job(state.clone(), job, permit));
            }
            Ok(None) => {
                drop(permit);
                let _ = tokio::time::timeout(Duration::from_secs(5), notified).await;
            }
            Err(err) => {
                drop(permit);
                tracing::warn!(error = %err, "could not claim an export");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Moves the oldest QUEUED export to RUNNING (a conditional update, so two runners never
/// take the same job).
async fn claim_next(state: &AppState) -> Result<Option<clip_export::Model>, AppError> {
    let Some(next) = clip_export::Entity::find()
        .filter(clip_export::Column::Status.eq(ClipStatus::Queued))
        .order_by_asc(clip_export::Column::CreatedAt)
        .order_by_asc(clip_export::Column::Id)
        .one(&state.db)
        .await?
    else {
        return Ok(None);
    };
    let now = state.clock.now();
    let claimed = crate::db::claim::<clip_export::Entity>(
        &state.db,
        None,
        Condition::all().add(clip_export::Column::Id.eq(next.id.clone())),
        Condition::all().add(clip_export::Column::Status.eq(ClipStatus::Queued)),
        vec![
            (
                clip_export::Column::Status,
                Expr::value(ClipStatus::Running),
            ),
            (clip_export::Column::StartedAt, Expr::value(now)),
            (
                clip_export::Column::InstanceId,
                Expr::value(state.ownership.instance_id()),
            ),
            (
                clip_export::Column::Attempts,
                Expr::value(next.attempts + 1),
            ),
        ],
    )
    .await?;
    if claimed != crate::db::Claim::Won {
        return Ok(None);
    }
    let job = clip_export::Entity::find_by_id(next.id)
        .one(&state.db)
        .await?;
    if let Some(job) = &job {
        let _ = state.media.updates.send(job.clone());
    }
    Ok(job)
}

/// What a finished ffmpeg run produced.
struct Output {
    size: i64,
    sha256: String,
    actual_from_ms: i64,
    actual_to_ms: i64,
    /// How the clip was made, for the manifest.
    method: &'static str,
}

/// The manifest's words for a clip spliced from the recordings' fragments.
const SPLICED: &str = "spliced from the recordings' own MP4 fragments (no re-encode, no remux); starts on a keyframe, ends after the last frame that starts before the requested end";
/// The manifest's words for a clip made by ffmpeg.
const CONCATENATED: &str =
    "ffmpeg concat demuxer, stream copy (no re-encode); cuts land on keyframes";

async fn run_job(state: AppState, job: clip_export::Model, permit: OwnedSemaphorePermit) {
    let (cancel_tx, cancel_rx) = watch::channel(false);
    if let Ok(mut cancels) = state.media.cancels.lock() {
        cancels.insert(job.id.clone(), cancel_tx);
    }
    let started = Instant::now();
    // Shared with the job's blocking reads: a read stuck on a stalled disk keeps the permit
    // until it returns, so stuck threads never outnumber the permits (the next job waits).
    let slot = Arc::new(permit);
    let result = export(&state, &job, &slot, cancel_rx).await;
    if let Ok(mut cancels) = state.media.cancels.lock() {
        cancels.remove(&job.id);
    }
    drop(slot);
    let outcome = if result.is_ok() { "ready" } else { "failed" };
    crate::telemetry::export_finished(outcome, started.elapsed().as_secs_f64());
    let now = state.clock.now();
    let update = match &result {
        Ok((output, sources, plan)) => {
            let expires = now + chrono::Duration::hours(state.config.clip_retention_hours as i64);
            tracing::info!(export = %job.id, seconds = started.elapsed().as_secs_f64(), bytes = output.size, "clip export ready");
            audit_ready(&state, &job, output, sources.len()).await;
            clip_export::Entity::update_many()
                .col_expr(clip_export::Column::Status, Expr::value(ClipStatus::Ready))
                .col_expr(clip_export::Column::Progress, Expr::value(1.0))
                .col_expr(clip_export::Column::SizeBytes, Expr::value(output.size))
                .col_expr(
                    clip_export::Column::Sha256,
                    Expr::value(output.sha256.clone()),
                )
                .col_expr(
                    clip_export::Column::ActualFromMs,
                    Expr::value(output.actual_from_ms),
                )
                .col_expr(
                    clip_export::Column::ActualToMs,
                    Expr::value(output.actual_to_ms),
                )
                .col_expr(clip_export::Column::FinishedAt, Expr::value(now))
                .col_expr(clip_export::Column::ExpiresAt, Expr::value(expires))
                // What was really read: sources deleted before the run started are gone from
                // the clip, so its coverage and holes are restated.
                .col_expr(
                    clip_export::Column::CoveredSeconds,
                    Expr::value(plan.covered_seconds),
                )
                .col_expr(
                    clip_export::Column::Gaps,
                    Expr::value(json!(model::disclose_clip(plan, &known_gaps(&job))).to_string()),
                )
                .col_expr(
                    clip_export::Column::Sources,
                    Expr::value(json!(sources).to_string()),
                )
        }
        Err(message) => {
            tracing::warn!(export = %job.id, error = %message, "clip export failed");
            clip_export::Entity::update_many()
                .col_expr(clip_export::Column::Status, Expr::value(ClipStatus::Failed))
                .col_expr(clip_export::Column::Error, Expr::value(message.clone()))
                .col_expr(clip_export::Column::FinishedAt, Expr::value(now))
        }
    };
    // Only while it is still this instance's run: a run re-queued by a peer (this instance's
    // lease lapsed) and claimed again elsewhere keeps that run's outcome.
    let stored = update
        .filter(clip_export::Column::Id.eq(job.id.clone()))
        .filter(clip_export::Column::Status.eq(ClipStatus::Running))
        .filter(clip_export::Column::InstanceId.eq(state.ownership.instance_id()))
        .exec(&state.db)
        .await;
    if let Err(err) = stored {
        tracing::error!(export = %job.id, error = %err, "could not store an export's outcome");
    }
    publish(&state, &job.id).await;
}

/// Audits a finished clip in the name of whoever asked for it.
async fn audit_ready(state: &AppState, job: &clip_export::Model, output: &Output, segments: usize) {
    let mut entry = Entry::new("export_clip", "clip_export", &job.id).detail(json!({
        "from": crate::footage::model::ms_to_rfc3339(job.from_ms),
        "to": crate::footage::model::ms_to_rfc3339(job.to_ms),
        "sha256": output.sha256,
        "segments": segments,
    }));
    entry.camera_id = Some(&job.camera_id);
    let actor = Actor {
        id: job.requested_by_id.clone(),
        name: job.requested_by_name.clone(),
        kind: "user",
        role: None,
    };
    audit::record(&state.db, &actor, entry, state.clock.now()).await;
}

fn known_gaps(job: &clip_export::Model) -> Vec<model::DisclosedGap> {
    serde_json::from_str(&job.gaps).unwrap_or_default()
}

/// Sends the stored row to subscribers.
pub async fn publish(state: &AppState, id: &str) {
    if let Ok(Some(row)) = clip_export::Entity::find_by_id(id.to_owned())
        .one(&state.db)
        .await
    {
        let _ = state.media.updates.send(row);
    }
}

/// The pauses among recorded gaps, as holes a clip plan discloses.
fn pause_holes(recorded: &[entity::recording_gap::Model]) -> Vec<model::Hole> {
    recorded
        .iter()
        .filter(|g| g.reason == GapReason::StreamPaused)
        .map(|g| model::Hole {
            from_ms: g.gap_start.timestamp_millis(),
            to_ms: g.gap_end.timestamp_millis(),
        })
        .collect()
}

/// Turns an error into the job's public message; the cause is logged with the job.
fn internal(job: &str, what: &str, err: &dyn std::fmt::Display) -> String {
    tracing::error!(export = %job, error = %err, "{what}");
    format!("{what} (see the server log)")
}

/// Runs one export to a READY file, or says why not: lock the sources, run the concat, check
/// the output, write the manifest. Read locks, the concat list and any partial output are
/// cleaned up on every path (the guard and `Cleanup` run on drop too).
async fn export(
    state: &AppState,
    job: &clip_export::Model,
    slot: &Arc<OwnedSemaphorePermit>,
    cancel: watch::Receiver<bool>,
) -> Result<(Output, Vec<Source>, model::ClipPlan), String> {
    let (lock, sources) = lock_sources(state, job).await?;
    let window = (job.from_ms, job.to_ms);
    let paused: Vec<model::Hole> = store::recorded_pauses(&state.db, &job.camera_id, window)
        .await
        .map_err(|e| internal(&job.id, "could not read the pauses in the window", &e))?
        .into_iter()
        .map(|(from_ms, to_ms)| model::Hole { from_ms, to_ms })
        .collect();
    let plan = model::clip_plan(job.from_ms, job.to_ms, &sources, &paused);
    let list = recordings_root(state).join(format!("{}.ffconcat", job.id));
    let part = exports_dir(state).join(format!("{}.mp4.part", job.id));
    let cleanup = Cleanup(vec![list.clone(), part.clone()]);
    let outcome = async {
        let (size, sha256, lead_in, method, wrote) =
            match run_splice(state, job, &plan, &part, slot, cancel.clone()).await? {
                Some((size, sha256, lead_in)) => (size, sha256, Some(lead_in), SPLICED, None),
                None => {
                    let (size, sha256, wrote) =
                        run_concat(state, job, &plan, &list, &part, cancel).await?;
                    // On disk before it is published as READY (the splice syncs its own).
                    sync_file(&part)
                        .await
                        .map_err(|e| internal(&job.id, "could not sync the clip", &e))?;
                    (size, sha256, None, CONCATENATED, wrote)
                }
            };
        verify_output(&part, size)
            .await
            .map_err(|e| internal(&job.id, "the clip changed after it was hashed", &e))?;
        let lead_in = lead_in_seconds(state, &sources, &plan, lead_in).await;
        if let Some(wrote) = wrote {
            refuse_short_clip(wrote, plan.covered_seconds + plan.paused_seconds, lead_in)?;
        }
        let (actual_from_ms, actual_to_ms) = actual_span(job, &sources, lead_in);
        let done = exports_dir(state).join(format!("{}.mp4", job.id));
        tokio::fs::rename(&part, &done)
            .await
            .map_err(|e| internal(&job.id, "could not publish the clip", &e))?;
        Ok::<_, String>(Output {
            size,
            sha256,
            actual_from_ms,
            actual_to_ms,
            method,
        })
    }
    .await;
    lock.release().await;
    drop(cleanup);
    let output = outcome?;
    let mut plan = plan;
    let lead_in = (output.actual_from_ms, job.from_ms);
    if lead_in.0 < lead_in.1 {
        let found = store::recorded_pauses(&state.db, &job.camera_id, lead_in)
            .await
            .map_err(|e| internal(&job.id, "could not read the pauses in the window", &e))?;
        plan.lead_in_pauses = found
            .into_iter()
            .map(|(from_ms, to_ms)| model::Hole {
                from_ms: from_ms.max(lead_in.0),
                to_ms: to_ms.min(lead_in.1),
            })
            .collect();
    }
    write_manifest(state, job, &sources, &plan, &output)
        .await
        .map_err(|e| internal(&job.id, "could not write the manifest", &e))?;
    Ok((output, sources, plan))
}

/// Read-locks the job's sources and keeps those that still exist (and so are now locked).
async fn lock_sources(
    state: &AppState,
    job: &clip_export::Model,
) -> Result<(ReadLock, Vec<Source>), String> {
    let sources: Vec<Source> = serde_json::from_str(&job.sources)
        .map_err(|e| internal(&job.id, "the job's source list is unreadable", &e))?;
    let lock = ReadLock::acquire(
        &state.db,
        state.ownership.instance_id(),
        sources.iter().map(|s| s.id.clone()).collect(),
    )
    .await
    .map_err(|e| internal(&job.id, "could not lock the source segments", &e))?;
    let present: Vec<String> = segment::Entity::find()
        .filter(segment::Column::Id.is_in(sources.iter().map(|s| s.id.clone())))
        .all(&state.db)
        .await
        .map_err(|e| internal(&job.id, "could not read the source segments", &e))?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let sources: Vec<Source> = sources
        .into_iter()
        .filter(|s| present.contains(&s.id))
        .collect();
    if sources.is_empty() {
        lock.release().await;
        return Err("the footage was deleted before the export could start".into());
    }
    Ok((lock, sources))
}

/// How much shorter than expected an ffmpeg clip may come out before it counts as cut short:
/// ffmpeg reports the last frame's start, not its end, which is a whole second at 1 fps, and
/// rounding adds a little per file.
const CONCAT_SHORTFALL_SECS: f64 = 1.5;

/// Writes the concat list and runs ffmpeg into `part`, hashing while it writes and storing
/// its progress; returns the size and SHA-256 of what it wrote, and the seconds of media
/// ffmpeg reported written.
async fn run_concat(
    state: &AppState,
    job: &clip_export::Model,
    plan: &model::ClipPlan,
    list: &Path,
    part: &Path,
    mut cancel: watch::Receiver<bool>,
) -> Result<(i64, String, Option<f64>), String> {
    let fail = |what: &str, err: &dyn std::fmt::Display| internal(&job.id, what, err);
    let text = model::concat_list(&plan.entries).map_err(|e| fail("unsafe source", &e))?;
    tokio::fs::write(list, text)
        .await
        .map_err(|e| fail("could not write the concat list", &e))?;
    let args = crate::fleet::ffmpeg::concat_args(list, part);
    let mut running = crate::fleet::ffmpeg::spawn(&state.config.ffmpeg, args, true, 3)
        .map_err(|e| fail("could not start ffmpeg", &e))?;
    let length = plan.covered_seconds + plan.paused_seconds;
    let progress = report_progress(state, &job.id, running.stdout.take(), length);
    let (written_tx, written_rx) = watch::channel(false);
    let hashing = tokio::spawn(hash_while_written(part.to_path_buf(), written_rx));
    let timeout = Duration::from_secs(state.config.export_timeout_secs);
    let waited = tokio::select! {
        done = async {
            let done = tokio::join!(progress, running.child.wait());
            let _ = written_tx.send(true);
            done
        } => Some(done),
        _ = tokio::time::sleep(timeout) => None,
        _ = cancel.wait_for(|c| *c) => return Err("cancelled".into()),
    };
    let Some((wrote, status)) = waited else {
        return Err(format!(
            "ffmpeg did not finish within {} s (HELDAR_EXPORT_TIMEOUT_SECS)",
            timeout.as_secs()
        ));
    };
    let status = status.map_err(|e| fail("ffmpeg could not be waited for", &e))?;
    if !status.success() {
        let tail = running
            .final_stderr()
            .await
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        return Err(format!("ffmpeg failed ({status}): {tail}"));
    }
    let (size, sha256) = hashing
        .await
        .map_err(|e| fail("the hashing task failed", &e))?
        .map_err(|e| fail("could not read the clip", &e))?;
    Ok((size, sha256, wrote))
}

/// ffmpeg's concat ends a clip, and exits happily, at a source it cannot read to the end (a
/// file cut short or damaged): a clip that much shorter than the media it takes (coverage and
/// the pauses inside it) plus its keyframe lead-in is not published.
fn refuse_short_clip(wrote: f64, length: f64, lead_in: f64) -> Result<(), String> {
    let expected = length + lead_in;
    if wrote + CONCAT_SHORTFALL_SECS < expected {
        return Err(format!(
            "ffmpeg wrote {wrote:.2} s of the {expected:.2} s the sources hold (a source file is damaged); no clip was published"
        ));
    }
    Ok(())
}

/// Stores ffmpeg's progress (at most every 200 ms) and tells subscribers; returns the most
/// media it reported written, in seconds.
async fn report_progress(
    state: &AppState,
    id: &str,
    stdout: Option<tokio::process::ChildStdout>,
    expected_seconds: f64,
) -> Option<f64> {
    let stdout = stdout?;
    let expected = expected_seconds.max(0.001);
    let mut lines = BufReader::new(stdout).lines();
    let mut last = Instant::now();
    let mut wrote: Option<f64> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(done) = model::progress_seconds(&line) {
            wrote = Some(wrote.map_or(done, |w| w.max(done)));
            if last.elapsed() >= Duration::from_millis(200) {
                last = Instant::now();
                store_progress(state, id, done / expected).await;
            }
        }
    }
    wrote
}

/// Stores a running job's progress (capped below 1 until it is READY) and tells subscribers.
async fn store_progress(state: &AppState, id: &str, fraction: f64) {
    let _ = clip_export::Entity::update_many()
        .col_expr(
            clip_export::Column::Progress,
            Expr::value(fraction.clamp(0.0, 0.99)),
        )
        .filter(clip_export::Column::Id.eq(id))
        .filter(clip_export::Column::Status.eq(ClipStatus::Running))
        .filter(clip_export::Column::InstanceId.eq(state.ownership.instance_id()))
        .exec(&state.db)
        .await;
    publish(state, id).await;
}

/// Splices the clip from the recordings' fragments ([`splice`]) on the blocking pool, storing
/// its progress every 200 ms; returns its size, SHA-256 and keyframe lead-in, or `None` when
/// the sources need ffmpeg (the reason is logged). Each blocking task holds the job's `slot`
/// until it returns, even after the job gave up on it.
async fn run_splice(
    state: &AppState,
    job: &clip_export::Model,
    plan: &model::ClipPlan,
    part: &Path,
    slot: &Arc<OwnedSemaphorePermit>,
    mut cancel: watch::Receiver<bool>,
) -> Result<Option<(i64, String, f64)>, String> {
    let root = recordings_root(state);
    let inputs: Vec<splice::Input> = plan
        .entries
        .iter()
        .map(|e| splice::Input {
            path: root.join(&e.path),
            inpoint: e.inpoint,
            outpoint: e.outpoint,
            indexed_size: e.indexed_size,
        })
        .collect();
    // The export's time limit covers reading the sources' layouts too (a stalled disk).
    let deadline = tokio::time::sleep(Duration::from_secs(state.config.export_timeout_secs));
    tokio::pin!(deadline);
    let timed_out = || {
        format!(
            "the clip was not written within {} s (HELDAR_EXPORT_TIMEOUT_SECS)",
            state.config.export_timeout_secs
        )
    };
    let planned = tokio::select! {
        planned = holding(slot, move || splice::plan(&inputs)) => planned,
        _ = &mut deadline => return Err(timed_out()),
        _ = cancel.wait_for(|c| *c) => return Err("cancelled".into()),
    };
    let spliced = match planned {
        Ok(Ok(spliced)) => spliced,
        // ffmpeg would stop at the same file (and exit happily): nothing to fall back to.
        Ok(Err(splice::Failure::Damaged {
            path,
            size,
            indexed_size,
        })) => {
            let name = path.strip_prefix(&root).unwrap_or(&path).display();
            return Err(format!(
                "{name} is {size} bytes where its index says {indexed_size} (a source file is damaged); no clip was published"
            ));
        }
        Ok(Err(why)) => {
            tracing::info!(export = %job.id, reason = ?why, "clip left to ffmpeg");
            return Ok(None);
        }
        Err(err) => {
            tracing::warn!(export = %job.id, error = %err, "the splice planner failed; clip left to ffmpeg");
            return Ok(None);
        }
    };
    let total = spliced.total_bytes.max(1) as f64;
    let lead_in = spliced.lead_in_seconds;
    let written = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (count, halt, out) = (written.clone(), stop.clone(), part.to_path_buf());
    let mut task = holding(slot, move || splice::write(&spliced, &out, &count, &halt));
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let stopped = loop {
        tokio::select! {
            result = &mut task => {
                return match result {
                    Ok(Ok(done)) => Ok(Some((done.size as i64, done.sha256, lead_in))),
                    Ok(Err(splice::Failure::Cancelled)) => Err("cancelled".into()),
                    Ok(Err(err)) => Err(internal(&job.id, "could not write the clip", &format!("{err:?}"))),
                    Err(err) => Err(internal(&job.id, "the splice failed", &err)),
                };
            }
            _ = tick.tick() => {
                let done = written.load(Ordering::Relaxed) as f64;
                store_progress(state, &job.id, done / total).await;
            }
            _ = async { cancel.wait_for(|c| *c).await.map(|_| ()) } => break "cancelled".to_owned(),
            _ = &mut deadline => break timed_out(),
        }
    };
    // The writer stops at its next chunk; wait a little for it so the partial file is not in
    // use when it is removed. A writer stuck in a read (a stalled disk) is left behind: it
    // writes to the removed file if it ever wakes, and keeps the job's permit until then.
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(WRITER_GRACE, task).await;
    Err(stopped)
}

/// Runs `work` on the blocking pool holding the job's `slot` until `work` returns.
fn holding<T: Send + 'static>(
    slot: &Arc<OwnedSemaphorePermit>,
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let held = slot.clone();
    tokio::task::spawn_blocking(move || {
        let done = work();
        drop(held);
        done
    })
}

/// How long a stopped splice writer gets to notice before the job ends without it.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Flushes a finished file to disk.
async fn sync_file(path: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(path).await?.sync_all().await
}

/// The file on disk is exactly what was hashed.
async fn verify_output(part: &Path, hashed_size: i64) -> Result<(), String> {
    match tokio::fs::metadata(part).await.map(|m| m.len() as i64) {
        Ok(size) if size == hashed_size => Ok(()),
        Ok(size) => Err(format!("{size} bytes on disk, {hashed_size} hashed")),
        Err(err) => Err(err.to_string()),
    }
}

/// Seconds from the keyframe the clip starts on to its first cut (stream copy cuts land on
/// keyframes): `known` when the splice chose it, else probed in the first source.
async fn lead_in_seconds(
    state: &AppState,
    sources: &[Source],
    plan: &model::ClipPlan,
    known: Option<f64>,
) -> f64 {
    if let Some(known) = known {
        return known;
    }
    let inpoint = plan.entries.first().and_then(|e| e.inpoint).unwrap_or(0.0);
    let file = recordings_root(state).join(&sources[0].path);
    match crate::fleet::ffmpeg::keyframes(&state.config.ffprobe, &file, inpoint).await {
        Some(keys) => model::keyframe_at_or_before(&keys, inpoint)
            .map(|k| inpoint - k)
            .unwrap_or(0.0),
        None => 0.0,
    }
}

/// The clip's real span: from `lead_in` seconds before the first covered instant to the last.
fn actual_span(job: &clip_export::Model, sources: &[Source], lead_in: f64) -> (i64, i64) {
    let first = &sources[0];
    let first_covered = job.from_ms.max(first.start_ms);
    let last_covered = sources
        .iter()
        .map(|s| s.end_ms)
        .max()
        .unwrap_or(job.to_ms)
        .min(job.to_ms);
    (
        first_covered - (lead_in * 1000.0).round() as i64,
        last_covered,
    )
}

/// Removes its files when dropped (concat list, partial output).
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Size and hex SHA-256 of a finished file.
pub async fn hash_file(path: &Path) -> std::io::Result<(i64, String)> {
    hash_while_written(path.to_path_buf(), watch::channel(true).1).await
}

/// Size and hex SHA-256 of a file that is still being written sequentially: reads what is
/// there, waits for more, and finishes once `written` says the writer is done.
async fn hash_while_written(
    path: PathBuf,
    mut written: watch::Receiver<bool>,
) -> std::io::Result<(i64, String)> {
    let mut file = loop {
        match tokio::fs::File::open(&path).await {
            Ok(file) => break file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !*written.borrow() => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => return Err(err),
        }
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0i64;
    loop {
        let n = file.read(&mut buf).await?;
        if n > 0 {
            size += n as i64;
            hasher.update(&buf[..n]);
            continue;
        }
        if *written.borrow() {
            // The writer is done: whatever remains is read by the next passes until EOF.
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            size += n as i64;
            hasher.update(&buf[..n]);
            continue;
        }
        tokio::select! {
            changed = written.changed() => {
                if changed.is_err() {
                    return Err(std::io::Error::other("the export stopped before its file was complete"));
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// The chain-of-custody record written beside the clip: `<id>.json`.
async fn write_manifest(
    state: &AppState,
    job: &clip_export::Model,
    sources: &[Source],
    plan: &model::ClipPlan,
    output: &Output,
) -> std::io::Result<()> {
    use crate::footage::model::ms_to_rfc3339 as t;
    let manifest = json!({
        "clip": job.id,
        "camera": job.camera_id,
        "requested": {"from": t(job.from_ms), "to": t(job.to_ms), "seconds": job.requested_seconds},
        "actual": {"from": t(output.actual_from_ms), "to": t(output.actual_to_ms)},
        "coveredSeconds": plan.covered_seconds,
        "gaps": model::disclose_clip(plan, &known_gaps(job)).iter().map(|g| json!({
            "from": t(g.from_ms), "to": t(g.to_ms), "seconds": (g.to_ms - g.from_ms) as f64 / 1000.0,
            "reason": g.reason,
        })).collect::<Vec<_>>(),
        "sources": sources.iter().map(|s| json!({
            "segment": s.id, "file": s.path, "from": t(s.start_ms), "to": t(s.end_ms), "sizeBytes": s.size_bytes,
        })).collect::<Vec<_>>(),
        "requestedBy": {"id": job.requested_by_id, "name": job.requested_by_name},
        "requestedAt": job.created_at.to_rfc3339(),
        "finishedAt": state.clock.now().to_rfc3339(),
        "file": model::clip_file_name(&job.camera_id, job.from_ms, job.to_ms, &job.id),
        "sizeBytes": output.size,
        "sha256": output.sha256,
        "method": output.method,
        "generatedAt": Utc::now().to_rfc3339(),
    });
    let path = exports_dir(state).join(format!("{}.json", job.id));
    let part = path.with_extension("json.part");
    tokio::fs::write(
        &part,
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .await?;
    tokio::fs::rename(&part, &path).await
}
