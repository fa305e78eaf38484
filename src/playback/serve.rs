//! Serving media bytes: single byte ranges (`Range: bytes=a-b`, `a-`, `-n`), and a recording's
//! media with every fragment's decode time moved onto the playlist's timeline.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::http::respond::refusal;
use crate::playback::mp4;

/// Where the served bytes come from: memory, or a span of a file.
#[derive(Debug, Clone)]
pub enum Part {
    /// Bytes already in memory (a rewritten `moof`, a JPEG).
    Memory(Bytes),
    /// `len` bytes of the file from `offset`.
    File {
        /// Offset in the file.
        offset: u64,
        /// Length.
        len: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Memory(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        }
    }
}

/// A `Range` header that names no byte of the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The inclusive byte range asked for, if any and satisfiable.
pub fn range(headers: &HeaderMap, total: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // several ranges: the whole body is an allowed answer
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
        (total.saturating_sub(n), total.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
        let end = if b.is_empty() {
            total.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| Unsatisfiable)?
                .min(total.saturating_sub(1))
        };
        (start, end)
    };
    if total == 0 || start > end || start >= total {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// Serves `parts` of `file` (whole or the asked range) as `content_type`.
pub fn respond(
    headers: &HeaderMap,
    file: PathBuf,
    parts: Vec<Part>,
    content_type: &'static str,
) -> Response {
    let total: u64 = parts.iter().map(Part::len).sum();
    let (status, start, end) = match range(headers, total) {
        Ok(Some((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b + 1),
        Ok(None) => (StatusCode::OK, 0, total),
        Err(Unsatisfiable) => {
            let mut response = refusal(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BAD_REQUEST",
                "the range is outside the file",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    // Cut the parts to [start, end).
    let mut cut = Vec::new();
    let mut at = 0u64;
    for part in parts {
        let len = part.len();
        let (a, b) = (start.max(at), end.min(at + len));
        if a < b {
            let (skip, take) = (a - at, b - a);
            cut.push(match part {
                Part::Memory(bytes) => {
                    Part::Memory(bytes.slice(skip as usize..(skip + take) as usize))
                }
                Part::File { offset, .. } => Part::File {
                    offset: offset + skip,
                    len: take,
                },
            });
        }
        at += len;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        if let Err(err) = produce(&file, cut, &tx).await {
            let _ = tx.send(Err(err)).await;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&(end - start).to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

const CHUNK: u64 = 128 * 1024;

async fn produce(
    file: &Path,
    parts: Vec<Part>,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> std::io::Result<()> {
    let mut handle: Option<tokio::fs::File> = None;
    for part in parts {
        match part {
            Part::Memory(bytes) => {
                if tx.send(Ok(bytes)).await.is_err() {
                    return Ok(());
                }
            }
            Part::File { offset, len } => {
                let f = match &mut handle {
                    Some(f) => f,
                    None => handle.insert(tokio::fs::File::open(file).await?),
                };
                f.seek(std::io::SeekFrom::Start(offset)).await?;
                let mut left = len;
                while left > 0 {
                    let mut buf = vec![0u8; left.min(CHUNK) as usize];
                    f.read_exact(&mut buf).await?;
                    left -= buf.len() as u64;
                    if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The media of a recording (its fragments, without the init segment) with the first
/// fragment's decode time moved to `base` and the others shifted alike.
pub async fn rebased_media(
    file: &Path,
    index: &mp4::FileIndex,
    base: u64,
) -> std::io::Result<Vec<Part>> {
    let first = index.fragments.first().map_or(0, |f| f.info.decode_time);
    let mut handle = tokio::fs::File::open(file).await?;
    let mut parts = Vec::with_capacity(index.fragments.len() * 2);
    for fragment in &index.fragments {
        let mut moof = vec![0u8; fragment.moof_len as usize];
        handle
            .seek(std::io::SeekFrom::Start(fragment.offset))
            .await?;
        handle.read_exact(&mut moof).await?;
        let time = base + fragment.info.decode_time.saturating_sub(first);
        mp4::set_decode_time(&mut moof, &fragment.info, time);
        parts.push(Part::Memory(Bytes::from(moof)));
        parts.push(Part::File {
            offset: fragment.offset + fragment.moof_len,
            len: fragment.len - fragment.moof_len,
        });
    }
    Ok(parts)
}
