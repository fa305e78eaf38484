//! `GET /media/clips/<id>.mp4|.json` and `GET /media/snapshots/<id>.jpg`: signed links (or a
//! bearer token with `video:export` on the camera). Only finished files are served; names are
//! built from the database row, never from the URL.

use std::str::FromStr;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::{clip_export, snapshot};
use sea_orm::EntityTrait;
use serde::Deserialize;
use tower::ServiceExt;

use crate::auth::principal::Capability;
use crate::auth::principal::RequestAuth;
use crate::auth::sessions;
use crate::error::AppError;
use crate::evidence::exports;
use crate::evidence::model;
use crate::http::respond::{HttpState, authenticate, refusal};
use entity::vocab::ClipStatus;

/// The evidence media routes: clips (and their manifests) and snapshots.
pub fn routes() -> axum::Router<HttpState> {
    axum::Router::new()
        .route("/media/clips/{file}", axum::routing::get(clip))
        .route("/media/snapshots/{file}", axum::routing::get(snapshot))
}

/// The query of a signed link.
#[derive(Debug, Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    sub: Option<String>,
    sig: Option<String>,
}

/// Who may fetch: a valid signature for this exact path, or a bearer with `video:export` on the camera.
async fn allowed(
    state: &HttpState,
    headers: &HeaderMap,
    path: &str,
    signed: &Signed,
    camera_id: &str,
) -> Result<(), Response> {
    allowed_with(
        state,
        headers,
        path,
        signed,
        camera_id,
        Capability::VideoExport,
    )
    .await
}

/// Who may fetch: a valid signature for this exact path, or a bearer, whose credential holds
/// `capability` on the camera now.
pub async fn allowed_with(
    state: &HttpState,
    headers: &HeaderMap,
    path: &str,
    signed: &Signed,
    camera_id: &str,
    capability: Capability,
) -> Result<(), Response> {
    let auth = if let (Some(expires), Some(sub), Some(sig)) =
        (signed.expires, &signed.sub, &signed.sig)
    {
        let now = state.app.clock.now().timestamp();
        model::verify(&state.app.media.url_key, path, expires, sub, sig, now)
            .map_err(|reason| refusal(StatusCode::FORBIDDEN, "FORBIDDEN", reason))?;
        // A genuine link still needs the credential it was issued to, as it stands now.
        let Some(subject) = model::LinkSubject::parse(sub) else {
            return Err(refusal(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "the link's subject is malformed",
            ));
        };
        match sessions::principal_of(&state.app, subject.kind, &subject.sid, &subject.sub).await {
            Ok(p) => RequestAuth::Authenticated(p),
            Err(AppError::Unavailable(_)) => return Err(unavailable()),
            Err(_) => {
                return Err(refusal(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "the credential this link was issued to is no longer valid",
                ));
            }
        }
    } else {
        authenticate(state, headers).await
    };
    match auth {
        RequestAuth::Authenticated(p) => {
            if !p.can(capability) {
                Err(refusal(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    &format!("the `{}` capability is needed", capability.slug()),
                ))
            } else if !p.scope.allows(camera_id) {
                Err(refusal(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "credential is not scoped to this camera",
                ))
            } else {
                Ok(())
            }
        }
        RequestAuth::Invalid(reason) => Err(refusal(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            &reason,
        )),
        RequestAuth::Anonymous => Err(refusal(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "use the signed link from the API, or send `Authorization: Bearer <access token>`",
        )),
    }
}

async fn serve(
    file: std::path::PathBuf,
    mime: &str,
    disposition: String,
    request: axum::extract::Request,
) -> Response {
    let mime = mime::Mime::from_str(mime).unwrap_or(mime::APPLICATION_OCTET_STREAM);
    match tower_http::services::ServeFile::new_with_mime(file, &mime)
        .oneshot(request)
        .await
    {
        Ok(response) => {
            let mut response = response.map(Body::new);
            if response.status() == StatusCode::NOT_FOUND {
                return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "the file is gone");
            }
            let headers = response.headers_mut();
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(_) => refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "the file is gone"),
    }
}

fn unavailable() -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "database unavailable; retry shortly",
    )
}

/// `GET /media/clips/<id>.mp4` or `.json` (the manifest).
pub async fn clip(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(signed): Query<Signed>,
    request: axum::extract::Request,
) -> Response {
    let Some((id, ext)) = file
        .rsplit_once('.')
        .filter(|(_, e)| matches!(*e, "mp4" | "json"))
    else {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such clip file");
    };
    let job = match clip_export::Entity::find_by_id(id.to_owned())
        .one(&state.app.db)
        .await
    {
        Ok(job) => job,
        Err(_) => return unavailable(),
    };
    let path = format!("/media/clips/{file}");
    let Some(job) = job else {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such clip");
    };
    if let Err(refused) = allowed(&state, &headers, &path, &signed, &job.camera_id).await {
        return refused;
    }
    if job.status != ClipStatus::Ready {
        return refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the clip is not ready (or has expired)",
        );
    }
    let disk = exports::exports_dir(&state.app).join(format!("{}.{ext}", job.id));
    let name = model::clip_file_name(&job.camera_id, job.from_ms, job.to_ms, &job.id);
    let (mime, name) = if ext == "mp4" {
        ("video/mp4", name)
    } else {
        ("application/json", name.replace(".mp4", ".manifest.json"))
    };
    serve(
        disk,
        mime,
        format!("attachment; filename=\"{name}\""),
        request,
    )
    .await
}

/// `GET /media/snapshots/<id>.jpg`.
pub async fn snapshot(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(signed): Query<Signed>,
    request: axum::extract::Request,
) -> Response {
    let Some(id) = file.strip_suffix(".jpg") else {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such snapshot");
    };
    let row = match snapshot::Entity::find_by_id(id.to_owned())
        .one(&state.app.db)
        .await
    {
        Ok(row) => row,
        Err(_) => return unavailable(),
    };
    let Some(row) = row else {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such snapshot");
    };
    let path = format!("/media/snapshots/{file}");
    if let Err(refused) = allowed(&state, &headers, &path, &signed, &row.camera_id).await {
        return refused;
    }
    let disk = exports::snapshots_dir(&state.app).join(format!("{}.jpg", row.id));
    // Shown in the browser, saved under a name that says what it is.
    let name = model::snapshot_file_name(&row.camera_id, row.at_ms, &row.id);
    serve(
        disk,
        "image/jpeg",
        format!("inline; filename=\"{name}\""),
        request,
    )
    .await
    .into_response()
}
