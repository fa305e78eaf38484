//! Clips made from the recordings' own fragments, without ffmpeg.
//!
//! The recorder writes fragmented MP4 with a fragment at each keyframe (and at least every
//! second, so a long GOP spans several), so a clip of such files is the first file's init
//! segment (`ftyp` + `moov`) followed by the chosen `moof` + `mdat` pairs, from the fragment of
//! the keyframe at or before the in-point, with their decode times moved onto one timeline, and
//! the last fragment cut after the last sample that starts before the clip's end. That is what
//! a stream-copy remux would produce, read and written in one pass that hashes as it writes: no
//! demuxing, no second read of the output, no second process competing for the core.
//!
//! Anything else is left to ffmpeg ([`Failure::Unsupported`]): files that are not fragmented,
//! more than one track (audio), init segments that differ between files (the camera changed
//! its stream), fragments with absolute data offsets, or a last fragment laid out in a way
//! [`mp4::trim_moof`] does not rewrite. A file cut short inside a fragment (the recorder
//! stopped mid-write) gives that fragment's samples whose bytes are all there: ffmpeg's concat
//! stops at such a file and leaves every later file out of the clip.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::playback::mp4::{self, FileIndex, Fragment, Init, Trimmed};

/// One file of the clip and the part of it to take, in seconds from its start.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// Where to start (the fragment of the keyframe at or before it), if not at the beginning.
    pub inpoint: Option<f64>,
    /// Where to stop (samples starting before it are kept), if not at the end.
    pub outpoint: Option<f64>,
    /// Its size when it was indexed: a file shorter now was cut after it was indexed.
    pub indexed_size: u64,
}

/// Why no clip was made.
#[derive(Debug)]
pub enum Failure {
    /// The sources are not something this module splices; ffmpeg should make the clip.
    Unsupported(String),
    /// Reading a source or writing the clip failed.
    Io(std::io::Error),
    /// A source is shorter than when it was indexed (cut after it was indexed): the clip would
    /// come out shorter than its coverage, with every later frame at the wrong time.
    Damaged {
        /// The file.
        path: PathBuf,
        /// Its size now.
        size: u64,
        /// Its size when it was indexed.
        indexed_size: u64,
    },
    /// The caller asked to stop.
    Cancelled,
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Failure::Io(err)
    }
}

/// A fragment to copy: from which input, and cut short or whole.
#[derive(Debug)]
struct Piece {
    input: usize,
    fragment: Fragment,
    trimmed: Option<Trimmed>,
}

/// What will be written: the init segment, then the pieces in order.
#[derive(Debug)]
pub struct Plan {
    /// The inputs' files, opened one at a time while writing (a clip of 2 s segments has
    /// 1,800 of them).
    paths: Vec<PathBuf>,
    init: Vec<u8>,
    pieces: Vec<Piece>,
    /// Bytes the clip will have.
    pub total_bytes: u64,
    /// Seconds from the first keyframe taken to the first input's in-point (the clip's lead-in).
    pub lead_in_seconds: f64,
}

/// A written clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Bytes written.
    pub size: u64,
    /// Hex SHA-256 of exactly those bytes.
    pub sha256: String,
}

fn unsupported(why: impl Into<String>) -> Failure {
    Failure::Unsupported(why.into())
}

/// Reads the inputs' layouts and chooses the fragments; nothing is written.
pub fn plan(inputs: &[Input]) -> Result<Plan, Failure> {
    let mut paths = Vec::with_capacity(inputs.len());
    let mut init: Option<Vec<u8>> = None;
    let mut pieces = Vec::new();
    let mut lead_in_seconds = 0.0;
    for input in inputs {
        let file = std::fs::File::open(&input.path)?;
        // Cut after it was indexed, by whole fragments or a few bytes of its last one: what is
        // left would splice into a clip shorter than its coverage.
        let size = file.metadata()?.len();
        if size < input.indexed_size {
            return Err(Failure::Damaged {
                path: input.path.clone(),
                size,
                indexed_size: input.indexed_size,
            });
        }
        let index = mp4::index_blocking(&input.path)
            .map_err(|e| unsupported(format!("{}: {e}", input.path.display())))?;
        if index.init_len > MAX_INIT {
            return Err(unsupported("an init segment over 4 MiB"));
        }
        let mut head = vec![0u8; index.init_len as usize];
        file.read_exact_at(&mut head, 0)?;
        match &init {
            None if index.init.tracks != 1 => {
                return Err(unsupported(format!(
                    "{} tracks (only video-only recordings are spliced)",
                    index.init.tracks
                )));
            }
            None => init = Some(head),
            Some(first) if *first != head => {
                return Err(unsupported(format!(
                    "{} starts differently from the first file (the stream changed)",
                    input.path.display()
                )));
            }
            Some(_) => {}
        }
        let first_of_clip = pieces.is_empty();
        let chosen = choose(input, &index, &file, paths.len(), &mut pieces)?;
        // The lead-in of the input the clip really starts with (one may add no piece).
        if first_of_clip
            && !pieces.is_empty()
            && let Some(lead_in) = chosen
        {
            lead_in_seconds = lead_in;
        }
        paths.push(input.path.clone());
    }
    let Some(mut init) = init else {
        return Err(unsupported("no input"));
    };
    // The clip is watched in browsers too: H.265 as `hvc1`, as playback serves it.
    mp4::tag_hevc_for_browsers(&mut init);
    if pieces.is_empty() {
        return Err(unsupported("no fragment inside the window"));
    }
    let total_bytes = init.len() as u64
        + pieces
            .iter()
            .map(|p| match &p.trimmed {
                Some(t) => t.moof.len() as u64 + mdat_header_len(t.data_len) + t.data_len,
                None => p.fragment.len,
            })
            .sum::<u64>();
    Ok(Plan {
        paths,
        init,
        pieces,
        total_bytes,
        lead_in_seconds,
    })
}

/// Adds the fragments of one input that fall inside its in and out points to `pieces`
/// (numbered `n` among the inputs); returns the lead-in (seconds from the keyframe taken to
/// the in-point) when it has an in-point.
fn choose(
    input: &Input,
    index: &FileIndex,
    file: &std::fs::File,
    n: usize,
    pieces: &mut Vec<Piece>,
) -> Result<Option<f64>, Failure> {
    // A fragment the file ends in before it is whole (the recorder stopped mid-write) gives
    // the samples it still has: leaving them out would shorten the clip unannounced.
    let fragments: Vec<(&Fragment, bool)> = index
        .fragments
        .iter()
        .map(|f| (f, true))
        .chain(index.partial.iter().map(|f| (f, false)))
        .collect();
    let Some(origin) = fragments.first().map(|(f, _)| f.info.decode_time) else {
        return Ok(None);
    };
    let timescale = f64::from(index.init.timescale.max(1));
    let ticks = |seconds: f64| origin + (seconds * timescale).round().max(0.0) as u64;
    let (first, lead_in) = match input.inpoint.map(ticks) {
        Some(at) => {
            let chosen = fragments
                .iter()
                .rposition(|(f, _)| f.info.sync && f.info.decode_time <= at)
                .or_else(|| fragments.iter().position(|(f, _)| f.info.sync));
            let Some(chosen) = chosen else {
                return Ok(None);
            };
            let lead_in =
                at.saturating_sub(fragments[chosen].0.info.decode_time) as f64 / timescale;
            (chosen, Some(lead_in))
        }
        None => (0, None),
    };
    let end = input.outpoint.map(ticks);
    for &(fragment, whole) in &fragments[first..] {
        let info = &fragment.info;
        if end.is_some_and(|end| info.decode_time >= end) {
            break;
        }
        if !info.relocatable {
            return Err(unsupported("a fragment with an absolute data offset"));
        }
        if info.tfdt_at.is_none() {
            return Err(unsupported("a fragment without a decode time (tfdt)"));
        }
        if pieces.is_empty() && !info.sync {
            return Err(unsupported("the clip would not start on a keyframe"));
        }
        // Cut at the clip's end, or where the file's bytes end.
        let cut = end
            .filter(|end| info.decode_time + info.duration > *end)
            .map(|end| end - info.decode_time);
        let trimmed = if cut.is_some() || !whole {
            match trim(file, fragment, &index.init, cut.unwrap_or(u64::MAX)) {
                Ok(kept) => Some(kept),
                // Not even its first sample is there.
                Err(Failure::Unsupported(_)) if !whole => break,
                Err(err) => return Err(err),
            }
        } else {
            None
        };
        pieces.push(Piece {
            input: n,
            fragment: *fragment,
            trimmed,
        });
    }
    Ok(lead_in)
}

/// The header length of an `mdat` holding `len` bytes.
fn mdat_header_len(len: u64) -> u64 {
    if len + 8 > u64::from(u32::MAX) { 16 } else { 8 }
}

fn mdat_header(len: u64) -> Vec<u8> {
    if mdat_header_len(len) == 16 {
        let mut h = 1u32.to_be_bytes().to_vec();
        h.extend_from_slice(b"mdat");
        h.extend_from_slice(&(len + 16).to_be_bytes());
        h
    } else {
        let mut h = ((len + 8) as u32).to_be_bytes().to_vec();
        h.extend_from_slice(b"mdat");
        h
    }
}

/// Reads a fragment's `moof` and `mdat` header and cuts it to `keep_ticks`.
fn trim(
    file: &std::fs::File,
    fragment: &Fragment,
    init: &Init,
    keep_ticks: u64,
) -> Result<Trimmed, Failure> {
    let mut buf = vec![0u8; fragment.moof_len as usize + 16];
    let n = buf.len().min(fragment.len as usize);
    file.read_exact_at(&mut buf[..n], fragment.offset)?;
    let (moof, mdat) = buf[..n].split_at(fragment.moof_len as usize);
    let mdat = mp4::header(mdat).ok_or_else(|| unsupported("unreadable mdat header"))?;
    // What the file holds of the payload (less than the mdat says if it was cut short).
    let payload = fragment.len - fragment.moof_len - mdat.header_len;
    // Keeps no sample whose bytes run past `payload`.
    let trimmed = mp4::trim_moof(moof, init, mdat.header_len, keep_ticks, payload)
        .ok_or_else(|| unsupported("the last fragment cannot be cut"))?;
    // The rewritten moof expects its data right after an mdat header as long as the original.
    if mdat_header_len(trimmed.data_len) != mdat.header_len {
        return Err(unsupported(
            "the last fragment's mdat header would change size",
        ));
    }
    Ok(trimmed)
}

/// Bytes copied per read.
const CHUNK: usize = 1 << 20;

/// The largest init segment (everything before the first `moof`) read into memory.
const MAX_INIT: u64 = 4 << 20;

/// Writes the clip to `out` (created or truncated), hashing every byte as it is written.
/// `written` counts bytes as they go (for progress); `cancel` stops it between chunks.
pub fn write(
    plan: &Plan,
    out: &Path,
    written: &AtomicU64,
    cancel: &AtomicBool,
) -> Result<Written, Failure> {
    let mut file = std::fs::File::create(out)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut emit = |bytes: &[u8]| -> Result<(), Failure> {
        if cancel.load(Ordering::Relaxed) {
            return Err(Failure::Cancelled);
        }
        hasher.update(bytes);
        file.write_all(bytes)?;
        size += bytes.len() as u64;
        written.store(size, Ordering::Relaxed);
        Ok(())
    };
    emit(&plan.init)?;
    let mut buf = vec![0u8; CHUNK];
    let mut decode_time = 0u64;
    let mut open: Option<(usize, std::fs::File)> = None;
    for (sequence, piece) in (1u32..).zip(&plan.pieces) {
        if open.as_ref().is_none_or(|(n, _)| *n != piece.input) {
            open = Some((piece.input, std::fs::File::open(&plan.paths[piece.input])?));
        }
        let Some((_, source)) = &open else {
            continue;
        };
        let fragment = &piece.fragment;
        // The moof (rewritten when cut short) and where the media to copy after it lies: the
        // original mdat with its header, or a new header and the kept samples' bytes.
        let (mut moof, mdat_head, data_from, data_len, duration) = match &piece.trimmed {
            Some(t) => {
                let head = mdat_header(t.data_len);
                let data_from = fragment.offset + fragment.moof_len + head.len() as u64;
                (t.moof.clone(), head, data_from, t.data_len, t.duration)
            }
            None => {
                let mut moof = vec![0u8; fragment.moof_len as usize];
                source.read_exact_at(&mut moof, fragment.offset)?;
                let data_from = fragment.offset + fragment.moof_len;
                let data_len = fragment.len - fragment.moof_len;
                (
                    moof,
                    Vec::new(),
                    data_from,
                    data_len,
                    fragment.info.duration,
                )
            }
        };
        mp4::set_decode_time(&mut moof, &fragment.info, decode_time);
        mp4::set_sequence(&mut moof, sequence);
        moof.extend_from_slice(&mdat_head);
        emit(&moof)?;
        let mut at = data_from;
        let end = data_from + data_len;
        while at < end {
            let n = ((end - at) as usize).min(CHUNK);
            source.read_exact_at(&mut buf[..n], at)?;
            emit(&buf[..n])?;
            at += n as u64;
        }
        decode_time += duration;
    }
    // Evidence: on disk before it is published as READY.
    file.sync_all()?;
    Ok(Written {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}
