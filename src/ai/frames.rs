//! `GET /media/frames/<camera>/<profile>.jpg[?task=<id>]`: the latest sampled frame of a
//! camera, for workers with `ai:frames` on it. With `task`, and while the caller holds that
//! task's lease, the response carries a frame ticket (`x-frame-ticket`) and the frame id to post
//! detections under (`x-frame-id`). A ticket problem never fails the pull: the frame is then
//! served without one.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;
use serde::Deserialize;

use crate::ai::leases::{held_lease, holder};
use crate::ai::sampler::frame_path;
use crate::ai::tasks::StreamProfile;
use crate::auth::principal::Capability;
use crate::http::respond::{HttpState, bearer_with, refusal};

/// The frame-pull route.
pub fn routes() -> axum::Router<HttpState> {
    axum::Router::new().route("/media/frames/{camera}/{file}", axum::routing::get(frame))
}

/// The query of a frame pull.
#[derive(Debug, Deserialize)]
pub struct FrameQuery {
    task: Option<String>,
}

fn portable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `GET /media/frames/<camera>/<profile>.jpg`.
pub async fn frame(
    State(state): State<HttpState>,
    Path((camera_id, file)): Path<(String, String)>,
    Query(query): Query<FrameQuery>,
    headers: HeaderMap,
) -> Response {
    let principal = match bearer_with(&state, &headers, Capability::AiFrames).await {
        Ok(principal) => principal,
        Err(refused) => return refused,
    };
    if !principal.scope.allows(&camera_id) {
        return refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "credential is not scoped to this camera",
        );
    }
    let profile = match file.as_str() {
        "sub.jpg" => StreamProfile::Sub,
        "main.jpg" => StreamProfile::Main,
        _ => {
            return refusal(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "frames are at /media/frames/<camera>/sub.jpg or main.jpg",
            );
        }
    };
    if !portable(&camera_id) {
        return refusal(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "camera: not a camera id",
        );
    }
    let app = &state.app;
    // A frame left behind by a sampler that no longer runs is not served as the latest.
    if !app.ai.samplers.planned(&camera_id, profile) {
        return refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no sampler runs for this camera and profile (no enabled AI task, or no frame budget left; see `aiSamplers`)",
        );
    }
    let path = frame_path(app, &camera_id, profile);
    // Read the file once: the sampler replaces it atomically, so this is one whole frame.
    // The open handle is one inode: its time and its bytes belong to the same frame.
    let (bytes, modified) = match tokio::fs::File::open(&path).await {
        Ok(mut file) => {
            use tokio::io::AsyncReadExt;
            let modified = file.metadata().await.ok().and_then(|m| m.modified().ok());
            let mut bytes = Vec::new();
            match file.read_to_end(&mut bytes).await {
                Ok(_) => (bytes, modified),
                Err(_) => (Vec::new(), None),
            }
        }
        Err(_) => (Vec::new(), None),
    };
    let Some(modified) = modified.filter(|_| !bytes.is_empty()) else {
        return refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no sampled frame yet (is an enabled AI task on this camera and its sampler running? see `aiSamplers`)",
        );
    };
    let captured: DateTime<Utc> = modified.into();
    let captured_ms = captured.timestamp_millis();
    let now = app.clock.now();
    let age_ms = (now - captured).num_milliseconds().max(0);
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(
        "x-frame-captured-at",
        captured.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    set("x-frame-age-ms", age_ms.to_string());
    if let Some(task_id) = query.task.filter(|t| portable(t)) {
        let who = holder(&principal);
        let task = entity::ai_task::Entity::find_by_id(task_id.clone())
            .one(&app.db)
            .await
            .ok()
            .flatten();
        let same_stream = task
            .as_ref()
            .is_some_and(|t| t.camera_id == camera_id && t.stream_profile == profile);
        match held_lease(&app.db, &who, &task_id, now).await {
            Ok(Some(lease)) if lease.camera_id == camera_id && same_stream => {
                let expires = now.timestamp() + app.config.frame_ticket_ttl_secs as i64;
                let ticket = app
                    .ai
                    .tickets
                    .issue(&who, &camera_id, &task_id, captured_ms, expires);
                set("x-frame-ticket", ticket);
                set("x-frame-id", format!("t:{task_id}:{captured_ms}"));
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not check a lease for a frame ticket"),
        }
    }
    *response.status_mut() = StatusCode::OK;
    response
}
