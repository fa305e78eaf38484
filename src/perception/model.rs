//! A detection batch as a worker posts it, and the checks it passes before anything is
//! written. Every error names the field (`input.detections[3].bbox.w`); past [`parse`] only a
//! valid batch moves.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::AppError;
use crate::graphql::input::{in_range, text};
use crate::zones::geometry::BBox;

/// Most detections in one batch.
pub const MAX_DETECTIONS: usize = 1000;
/// Largest `attributes` object, serialized.
pub const MAX_ATTRIBUTES_BYTES: usize = 4096;
/// How far in the future a capture time may lie (clock skew between worker and server).
pub const MAX_CLOCK_SKEW_MINUTES: i64 = 5;

/// One detected object, as posted.
#[derive(Debug, Clone)]
pub struct Detection {
    /// What it is (trimmed, 1 to 64 characters once valid).
    pub label: String,
    /// 0..1.
    pub confidence: f64,
    /// Where, in normalized coordinates.
    pub bbox: BBox,
    /// The worker's track id (trimmed, up to 128 characters once valid).
    pub track_id: Option<String>,
    /// A JSON object of up to [`MAX_ATTRIBUTES_BYTES`].
    pub attributes: Option<Value>,
}

/// One frame's detections, as posted.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The camera that saw them.
    pub camera_id: String,
    /// The task type that produced them.
    pub task_type: String,
    /// The frame's id, unique per camera.
    pub frame_id: String,
    /// When the frame was captured.
    pub captured_at: DateTime<Utc>,
    /// The objects.
    pub detections: Vec<Detection>,
}

/// A batch that passed [`parse`]: texts trimmed, numbers in range, boxes inside the frame.
#[derive(Debug, Clone)]
pub struct ValidBatch(Batch);

impl ValidBatch {
    /// The checked batch.
    pub fn get(&self) -> &Batch {
        &self.0
    }
}

fn unit(field: String, v: f64) -> Result<f64, AppError> {
    in_range(&field, v, 0.0, 1.0)
}

/// Checks a batch posted at `now`.
pub fn parse(mut batch: Batch, now: DateTime<Utc>) -> Result<ValidBatch, AppError> {
    batch.task_type = text("input.taskType", &batch.task_type, 64)?;
    batch.frame_id = text("input.frameId", &batch.frame_id, 128)?;
    if batch.captured_at > now + chrono::Duration::minutes(MAX_CLOCK_SKEW_MINUTES) {
        return Err(AppError::bad_input(
            "input.capturedAt",
            "is more than 5 minutes in the future; check the worker's clock",
        ));
    }
    if batch.detections.len() > MAX_DETECTIONS {
        return Err(AppError::bad_input(
            "input.detections",
            format!("at most {MAX_DETECTIONS} detections a batch"),
        ));
    }
    for (i, d) in batch.detections.iter_mut().enumerate() {
        check_detection(i, d)?;
    }
    Ok(ValidBatch(batch))
}

fn check_detection(i: usize, d: &mut Detection) -> Result<(), AppError> {
    let at = |f: &str| format!("input.detections[{i}].{f}");
    d.label = text(&at("label"), &d.label, 64)?;
    unit(at("confidence"), d.confidence)?;
    let b = d.bbox;
    unit(at("bbox.x"), b.x)?;
    unit(at("bbox.y"), b.y)?;
    for (name, v, origin) in [("bbox.w", b.w, b.x), ("bbox.h", b.h, b.y)] {
        if !(v.is_finite() && v > 0.0 && origin + v <= 1.0 + 1e-9) {
            return Err(AppError::bad_input(
                at(name),
                "must be over 0 and keep the box inside the frame",
            ));
        }
    }
    if let Some(track) = &d.track_id {
        d.track_id = Some(text(&at("trackId"), track, 128)?);
    }
    if let Some(attrs) = &d.attributes {
        if !attrs.is_object() {
            return Err(AppError::bad_input(
                at("attributes"),
                "must be a JSON object",
            ));
        }
        if attrs.to_string().len() > MAX_ATTRIBUTES_BYTES {
            return Err(AppError::bad_input(
                at("attributes"),
                format!("at most {MAX_ATTRIBUTES_BYTES} bytes"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(detections: Vec<Detection>) -> Batch {
        Batch {
            camera_id: "c1".into(),
            task_type: " motion ".into(),
            frame_id: "f1".into(),
            captured_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            detections,
        }
    }

    fn person(bbox: BBox) -> Detection {
        Detection {
            label: " person ".into(),
            confidence: 0.9,
            bbox,
            track_id: Some(" t1 ".into()),
            attributes: None,
        }
    }

    fn field(err: AppError) -> String {
        match err {
            AppError::BadUserInput { field, .. } => field,
            other => panic!("not an input error: {other:?}"),
        }
    }

    #[test]
    fn a_valid_batch_comes_back_trimmed() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let bbox = BBox {
            x: 0.1,
            y: 0.1,
            w: 0.2,
            h: 0.2,
        };
        let valid = parse(batch(vec![person(bbox)]), now).unwrap();
        assert_eq!(valid.get().task_type, "motion");
        assert_eq!(valid.get().detections[0].label, "person");
        assert_eq!(valid.get().detections[0].track_id.as_deref(), Some("t1"));
    }

    #[test]
    fn errors_name_the_detection_and_its_field() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ok = BBox {
            x: 0.1,
            y: 0.1,
            w: 0.2,
            h: 0.2,
        };
        let outside = BBox {
            x: 0.9,
            y: 0.1,
            w: 0.2,
            h: 0.2,
        };
        let err = parse(batch(vec![person(ok), person(outside)]), now).unwrap_err();
        assert_eq!(field(err), "input.detections[1].bbox.w");
        let late = Batch {
            captured_at: now + chrono::Duration::minutes(6),
            ..batch(vec![])
        };
        assert_eq!(field(parse(late, now).unwrap_err()), "input.capturedAt");
    }
}
