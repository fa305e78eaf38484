//! Stored camera state: the recorder's status row, upserted as recorders start and stop and
//! as the indexer finds their segments.

use chrono::{DateTime, Utc};
use entity::vocab::CameraState;
use entity::{camera, camera_status};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::error::AppError;
use crate::state::AppState;

/// Sets a camera's recorder state (`connecting`, `offline`, `error`, `disabled`), with its last
/// error when given; a failure is logged.
pub async fn set_state(
    state: &AppState,
    camera_id: &str,
    new_state: CameraState,
    last_error: Option<String>,
) {
    let now = state.clock.now();
    let mut row = camera_status::ActiveModel {
        camera_id: Set(camera_id.to_owned()),
        state: Set(new_state),
        updated_at: Set(now),
        reconnect_count: Set(0),
        segments_written: Set(0),
        ..Default::default()
    };
    let mut columns = vec![
        camera_status::Column::State,
        camera_status::Column::UpdatedAt,
    ];
    if new_state == CameraState::Connecting {
        row.last_started_at = Set(Some(now));
        columns.push(camera_status::Column::LastStartedAt);
    }
    if let Some(error) = last_error {
        row.last_error = Set(Some(error));
        columns.push(camera_status::Column::LastError);
    }
    let result = camera_status::Entity::insert(row)
        .on_conflict(
            OnConflict::column(camera_status::Column::CameraId)
                .update_columns(columns)
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await;
    if let Err(err) = result {
        tracing::warn!(camera = camera_id, error = %err, "could not update camera status");
    }
}

/// Marks a camera in state `was` (recording or connecting) whose newest segment and latest
/// recorder start are both before `cutoff` (or ahead of the clock) as `error` with `error` as
/// its last error; false when it is not in that state (any more).
pub async fn mark_stale(
    db: &impl ConnectionTrait,
    camera_id: &str,
    was: CameraState,
    cutoff: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    use sea_orm::Condition;
    // A time ahead of the clock (stored while it ran fast) is no sign of life either.
    let before = |column: camera_status::Column| {
        Condition::any()
            .add(column.is_null())
            .add(column.lt(cutoff))
            .add(column.gt(now + AHEAD_TOLERANCE))
    };
    let result = camera_status::Entity::update_many()
        .col_expr(
            camera_status::Column::State,
            Expr::value(CameraState::Error),
        )
        .col_expr(camera_status::Column::LastError, Expr::value(error))
        .col_expr(camera_status::Column::UpdatedAt, Expr::value(now))
        .filter(camera_status::Column::CameraId.eq(camera_id))
        .filter(camera_status::Column::State.eq(was))
        .filter(before(camera_status::Column::LastSegmentAt))
        .filter(before(camera_status::Column::LastStartedAt))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Counts one more restart of the camera's recorder; a failure is logged.
pub async fn count_reconnect(state: &AppState, camera_id: &str) {
    let result = camera_status::Entity::update_many()
        .col_expr(
            camera_status::Column::ReconnectCount,
            Expr::col(camera_status::Column::ReconnectCount).add(1),
        )
        .filter(camera_status::Column::CameraId.eq(camera_id))
        .exec(&state.db)
        .await;
    if let Err(err) = result {
        tracing::warn!(camera = camera_id, error = %err, "could not count a reconnect");
    }
}

/// What the indexer learnt from a camera's newest segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSeen {
    /// When the segment ends.
    pub end: DateTime<Utc>,
    /// Its average frame rate.
    pub fps: Option<f64>,
    /// Its bitrate in kbit/s.
    pub bitrate_kbps: f64,
}

/// How far past the server's clock a segment may end and still count as the camera's newest:
/// a recording named further ahead was written while the clock ran fast (a bad NTP step, a
/// wrong RTC at boot), and says nothing about when the camera last wrote.
pub const AHEAD_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The SQL that keeps `column` unless the segment upserted ends after the camera's newest one:
/// a file indexed late (an older segment, probed after newer ones) counts as written but says
/// nothing about the camera now. A newest one stored ahead of the clock (`limit`) is replaced
/// by the next segment that is not; a segment ahead of it was upserted with no end and
/// replaces nothing.
fn from_newest(column: &str, limit: DateTime<Utc>) -> Expr {
    use sea_orm::Condition;
    let stored = || Expr::cust("camera_status.last_segment_at");
    let upserted = || Expr::cust("excluded.last_segment_at");
    Expr::case(
        Condition::all().add(upserted().is_not_null()).add(
            Condition::any()
                .add(stored().is_null())
                .add(stored().lt(upserted()))
                .add(stored().gt(limit)),
        ),
        Expr::cust(format!("excluded.{column}")),
    )
    .finally(Expr::cust(format!("camera_status.{column}")))
    .into()
}

/// A new segment of the camera was indexed: it is counted; if it is the camera's newest, the
/// camera is recording and its frame rate and bitrate are this segment's. One that ends more
/// than [`AHEAD_TOLERANCE`] after `now` is only counted (the indexer judges a file by its
/// start, so one that starts within the tolerance and ends past it opens a gap as usual).
pub async fn record_segment(
    db: &impl ConnectionTrait,
    camera_id: &str,
    seen: SegmentSeen,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let limit = now + AHEAD_TOLERANCE;
    let newest = (seen.end <= limit).then_some(seen);
    camera_status::Entity::insert(camera_status::ActiveModel {
        camera_id: Set(camera_id.to_owned()),
        state: Set(CameraState::Recording),
        last_segment_at: Set(newest.map(|seen| seen.end)),
        segments_written: Set(1),
        reconnect_count: Set(0),
        fps_observed: Set(newest.and_then(|seen| seen.fps)),
        bitrate_kbps: Set(newest.map(|seen| seen.bitrate_kbps)),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(camera_status::Column::CameraId)
            .update_columns([camera_status::Column::UpdatedAt])
            .value(
                camera_status::Column::SegmentsWritten,
                Expr::col((
                    camera_status::Entity,
                    camera_status::Column::SegmentsWritten,
                ))
                .add(1),
            )
            // Each reads the row as it was: the test on `last_segment_at` sees the old value.
            .value(camera_status::Column::State, from_newest("state", limit))
            .value(
                camera_status::Column::FpsObserved,
                from_newest("fps_observed", limit),
            )
            .value(
                camera_status::Column::BitrateKbps,
                from_newest("bitrate_kbps", limit),
            )
            .value(
                camera_status::Column::LastSegmentAt,
                from_newest("last_segment_at", limit),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The camera with `id`, `NOT_FOUND` when there is none (check the caller's scope first).
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<camera::Model, AppError> {
    camera::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("camera `{id}` not found")))
}

/// `CONFLICT` naming the camera (other than `except`) that is already named `name`.
pub async fn name_taken(
    db: &impl ConnectionTrait,
    name: &str,
    except: Option<&str>,
) -> Result<(), AppError> {
    let mut query = camera::Entity::find().filter(camera::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(camera::Column::Id.ne(id));
    }
    match query.one(db).await? {
        Some(existing) => Err(AppError::Conflict(format!(
            "camera `{}` is already named `{name}`",
            existing.id
        ))),
        None => Ok(()),
    }
}

/// Checked changes to a camera; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct CameraChanges {
    /// New name.
    pub name: Option<String>,
    /// New stream URL, with its password.
    pub stream_url: Option<String>,
    /// New sub stream URL (`Some(None)` removes it).
    pub sub_stream_url: Option<Option<String>>,
    /// Record the sub stream too, or stop.
    pub record_sub: Option<bool>,
    /// Enable or disable the camera.
    pub enabled: Option<bool>,
    /// Switch recording on or off.
    pub record_enabled: Option<bool>,
    /// New segment length in seconds.
    pub segment_seconds: Option<i32>,
    /// New retention in hours.
    pub retention_hours: Option<i32>,
    /// New storage quota in bytes (`Some(None)` removes it).
    pub storage_quota_bytes: Option<Option<i64>>,
}

/// Applies `changes` to camera `id`.
pub async fn update(
    db: &impl ConnectionTrait,
    id: &str,
    changes: &CameraChanges,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    use sea_orm::sea_query::SimpleExpr;
    let set: [(camera::Column, Option<SimpleExpr>); 9] = [
        (
            camera::Column::RecordSub,
            changes.record_sub.map(Expr::value),
        ),
        (
            camera::Column::SubStreamUrl,
            changes.sub_stream_url.clone().map(Expr::value),
        ),
        (camera::Column::Name, changes.name.clone().map(Expr::value)),
        (
            camera::Column::StreamUrl,
            changes.stream_url.clone().map(Expr::value),
        ),
        (camera::Column::Enabled, changes.enabled.map(Expr::value)),
        (
            camera::Column::RecordEnabled,
            changes.record_enabled.map(Expr::value),
        ),
        (
            camera::Column::SegmentSeconds,
            changes.segment_seconds.map(Expr::value),
        ),
        (
            camera::Column::RetentionHours,
            changes.retention_hours.map(Expr::value),
        ),
        (
            camera::Column::StorageQuotaBytes,
            changes.storage_quota_bytes.map(Expr::value),
        ),
    ];
    let mut update = camera::Entity::update_many()
        .col_expr(camera::Column::UpdatedAt, Expr::value(now))
        .filter(camera::Column::Id.eq(id));
    for (column, value) in set {
        if let Some(value) = value {
            update = update.col_expr(column, value);
        }
    }
    update.exec(db).await?;
    Ok(())
}
