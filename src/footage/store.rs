//! Segment and gap queries over any connection.

use chrono::{DateTime, Duration, Utc};
use entity::{recording_gap, segment};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::AppError;
use crate::footage::model::TimeRange;

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

/// `(start, end)` of every segment overlapping the window, in start order.
pub async fn spans_overlapping(
    db: &impl ConnectionTrait,
    camera_id: &str,
    window: TimeRange,
) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>, AppError> {
    let spans: Vec<(i64, i64)> = segment::Entity::find()
        .select_only()
        .column(segment::Column::StartMs)
        .column(segment::Column::EndMs)
        .filter(overlapping(camera_id, window))
        .order_by_asc(segment::Column::StartMs)
        .into_tuple()
        .all(db)
        .await?;
    Ok(spans
        .into_iter()
        .map(|(start, end)| (segment::from_ms(start), segment::from_ms(end)))
        .collect())
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
