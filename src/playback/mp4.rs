//! Just enough ISO BMFF (MP4) to serve recordings as HLS and live fMP4: walk box headers, read
//! the init segment (`ftyp` + `moov`: timescale, codec, fragment defaults), and index the
//! fragments (`moof` + `mdat`) of a fragmented file with their decode time, duration and
//! whether they start on a keyframe. The base decode time of a fragment (`tfdt`) can be
//! rewritten in place, which is how segments recorded with timestamps starting at zero are
//! played back to back on one timeline.
//!
//! Hand-written rather than a crate's: serving byte ranges and patching `tfdt` in place needs
//! each box's exact offset, which decode/encode libraries do not keep (re-encoding a `moof`
//! may change its size and break the `trun` data offsets that point past it).

use std::io::SeekFrom;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// The largest `moov` or `moof` read into memory (a fragment's header, not its media).
const MAX_HEADER_BOX: u64 = 4 << 20;

/// A box header: its four-character type, where its payload starts and its total size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// Four-character type, e.g. `moof`.
    pub kind: [u8; 4],
    /// Length of the header (8, or 16 with a 64-bit size).
    pub header_len: u64,
    /// Total size including the header; `None` when the box runs to the end of the file.
    pub size: Option<u64>,
}

/// Reads a box header at the start of `buf`; `None` when `buf` is too short or malformed.
pub fn header(buf: &[u8]) -> Option<BoxHeader> {
    let size32 = u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = buf.get(4..8)?.try_into().ok()?;
    match size32 {
        0 => Some(BoxHeader {
            kind,
            header_len: 8,
            size: None,
        }),
        1 => {
            let size = u64::from_be_bytes(buf.get(8..16)?.try_into().ok()?);
            (size >= 16).then_some(BoxHeader {
                kind,
                header_len: 16,
                size: Some(size),
            })
        }
        n if n >= 8 => Some(BoxHeader {
            kind,
            header_len: 8,
            size: Some(u64::from(n)),
        }),
        _ => None,
    }
}

/// The child boxes of a payload, as (type, payload, offset of the payload within `buf`).
fn children(buf: &[u8], base: usize) -> Vec<([u8; 4], &[u8], usize)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(h) = buf.get(at..).and_then(header) {
        let size = h.size.map_or(buf.len() - at, |s| s as usize);
        let Some(payload) = buf.get(at + h.header_len as usize..at + size) else {
            break;
        };
        out.push((h.kind, payload, base + at + h.header_len as usize));
        at += size;
    }
    out
}

fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<(&'a [u8], usize)> {
    children(buf, 0)
        .into_iter()
        .find(|(k, _, _)| k == kind)
        .map(|(_, p, at)| (p, at))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// What the init segment says about the (first) video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// Ticks per second of the track's media time.
    pub timescale: u32,
    /// RFC 6381 codec, e.g. `avc1.64001f`, for MSE and the playlist's `CODECS`.
    pub codec: String,
    /// `trex` default sample duration.
    pub default_duration: u32,
    /// `trex` default sample flags.
    pub default_flags: u32,
}

/// Reads `moov`'s first track: timescale (`mdhd`), codec (`stsd`) and fragment defaults (`trex`).
pub fn parse_moov(moov: &[u8]) -> Option<Init> {
    let (trak, _) = child(moov, b"trak")?;
    let (mdia, _) = child(trak, b"mdia")?;
    let (mdhd, _) = child(mdia, b"mdhd")?;
    let timescale = if mdhd.first() == Some(&1) {
        u32_at(mdhd, 20)?
    } else {
        u32_at(mdhd, 12)?
    };
    let codec = child(mdia, b"minf")
        .and_then(|(minf, _)| child(minf, b"stbl"))
        .and_then(|(stbl, _)| child(stbl, b"stsd"))
        .and_then(|(stsd, _)| codec_of(stsd))
        .unwrap_or_else(|| "avc1.640028".to_owned());
    let (default_duration, default_flags) = child(moov, b"mvex")
        .and_then(|(mvex, _)| child(mvex, b"trex"))
        .and_then(|(trex, _)| Some((u32_at(trex, 12)?, u32_at(trex, 20)?)))
        .unwrap_or((0, 0));
    Some(Init {
        timescale,
        codec,
        default_duration,
        default_flags,
    })
}

/// The RFC 6381 codec of an `stsd`'s first entry (`avc1.PPCCLL` from its `avcC`).
fn codec_of(stsd: &[u8]) -> Option<String> {
    // Full box header (4) and entry count (4), then the sample entry boxes.
    let entries = stsd.get(8..)?;
    let (kind, entry, _) = children(entries, 0).into_iter().next()?;
    let name = String::from_utf8_lossy(&kind).into_owned();
    if kind == *b"avc1" || kind == *b"avc3" {
        // A visual sample entry's fields take 78 bytes before its child boxes.
        let (avcc, _) = child(entry.get(78..)?, b"avcC")?;
        let (profile, compat, level) = (avcc.get(1)?, avcc.get(2)?, avcc.get(3)?);
        return Some(format!("{name}.{profile:02x}{compat:02x}{level:02x}"));
    }
    Some(name)
}

/// One fragment's timing, from its `moof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoofInfo {
    /// Base media decode time (`tfdt`) in track ticks.
    pub decode_time: u64,
    /// Sum of its sample durations in track ticks.
    pub duration: u64,
    /// Number of samples (frames).
    pub samples: u32,
    /// Whether its first sample is a sync sample (a keyframe).
    pub sync: bool,
    /// Offset of the `tfdt` value within the `moof` box (header included), and whether it is 64-bit.
    pub tfdt_at: Option<(usize, bool)>,
}

/// Reads a whole `moof` box (header included) of the first track.
pub fn parse_moof(moof: &[u8], init: &Init) -> Option<MoofInfo> {
    let h = header(moof)?;
    let body = moof.get(h.header_len as usize..)?;
    let (traf, traf_at) = child(body, b"traf")?;
    let traf_at = traf_at + h.header_len as usize;
    let mut info = MoofInfo {
        decode_time: 0,
        duration: 0,
        samples: 0,
        sync: false,
        tfdt_at: None,
    };
    let (mut default_duration, mut default_flags) = (init.default_duration, init.default_flags);
    for (kind, payload, at) in children(traf, traf_at) {
        match &kind {
            b"tfhd" => {
                let flags = u32_at(payload, 0)? & 0xff_ffff;
                let mut p = 8;
                if flags & 0x01 != 0 {
                    p += 8;
                }
                if flags & 0x02 != 0 {
                    p += 4;
                }
                if flags & 0x08 != 0 {
                    default_duration = u32_at(payload, p)?;
                    p += 4;
                }
                if flags & 0x10 != 0 {
                    p += 4;
                }
                if flags & 0x20 != 0 {
                    default_flags = u32_at(payload, p)?;
                }
            }
            b"tfdt" => {
                let long = payload.first() == Some(&1);
                info.decode_time = if long {
                    u64_at(payload, 4)?
                } else {
                    u64::from(u32_at(payload, 4)?)
                };
                info.tfdt_at = Some((at + 4, long));
            }
            b"trun" => {
                let (duration, samples, first_flags) =
                    trun_totals(payload, default_duration, default_flags)?;
                if info.samples == 0 {
                    info.sync = first_flags & 0x1_0000 == 0;
                }
                info.duration += duration;
                info.samples += samples;
            }
            _ => {}
        }
    }
    Some(info)
}

/// (total duration, sample count, first sample's flags) of a `trun` payload.
fn trun_totals(trun: &[u8], default_duration: u32, default_flags: u32) -> Option<(u64, u32, u32)> {
    let flags = u32_at(trun, 0)? & 0xff_ffff;
    let count = u32_at(trun, 4)?;
    let mut p = 8;
    if flags & 0x01 != 0 {
        p += 4;
    }
    let mut first_flags = default_flags;
    if flags & 0x04 != 0 {
        first_flags = u32_at(trun, p)?;
        p += 4;
    }
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|f| flags & **f != 0)
        .count()
        * 4;
    let mut total = 0u64;
    for i in 0..count as usize {
        let at = p + i * per_sample;
        let duration = if flags & 0x100 != 0 {
            u32_at(trun, at)?
        } else {
            default_duration
        };
        if i == 0 && flags & 0x04 == 0 && flags & 0x400 != 0 {
            let skip =
                if flags & 0x100 != 0 { 4 } else { 0 } + if flags & 0x200 != 0 { 4 } else { 0 };
            first_flags = u32_at(trun, at + skip)?;
        }
        total += u64::from(duration);
    }
    Some((total, count, first_flags))
}

/// Rewrites a `moof`'s base decode time in place (its size does not change).
pub fn set_decode_time(moof: &mut [u8], info: &MoofInfo, decode_time: u64) {
    match info.tfdt_at {
        Some((at, true)) => {
            if let Some(slot) = moof.get_mut(at..at + 8) {
                slot.copy_from_slice(&decode_time.to_be_bytes());
            }
        }
        Some((at, false)) => {
            if let Some(slot) = moof.get_mut(at..at + 4) {
                slot.copy_from_slice(&(decode_time as u32).to_be_bytes());
            }
        }
        None => {}
    }
}

/// A fragment of a file: where its `moof` + `mdat` lie and what the `moof` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of the `moof`.
    pub offset: u64,
    /// Length of the `moof` box.
    pub moof_len: u64,
    /// Length of `moof` plus the `mdat` after it.
    pub len: u64,
    /// Timing from the `moof`.
    pub info: MoofInfo,
}

/// A fragmented MP4 file's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIndex {
    /// Bytes of the init segment (`ftyp` + `moov`, and anything before the first `moof`).
    pub init_len: u64,
    /// The track described by the init segment.
    pub init: Init,
    /// Complete fragments in file order (a fragment still being written is left out).
    pub fragments: Vec<Fragment>,
}

impl FileIndex {
    /// Media duration in track ticks: from the first fragment's decode time to the last's end.
    pub fn duration_ticks(&self) -> u64 {
        match (self.fragments.first(), self.fragments.last()) {
            (Some(a), Some(b)) => {
                (b.info.decode_time + b.info.duration).saturating_sub(a.info.decode_time)
            }
            _ => 0,
        }
    }

    /// Bytes of media: from the first fragment to the end of the last.
    pub fn media_end(&self) -> u64 {
        self.fragments
            .last()
            .map_or(self.init_len, |f| f.offset + f.len)
    }
}

async fn read_exact_at(file: &mut tokio::fs::File, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at)).await?;
    file.read_exact(buf).await.map(|_| ())
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Walks a file's boxes; errors when it is not a fragmented MP4 (no `moov` before a `moof`).
pub async fn index_file(path: &Path) -> std::io::Result<FileIndex> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let mut at = 0u64;
    let mut init: Option<Init> = None;
    let mut init_len = None;
    let mut fragments = Vec::new();
    let mut head = [0u8; 16];
    while at + 8 <= size {
        let n = (size - at).min(16) as usize;
        read_exact_at(&mut file, at, &mut head[..n]).await?;
        let Some(h) = header(&head[..n]) else { break };
        let box_size = h.size.unwrap_or(size - at);
        if at + box_size > size {
            break; // still being written
        }
        match &h.kind {
            b"moov" => {
                if box_size > MAX_HEADER_BOX {
                    return Err(invalid("moov too large"));
                }
                let mut moov = vec![0u8; box_size as usize];
                read_exact_at(&mut file, at, &mut moov).await?;
                init = parse_moov(&moov[h.header_len as usize..]);
            }
            b"moof" => {
                let Some(track) = &init else {
                    return Err(invalid("a moof before the moov"));
                };
                init_len.get_or_insert(at);
                if box_size > MAX_HEADER_BOX {
                    return Err(invalid("moof too large"));
                }
                let mut moof = vec![0u8; box_size as usize];
                read_exact_at(&mut file, at, &mut moof).await?;
                let info = parse_moof(&moof, track).ok_or_else(|| invalid("unreadable moof"))?;
                let next = at + box_size;
                let mut mdat_head = [0u8; 16];
                let m = (size.saturating_sub(next)).min(16) as usize;
                if m < 8 {
                    break;
                }
                read_exact_at(&mut file, next, &mut mdat_head[..m]).await?;
                let Some(mh) = header(&mdat_head[..m]).filter(|mh| &mh.kind == b"mdat") else {
                    return Err(invalid("a moof without its mdat"));
                };
                let mdat_size = mh.size.unwrap_or(size - next);
                if next + mdat_size > size {
                    break;
                }
                fragments.push(Fragment {
                    offset: at,
                    moof_len: box_size,
                    len: box_size + mdat_size,
                    info,
                });
                at = next + mdat_size;
                continue;
            }
            _ => {}
        }
        at += box_size;
    }
    let init = init.ok_or_else(|| invalid("no moov: not an MP4 file"))?;
    let init_len = init_len.ok_or_else(|| invalid("no fragments: not a fragmented MP4"))?;
    Ok(FileIndex {
        init_len,
        init,
        fragments,
    })
}

/// Splits a byte stream into top-level boxes as they complete: what ffmpeg writes to a pipe.
#[derive(Debug, Default)]
pub struct BoxSplitter {
    pending: Vec<u8>,
}

impl BoxSplitter {
    /// Adds bytes; returns the boxes completed by them, each whole (header included).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(h) = header(&self.pending) {
            let Some(size) = h.size else { break };
            if (self.pending.len() as u64) < size {
                break;
            }
            let rest = self.pending.split_off(size as usize);
            out.push(std::mem::replace(&mut self.pending, rest));
        }
        out
    }
}
