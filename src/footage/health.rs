//! The recorder health monitor. A camera whose recorder says `recording` but whose newest
//! segment, latest recorder start and newest file's last write are all older than
//! [`stale_after`] has an ffmpeg that runs without writing: a source that keeps its connection
//! open and sends nothing playable (an encoder that hung behind a live RTSP session, an HTTP
//! stream padding with null packets) never trips ffmpeg's socket timeouts. The monitor marks
//! such a camera `ERROR`, logs `RECORDER_ERROR` with reason `stale`, and kills its ffmpeg so
//! the recorder starts it again. A recorder still `connecting` that long without writing (the
//! source is still hung after that restart, or was from the start) is restarted the same way,
//! without another event: one per outage.
//!
//! It looks only at the recorders that run on this instance (spawned, so a start-up or a
//! restart in progress is not mistaken for a stall), a file still growing clears a camera
//! whose segments the indexer is slow to index, and the state change is conditional, so two
//! instances never report the same stall twice.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::vocab::CameraState;
use entity::{camera, camera_status};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::error::AppError;
use crate::events::model::{EventKind, NewEvent, Severity};
use crate::state::AppState;

/// How long a recording camera may go without a new segment (or a recorder start) before its
/// recorder counts as stale: three segment lengths, at least 10 s each, and never under 30 s.
pub fn stale_after(segment_seconds: i32) -> chrono::Duration {
    let three_segments = i64::from(segment_seconds.max(10)) * 3;
    chrono::Duration::seconds(three_segments.max(30))
}

/// One pass: finds this instance's stale recorders, reports and restarts them; returns the
/// cameras it restarted.
pub async fn check_once(state: &AppState) -> Result<Vec<String>, AppError> {
    let running = state.recorders.recording();
    if running.is_empty() {
        return Ok(Vec::new());
    }
    let now = state.clock.now();
    let judged = camera_status::Entity::find()
        .filter(camera_status::Column::CameraId.is_in(running))
        .filter(
            camera_status::Column::State.is_in([CameraState::Recording, CameraState::Connecting]),
        )
        .all(&state.db)
        .await?;
    let ids = judged.iter().map(|s| s.camera_id.clone());
    let segment_seconds: HashMap<String, i32> = camera::Entity::find()
        .filter(camera::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.segment_seconds))
        .collect();
    let mut restarted = Vec::new();
    for status in judged {
        let Some(&seconds) = segment_seconds.get(&status.camera_id) else {
            continue; // deleted meanwhile
        };
        if check_camera(state, &status, seconds, now).await? {
            restarted.push(status.camera_id);
        }
    }
    Ok(restarted)
}

/// Judges one camera whose recorder runs here (with segments of `segment_seconds`); true when
/// it was found stale and restarted.
async fn check_camera(
    state: &AppState,
    status: &camera_status::Model,
    segment_seconds: i32,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let camera_id = status.camera_id.as_str();
    let cutoff = now - stale_after(segment_seconds);
    // A time ahead of the clock (stored while it ran fast) is no sign of life.
    let limit = now + crate::cameras::store::AHEAD_TOLERANCE;
    let mut latest = [status.last_segment_at, status.last_started_at]
        .into_iter()
        .flatten()
        .filter(|at| *at <= limit)
        .max();
    if latest.is_some_and(|at| at >= cutoff) {
        return Ok(false);
    }
    // The indexer may be behind (a long sweep, a slow probe; a first segment is not indexed
    // until it closes): a recorder whose file grew since writes, whatever the index says.
    let dir = crate::footage::recorder::recordings_root(state).join(camera_id);
    latest = latest.max(newest_write(dir, limit).await);
    if latest.is_some_and(|at| at >= cutoff) {
        return Ok(false);
    }
    let silent = latest.map(|at| (now - at).num_seconds());
    let doing = match status.state {
        CameraState::Recording => "while recording",
        _ => "since it started",
    };
    let error = match silent {
        Some(secs) => {
            format!("stale recorder: nothing written for {secs} s {doing}; restarting ffmpeg")
        }
        None => format!("stale recorder: nothing written {doing}; restarting ffmpeg"),
    };
    // Only if nothing changed since the read (the recorder restarted by itself, a segment
    // landed, or another instance got here first).
    let marked =
        crate::cameras::store::mark_stale(&state.db, camera_id, status.state, cutoff, &error, now)
            .await?;
    if !marked {
        return Ok(false);
    }
    tracing::warn!(camera = camera_id, silent_seconds = silent, state = ?status.state, "recorder stopped writing; restarting it");
    if status.state == CameraState::Recording {
        let newest = status.last_segment_at.filter(|at| *at <= limit);
        announce(state, camera_id, newest, silent, now).await;
    }
    Ok(state.recorders.restart(camera_id))
}

/// When the recorder last wrote into `dir` (its fragmented MP4 grows every second). Names
/// sort by their UTC start, so two files are looked at: the newest named no later than `limit`,
/// and the newest of all, which is named ahead of the clock when the recorder opened it while
/// the clock ran fast and may still be writing it. A write time after `limit` (made while the
/// clock ran fast) is no sign of life.
async fn newest_write(dir: std::path::PathBuf, limit: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use crate::footage::indexer::start_from_name;
    tokio::task::spawn_blocking(move || {
        let (mut present, mut newest): (Option<String>, Option<String>) = (None, None);
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(start) = start_from_name(&name) else {
                continue;
            };
            if start <= limit && present.as_ref().is_none_or(|p| name > *p) {
                present = Some(name.clone());
            }
            if newest.as_ref().is_none_or(|n| name > *n) {
                newest = Some(name);
            }
        }
        [present, newest]
            .into_iter()
            .flatten()
            .filter_map(|name| std::fs::metadata(dir.join(name)).ok()?.modified().ok())
            .map(DateTime::<Utc>::from)
            .filter(|written| *written <= limit)
            .max()
    })
    .await
    .ok()
    .flatten()
}

/// Logs `RECORDER_ERROR` (reason `stale`) for the camera.
async fn announce(
    state: &AppState,
    camera_id: &str,
    last_segment_at: Option<DateTime<Utc>>,
    silent: Option<i64>,
    now: DateTime<Utc>,
) {
    let event = NewEvent::new(EventKind::RecorderError, Severity::Warning, now)
        .camera(camera_id)
        .payload(serde_json::json!({
            "reason": "stale",
            "lastSegmentAt": last_segment_at.map(|t| t.to_rfc3339()),
            "silentSeconds": silent,
        }));
    if let Err(err) = crate::events::store::record(state, event).await {
        tracing::warn!(camera = camera_id, error = %err, "could not log the stale recorder");
    }
}

/// Checks every `HELDAR_HEALTH_INTERVAL_MS` (never when 0) until the process stops.
pub async fn run(state: AppState) {
    let every = state.config.health_interval_ms;
    if every == 0 {
        return std::future::pending().await;
    }
    let mut interval = tokio::time::interval(Duration::from_millis(every));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(err) = check_once(&state).await {
            tracing::warn!(error = %err, "recorder health check failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_write_counts_a_file_named_ahead_but_no_write_made_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let limit = now + crate::cameras::store::AHEAD_TOLERANCE;
        let file = |start: DateTime<Utc>, written: DateTime<Utc>| {
            let path = dir
                .path()
                .join(format!("{}.mp4", start.format("%Y%m%d_%H%M%S")));
            std::fs::write(&path, b"fragment").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(written.into())
                .unwrap();
        };
        let hour = chrono::Duration::hours(1);
        let second = |t: DateTime<Utc>| t.timestamp();
        // Opened while the clock ran two days fast, and still written after it was stepped back.
        file(now - hour, now - hour);
        file(now + hour * 48, now);
        let seen = newest_write(dir.path().to_owned(), limit).await.unwrap();
        assert_eq!(second(seen), second(now));
        // Last written while the clock ran fast: that time is no sign of life now.
        file(now + hour * 48, now + hour * 48);
        let seen = newest_write(dir.path().to_owned(), limit).await.unwrap();
        assert_eq!(second(seen), second(now - hour));
    }

    #[test]
    fn a_recorder_is_stale_after_three_segments_and_never_under_30_s() {
        assert_eq!(stale_after(2).num_seconds(), 30);
        assert_eq!(stale_after(10).num_seconds(), 30);
        assert_eq!(stale_after(15).num_seconds(), 45);
        assert_eq!(stale_after(60).num_seconds(), 180);
    }
}
