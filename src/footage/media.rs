//! `GET /media/recordings/<segment id>`: a recording file, for a bearer token holding
//! `video:playback` on the segment's camera.

use std::str::FromStr;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use crate::http::respond::{HttpState, bearer_with, refusal};

/// The footage media routes.
pub fn routes() -> Router<HttpState> {
    Router::new().route("/media/recordings/{segment_id}", get(media_recording))
}

/// `GET /media/recordings/<segment id>`: a recording file, for a bearer token holding
/// `video:playback` on the segment's camera. Paths come from the database, never from the URL.
async fn media_recording(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(segment_id): Path<String>,
    request: axum::extract::Request,
) -> Response {
    use crate::auth::principal::{CameraScope, Capability};
    use sea_orm::EntityTrait;
    use tower::ServiceExt;
    let principal = match bearer_with(&state, &headers, Capability::VideoPlayback).await {
        Ok(principal) => principal,
        Err(refused) => return refused,
    };
    let found = match entity::segment::Entity::find_by_id(segment_id.clone())
        .one(&state.app.db)
        .await
    {
        Ok(found) => found,
        Err(_) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "database unavailable; retry shortly",
            );
        }
    };
    let scoped = principal.scope != CameraScope::All;
    let segment = match found {
        Some(segment) if principal.scope.allows(&segment.camera_id) => segment,
        // A limited caller cannot tell a missing segment from someone else's.
        _ if scoped => {
            return refusal(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "credential is not scoped to the camera owning this segment",
            );
        }
        _ => return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such segment"),
    };
    let safe = std::path::Path::new(&segment.path)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !safe {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such segment");
    }
    let file = crate::footage::recorder::recordings_root(&state.app).join(&segment.path);
    match tower_http::services::ServeFile::new_with_mime(
        file,
        &mime::Mime::from_str("video/mp4").unwrap_or(mime::APPLICATION_OCTET_STREAM),
    )
    .oneshot(request)
    .await
    {
        Ok(response) => response.map(Body::new),
        Err(_) => refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the segment's file is gone",
        ),
    }
}
