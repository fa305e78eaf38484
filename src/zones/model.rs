//! Zones without I/O: kinds and directions, points, checks that name the field, and the
//! conversion of a stored zone into what the engine watches.

use async_graphql::{InputObject, SimpleObject};
pub use entity::vocab::{LineDirection, ZoneKind};
use entity::zone;
use serde_json::json;

use crate::error::AppError;
use crate::graphql::input::in_range;
use crate::zones::engine::{Direction, Shape, StaticSuppression, ZoneSpec};
use crate::zones::geometry::Point;

/// A point in normalized image coordinates (0..1, origin top-left).
#[derive(Debug, Clone, Copy, SimpleObject, InputObject)]
#[graphql(input_name = "PointInput")]
pub struct ZonePoint {
    /// 0 (left) to 1 (right).
    pub x: f64,
    /// 0 (top) to 1 (bottom).
    pub y: f64,
}

/// The points of a stored JSON list of `[x, y]` pairs.
pub fn points_of(stored: &str) -> Vec<ZonePoint> {
    serde_json::from_str::<Vec<[f64; 2]>>(stored)
        .unwrap_or_default()
        .into_iter()
        .map(|[x, y]| ZonePoint { x, y })
        .collect()
}

/// What the engine needs of a stored zone.
pub fn spec(m: &zone::Model) -> ZoneSpec {
    let points: Vec<Point> = points_of(&m.points)
        .into_iter()
        .map(|p| Point::new(p.x, p.y))
        .collect();
    let shape = match (m.kind, points.as_slice()) {
        (ZoneKind::Line, [a, b, ..]) => Shape::Line {
            a: *a,
            b: *b,
            direction: match m.direction {
                LineDirection::Any => Direction::Any,
                LineDirection::Ab => Direction::AToB,
                LineDirection::Ba => Direction::BToA,
            },
        },
        _ => Shape::Region(points),
    };
    ZoneSpec {
        id: m.id.clone(),
        camera_id: m.camera_id.clone(),
        shape,
        labels: serde_json::from_str(&m.labels).unwrap_or_default(),
        min_confidence: m.min_confidence,
        confirm_frames: m.confirm_frames.clamp(1, 10) as u32,
        dwell_seconds: m.dwell_seconds,
        suppression: m.static_suppression.then_some(StaticSuppression {
            epsilon: m.static_epsilon,
            after_seconds: m.static_after_seconds,
        }),
    }
}

/// Checks a zone's points against its kind; returns them as stored (a JSON list of pairs).
/// Errors name `input.points` or the point (`input.points[2].x`).
pub fn check_points(kind: ZoneKind, points: &[ZonePoint]) -> Result<String, AppError> {
    match kind {
        ZoneKind::Line if points.len() != 2 => {
            return Err(AppError::bad_input(
                "input.points",
                "a line has exactly 2 points (A and B)",
            ));
        }
        ZoneKind::Region if points.len() < 3 => {
            return Err(AppError::bad_input(
                "input.points",
                "a region needs at least 3 points",
            ));
        }
        ZoneKind::Region if points.len() > 512 => {
            return Err(AppError::bad_input(
                "input.points",
                "a region has at most 512 points",
            ));
        }
        _ => {}
    }
    for (i, p) in points.iter().enumerate() {
        in_range(&format!("input.points[{i}].x"), p.x, 0.0, 1.0)?;
        in_range(&format!("input.points[{i}].y"), p.y, 0.0, 1.0)?;
    }
    Ok(json!(points.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>()).to_string())
}

/// Checks a label filter; returns it as stored (a JSON list). Errors name `input.labels[i]`.
pub fn check_labels(labels: &[String]) -> Result<String, AppError> {
    if labels.len() > 64 {
        return Err(AppError::bad_input("input.labels", "at most 64 labels"));
    }
    let mut trimmed = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        // Detection labels are stored trimmed: `"person "` would never match one.
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 {
            return Err(AppError::bad_input(
                format!("input.labels[{i}]"),
                "a label is 1 to 64 characters, not blank",
            ));
        }
        trimmed.push(label);
    }
    Ok(json!(trimmed).to_string())
}
