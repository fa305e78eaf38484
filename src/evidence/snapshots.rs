//! Snapshots: the recorded frame at an instant, as a JPEG, under the same permits, read
//! locks and scope as clips.

use chrono::{DateTime, Duration, Utc};
use entity::{segment, snapshot};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::evidence::exports::{hash_file, snapshots_dir};
use crate::evidence::locks::ReadLock;
use crate::evidence::model;
use crate::footage::store::MAX_SEGMENT_SPAN;
use crate::ids::new_id;
use crate::state::AppState;

/// How long a snapshot waits for a media-job slot before `UNAVAILABLE`.
pub const PERMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The segment holding the recorded frame at `at`; `NO_FOOTAGE` when none does.
pub async fn segment_at(
    state: &AppState,
    camera_id: &str,
    at: DateTime<Utc>,
) -> Result<segment::Model, AppError> {
    let at_ms = at.timestamp_millis();
    segment::Entity::find()
        .filter(crate::footage::store::main_stream_of(camera_id))
        .filter(segment::Column::StartMs.lte(at_ms))
        .filter(segment::Column::StartMs.gt(at_ms - MAX_SEGMENT_SPAN.num_milliseconds()))
        .filter(segment::Column::EndMs.gt(at_ms))
        .order_by_desc(segment::Column::StartMs)
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::Domain {
            code: "NO_FOOTAGE",
            message: "no recorded footage at that instant".into(),
        })
}

/// Extracts the frame at `at` on `camera_id` for `principal` (already checked) and stores
/// the snapshot row.
pub async fn capture(
    state: &AppState,
    principal: &Principal,
    camera_id: &str,
    at: DateTime<Utc>,
) -> Result<snapshot::Model, AppError> {
    let seg = segment_at(state, camera_id, at).await?;
    if !model::safe_path(&seg.path) {
        return Err(AppError::internal(format!(
            "unsafe segment path {:?}",
            seg.path
        )));
    }
    let at_ms = at.timestamp_millis();
    let permit = state.media.permit(PERMIT_WAIT).await?;
    let lock = ReadLock::acquire(
        &state.db,
        state.ownership.instance_id(),
        vec![seg.id.clone()],
    )
    .await?;
    let id = new_id("snap");
    let out = snapshots_dir(state).join(format!("{id}.jpg"));
    let source = crate::footage::recorder::recordings_root(state).join(&seg.path);
    let offset = (at_ms - seg.start_ms) as f64 / 1000.0;
    let captured =
        crate::fleet::ffmpeg::capture_frame(&state.config.ffmpeg, &source, offset, &out).await;
    lock.release().await;
    drop(permit);
    captured?;
    let (size, sha256) = hash_file(&out).await.map_err(AppError::internal)?;
    let now = state.clock.now();
    let expires = now + Duration::hours(state.config.snapshot_retention_hours as i64);
    Ok(snapshot::ActiveModel {
        id: Set(id),
        camera_id: Set(camera_id.to_owned()),
        at_ms: Set(at_ms),
        segment_id: Set(seg.id),
        size_bytes: Set(size),
        sha256: Set(sha256),
        requested_by_id: Set(principal.id.clone()),
        requested_by_name: Set(principal.name.clone()),
        created_at: Set(now),
        expires_at: Set(expires),
    }
    .insert(&state.db)
    .await?)
}
