//! Stored evidence holds: placing and releasing them, and the footage they cover.

use chrono::{DateTime, Utc};
use entity::{evidence_hold, segment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, TransactionTrait,
};

use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::evidence::locks::{lock_camera_holds, refresh_evidence_flags};
use crate::footage::store::MAX_SEGMENT_SPAN;
use crate::ids::new_id;
use crate::state::AppState;

/// Segments, bytes and seconds of a camera's footage inside `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Footage {
    /// Segments overlapping the range.
    pub segments: i64,
    /// Their bytes.
    pub bytes: i64,
    /// Seconds of footage inside the range.
    pub seconds: f64,
}

/// The camera's footage inside `[from_ms, to_ms)`: segments and bytes of both streams (all of
/// them are protected by a hold), seconds of the main stream (the sub stream records the same
/// time again).
pub async fn footage_in(
    db: &impl ConnectionTrait,
    camera_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Footage, AppError> {
    let rows: Vec<(i64, i64, i64, String)> = segment::Entity::find()
        .select_only()
        .column(segment::Column::StartMs)
        .column(segment::Column::EndMs)
        .column(segment::Column::SizeBytes)
        .column(segment::Column::Profile)
        .filter(segment::Column::CameraId.eq(camera_id))
        .filter(segment::Column::StartMs.gt(from_ms - MAX_SEGMENT_SPAN.num_milliseconds()))
        .filter(segment::Column::StartMs.lt(to_ms))
        .filter(segment::Column::EndMs.gt(from_ms))
        .into_tuple()
        .all(db)
        .await?;
    Ok(Footage {
        segments: rows.len() as i64,
        bytes: rows.iter().map(|r| r.2).sum(),
        seconds: rows
            .iter()
            .filter(|r| r.3 == "main")
            .map(|(s, e, _, _)| ((*e).min(to_ms) - (*s).max(from_ms)).max(0) as f64 / 1000.0)
            .sum(),
    })
}

/// A hold to place (checked by the caller).
#[derive(Debug, Clone)]
pub struct NewHold {
    /// The camera.
    pub camera_id: String,
    /// Held from.
    pub from: DateTime<Utc>,
    /// Held until.
    pub to: DateTime<Utc>,
    /// The incident it belongs to.
    pub incident_id: Option<String>,
    /// Why.
    pub note: Option<String>,
}

/// Places a hold and flags the footage it covers. Once this commits, no retention delete
/// can miss the hold (see [`lock_camera_holds`]).
pub async fn place_hold(
    state: &AppState,
    principal: &Principal,
    hold: NewHold,
) -> Result<evidence_hold::Model, AppError> {
    let (start_ms, end_ms) = (hold.from.timestamp_millis(), hold.to.timestamp_millis());
    let txn = state.db.begin().await?;
    lock_camera_holds(&txn, &hold.camera_id).await?;
    let placed = evidence_hold::ActiveModel {
        id: Set(new_id("hold")),
        camera_id: Set(hold.camera_id),
        start_ms: Set(start_ms),
        end_ms: Set(end_ms),
        incident_id: Set(hold.incident_id),
        note: Set(hold.note),
        created_by_id: Set(principal.id.clone()),
        created_by_name: Set(principal.name.clone()),
        created_at: Set(state.clock.now()),
        released_at: Set(None),
        released_by_name: Set(None),
    }
    .insert(&txn)
    .await?;
    // The camera is checked after the insert, inside the transaction: on SQLite the insert
    // holds the write lock, on PostgreSQL `deleteCamera` waits for the same camera lock, so a
    // camera deleted at the same moment either sees this hold or is seen gone here.
    let camera = entity::camera::Entity::find_by_id(placed.camera_id.clone())
        .one(&txn)
        .await?;
    if camera.is_none() {
        txn.rollback().await?;
        return Err(AppError::NotFound(format!(
            "camera `{}` not found",
            placed.camera_id
        )));
    }
    refresh_evidence_flags(&txn, &placed.camera_id, start_ms, end_ms).await?;
    txn.commit().await?;
    Ok(placed)
}

/// Releases an active hold on behalf of `by`; its footage falls back under normal retention
/// unless another hold covers it. `CONFLICT` when it was released already.
pub async fn release_hold(
    state: &AppState,
    hold: evidence_hold::Model,
    by: &str,
) -> Result<evidence_hold::Model, AppError> {
    if let Some(at) = hold.released_at {
        return Err(AppError::Conflict(format!(
            "evidence hold `{}` was already released at {}",
            hold.id,
            at.to_rfc3339()
        )));
    }
    let released_at = state.clock.now();
    // The release and the flags it changes commit together (a release whose flags were not
    // refreshed would keep its footage out of retention's reach for good); retried when
    // PostgreSQL makes it a deadlock's victim, which rolled all of it back.
    crate::evidence::locks::retry_on_deadlock(|| async {
        let txn = state.db.begin().await?;
        let mut row = hold.clone().into_active_model();
        row.released_at = Set(Some(released_at));
        row.released_by_name = Set(Some(by.to_owned()));
        let released = row.update(&txn).await?;
        refresh_evidence_flags(
            &txn,
            &released.camera_id,
            released.start_ms,
            released.end_ms,
        )
        .await?;
        txn.commit().await?;
        Ok(released)
    })
    .await
}
