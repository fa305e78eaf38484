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
    let Some((bytes, captured)) = read_frame(&frame_path(app, &camera_id, profile)).await else {
        return refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no sampled frame yet (is an enabled AI task on this camera and its sampler running? see `aiSamplers`)",
        );
    };
    let now = app.clock.now();
    let age_ms = (now - captured).num_milliseconds().max(0);
    let mut response = Response::new(Body::from(bytes));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let at = captured.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    set_header(h, "x-frame-captured-at", at);
    set_header(h, "x-frame-age-ms", age_ms.to_string());
    if let Some(task_id) = query.task.filter(|t| portable(t)) {
        let pull = Pull {
            camera_id: &camera_id,
            profile,
            captured,
            now,
        };
        if let Some((ticket, frame_id)) = ticket_for(app, &principal, &task_id, pull).await {
            set_header(h, "x-frame-ticket", ticket);
            set_header(h, "x-frame-id", frame_id);
        }
    }
    *response.status_mut() = StatusCode::OK;
    response
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

/// Reads the latest frame once: the sampler replaces it atomically, so this is one whole
/// frame, and the open handle is one inode, so its time and its bytes belong to the same frame.
async fn read_frame(path: &std::path::Path) -> Option<(Vec<u8>, DateTime<Utc>)> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await.ok()?;
    let modified = file.metadata().await.ok()?.modified().ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await.ok()?;
    (!bytes.is_empty()).then(|| (bytes, modified.into()))
}

/// One frame pull.
#[derive(Clone, Copy)]
struct Pull<'a> {
    camera_id: &'a str,
    profile: StreamProfile,
    captured: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// The frame ticket and frame id for the holder of `task_id`'s lease, when the task reads this
/// camera's stream; `None` otherwise (a ticket problem never fails the pull).
async fn ticket_for(
    app: &crate::state::AppState,
    principal: &crate::auth::principal::Principal,
    task_id: &str,
    pull: Pull<'_>,
) -> Option<(String, String)> {
    let who = holder(principal);
    let task = entity::ai_task::Entity::find_by_id(task_id.to_owned())
        .one(&app.db)
        .await
        .ok()
        .flatten();
    let same_stream = task
        .as_ref()
        .is_some_and(|t| t.camera_id == pull.camera_id && t.stream_profile == pull.profile);
    match held_lease(&app.db, &who, task_id, pull.now).await {
        Ok(Some(lease)) if lease.camera_id == pull.camera_id && same_stream => {
            let captured_ms = pull.captured.timestamp_millis();
            let expires = pull.now.timestamp() + app.config.frame_ticket_ttl_secs as i64;
            let ticket = app
                .ai
                .tickets
                .issue(&who, pull.camera_id, task_id, captured_ms, expires);
            Some((ticket, format!("t:{task_id}:{captured_ms}")))
        }
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(error = %err, "could not check a lease for a frame ticket");
            None
        }
    }
}
