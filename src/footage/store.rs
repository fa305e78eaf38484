//! Segment and gap queries over any connection.

use chrono::Duration;
use entity::{footage_range, recording_gap, segment};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use crate::error::AppError;
use crate::footage::model::{GapReason, JOIN_MS, Range, TimeRange, join_spans_ms};

/// Inserts segments and folds their spans into `footage_ranges`, in one transaction, so the
/// timeline never sees a segment without its range. Batches are coalesced first, so a batch
/// of consecutive segments costs one range merge.
pub async fn insert_segments(
    db: &DatabaseConnection,
    rows: Vec<segment::Model>,
) -> Result<(), AppError> {
    let txn = db.begin().await?;
    insert_segments_in(&txn, rows).await?;
    txn.commit().await?;
    Ok(())
}

/// [`insert_segments`] inside the caller's transaction.
pub async fn insert_segments_in(
    txn: &impl ConnectionTrait,
    rows: Vec<segment::Model>,
) -> Result<(), AppError> {
    if rows.is_empty() {
        return Ok(());
    }
    // Coverage is the main stream's: sub-stream copies add no range.
    let mut spans: Vec<(String, i64, i64)> = rows
        .iter()
        .filter(|r| r.profile == "main")
        .map(|r| (r.camera_id.clone(), r.start_ms, r.end_ms))
        .collect();
    spans.sort();
    segment::Entity::insert_many(rows.into_iter().map(|r| r.into_active_model().reset_all()))
        .exec_without_returning(txn)
        .await?;
    let mut by_camera: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
    for (camera, start, end) in spans {
        by_camera.entry(camera).or_default().push((start, end));
    }
    for (camera, spans) in by_camera {
        for (start, end) in join_spans_ms(spans) {
            merge_span(txn, &camera, start, end).await?;
        }
    }
    Ok(())
}

/// Records a hole in a camera's footage with its reason; false when it was already recorded
/// (same camera and start).
pub async fn insert_gap(
    db: &impl ConnectionTrait,
    camera_id: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    reason: GapReason,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, AppError> {
    let inserted = recording_gap::Entity::insert(recording_gap::ActiveModel {
        id: Set(crate::ids::new_id("gap")),
        camera_id: Set(camera_id.to_owned()),
        gap_start: Set(from),
        gap_end: Set(to),
        seconds: Set((to - from).num_milliseconds() as f64 / 1000.0),
        reason: Set(reason),
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
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}

/// Folds `[start, end)` into the camera's ranges: every range it touches (seam under 3 s)
/// becomes one. Ranges never touch each other, so the union cannot reach any other.
pub async fn merge_span(
    db: &impl ConnectionTrait,
    camera_id: &str,
    start: i64,
    end: i64,
) -> Result<(), AppError> {
    let touching = footage_range::Entity::find()
        .filter(footage_range::Column::CameraId.eq(camera_id))
        .filter(footage_range::Column::EndMs.gt(start - JOIN_MS))
        .filter(footage_range::Column::StartMs.lt(end + JOIN_MS))
        .all(db)
        .await?;
    let merged_start = touching.iter().map(|r| r.start_ms).fold(start, i64::min);
    let merged_end = touching.iter().map(|r| r.end_ms).fold(end, i64::max);
    if let [only] = touching.as_slice()
        && only.start_ms == merged_start
        && only.end_ms == merged_end
    {
        return Ok(());
    }
    replace_ranges(db, camera_id, &touching, &[(merged_start, merged_end)]).await
}

/// Takes a deleted main-stream segment's span out of the camera's ranges. Main segments never
/// overlap (the indexer clamps them), so the range holding the span keeps what lies before it
/// (up to the end of the last remaining segment before it) and after it (from the start of
/// the next), as one range if that seam is still under 3 s. A range may start inside the
/// segment before (after a pause inside it): that segment still bounds what is kept.
pub async fn remove_span(
    db: &impl ConnectionTrait,
    camera_id: &str,
    start: i64,
    end: i64,
) -> Result<(), AppError> {
    let holding = ranges_holding(db, camera_id, start, end).await?;
    let (Some(range_start), Some(range_end)) = (
        holding.iter().map(|r| r.start_ms).min(),
        holding.iter().map(|r| r.end_ms).max(),
    ) else {
        return Ok(());
    };
    let before: Option<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::EndMs)
        .filter(main_stream_of(camera_id))
        .filter(segment::Column::EndMs.gt(range_start))
        .filter(segment::Column::StartMs.lt(start))
        .order_by_desc(segment::Column::StartMs)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let after: Option<i64> = segment::Entity::find()
        .select_only()
        .column(segment::Column::StartMs)
        .filter(main_stream_of(camera_id))
        .filter(segment::Column::StartMs.gte(start))
        .filter(segment::Column::StartMs.lte(range_end))
        .order_by_asc(segment::Column::StartMs)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let pieces: Vec<(i64, i64)> = match (before, after) {
        (None, None) => vec![],
        (Some(left_end), None) => vec![(range_start, left_end)],
        (None, Some(right_start)) => vec![(right_start, range_end)],
        (Some(left_end), Some(right_start)) if right_start - left_end < JOIN_MS => {
            vec![(range_start, range_end)]
        }
        (Some(left_end), Some(right_start)) => {
            vec![(range_start, left_end), (right_start, range_end)]
        }
    };
    replace_ranges(db, camera_id, &holding, &pieces).await
}

/// The camera's ranges overlapping `[start, end)` (ms; an empty span still finds the range
/// around its instant), in time order.
async fn ranges_holding(
    db: &impl ConnectionTrait,
    camera_id: &str,
    start: i64,
    end: i64,
) -> Result<Vec<footage_range::Model>, AppError> {
    Ok(footage_range::Entity::find()
        .filter(footage_range::Column::CameraId.eq(camera_id))
        .filter(footage_range::Column::EndMs.gt(start))
        .filter(footage_range::Column::StartMs.lt(end.max(start + 1)))
        .order_by_asc(footage_range::Column::StartMs)
        .all(db)
        .await?)
}

async fn replace_ranges(
    db: &impl ConnectionTrait,
    camera_id: &str,
    old: &[footage_range::Model],
    new: &[(i64, i64)],
) -> Result<(), AppError> {
    if old.len() == new.len()
        && old
            .iter()
            .zip(new)
            .all(|(o, n)| (o.start_ms, o.end_ms) == *n)
    {
        return Ok(());
    }
    if !old.is_empty() {
        footage_range::Entity::delete_many()
            .filter(footage_range::Column::CameraId.eq(camera_id))
            .filter(footage_range::Column::StartMs.is_in(old.iter().map(|r| r.start_ms)))
            .exec(db)
            .await?;
    }
    for &(start_ms, end_ms) in new {
        footage_range::ActiveModel {
            camera_id: Set(camera_id.to_owned()),
            start_ms: Set(start_ms),
            end_ms: Set(end_ms),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// The camera's continuous ranges overlapping the window, in time order (unclipped). Reads
/// one row per range, however many segments the window holds.
pub async fn ranges_overlapping(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
) -> Result<Vec<Range>, AppError> {
    let rows: Vec<(i64, i64)> = footage_range::Entity::find()
        .select_only()
        .column(footage_range::Column::StartMs)
        .column(footage_range::Column::EndMs)
        .filter(footage_range::Column::CameraId.eq(camera_id))
        .filter(footage_range::Column::EndMs.gt(window.from.timestamp_millis()))
        .filter(footage_range::Column::StartMs.lt(window.to.timestamp_millis()))
        .order_by_asc(footage_range::Column::StartMs)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(start, end)| Range {
            start: segment::from_ms(start),
            end: segment::from_ms(end),
        })
        .collect())
}

/// No segment is longer than this; it bounds the index scan to the window instead of the
/// camera's whole history (segments are at most 3600 s; the margin covers late keyframes).
pub const MAX_SEGMENT_SPAN: Duration = Duration::hours(2);

fn overlapping(camera_id: &str, window: TimeRange) -> Condition {
    overlapping_in(camera_id, window, "main")
}

/// Segments of one camera's stream profile (`main`, which coverage, gaps, exports and
/// snapshots follow, or `sub`).
pub fn stream_of(camera_id: &str, profile: &str) -> Condition {
    Condition::all()
        .add(segment::Column::CameraId.eq(camera_id))
        .add(segment::Column::Profile.eq(profile))
}

/// Segments of one camera's main stream.
pub fn main_stream_of(camera_id: &str) -> Condition {
    stream_of(camera_id, "main")
}

fn overlapping_in(camera_id: &str, window: TimeRange, profile: &str) -> Condition {
    stream_of(camera_id, profile)
        .add(segment::Column::StartMs.gt((window.from - MAX_SEGMENT_SPAN).timestamp_millis()))
        .add(segment::Column::StartMs.lt(window.to.timestamp_millis()))
        .add(segment::Column::EndMs.gt(window.from.timestamp_millis()))
}

/// Every segment overlapping the window, in start order (exports read all of them, never a
/// truncated page).
pub async fn segments_overlapping(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
) -> Result<Vec<segment::Model>, AppError> {
    Ok(segment::Entity::find()
        .filter(overlapping(camera_id, window))
        .order_by_asc(segment::Column::StartMs)
        .order_by_asc(segment::Column::Id)
        .all(db)
        .await?)
}

/// Every segment of one stream profile (`main` or `sub`) overlapping the window, in start order.
pub async fn profile_segments_overlapping(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
    profile: &str,
) -> Result<Vec<segment::Model>, AppError> {
    Ok(segment::Entity::find()
        .filter(overlapping_in(camera_id, window, profile))
        .order_by_asc(segment::Column::StartMs)
        .order_by_asc(segment::Column::Id)
        .all(db)
        .await?)
}

/// How many segments of one stream profile overlap the window.
pub async fn count_profile_segments(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
    profile: &str,
) -> Result<u64, AppError> {
    use sea_orm::PaginatorTrait;
    Ok(segment::Entity::find()
        .filter(overlapping_in(camera_id, window, profile))
        .count(db)
        .await?)
}

/// The segments of a camera overlapping the window, as a query to page.
pub fn overlapping_segments(
    camera_id: &str,
    window: TimeRange,
) -> sea_orm::Select<segment::Entity> {
    segment::Entity::find().filter(overlapping(camera_id, window))
}

/// Recorded gaps overlapping the window (they carry the reasons).
pub async fn recorded_gaps(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
) -> Result<Vec<recording_gap::Model>, AppError> {
    Ok(gaps_overlapping(camera_id, window.from, window.to)
        .all(db)
        .await?)
}

/// The camera's recorded gaps overlapping `[from, to)`, in time order, as a query.
fn gaps_overlapping(
    camera_id: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> sea_orm::Select<recording_gap::Entity> {
    recording_gap::Entity::find()
        .filter(recording_gap::Column::CameraId.eq(camera_id))
        .filter(recording_gap::Column::GapStart.lt(to))
        .filter(recording_gap::Column::GapEnd.gt(from))
        .order_by_asc(recording_gap::Column::GapStart)
}

/// The pauses recorded inside recordings ([`GapReason::StreamPaused`]) overlapping
/// `[from_ms, to_ms)`, as `(start, end)` in ms since the epoch, in time order.
pub async fn recorded_pauses(
    db: &impl ConnectionTrait,
    camera_id: &str,
    (from_ms, to_ms): (i64, i64),
) -> Result<Vec<(i64, i64)>, AppError> {
    let rows = gaps_overlapping(
        camera_id,
        segment::from_ms(from_ms),
        segment::from_ms(to_ms),
    )
    .filter(recording_gap::Column::Reason.eq(GapReason::StreamPaused))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|g| (g.gap_start.timestamp_millis(), g.gap_end.timestamp_millis()))
        .collect())
}

/// Takes a pause inside a recording (`[start, end)`, ms) out of the camera's ranges: the
/// range holding it keeps what lies before and after it.
pub async fn cut_span(
    db: &impl ConnectionTrait,
    camera_id: &str,
    start: i64,
    end: i64,
) -> Result<(), AppError> {
    let holding = ranges_holding(db, camera_id, start, end).await?;
    let mut pieces = Vec::new();
    for range in &holding {
        if range.start_ms < start {
            pieces.push((range.start_ms, start));
        }
        if range.end_ms > end {
            pieces.push((end, range.end_ms));
        }
    }
    replace_ranges(db, camera_id, &holding, &pieces).await
}

/// Clamps the pauses recorded inside `[from_ms, to_ms)` to end at `from_ms` (a segment cut
/// short there): those starting inside it are deleted, one running into it ends at its start.
pub async fn trim_pauses(
    db: &impl ConnectionTrait,
    camera_id: &str,
    (from_ms, to_ms): (i64, i64),
) -> Result<(), AppError> {
    let paused = || {
        Condition::all()
            .add(recording_gap::Column::CameraId.eq(camera_id))
            .add(recording_gap::Column::Reason.eq(GapReason::StreamPaused))
    };
    let (from, to) = (segment::from_ms(from_ms), segment::from_ms(to_ms));
    recording_gap::Entity::delete_many()
        .filter(paused())
        .filter(recording_gap::Column::GapStart.gte(from))
        .filter(recording_gap::Column::GapStart.lt(to))
        .exec(db)
        .await?;
    let running_in = recording_gap::Entity::find()
        .filter(paused())
        .filter(recording_gap::Column::GapStart.lt(from))
        .filter(recording_gap::Column::GapEnd.gt(from))
        .all(db)
        .await?;
    for gap in running_in {
        let seconds = (from - gap.gap_start).num_milliseconds() as f64 / 1000.0;
        let mut gap = gap.into_active_model();
        gap.gap_end = Set(from);
        gap.seconds = Set(seconds);
        gap.update(db).await?;
    }
    Ok(())
}
