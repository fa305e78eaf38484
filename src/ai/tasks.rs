//! AI tasks without GraphQL: stream profiles, the checks on a task's settings, and where a
//! task's frames are pulled.

use entity::ai_task;
pub use entity::vocab::StreamProfile;
use serde_json::Value;

use crate::error::AppError;
use crate::graphql::input::in_range;

/// A task rate (0.1 to 30 frames a second); the error names `field`.
pub fn fps(field: &str, v: f64) -> Result<f64, AppError> {
    in_range(field, v, 0.1, 30.0)
}

/// A task width (160 to 3840 pixels, made even); the error names `field`.
pub fn width(field: &str, v: i32) -> Result<i32, AppError> {
    // Even widths keep the scaler and JPEG encoder happy.
    in_range(field, v, 160, 3840).map(|v| v - v % 2)
}

/// A task priority (-100 to 100); the error names `field`.
pub fn priority(field: &str, v: i32) -> Result<i32, AppError> {
    in_range(field, v, -100, 100)
}

/// A task's worker settings: a JSON object of at most 16 KB, returned as stored.
pub fn config(field: &str, v: &Value) -> Result<String, AppError> {
    let s = v.to_string();
    if !v.is_object() || s.len() > 16 * 1024 {
        return Err(AppError::bad_input(
            field,
            "must be a JSON object of at most 16 KB",
        ));
    }
    Ok(s)
}

/// The frame pull path of a task.
pub fn frame_url(task: &ai_task::Model) -> String {
    format!(
        "/media/frames/{}/{}.jpg?task={}",
        task.camera_id, task.stream_profile, task.id
    )
}
