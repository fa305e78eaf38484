//! Where a recording's media starts and how long it exactly lasts, kept on its index row so a
//! playlist needs no file reads. Rows indexed before these columns existed are read once, on
//! their first playback, and filled in. A recording that is not fragmented MP4 (a plain MP4
//! from another recorder or an import) is copied once into a fragmented one (stream copy, no
//! re-encode) under the preview cache, and that copy is what playback serves.

use std::path::{Path, PathBuf};

use entity::segment;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::error::AppError;
use crate::playback::hls::Piece;
use crate::playback::mp4::FileIndex;
use crate::state::AppState;

/// Reads the file's boxes and sets the row's layout; leaves it NULL when the file is not a
/// fragmented MP4 (it then is not played back, and shows as missing footage).
pub async fn fill(row: &mut segment::Model, file: &Path) {
    match crate::playback::mp4::index_file(file).await {
        Ok(index) => set(row, &index),
        Err(err) => tracing::debug!(file = %file.display(), error = %err, "no playback layout"),
    }
}

/// Sets the row's layout from a walk of its file (nothing when it holds no fragment).
pub fn set(row: &mut segment::Model, index: &FileIndex) {
    if !index.fragments.is_empty() {
        row.media_offset = Some(index.init_len as i64);
        row.timescale = Some(index.init.timescale as i32);
        row.duration_ticks = Some(index.duration_ticks() as i64);
    }
}

/// A playable file and the walk of its boxes (done once per request, shared by its users).
#[derive(Debug)]
pub struct Playable {
    /// The recording itself, or its fragmented copy.
    pub path: PathBuf,
    /// Its init segment and fragments.
    pub index: FileIndex,
}

async fn fragmented(path: PathBuf) -> Option<Playable> {
    let index = crate::playback::mp4::index_file(&path).await.ok()?;
    (!index.fragments.is_empty()).then_some(Playable { path, index })
}

/// The file playback reads for `row`: the recording itself when it is fragmented MP4, else its
/// fragmented copy (made now if missing), with its box walk; `None` when neither can be had.
pub async fn playable(state: &AppState, row: &segment::Model) -> Option<Playable> {
    if !crate::evidence::model::safe_path(&row.path) {
        return None;
    }
    let original = crate::footage::recorder::recordings_root(state).join(&row.path);
    if let Some(found) = fragmented(original.clone()).await {
        return Some(found);
    }
    let copy = crate::playback::previews::root(state)
        .join(&row.camera_id)
        .join(format!("{}_fragmented.mp4", row.id));
    if tokio::fs::metadata(&copy).await.is_ok() {
        return fragmented(copy).await;
    }
    tokio::fs::create_dir_all(copy.parent()?).await.ok()?;
    let partial = copy.with_extension("part");
    let _permit = state
        .media
        .permit(crate::evidence::snapshots::PERMIT_WAIT)
        .await
        .ok()?;
    let status = tokio::process::Command::new(&state.config.ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&original)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "mp4", "-movflags"])
        .arg("frag_keyframe+empty_moov+default_base_moof")
        .arg(&partial)
        .kill_on_drop(true)
        .status()
        .await
        .ok()?;
    if !status.success() {
        let _ = tokio::fs::remove_file(&partial).await;
        tracing::warn!(segment = %row.id, "could not make a fragmented copy for playback");
        return None;
    }
    tokio::fs::rename(&partial, &copy).await.ok()?;
    fragmented(copy).await
}

/// The playable pieces of `rows` (time order kept), reading and saving the layout of rows
/// that lack it.
pub async fn pieces(state: &AppState, rows: Vec<segment::Model>) -> Result<Vec<Piece>, AppError> {
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        if row.duration_ticks.is_none()
            && let Some(found) = playable(state, &row).await
        {
            set(&mut row, &found.index);
            if row.duration_ticks.is_some() {
                segment::Entity::update_many()
                    .col_expr(segment::Column::MediaOffset, Expr::value(row.media_offset))
                    .col_expr(segment::Column::Timescale, Expr::value(row.timescale))
                    .col_expr(
                        segment::Column::DurationTicks,
                        Expr::value(row.duration_ticks),
                    )
                    .filter(segment::Column::Id.eq(row.id.clone()))
                    .exec(&state.db)
                    .await?;
            }
        }
        let (Some(timescale), Some(ticks)) = (row.timescale, row.duration_ticks) else {
            continue;
        };
        if timescale <= 0 || ticks <= 0 {
            continue;
        }
        out.push(Piece {
            id: row.id,
            start_ms: row.start_ms,
            end_ms: row.end_ms,
            timescale: timescale as u32,
            duration_ticks: ticks as u64,
            format: (row.codec, row.width, row.height),
        });
    }
    Ok(out)
}
