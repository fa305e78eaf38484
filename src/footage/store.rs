//! Segment and gap queries over any connection.

use chrono::Duration;
use entity::{recording_gap, segment};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::statement;
use crate::error::AppError;
use crate::footage::model::{JOIN_TOLERANCE_S, Range, TimeRange};

/// No segment is longer than this; it bounds the index scan to the window instead of the
/// camera's whole history (segments are at most 3600 s; the margin covers late keyframes).
pub const MAX_SEGMENT_SPAN: Duration = Duration::hours(2);

fn overlapping(camera_id: &str, window: TimeRange) -> Condition {
    Condition::all()
        .add(segment::Column::CameraId.eq(camera_id))
        .add(segment::Column::StartMs.gt((window.from - MAX_SEGMENT_SPAN).timestamp_millis()))
        .add(segment::Column::StartMs.lt(window.to.timestamp_millis()))
        .add(segment::Column::EndMs.gt(window.from.timestamp_millis()))
}

/// The continuous ranges of footage overlapping the window, coalesced in the database with
/// the same rule as [`crate::footage::model::coalesce`] (a new range starts when a segment
/// begins 3 s or more after everything before it ended; overlaps join), so only the ranges
/// cross the wire however many segments the window holds.
pub async fn ranges_overlapping(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
) -> Result<Vec<Range>, AppError> {
    let sql = "SELECT MIN(start_ms) AS range_start, MAX(end_ms) AS range_end FROM (\
        SELECT start_ms, end_ms, SUM(brk) OVER (ORDER BY start_ms, id ROWS UNBOUNDED PRECEDING) AS island FROM (\
          SELECT id, start_ms, end_ms, CASE WHEN start_ms - MAX(end_ms) OVER (ORDER BY start_ms, id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) >= ? \
                 THEN 1 ELSE 0 END AS brk \
          FROM segments WHERE camera_id = ? AND start_ms > ? AND start_ms < ? AND end_ms > ?) marked) islands \
        GROUP BY island ORDER BY range_start";
    let values = vec![
        ((JOIN_TOLERANCE_S + 1) * 1000).into(),
        camera_id.into(),
        (window.from - MAX_SEGMENT_SPAN).timestamp_millis().into(),
        window.to.timestamp_millis().into(),
        window.from.timestamp_millis().into(),
    ];
    let rows = db
        .query_all_raw(statement(db.get_database_backend(), sql, values))
        .await?;
    let mut ranges = Vec::with_capacity(rows.len());
    for row in rows {
        let start: i64 = row.try_get("", "range_start")?;
        let end: i64 = row.try_get("", "range_end")?;
        ranges.push(Range {
            start: segment::from_ms(start),
            end: segment::from_ms(end),
        });
    }
    Ok(ranges)
}

/// A page of segments overlapping the window, after the `(start, id)` key.
pub async fn segments_page(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
    after: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<segment::Model>, AppError> {
    let mut condition = overlapping(camera_id, window);
    if let Some((start, id)) = after {
        condition = condition.add(
            Condition::any()
                .add(segment::Column::StartMs.gt(start))
                .add(
                    Condition::all()
                        .add(segment::Column::StartMs.eq(start))
                        .add(segment::Column::Id.gt(id)),
                ),
        );
    }
    Ok(segment::Entity::find()
        .filter(condition)
        .order_by_asc(segment::Column::StartMs)
        .order_by_asc(segment::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Recorded gaps overlapping the window (they carry the reasons).
pub async fn recorded_gaps(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
) -> Result<Vec<recording_gap::Model>, AppError> {
    Ok(recording_gap::Entity::find()
        .filter(recording_gap::Column::CameraId.eq(camera_id))
        .filter(recording_gap::Column::GapStart.lt(window.to))
        .filter(recording_gap::Column::GapEnd.gt(window.from))
        .order_by_asc(recording_gap::Column::GapStart)
        .all(db)
        .await?)
}
