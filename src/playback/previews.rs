//! Thumbnails and scrubber previews: a small JPEG of one keyframe, made by handing ffmpeg the
//! init segment and that keyframe's fragment only (no seeking through the file, no decoding of
//! any other frame), cached on disk under `previews/<camera>/` and trimmed by retention (the
//! oldest first beyond the configured cap, and those of deleted segments).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use entity::segment;
use sea_orm::EntityTrait;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::auth::principal::{Capability, Principal};
use crate::error::AppError;
use crate::evidence::media::{Signed, allowed_with};
use crate::http::respond::{HttpState, refusal};
use crate::playback::model::Thumbnail;
use crate::playback::mp4::{self, FileIndex};
use crate::state::AppState;

/// Width of a preview JPEG in pixels (height keeps the aspect ratio).
pub const WIDTH: u32 = 320;

/// The preview routes.
pub fn routes() -> Router<HttpState> {
    Router::new().route("/media/thumbnails/{segment}/{file}", get(fetch))
}

/// The cache directory.
pub fn root(state: &AppState) -> PathBuf {
    state.config.data_dir.join("previews")
}

/// The keyframe fragments of a recording, each with its offset in ms from the file's start.
fn keyframe_offsets(index: &FileIndex) -> Vec<(i64, &mp4::Fragment)> {
    let first = index.fragments.first().map_or(0, |f| f.info.decode_time);
    let scale = f64::from(index.init.timescale.max(1));
    index
        .fragments
        .iter()
        .filter(|f| f.info.sync)
        .map(|f| {
            let offset = ((f.info.decode_time - first) as f64 / scale * 1000.0).round() as i64;
            (offset, f)
        })
        .collect()
}

/// The keyframes of one recording: (instant in ms since the epoch, offset in ms from the
/// segment's start).
pub fn keyframes(row: &segment::Model, index: &FileIndex) -> Vec<(i64, i64)> {
    keyframe_offsets(index)
        .into_iter()
        .map(|(offset, _)| (row.start_ms + offset, offset))
        .collect()
}

/// The thumbnail of the keyframe nearest each instant of `at` (ascending), among `rows` (the
/// segments around them, in time order); one per keyframe however many instants share it.
pub async fn nearest(
    state: &AppState,
    principal: &Principal,
    rows: &[segment::Model],
    at: &[DateTime<Utc>],
) -> Vec<Thumbnail> {
    let mut frames: Vec<(i64, i64, &segment::Model)> = Vec::new();
    for row in rows {
        if let Some(found) = crate::playback::layout::playable(state, row).await {
            frames.extend(
                keyframes(row, &found.index)
                    .into_iter()
                    .map(|(t, o)| (t, o, row)),
            );
        }
    }
    let mut out: Vec<Thumbnail> = Vec::new();
    let mut last: Option<(String, i64)> = None;
    for instant in at {
        let ms = instant.timestamp_millis();
        let Some((t, offset, row)) = frames.iter().min_by_key(|(t, _, _)| (t - ms).abs()) else {
            break;
        };
        let key = (row.id.clone(), *offset);
        if last.as_ref() == Some(&key) {
            continue;
        }
        let path = format!("/media/thumbnails/{}/{offset}.jpg", row.id);
        out.push(Thumbnail {
            url: crate::evidence::graphql::signed_url(state, principal, &path),
            at: segment::from_ms(*t),
        });
        last = Some(key);
    }
    out
}

async fn fetch(
    State(state): State<HttpState>,
    UrlPath((segment_id, file)): UrlPath<(String, String)>,
    Query(signed): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let not_found = || refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such thumbnail");
    let Some(offset) = file
        .strip_suffix(".jpg")
        .and_then(|o| o.parse::<i64>().ok())
    else {
        return not_found();
    };
    let row = match segment::Entity::find_by_id(segment_id.clone())
        .one(&state.app.db)
        .await
    {
        Ok(Some(row)) if crate::evidence::model::safe_path(&row.path) => row,
        Ok(_) => return not_found(),
        Err(_) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "database unavailable; retry shortly",
            );
        }
    };
    let path = format!("/media/thumbnails/{segment_id}/{file}");
    if let Err(refused) = allowed_with(
        &state,
        &headers,
        &path,
        &signed,
        &row.camera_id,
        Capability::VideoPlayback,
    )
    .await
    {
        return refused;
    }
    match jpeg(&state.app, &row, offset).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, max-age=3600"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(AppError::NotFound(message)) => refusal(StatusCode::NOT_FOUND, "NOT_FOUND", &message),
        Err(AppError::Unavailable(message)) => {
            refusal(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", &message)
        }
        Err(err) => {
            tracing::warn!(segment = %segment_id, error = %err, "could not make a thumbnail");
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "could not make the thumbnail",
            )
        }
    }
}

/// The cached JPEG of the keyframe at `offset` ms into the segment, made if missing.
pub async fn jpeg(
    state: &AppState,
    row: &segment::Model,
    offset: i64,
) -> Result<Vec<u8>, AppError> {
    let cached = root(state)
        .join(&row.camera_id)
        .join(format!("{}_{offset}.jpg", row.id));
    if let Ok(bytes) = tokio::fs::read(&cached).await {
        return Ok(bytes);
    }
    let gone = || AppError::NotFound("the segment's file is gone".to_owned());
    let found = crate::playback::layout::playable(state, row)
        .await
        .ok_or_else(gone)?;
    let (index, file) = (&found.index, &found.path);
    let fragment = keyframe_offsets(index)
        .into_iter()
        .find(|(at, _)| *at == offset)
        .map(|(_, fragment)| *fragment)
        .ok_or_else(|| AppError::NotFound("no keyframe at that offset".to_owned()))?;
    let mut input = vec![0u8; index.init_len as usize];
    let mut handle = tokio::fs::File::open(file).await.map_err(|_| gone())?;
    handle.read_exact(&mut input).await.map_err(|_| gone())?;
    let mut media = vec![0u8; fragment.len as usize];
    handle
        .seek(std::io::SeekFrom::Start(fragment.offset))
        .await
        .map_err(|_| gone())?;
    handle.read_exact(&mut media).await.map_err(|_| gone())?;
    input.extend_from_slice(&media);
    let _permit = state
        .media
        .permit(crate::evidence::snapshots::PERMIT_WAIT)
        .await?;
    let bytes = decode_keyframe(&state.config.ffmpeg, input).await?;
    if let Some(dir) = cached.parent()
        && tokio::fs::create_dir_all(dir).await.is_ok()
    {
        let partial = cached.with_extension("part");
        if tokio::fs::write(&partial, &bytes).await.is_ok() {
            let _ = tokio::fs::rename(&partial, &cached).await;
        }
    }
    Ok(bytes)
}

/// Decodes the first frame of a tiny MP4 (init + one keyframe fragment) into a small JPEG.
async fn decode_keyframe(ffmpeg: &Path, input: Vec<u8>) -> Result<Vec<u8>, AppError> {
    let mut child = tokio::process::Command::new(ffmpeg)
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "mp4",
            "-i",
            "pipe:0",
            "-frames:v",
            "1",
            "-vf",
        ])
        .arg(format!("scale={WIDTH}:-2"))
        .args(["-q:v", "5", "-f", "image2", "-c:v", "mjpeg", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AppError::internal(format!("cannot start ffmpeg: {e}")))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| AppError::internal("no stdin"))?;
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let output = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .map_err(|_| AppError::internal("ffmpeg took too long on one frame"))?
        .map_err(|e| AppError::internal(format!("ffmpeg failed: {e}")))?;
    let _ = writer.await;
    if !output.status.success() || output.stdout.is_empty() {
        return Err(AppError::internal(format!(
            "ffmpeg could not decode the keyframe: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

/// Retention of the cache: removes previews of segments that no longer exist, then the oldest
/// until the cache fits its cap. Returns how many files went.
pub async fn trim(state: &AppState) -> Result<usize, AppError> {
    let root = root(state);
    let cap = state.config.preview_cache_mb * 1024 * 1024;
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf, String)> = Vec::new();
    let Ok(mut cameras) = tokio::fs::read_dir(&root).await else {
        return Ok(0);
    };
    while let Ok(Some(camera)) = cameras.next_entry().await {
        let Ok(mut entries) = tokio::fs::read_dir(camera.path()).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((segment_id, _)) = name.rsplit_once('_') else {
                continue;
            };
            if let Ok(meta) = entry.metadata().await {
                let modified = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
                files.push((modified, meta.len(), entry.path(), segment_id.to_owned()));
            }
        }
    }
    let mut removed = 0;
    let ids: Vec<String> = files.iter().map(|f| f.3.clone()).collect();
    let mut existing = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
        let found: Vec<String> = segment::Entity::find()
            .select_only()
            .column(segment::Column::Id)
            .filter(segment::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&state.db)
            .await?;
        existing.extend(found);
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut kept = 0u64;
    for (_, len, path, segment_id) in files {
        if existing.contains(&segment_id) && kept + len <= cap {
            kept += len;
            continue;
        }
        if tokio::fs::remove_file(&path).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
