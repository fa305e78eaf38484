//! The indexer: turns closed recording files into `segments` rows, clamps overlaps, records gaps.
//!
//! A file is closed when a later file of the same camera exists, or, for the newest file, when it
//! has been quiet for the camera's segment length plus a settle margin: ffmpeg flushes in large
//! blocks, so a recent mtime alone does not prove a file is finished.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use entity::{camera, camera_status, recording_gap, segment};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde_json::Value as Json;
use tokio::process::Command;

use crate::auth::token::new_id;
use crate::error::AppError;
use crate::footage::graphql::{CoverageChange, CoverageChangeKind, GapReason};
use crate::footage::recorder::recordings_root;
use crate::footage::store;
use crate::state::AppState;

/// How far before the newest indexed segment files are still looked at (repairs, late files).
const REVISIT_MS: i64 = 3_600_000;

/// A hole longer than this many whole seconds between consecutive segments is recorded as a gap.
pub const GAP_EVENT_S: i64 = 3;

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

/// The UTC start encoded in a file name `YYYYmmdd_HHMMSS.mp4`.
pub fn start_from_name(name: &str) -> Option<DateTime<Utc>> {
    let stem = name.strip_suffix(".mp4")?;
    NaiveDateTime::parse_from_str(stem, "%Y%m%d_%H%M%S")
        .ok()
        .map(|t| t.and_utc())
}

/// What ffprobe says about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Duration in seconds.
    pub duration: f64,
    /// Video codec.
    pub codec: Option<String>,
    /// Width.
    pub width: Option<i32>,
    /// Height.
    pub height: Option<i32>,
    /// Average frame rate.
    pub fps: Option<f64>,
}

/// Probes a file with ffprobe (20 s timeout); `None` means "try again next pass".
pub async fn probe(ffprobe: &Path, file: &Path) -> Option<Probe> {
    let output = tokio::time::timeout(
        Duration::from_secs(20),
        Command::new(ffprobe)
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "format=duration:stream=codec_name,width,height,avg_frame_rate",
                "-of",
                "json",
            ])
            .arg(file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    if !output.status.success() {
        return None;
    }
    let json: Json = serde_json::from_slice(&output.stdout).ok()?;
    let duration: f64 = json["format"]["duration"].as_str()?.parse().ok()?;
    let stream = &json["streams"][0];
    let fps = stream["avg_frame_rate"].as_str().and_then(|r| {
        let (n, d) = r.split_once('/')?;
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (d > 0.0).then_some(n / d)
    });
    Some(Probe {
        duration,
        codec: stream["codec_name"].as_str().map(str::to_owned),
        width: stream["width"].as_i64().map(|v| v as i32),
        height: stream["height"].as_i64().map(|v| v as i32),
        fps,
    })
}

/// One pass over every camera's directory; returns how many segments it indexed. Public so
/// tests and tools can drive it without waiting for the loop.
pub async fn index_once(state: &AppState) -> Result<usize, AppError> {
    // Never beside a retention sweep: between a segment's row delete and its unlink, the file
    // must not look like a new recording.
    let _no_sweep = state.media.sweep.lock().await;
    let cameras = camera::Entity::find().all(&state.db).await?;
    let root = recordings_root(state);
    let settle = Duration::from_millis(state.config.index_settle_ms);
    let mut indexed = 0;
    for camera in cameras {
        let dir = root.join(&camera.id);
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
        let count = files.len();
        // Files starting over an hour before the newest indexed segment were settled on earlier
        // passes (indexed, or unreadable): only the recent ones cost a lookup.
        let newest: Option<i64> = segment::Entity::find()
            .select_only()
            .column(segment::Column::StartMs)
            .filter(segment::Column::CameraId.eq(camera.id.clone()))
            .order_by_desc(segment::Column::StartMs)
            .limit(1)
            .into_tuple()
            .one(&state.db)
            .await?;
        let settled_before = newest.map(|ms| ms - REVISIT_MS);
        for (i, (name, meta)) in files.into_iter().enumerate() {
            if let (Some(before), Some(start)) = (settled_before, start_from_name(&name))
                && start.timestamp_millis() < before
            {
                continue;
            }
            let Some(meta) = meta else { continue };
            let quiet = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            if !is_closed(i, count, quiet, camera.segment_seconds, settle) {
                continue;
            }
            if index_file(state, &camera, &dir, &name, meta.len() as i64).await? {
                indexed += 1;
            }
        }
    }
    Ok(indexed)
}

async fn index_file(
    state: &AppState,
    camera: &camera::Model,
    dir: &Path,
    name: &str,
    size: i64,
) -> Result<bool, AppError> {
    let rel = format!("{}/{}", camera.id, name);
    if let Some(existing) = segment::Entity::find()
        .filter(segment::Column::Path.eq(rel.clone()))
        .one(&state.db)
        .await?
    {
        if existing.size_bytes != size {
            // The file grew after it was indexed: repair the row.
            let mut update = segment::Entity::update_many()
                .col_expr(segment::Column::SizeBytes, Expr::value(size))
                .filter(segment::Column::Id.eq(existing.id.clone()));
            let probed = probe(&state.config.ffprobe, &dir.join(name))
                .await
                .filter(|p| {
                    p.duration > 0.05
                        && p.duration * 1000.0 <= store::MAX_SEGMENT_SPAN.num_milliseconds() as f64
                });
            let new_end = probed.map(|p| existing.start_ms + (p.duration * 1000.0) as i64);
            if let Some(end) = new_end {
                update = update.col_expr(segment::Column::EndMs, Expr::value(end));
            }
            let txn = state.db.begin().await?;
            update.exec(&txn).await?;
            match new_end {
                Some(end) if end > existing.end_ms => {
                    store::merge_span(&txn, &camera.id, existing.start_ms, end).await?;
                }
                Some(end) if end < existing.end_ms => {
                    store::remove_span(&txn, &camera.id, end, existing.end_ms).await?;
                }
                _ => {}
            }
            txn.commit().await?;
        }
        return Ok(false);
    }
    let Some(start) = start_from_name(name) else {
        tracing::debug!(file = %rel, "file name is not a UTC start; skipped");
        return Ok(false);
    };
    let Some(probe) = probe(&state.config.ffprobe, &dir.join(name)).await else {
        return Ok(false);
    };
    if !(probe.duration.is_finite() && probe.duration > 0.05) || size == 0 {
        return Ok(false);
    }
    // A corrupt file can claim any duration; no segment is longer than the window scans allow.
    if probe.duration * 1000.0 > store::MAX_SEGMENT_SPAN.num_milliseconds() as f64 {
        tracing::warn!(file = %rel, seconds = probe.duration, "implausible duration; skipped");
        return Ok(false);
    }
    let end = start + chrono::Duration::milliseconds((probe.duration * 1000.0) as i64);
    let prev_end: Option<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::EndMs)
        .filter(segment::Column::CameraId.eq(camera.id.clone()))
        .filter(segment::Column::StartMs.lt(start.timestamp_millis()))
        .order_by_desc(segment::Column::StartMs)
        .limit(1)
        .into_tuple()
        .one(&state.db)
        .await?;
    let prev_end = prev_end.map(segment::from_ms);
    let now = state.clock.now();
    let inserted = store::insert_segments(
        &state.db,
        vec![segment::Model {
            id: new_id("seg"),
            camera_id: camera.id.clone(),
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
        }],
    )
    .await;
    match inserted {
        Ok(()) => {}
        // Another pass (a tool calling `index_once` beside the loop) indexed it first.
        Err(AppError::Conflict(_)) => return Ok(false),
        Err(err) => return Err(err),
    }
    // A segment indexed into an active evidence hold is held from the start.
    crate::evidence::locks::refresh_evidence_flags(
        &state.db,
        &camera.id,
        start.timestamp_millis(),
        end.timestamp_millis(),
    )
    .await?;
    // Segments never overlap: an earlier one that runs past this start is clamped to it.
    segment::Entity::update_many()
        .col_expr(
            segment::Column::EndMs,
            Expr::value(start.timestamp_millis()),
        )
        .filter(segment::Column::CameraId.eq(camera.id.clone()))
        .filter(segment::Column::StartMs.lt(start.timestamp_millis()))
        .filter(segment::Column::EndMs.gt(start.timestamp_millis()))
        .exec(&state.db)
        .await?;
    let bitrate = (size as f64 * 8.0 / probe.duration / 1000.0).max(0.0);
    camera_status::Entity::insert(camera_status::ActiveModel {
        camera_id: Set(camera.id.clone()),
        state: Set("recording".into()),
        last_segment_at: Set(Some(end)),
        segments_written: Set(1),
        reconnect_count: Set(0),
        fps_observed: Set(probe.fps),
        bitrate_kbps: Set(Some(bitrate)),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(camera_status::Column::CameraId)
            .update_columns([
                camera_status::Column::LastSegmentAt,
                camera_status::Column::FpsObserved,
                camera_status::Column::BitrateKbps,
                camera_status::Column::UpdatedAt,
            ])
            .value(
                camera_status::Column::SegmentsWritten,
                sea_orm::sea_query::ExprTrait::add(
                    Expr::col((
                        camera_status::Entity,
                        camera_status::Column::SegmentsWritten,
                    )),
                    1,
                ),
            )
            .value(camera_status::Column::State, Expr::val("recording"))
            .to_owned(),
    )
    .exec_without_returning(&state.db)
    .await?;
    let _ = state.footage_events.send(CoverageChange {
        camera_id: camera.id.clone().into(),
        kind: CoverageChangeKind::SegmentIndexed,
        from: start,
        to: end,
    });
    if let Some(prev_end) = prev_end
        && (start - prev_end).num_seconds() > GAP_EVENT_S
    {
        let reason = state
            .recorders
            .take_stop_reason(&camera.id)
            .unwrap_or(GapReason::Unknown);
        let seconds = (start - prev_end).num_milliseconds() as f64 / 1000.0;
        let inserted = recording_gap::Entity::insert(recording_gap::ActiveModel {
            id: Set(new_id("gap")),
            camera_id: Set(camera.id.clone()),
            gap_start: Set(prev_end),
            gap_end: Set(start),
            seconds: Set(seconds),
            reason: Set(reason.as_str().to_owned()),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                recording_gap::Column::CameraId,
                recording_gap::Column::GapStart,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await?;
        if inserted > 0 {
            tracing::warn!(camera = %camera.id, seconds, reason = reason.as_str(), "recording gap");
            crate::perception::events::record(
                state,
                entity::event::ActiveModel {
                    kind: Set("RECORDING_GAP".into()),
                    severity: Set("warning".into()),
                    camera_id: Set(Some(camera.id.clone())),
                    payload: Set(serde_json::json!({
                        "from": prev_end.to_rfc3339(),
                        "to": start.to_rfc3339(),
                        "seconds": seconds,
                        "reason": reason.as_str(),
                    })
                    .to_string()),
                    at: Set(now),
                    ..Default::default()
                },
            )
            .await?;
            let _ = state.footage_events.send(CoverageChange {
                camera_id: camera.id.clone().into(),
                kind: CoverageChangeKind::GapOpened,
                from: prev_end,
                to: start,
            });
        }
    }
    Ok(true)
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
    fn file_names_carry_the_utc_start() {
        assert_eq!(
            start_from_name("20261124_010203.mp4").map(|t| t.to_rfc3339()),
            Some("2026-11-24T01:02:03+00:00".into())
        );
        assert_eq!(start_from_name("notes.mp4"), None);
    }
}
