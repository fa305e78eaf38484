//! The indexer: turns closed recording files into `segments` rows, clamps overlaps, records
//! gaps. Each new file goes probe → plan (pure, [`plan_insert`]) → apply (one transaction) →
//! publish (coverage subscribers and the event log).
//!
//! A file is closed when a later file of the same camera exists, or, for the newest file, when it
//! has been quiet for the camera's segment length plus a settle margin: ffmpeg flushes in large
//! blocks, so a recent mtime alone does not prove a file is finished. A file starts when it was
//! opened (its name's second, to the millisecond by its birth time: [`opened_at`]), except the
//! first of a recorder's run, which ffmpeg names seconds late ([`media_start`]). A pause inside a file (the camera stopped sending with its connection
//! open, then went on) is a gap too: [`pauses_in`].

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use entity::{camera, segment};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use crate::error::AppError;
use crate::events::model::{EventKind, NewEvent, Severity};
use crate::fleet::ffmpeg::{Probe, probe};
use crate::footage::model::{CoverageChange, CoverageChangeKind, GapReason};
use crate::footage::recorder::recordings_root;
use crate::footage::store;
use crate::ids::new_id;
use crate::state::AppState;

/// How far before the newest indexed segment files are still looked at (repairs, late files).
const REVISIT_MS: i64 = 3_600_000;

/// A hole longer than this many whole seconds between consecutive segments is recorded as a gap.
pub const GAP_EVENT_S: i64 = 3;

/// A pause inside a recording at least this long (ms) is a gap: footage closer together than
/// that is one range anyway ([`JOIN_MS`](crate::footage::model::JOIN_MS)).
pub const PAUSE_MIN_MS: i64 = crate::footage::model::JOIN_MS;

/// The pauses inside a recording file whose media starts at `start_ms` and ends at `end_ms`,
/// in ms since the epoch: the spans where no frame arrived for [`PAUSE_MIN_MS`] or more
/// ([`FileIndex::pauses`](crate::playback::mp4::FileIndex::pauses)). ffmpeg copies a camera's
/// timestamps, so a camera that stops sending and later goes on (an encoder that hung behind
/// an open RTSP session, a stalled network path) leaves the pause inside the file, shown as the
/// frame before it; the file's duration spans it, coverage must not.
pub fn pauses_in(
    index: &crate::playback::mp4::FileIndex,
    (start_ms, end_ms): (i64, i64),
) -> Vec<(i64, i64)> {
    let timescale = u64::from(index.init.timescale.max(1));
    let at = |ticks: u64| start_ms.saturating_add((ticks.saturating_mul(1000) / timescale) as i64);
    let min_ticks = PAUSE_MIN_MS as u64 * timescale / 1000;
    index
        .pauses(min_ticks)
        .into_iter()
        .map(|(from, to)| (at(from), at(to).min(end_ms)))
        .filter(|(from, to)| to - from >= PAUSE_MIN_MS)
        .collect()
}

/// Whether file `index` of `count` (sorted by name) is closed.
pub fn is_closed(
    index: usize,
    count: usize,
    quiet: Duration,
    segment_seconds: i32,
    settle: Duration,
) -> bool {
    index + 1 < count || quiet >= Duration::from_secs(segment_seconds.max(2) as u64) + settle
}

/// How far a file may run past the next file's start and still be taken at its own: names have
/// whole seconds, truncated (and a file system without birth times gives nothing finer).
const NAME_PRECISION_MS: i64 = 1_000;

/// The most a file can be named late: ffmpeg probes a stream for at most 5 s of it
/// (`analyzeduration`), and its connection takes a moment. A file that runs further past the
/// next one's start holds more media than the time it was written in (its timestamps jumped):
/// it is taken at its name, and the next file cuts it short as any overlap.
const MAX_NAMING_DELAY_MS: i64 = 10_000;

/// Where a recording's media starts, from when it was opened (`named`: [`opened_at`]), its
/// length in seconds, the start of the file after it and the end of the segment before it.
///
/// ffmpeg opens a file when its first packet reaches the muxer. When it starts (and after every
/// reconnect) it first reads the stream for up to 5 s to learn its codec and frame rate, then
/// writes what it read in one burst, so the first file of a run is opened that much after its
/// first frame; the files after it are opened as their first frame arrives (the recorder cuts
/// on the wall clock, so the burst stays in the first file however short the segments). A file
/// that runs more than [`NAME_PRECISION_MS`], and at most [`MAX_NAMING_DELAY_MS`], past its
/// successor's start was opened late: its media starts where it meets the successor's, though
/// never before the segment before it ends (nor after it was opened). Without a successor in
/// the same run (the newest file, a run that ended in its first file, the last before a clock
/// step) the opening time is all there is.
pub fn media_start(
    named: DateTime<Utc>,
    seconds: f64,
    next_start: Option<DateTime<Utc>>,
    prev_end: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let Some(next) = next_start else {
        return named;
    };
    let length = chrono::Duration::milliseconds((seconds * 1000.0) as i64);
    let late = (named + length - next).num_milliseconds();
    if !(NAME_PRECISION_MS < late && late <= MAX_NAMING_DELAY_MS) {
        return named;
    }
    let met = next - length;
    prev_end.map_or(met, |end| met.max(end)).min(named)
}

/// The UTC start encoded in a file name `YYYYmmdd_HHMMSS.mp4`.
pub fn start_from_name(name: &str) -> Option<DateTime<Utc>> {
    let stem = name.strip_suffix(".mp4")?;
    NaiveDateTime::parse_from_str(stem, "%Y%m%d_%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// When a recording file was opened: its name's time, to the millisecond when the file's birth
/// time (`created`, where the file system keeps one) falls in the named second. ffmpeg names a
/// file by the whole second it opens it in, so the name alone places every file up to a second
/// early (a clip of 12:00:03 would start on what was filmed at up to 12:00:03.99, and the
/// seams between files would be off by as much). A birth time outside that second (a file
/// copied or restored, a file system without one) is no help: the name is all there is.
pub fn opened_at(named: DateTime<Utc>, created: Option<SystemTime>) -> DateTime<Utc> {
    created
        .map(DateTime::<Utc>::from)
        .filter(|born| *born >= named && (*born - named).num_milliseconds() < NAME_PRECISION_MS)
        .unwrap_or(named)
}

/// [`opened_at`] for a file found in a camera's directory: `None` when its name is no start.
fn file_start(name: &str, meta: Option<&std::fs::Metadata>) -> Option<DateTime<Utc>> {
    let named = start_from_name(name)?;
    Some(opened_at(named, meta.and_then(|m| m.created().ok())))
}

/// One pass over every camera's directory; returns how many segments it indexed. Public so
/// tests and tools can drive it without waiting for the loop.
pub async fn index_once(state: &AppState) -> Result<usize, AppError> {
    // Never beside a retention sweep: between a segment's row delete and its unlink, the file
    // must not look like a new recording.
    let _no_sweep = state.sweep_lock.lock().await;
    let started = std::time::Instant::now();
    let cameras = camera::Entity::find().all(&state.db).await?;
    let root = recordings_root(state);
    let settle = Duration::from_millis(state.config.index_settle_ms);
    let mut indexed = 0;
    for camera in cameras {
        let dir = root.join(&camera.id);
        indexed += index_sub(state, &camera, &dir.join("sub"), settle).await?;
        let Ok(mut entries) = tokio::fs::read_dir(&dir).await else {
            continue;
        };
        let mut files = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".mp4") {
                files.push((name, entry.metadata().await.ok()));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let now = state.clock.now();
        let siblings = Siblings::of(&files, now);
        // Files starting over an hour before the newest indexed segment were settled on earlier
        // passes (indexed, or unreadable): only the recent ones cost a lookup. A segment named
        // ahead of the clock does not move that hour past the files the recorder writes now.
        let newest: Option<i64> = segment::Entity::find()
            .select_only()
            .column(segment::Column::StartMs)
            .filter(store::main_stream_of(&camera.id))
            .order_by_desc(segment::Column::StartMs)
            .limit(1)
            .into_tuple()
            .one(&state.db)
            .await?;
        let settled_before = newest.map(|ms| ms.min(now.timestamp_millis()) - REVISIT_MS);
        let opened: Vec<_> = files
            .iter()
            .map(|(name, meta)| file_start(name, meta.as_ref()))
            .collect();
        let next_starts = siblings.next_starts(&opened);
        for (i, (name, meta)) in files.into_iter().enumerate() {
            if let (Some(before), Some(start)) = (settled_before, start_from_name(&name))
                && start.timestamp_millis() < before
            {
                continue;
            }
            let Some(meta) = meta else { continue };
            let Some(start) = opened[i] else {
                tracing::debug!(file = %name, "file name is not a UTC start; skipped");
                continue;
            };
            if !siblings.closed(i, meta.modified().ok(), camera.segment_seconds, settle) {
                continue;
            }
            let file = (name.as_str(), meta.len() as i64, start, next_starts[i]);
            if index_file(state, &camera, &dir, file).await? {
                indexed += 1;
            }
        }
    }
    crate::telemetry::indexer_pass(started.elapsed().as_secs_f64());
    Ok(indexed)
}

/// Where a camera's recording files (sorted by name) stand for [`is_closed`]. A file named
/// ahead of the clock ([`AHEAD_TOLERANCE`](crate::cameras::store::AHEAD_TOLERANCE) past now),
/// written while the clock ran fast, sorts after the one the recorder writes now and must not
/// make that one look closed: the files up to the last recording not named ahead are siblings
/// of each other, and those after it of each other.
struct Siblings {
    /// How many files there are.
    total: usize,
    /// How many come up to the last recording not named ahead.
    present: usize,
}

impl Siblings {
    fn of<T>(files: &[(String, T)], now: DateTime<Utc>) -> Self {
        let limit = now + crate::cameras::store::AHEAD_TOLERANCE;
        let present = files
            .iter()
            .rposition(|(name, _)| start_from_name(name).is_some_and(|start| start <= limit))
            .map_or(0, |last| last + 1);
        Siblings {
            total: files.len(),
            present,
        }
    }

    /// The start ([`opened_at`]) of each file's successor among those not named ahead, given
    /// each file's: it tells where a file named late really starts ([`media_start`]).
    fn next_starts(&self, opened: &[Option<DateTime<Utc>>]) -> Vec<Option<DateTime<Utc>>> {
        (0..opened.len())
            .map(|i| *opened.get(i + 1).filter(|_| i + 1 < self.present)?)
            .collect()
    }

    /// Whether file `index` is closed, last written at `modified`. The newest named ahead is
    /// also closed when that write is itself ahead of the clock: nothing has written it since
    /// the clock was stepped back, and its quiet time can't be measured.
    fn closed(
        &self,
        index: usize,
        modified: Option<SystemTime>,
        segment_seconds: i32,
        settle: Duration,
    ) -> bool {
        let quiet = modified.map(|m| SystemTime::now().duration_since(m));
        let (index, count) = match index.checked_sub(self.present) {
            None => (index, self.present),
            Some(_) if matches!(quiet, Some(Err(_))) => return true,
            Some(ahead) => (ahead, self.total - self.present),
        };
        let quiet = quiet.and_then(Result::ok).unwrap_or_default();
        is_closed(index, count, quiet, segment_seconds, settle)
    }
}

/// Indexes the closed files of a camera's sub-stream recordings (`<camera>/sub/`): rows of
/// profile `sub`, played back on their own; coverage, gaps and events follow the main stream.
async fn index_sub(
    state: &AppState,
    camera: &camera::Model,
    dir: &Path,
    settle: Duration,
) -> Result<usize, AppError> {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return Ok(0);
    };
    let mut files = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".mp4")
            && let Ok(meta) = entry.metadata().await
        {
            files.push((name, meta));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let siblings = Siblings::of(&files, state.clock.now());
    let opened: Vec<_> = files
        .iter()
        .map(|(name, meta)| file_start(name, Some(meta)))
        .collect();
    let next_starts = siblings.next_starts(&opened);
    let mut indexed = 0;
    for (i, (name, meta)) in files.into_iter().enumerate() {
        let closed = siblings.closed(i, meta.modified().ok(), camera.segment_seconds, settle);
        let rel = format!("{}/sub/{name}", camera.id);
        if !closed
            || segment::Entity::find()
                .filter(segment::Column::Path.eq(rel.clone()))
                .one(&state.db)
                .await?
                .is_some()
        {
            continue;
        }
        let (Some(named), Some(probe)) = (
            opened[i],
            probe(&state.config.ffprobe, &dir.join(&name)).await,
        ) else {
            continue;
        };
        let prev_end = previous_end(&state.db, (&camera.id, "sub"), named).await?;
        let start = media_start(named, probe.duration, next_starts[i], prev_end);
        let now = state.clock.now();
        let decision = plan_insert(&camera.id, rel, start, meta.len() as i64, &probe, None, now);
        let IndexDecision::Insert { mut segment, .. } = decision else {
            continue;
        };
        segment.profile = "sub".to_owned();
        segment.instance_id = Some(state.ownership.instance_id().to_owned());
        crate::playback::layout::fill(&mut segment, &dir.join(&name)).await;
        match store::insert_segments(&state.db, vec![*segment]).await {
            Ok(()) => indexed += 1,
            Err(AppError::Conflict(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(indexed)
}

/// What the indexer does with one closed file.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexDecision {
    /// Nothing: not a recording, not readable yet, or already indexed as it is.
    Skip,
    /// A new segment, and the gap before it when the hole is long enough.
    Insert {
        /// The row to insert.
        segment: Box<segment::Model>,
        /// The recorded hole between the previous segment's end and this one's start.
        gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
    },
}

/// Decides what a newly probed file becomes (pure): a segment starting at `start` (when it was
/// opened, or earlier when it was opened late: [`media_start`]) and lasting the probed duration,
/// unless the probe is implausible; a gap when the previous segment ended more than
/// [`GAP_EVENT_S`] before it.
pub fn plan_insert(
    camera_id: &str,
    rel: String,
    start: DateTime<Utc>,
    size: i64,
    probe: &Probe,
    prev_end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> IndexDecision {
    if !(probe.duration.is_finite() && probe.duration > 0.05) || size == 0 {
        return IndexDecision::Skip;
    }
    // A corrupt file can claim any duration; no segment is longer than the window scans allow.
    if probe.duration * 1000.0 > store::MAX_SEGMENT_SPAN.num_milliseconds() as f64 {
        tracing::warn!(file = %rel, seconds = probe.duration, "implausible duration; skipped");
        return IndexDecision::Skip;
    }
    let end = start + chrono::Duration::milliseconds((probe.duration * 1000.0) as i64);
    let gap = prev_end
        .filter(|prev_end| (start - *prev_end).num_seconds() > GAP_EVENT_S)
        .map(|prev_end| (prev_end, start));
    IndexDecision::Insert {
        segment: Box::new(segment::Model {
            id: new_id("seg"),
            camera_id: camera_id.to_owned(),
            path: rel,
            start_ms: start.timestamp_millis(),
            end_ms: end.timestamp_millis(),
            codec: probe.codec.clone(),
            width: probe.width,
            height: probe.height,
            fps: probe.fps,
            size_bytes: size,
            read_locks: 0,
            evidence_locked: false,
            created_at: now,
            profile: "main".to_owned(),
            media_offset: None,
            timescale: None,
            duration_ticks: None,
            instance_id: None,
        }),
        gap,
    }
}

/// Indexes one closed file (`name`, `size` bytes, opened at `named`: [`opened_at`]), given
/// the start of the file after it.
async fn index_file(
    state: &AppState,
    camera: &camera::Model,
    dir: &Path,
    (name, size, named, next_start): (&str, i64, DateTime<Utc>, Option<DateTime<Utc>>),
) -> Result<bool, AppError> {
    let rel = format!("{}/{}", camera.id, name);
    if let Some(existing) = segment::Entity::find()
        .filter(segment::Column::Path.eq(rel.clone()))
        .one(&state.db)
        .await?
    {
        if existing.size_bytes != size {
            repair(state, &existing, &dir.join(name), size).await?;
        }
        return Ok(false);
    }
    let Some(probe) = probe(&state.config.ffprobe, &dir.join(name)).await else {
        return Ok(false);
    };
    let now = state.clock.now();
    // A file named ahead of the clock is kept and indexed at its name's time, but the hole
    // before it is the clock's jump, not the camera's: no gap is recorded for it.
    let ahead = named > now + crate::cameras::store::AHEAD_TOLERANCE;
    if ahead {
        tracing::warn!(file = %rel, "recording named ahead of the server's clock (the clock ran fast when it was written); indexed at its name's time");
    }
    let (prev_end, start) = if ahead {
        (None, named)
    } else {
        let prev_end = previous_end(&state.db, (&camera.id, "main"), named).await?;
        let start = media_start(named, probe.duration, next_start, prev_end);
        (prev_end, start)
    };
    if start < named {
        tracing::debug!(file = %rel, late_ms = (named - start).num_milliseconds(), "file named after its first frame (ffmpeg wrote what it read while probing the stream at once); indexed from where its media meets the next file");
    }
    let IndexDecision::Insert { mut segment, gap } =
        plan_insert(&camera.id, rel, start, size, &probe, prev_end, now)
    else {
        return Ok(false);
    };
    segment.instance_id = Some(state.ownership.instance_id().to_owned());
    let pauses = layout(&mut segment, &dir.join(name)).await;
    let gap = match gap {
        Some((from, to)) => Some(NewGap {
            from,
            to,
            reason: gap_reason(state, &camera.id, from).await?,
        }),
        None => None,
    };
    let bitrate = (size as f64 * 8.0 / probe.duration / 1000.0).max(0.0);
    let Some((gap_recorded, pauses)) = apply(state, &segment, (gap, &pauses), bitrate, now).await?
    else {
        // Another pass (a tool calling `index_once` beside the loop) indexed it first.
        return Ok(false);
    };
    if let Some(gap) = gap.filter(|_| gap_recorded) {
        state.recorders.clear_stop_reason(&camera.id, gap.reason);
    } else if start < named
        && let Some(reason) = state.recorders.stop_reason(&camera.id)
    {
        // The first file of a new run, placed at its first frame so close to the last one
        // that no gap was recorded: the stop is over, and its reason explains no later hole.
        state.recorders.clear_stop_reason(&camera.id, reason);
    }
    let delay = ((now.timestamp_millis() - segment.end_ms) as f64 / 1000.0).max(0.0);
    crate::telemetry::segment_indexed(&camera.id, delay);
    let gaps: Vec<NewGap> = gap
        .filter(|_| gap_recorded)
        .into_iter()
        .chain(pauses)
        .collect();
    publish(state, &segment, &gaps, now).await?;
    Ok(true)
}

/// Sets the row's playback layout from a walk of its file and returns the pauses inside it, as
/// gaps ([`pauses_in`]); none when the file is not fragmented MP4.
async fn layout(segment: &mut segment::Model, file: &Path) -> Vec<NewGap> {
    let Ok(index) = crate::playback::mp4::index_file(file).await else {
        return Vec::new();
    };
    crate::playback::layout::set(segment, &index);
    pauses_in(&index, (segment.start_ms, segment.end_ms))
        .into_iter()
        .map(|(from, to)| NewGap {
            from: segment::from_ms(from),
            to: segment::from_ms(to),
            reason: GapReason::StreamPaused,
        })
        .collect()
}

/// Why footage is missing from `from` to the new segment: why the camera's recorder last
/// stopped; else, when the recorder running on this instance started before `from` (the same
/// ffmpeg wrote the footage on both sides and never stopped), the camera's stream paused
/// (its first frame after the pause opened a file, so the pause fell between two files);
/// else unknown.
async fn gap_reason(
    state: &AppState,
    camera_id: &str,
    from: DateTime<Utc>,
) -> Result<GapReason, AppError> {
    if let Some(reason) = state.recorders.stop_reason(camera_id) {
        return Ok(reason);
    }
    if !state.recorders.recording().iter().any(|id| id == camera_id) {
        return Ok(GapReason::Unknown);
    }
    let started: Option<Option<DateTime<Utc>>> =
        entity::camera_status::Entity::find_by_id(camera_id)
            .select_only()
            .column(entity::camera_status::Column::LastStartedAt)
            .into_tuple()
            .one(&state.db)
            .await?;
    Ok(match started.flatten() {
        Some(started) if started <= from => GapReason::StreamPaused,
        _ => GapReason::Unknown,
    })
}

/// A hole before a new segment, with why the recorder stopped.
#[derive(Debug, Clone, Copy)]
struct NewGap {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reason: GapReason,
}

/// The end of the camera's last segment of stream `profile` (`main`, `sub`) starting before
/// `start`.
async fn previous_end(
    db: &impl sea_orm::ConnectionTrait,
    (camera_id, profile): (&str, &str),
    start: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, AppError> {
    let prev_end: Option<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::EndMs)
        .filter(store::stream_of(camera_id, profile))
        .filter(segment::Column::StartMs.lt(start.timestamp_millis()))
        .order_by_desc(segment::Column::StartMs)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(prev_end.map(segment::from_ms))
}

/// The file grew after it was indexed: its size, end and range are corrected from a probe.
async fn repair(
    state: &AppState,
    existing: &segment::Model,
    file: &Path,
    size: i64,
) -> Result<(), AppError> {
    let mut update = segment::Entity::update_many()
        .col_expr(segment::Column::SizeBytes, Expr::value(size))
        .filter(segment::Column::Id.eq(existing.id.clone()));
    let probed = probe(&state.config.ffprobe, file).await.filter(|p| {
        p.duration > 0.05
            && p.duration * 1000.0 <= store::MAX_SEGMENT_SPAN.num_milliseconds() as f64
    });
    let new_end = probed.map(|p| existing.start_ms + (p.duration * 1000.0) as i64);
    if let Some(end) = new_end {
        update = update.col_expr(segment::Column::EndMs, Expr::value(end));
    }
    let mut grown = existing.clone();
    grown.end_ms = new_end.unwrap_or(existing.end_ms);
    let pauses = layout(&mut grown, file).await;
    update = update
        .col_expr(
            segment::Column::MediaOffset,
            Expr::value(grown.media_offset),
        )
        .col_expr(segment::Column::Timescale, Expr::value(grown.timescale))
        .col_expr(
            segment::Column::DurationTicks,
            Expr::value(grown.duration_ticks),
        );
    let txn = state.db.begin().await?;
    update.exec(&txn).await?;
    match new_end {
        Some(end) if end > existing.end_ms => {
            // What it held before is in the ranges already, less its pauses.
            store::merge_span(&txn, &existing.camera_id, existing.end_ms, end).await?;
        }
        Some(end) if end < existing.end_ms => {
            store::remove_span(&txn, &existing.camera_id, end, existing.end_ms).await?;
        }
        _ => {}
    }
    let now = state.clock.now();
    let mut new_pauses = Vec::new();
    for pause in pauses {
        if record_pause(&txn, &existing.camera_id, pause, now).await? {
            new_pauses.push(pause);
        }
    }
    txn.commit().await?;
    if !new_pauses.is_empty() {
        publish(state, &grown, &new_pauses, now).await?;
    }
    Ok(())
}

/// Takes a pause inside a recording out of the camera's ranges and records it as a gap; true
/// when the gap is new. A pause found again when its file grew may start a little elsewhere
/// (it starts one usual frame after the held one, and the usual frame is the whole file's):
/// one that overlaps a recorded pause is that pause.
async fn record_pause(
    txn: &impl sea_orm::ConnectionTrait,
    camera_id: &str,
    pause: NewGap,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let (from, to) = (pause.from.timestamp_millis(), pause.to.timestamp_millis());
    store::cut_span(txn, camera_id, from, to).await?;
    if !store::recorded_pauses(txn, camera_id, (from, to))
        .await?
        .is_empty()
    {
        return Ok(false);
    }
    store::insert_gap(txn, camera_id, pause.from, pause.to, pause.reason, now).await
}

/// Writes a new segment in one transaction: the row and its range (less the pauses inside
/// it, each recorded as a gap), its evidence flag, the clamp of an earlier segment running
/// past its start, the camera's status, and the gap before it. `None` when another pass
/// indexed the file first; otherwise whether the gap before it was new, and the pauses that
/// were.
async fn apply(
    state: &AppState,
    segment: &segment::Model,
    (gap, pauses): (Option<NewGap>, &[NewGap]),
    bitrate_kbps: f64,
    now: DateTime<Utc>,
) -> Result<Option<(bool, Vec<NewGap>)>, AppError> {
    let camera_id = segment.camera_id.as_str();
    let (start_ms, end_ms) = (segment.start_ms, segment.end_ms);
    let txn = state.db.begin().await?;
    match store::insert_segments_in(&txn, vec![segment.clone()]).await {
        Ok(()) => {}
        Err(AppError::Conflict(_)) => return Ok(None),
        Err(err) => return Err(err),
    }
    // A segment indexed into an active evidence hold is held from the start.
    crate::evidence::locks::refresh_evidence_flags(&txn, camera_id, start_ms, end_ms).await?;
    // Segments of a stream never overlap: an earlier one that runs past this start is clamped
    // to it, and so are the pauses recorded inside it (a camera clock that jumped ahead, not a
    // pause, then ran the file past the next). The sub stream's files start and end at their
    // own times and are left alone.
    let clamped: Vec<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::EndMs)
        .filter(store::main_stream_of(camera_id))
        .filter(segment::Column::StartMs.lt(start_ms))
        .filter(segment::Column::EndMs.gt(start_ms))
        .into_tuple()
        .all(&txn)
        .await?;
    for old_end in clamped {
        store::trim_pauses(&txn, camera_id, (start_ms, old_end)).await?;
    }
    segment::Entity::update_many()
        .col_expr(segment::Column::EndMs, Expr::value(start_ms))
        .filter(store::main_stream_of(camera_id))
        .filter(segment::Column::StartMs.lt(start_ms))
        .filter(segment::Column::EndMs.gt(start_ms))
        .exec(&txn)
        .await?;
    let seen = crate::cameras::store::SegmentSeen {
        end: segment::from_ms(end_ms),
        fps: segment.fps,
        bitrate_kbps,
    };
    crate::cameras::store::record_segment(&txn, camera_id, seen, now).await?;
    let mut new_pauses = Vec::new();
    for pause in pauses {
        if record_pause(&txn, camera_id, *pause, now).await? {
            new_pauses.push(*pause);
        }
    }
    let gap_recorded = match gap {
        Some(NewGap { from, to, reason }) => {
            store::insert_gap(&txn, camera_id, from, to, reason, now).await?
        }
        None => false,
    };
    txn.commit().await?;
    Ok(Some((gap_recorded, new_pauses)))
}

/// Tells coverage subscribers, and the event log about new gaps.
async fn publish(
    state: &AppState,
    segment: &segment::Model,
    gaps: &[NewGap],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let camera_id = segment.camera_id.clone();
    let _ = state.footage_events.send(CoverageChange {
        camera_id: camera_id.clone().into(),
        kind: CoverageChangeKind::SegmentIndexed,
        from: segment::from_ms(segment.start_ms),
        to: segment::from_ms(segment.end_ms),
    });
    for gap in gaps {
        announce_gap(state, &camera_id, *gap, now).await?;
    }
    Ok(())
}

/// Logs a new gap, records its event and tells coverage subscribers.
async fn announce_gap(
    state: &AppState,
    camera_id: &str,
    NewGap { from, to, reason }: NewGap,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let camera_id = camera_id.to_owned();
    let seconds = (to - from).num_milliseconds() as f64 / 1000.0;
    tracing::warn!(camera = %camera_id, seconds, reason = reason.as_str(), "recording gap");
    let event = NewEvent::new(EventKind::RecordingGap, Severity::Warning, now)
        .camera(camera_id.clone())
        .payload(serde_json::json!({
            "from": from.to_rfc3339(),
            "to": to.to_rfc3339(),
            "seconds": seconds,
            "reason": reason.as_str(),
        }));
    crate::events::store::record(state, event).await?;
    let _ = state.footage_events.send(CoverageChange {
        camera_id: camera_id.into(),
        kind: CoverageChangeKind::GapOpened,
        from,
        to,
    });
    Ok(())
}

/// Start-up, before the first sweep: segment rows that no live server holds (indexed before rows recorded where
/// their file is, or under an instance id this data directory has since lost) and whose file
/// is in this server's recordings directory are marked as this server's, so its retention
/// counts and sweeps them. Pages through those rows (usually none after the first start) and
/// looks for each file; returns how many rows it placed.
pub async fn adopt_local(state: &AppState) -> Result<u64, AppError> {
    use sea_orm::Condition;
    let me = state.ownership.instance_id().to_owned();
    let now = crate::fleet::ownership::claim_time(state).await?;
    let mut held: Vec<String> = entity::instance_lease::Entity::find()
        .select_only()
        .column(entity::instance_lease::Column::InstanceId)
        .filter(entity::instance_lease::Column::ExpiresAt.gte(now))
        .into_tuple()
        .all(&state.db)
        .await?;
    held.push(me.clone());
    let unplaced = Condition::any()
        .add(segment::Column::InstanceId.is_null())
        .add(segment::Column::InstanceId.is_not_in(held));
    let root = recordings_root(state);
    let (mut after, mut adopted) = (String::new(), 0);
    loop {
        let rows: Vec<(String, String)> = segment::Entity::find()
            .select_only()
            .column(segment::Column::Id)
            .column(segment::Column::Path)
            .filter(unplaced.clone())
            .filter(segment::Column::Id.gt(after.clone()))
            .order_by_asc(segment::Column::Id)
            .limit(1000)
            .into_tuple()
            .all(&state.db)
            .await?;
        let Some((last, _)) = rows.last() else {
            break;
        };
        after = last.clone();
        let full = rows.len() == 1000;
        let root = root.clone();
        let here: Vec<String> = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .filter(|(_, path)| root.join(path).is_file())
                .map(|(id, _)| id)
                .collect()
        })
        .await
        .map_err(|err| AppError::internal(format!("looking for recordings failed: {err}")))?;
        if !here.is_empty() {
            adopted += segment::Entity::update_many()
                .col_expr(segment::Column::InstanceId, Expr::value(me.clone()))
                .filter(segment::Column::Id.is_in(here))
                .filter(unplaced.clone())
                .exec(&state.db)
                .await?
                .rows_affected;
        }
        if !full {
            break;
        }
    }
    if adopted > 0 {
        tracing::info!(
            segments = adopted,
            "placed segments found in this server's recordings directory"
        );
    }
    Ok(adopted)
}

/// Runs the indexer every `HELDAR_INDEX_INTERVAL_MS` until the process stops.
pub async fn run(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_millis(state.config.index_interval_ms));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(err) = index_once(&state).await {
            tracing::warn!(error = %err, "indexer pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t9_a_file_with_a_later_sibling_is_closed_and_the_newest_waits() {
        let settle = Duration::from_secs(15);
        assert!(is_closed(0, 2, Duration::from_millis(1), 60, settle));
        assert!(!is_closed(1, 2, Duration::from_secs(30), 60, settle));
        assert!(!is_closed(0, 1, Duration::from_secs(10), 60, settle));
        assert!(is_closed(1, 2, Duration::from_secs(75), 60, settle));
        assert!(is_closed(0, 1, Duration::from_secs(120), 60, settle));
    }

    #[test]
    fn a_file_named_ahead_of_the_clock_is_no_later_sibling() {
        let now = start_from_name("20261201_120000.mp4").unwrap();
        let files = |names: &[&str]| -> Vec<(String, ())> {
            names.iter().map(|n| (n.to_string(), ())).collect()
        };
        // The one being written (11:59:50) has no later sibling but the one from the fast clock.
        let with_ahead = files(&[
            "20261201_115940.mp4",
            "20261201_115950.mp4",
            "20261203_120000.mp4",
        ]);
        assert_eq!(Siblings::of(&with_ahead, now).present, 2);
        // Within the tolerance a file still counts.
        let close = files(&["20261201_115950.mp4", "20261201_120030.mp4"]);
        assert_eq!(Siblings::of(&close, now).present, 2);
        assert_eq!(
            Siblings::of(&files(&["20261203_120000.mp4"]), now).present,
            0
        );
        assert_eq!(Siblings::of(&files(&[]), now).present, 0);
        // The newest file ahead is closed once quiet, or when its last write is ahead too.
        let siblings = Siblings::of(&with_ahead, now);
        let settle = Duration::from_secs(1);
        let (written, fast) = (
            SystemTime::now(),
            SystemTime::now() + Duration::from_secs(3600),
        );
        assert!(
            !siblings.closed(1, Some(written), 2, settle),
            "being written"
        );
        assert!(
            !siblings.closed(2, Some(written), 2, settle),
            "just written"
        );
        assert!(siblings.closed(2, Some(fast), 2, settle), "written ahead");
        assert!(
            siblings.closed(0, Some(fast), 2, settle),
            "has a later sibling"
        );
    }

    #[test]
    fn a_file_named_late_starts_where_its_media_meets_the_next() {
        let at = |name: &str| start_from_name(name).unwrap();
        let named = at("20261201_120005.mp4");
        let next = Some(at("20261201_120100.mp4"));
        // 60 s of media named 5 s late (ffmpeg's probing burst): it starts at 12:00:00.
        assert_eq!(
            media_start(named, 60.0, next, None),
            at("20261201_120000.mp4")
        );
        // Never before the segment before it ends, nor after its name.
        let before = Some(at("20261201_120002.mp4"));
        assert_eq!(
            media_start(named, 60.0, next, before),
            at("20261201_120002.mp4")
        );
        let overlapping = Some(at("20261201_120010.mp4"));
        assert_eq!(media_start(named, 60.0, next, overlapping), named);
        // Running past the next name by the names' precision (whole seconds) is no lateness.
        assert_eq!(media_start(named, 55.9, next, None), named);
        assert_eq!(media_start(named, 56.0, next, None), named);
        // Further past the next than any probing delay: its timestamps jumped, its name stands.
        assert_eq!(
            media_start(named, 65.0, next, None),
            at("20261201_115955.mp4")
        );
        assert_eq!(media_start(named, 65.1, next, None), named);
        assert_eq!(media_start(named, 360.0, next, None), named);
        // A file that ends before the next begins (a restart between them), or has no next.
        assert_eq!(media_start(named, 30.0, next, None), named);
        assert_eq!(media_start(named, 60.0, None, None), named);
    }

    #[test]
    fn file_names_carry_the_utc_start() {
        assert_eq!(
            start_from_name("20261124_010203.mp4").map(|t| t.to_rfc3339()),
            Some("2026-11-24T01:02:03+00:00".into())
        );
        assert_eq!(start_from_name("notes.mp4"), None);
    }

    #[test]
    fn a_birth_time_in_the_named_second_places_the_file_to_the_millisecond() {
        let named = start_from_name("20261124_010203.mp4").unwrap();
        let at = |ms: i64| Some(SystemTime::from(named + chrono::Duration::milliseconds(ms)));
        assert_eq!(
            opened_at(named, at(640)),
            named + chrono::Duration::milliseconds(640)
        );
        assert_eq!(opened_at(named, at(0)), named);
        // Copied, restored, or no birth time: the name.
        assert_eq!(opened_at(named, at(1_000)), named);
        assert_eq!(opened_at(named, at(-5)), named);
        assert_eq!(opened_at(named, None), named);
    }
}
