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

use std::path::Path;

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
        // A size past the end (however large a malformed file claims it is) ends the walk.
        let Some(end) = at.checked_add(size) else {
            break;
        };
        let Some(payload) = buf.get(at + h.header_len as usize..end) else {
            break;
        };
        out.push((h.kind, payload, base + at + h.header_len as usize));
        at = end;
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
    /// How many tracks `moov` has (video only is 1; audio makes 2).
    pub tracks: usize,
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
    let tracks = children(moov, 0)
        .iter()
        .filter(|(kind, _, _)| kind == b"trak")
        .count();
    Some(Init {
        timescale,
        codec,
        default_duration,
        default_flags,
        tracks,
    })
}

/// The RFC 6381 codec of an `stsd`'s first entry (`avc1.PPCCLL` from its `avcC`; for H.265,
/// [`hevc_codec`] of its `hvcC`, `hvc1` for an `hev1` entry served as one:
/// [`tag_hevc_for_browsers`]).
fn codec_of(stsd: &[u8]) -> Option<String> {
    // Full box header (4) and entry count (4), then the sample entry boxes.
    let entries = stsd.get(8..)?;
    let (kind, entry, _) = children(entries, 0).into_iter().next()?;
    let name = String::from_utf8_lossy(&kind).into_owned();
    // A visual sample entry's fields take 78 bytes before its child boxes.
    if kind == *b"avc1" || kind == *b"avc3" {
        let (avcc, _) = child(entry.get(78..)?, b"avcC")?;
        let (profile, compat, level) = (avcc.get(1)?, avcc.get(2)?, avcc.get(3)?);
        return Some(format!("{name}.{profile:02x}{compat:02x}{level:02x}"));
    }
    if kind == *b"hev1" || kind == *b"hvc1" {
        let (hvcc, _) = child(entry.get(78..)?, b"hvcC")?;
        let served = if hvcc_holds_parameter_sets(hvcc) {
            "hvc1"
        } else {
            "hev1"
        };
        return hevc_codec(served, hvcc);
    }
    Some(name)
}

/// The RFC 6381 codec of an H.265 configuration record (`hvcC`), as ISO/IEC 14496-15 annex E
/// spells it: `<entry>.<profile space><profile>.<compatibility flags, bits reversed>.<tier>
/// <level>` and the constraint bytes up to the last that is not zero, e.g. `hvc1.1.6.L93.B0`
/// (Main profile, level 3.1). Browsers refuse a bare `hev1`.
fn hevc_codec(entry: &str, hvcc: &[u8]) -> Option<String> {
    let first = *hvcc.get(1)?;
    let space = ["", "A", "B", "C"][usize::from(first >> 6)];
    let tier = if first & 0x20 == 0 { 'L' } else { 'H' };
    let profile = first & 0x1f;
    let compatibility = u32_at(hvcc, 2)?.reverse_bits();
    let constraints = hvcc.get(6..12)?;
    let level = *hvcc.get(12)?;
    let mut codec = format!("{entry}.{space}{profile}.{compatibility:X}.{tier}{level}");
    let kept = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for byte in &constraints[..kept] {
        codec.push_str(&format!(".{byte:X}"));
    }
    Some(codec)
}

/// Whether an `hvcC` carries the stream's parameter sets (a VPS, an SPS and a PPS), as an
/// `hvc1` sample entry must; an `hev1` entry may leave them to the samples.
fn hvcc_holds_parameter_sets(hvcc: &[u8]) -> bool {
    parameter_set_arrays(hvcc).is_some_and(|arrays| arrays.len() == 3)
}

/// Where in an `hvcC` its non-empty VPS, SPS and PPS arrays start (one each, the first of a
/// type); `None` when the record runs short.
fn parameter_set_arrays(hvcc: &[u8]) -> Option<Vec<usize>> {
    let mut found: [Option<usize>; 3] = [None; 3];
    let mut at = 23;
    for _ in 0..*hvcc.get(22)? {
        let unit_type = usize::from(*hvcc.get(at)? & 0x3f);
        let count = u16::from_be_bytes(hvcc.get(at + 1..at + 3)?.try_into().ok()?);
        let array = at;
        at += 3;
        for _ in 0..count {
            let len = u16::from_be_bytes(hvcc.get(at..at + 2)?.try_into().ok()?);
            at += 2 + usize::from(len);
        }
        if count > 0
            && let Some(slot) = unit_type.checked_sub(32).and_then(|i| found.get_mut(i))
        {
            slot.get_or_insert(array);
        }
    }
    (at <= hvcc.len()).then(|| found.into_iter().flatten().collect())
}

/// Retags an H.265 init segment's `hev1` sample entry `hvc1` when its `hvcC` holds the
/// parameter sets (ffmpeg copies a camera's H.265 as `hev1`, which Safari and Apple's HLS
/// refuse, and writes the parameter sets it read into the `hvcC` all the same), and marks those
/// arrays complete, as `hvc1` requires; anything else is left as it is. `init` holds the `moov`
/// box (and may hold `ftyp` before it). Bytes change in place: sizes and offsets stay.
pub fn tag_hevc_for_browsers(init: &mut [u8]) {
    let Some(at) = first_sample_entry(init) else {
        return;
    };
    let Some((kind, payload, payload_at)) = init
        .get(at..)
        .and_then(|rest| children(rest, 0).into_iter().next())
    else {
        return;
    };
    let Some((hvcc, hvcc_at)) = payload.get(78..).and_then(|boxes| child(boxes, b"hvcC")) else {
        return;
    };
    let Some(arrays) = parameter_set_arrays(hvcc).filter(|a| kind == *b"hev1" && a.len() == 3)
    else {
        return;
    };
    let hvcc_at = at + payload_at + 78 + hvcc_at;
    init[at + 4..at + 8].copy_from_slice(b"hvc1");
    for array in arrays {
        init[hvcc_at + array] |= 0x80;
    }
}

/// Where the first track's first sample entry box starts in `init`.
fn first_sample_entry(init: &[u8]) -> Option<usize> {
    let (mut boxes, mut at) = child(init, b"moov")?;
    for kind in [b"trak", b"mdia", b"minf", b"stbl", b"stsd"] {
        let (inner, offset) = child(boxes, kind)?;
        (boxes, at) = (inner, at + offset);
    }
    // The entries follow the full box header and the entry count.
    children(boxes.get(8..)?, 0).into_iter().next()?;
    Some(at + 8)
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
    /// Its longest sample: where it starts (ticks after `decode_time`) and how long it lasts.
    /// A camera that stops sending and later resumes with its clock run on leaves the whole
    /// pause in the duration of the last sample before it.
    pub longest: (u64, u32),
    /// Offset of the `tfdt` value within the `moof` box (header included), and whether it is 64-bit.
    pub tfdt_at: Option<(usize, bool)>,
    /// Whether its data offsets are relative to the `moof` itself (no absolute
    /// `base_data_offset` in `tfhd`), so the fragment can be copied anywhere unchanged.
    pub relocatable: bool,
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
        longest: (0, 0),
        tfdt_at: None,
        relocatable: true,
    };
    let (mut default_duration, mut default_flags) = (init.default_duration, init.default_flags);
    for (kind, payload, at) in children(traf, traf_at) {
        match &kind {
            b"tfhd" => {
                let tfhd = TfhdDefaults::read(payload, init)?;
                info.relocatable = !tfhd.absolute;
                default_duration = tfhd.duration;
                default_flags = tfhd.flags;
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
                let run = trun_totals(payload, default_duration, default_flags)?;
                if info.samples == 0 {
                    info.sync = run.first_flags & 0x1_0000 == 0;
                }
                let (at, longest) = run.longest;
                if longest > info.longest.1 {
                    info.longest = (info.duration + at, longest);
                }
                info.duration += run.duration;
                info.samples += run.samples;
            }
            _ => {}
        }
    }
    Some(info)
}

/// What a `trun` adds up to.
struct RunTotals {
    /// Sum of its sample durations.
    duration: u64,
    /// Its sample count.
    samples: u32,
    /// Its first sample's flags.
    first_flags: u32,
    /// Its longest sample: start (ticks after the run's start) and duration.
    longest: (u64, u32),
}

/// Totals of a `trun` payload.
fn trun_totals(trun: &[u8], default_duration: u32, default_flags: u32) -> Option<RunTotals> {
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
    let mut longest = (0u64, 0u32);
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
        if duration > longest.1 {
            longest = (total, duration);
        }
        total += u64::from(duration);
    }
    Some(RunTotals {
        duration: total,
        samples: count,
        first_flags,
        longest,
    })
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

/// A fragment cut short: its rewritten `moof` and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trimmed {
    /// The `moof` with the dropped samples' entries removed and its sizes and data offset fixed.
    pub moof: Vec<u8>,
    /// Samples kept.
    pub samples: u32,
    /// Their total duration in track ticks.
    pub duration: u64,
    /// Bytes of media they take at the start of the `mdat` payload.
    pub data_len: u64,
}

/// Keeps the samples of a fragment that start before `keep_ticks` (counted from its decode
/// time; at least the first) and whose media lies within the first `have_bytes` of the `mdat`
/// payload (all of them when it is whole; fewer when the file was cut short). Decode order, so
/// what is kept always decodes. `None` when not even the first sample is there, or the
/// fragment is not laid out the way this can rewrite: one `traf` holding one `trun` after its
/// `tfdt`, a data offset pointing at the start of the `mdat` payload (`mdat_header_len` bytes
/// after the `moof`), and sample sizes given per sample or by `tfhd`.
pub fn trim_moof(
    moof: &[u8],
    init: &Init,
    mdat_header_len: u64,
    keep_ticks: u64,
    have_bytes: u64,
) -> Option<Trimmed> {
    let h = header(moof)?;
    if h.header_len != 8 || h.size != Some(moof.len() as u64) {
        return None;
    }
    let body = &moof[8..];
    let trafs: Vec<_> = children(body, 8)
        .into_iter()
        .filter(|(k, _, _)| k == b"traf")
        .collect();
    let [(_, traf, traf_at)] = trafs.as_slice() else {
        return None;
    };
    let boxes = children(traf, *traf_at);
    let runs: Vec<_> = boxes.iter().filter(|(k, _, _)| k == b"trun").collect();
    let [(_, trun, trun_at)] = runs.as_slice() else {
        return None;
    };
    let tfdt_before = boxes.iter().any(|(k, _, at)| k == b"tfdt" && at < trun_at);
    let (_, tfhd, _) = boxes.iter().find(|(k, _, _)| k == b"tfhd")?;
    if !tfdt_before {
        return None;
    }
    // An absolute base data offset would not survive the move.
    let defaults = TfhdDefaults::read(tfhd, init).filter(|d| !d.absolute)?;
    let flags = u32_at(trun, 0)? & 0xff_ffff;
    let count = u32_at(trun, 4)? as usize;
    if flags & 0x01 == 0 || (flags & 0x200 == 0 && defaults.size.is_none()) {
        return None;
    }
    let data_offset = i64::from(i32::from_be_bytes(trun.get(8..12)?.try_into().ok()?));
    if data_offset != moof.len() as i64 + mdat_header_len as i64 {
        return None;
    }
    let entries_at = if flags & 0x04 != 0 { 16 } else { 12 };
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|f| flags & **f != 0)
        .count()
        * 4;
    // The entries the count claims must all be there.
    if count
        .checked_mul(per_sample)
        .and_then(|n| n.checked_add(entries_at))
        .is_none_or(|end| end > trun.len())
    {
        return None;
    }
    let run = TrunLayout {
        flags,
        count,
        entries_at,
        per_sample,
    };
    let (kept, duration, data_len) = run.keep(trun, &defaults, keep_ticks, have_bytes)?;
    let dropped = (count - kept) * per_sample;
    let out = drop_entries(
        moof,
        (*traf_at, *trun_at),
        trun_at + entries_at + kept * per_sample,
        dropped,
        kept as u32,
    )?;
    Some(Trimmed {
        moof: out,
        samples: kept as u32,
        duration,
        data_len,
    })
}

/// Where a `trun`'s sample entries are and what each holds.
struct TrunLayout {
    flags: u32,
    count: usize,
    entries_at: usize,
    per_sample: usize,
}

impl TrunLayout {
    /// How many samples [`trim_moof`] keeps, their duration and their bytes of media.
    fn keep(
        &self,
        trun: &[u8],
        defaults: &TfhdDefaults,
        keep_ticks: u64,
        have_bytes: u64,
    ) -> Option<(usize, u64, u64)> {
        let size_skip = if self.flags & 0x100 != 0 { 4 } else { 0 };
        let (mut kept, mut duration, mut data_len) = (0usize, 0u64, 0u64);
        for i in 0..self.count {
            if i > 0 && duration >= keep_ticks {
                break;
            }
            let at = self.entries_at + i * self.per_sample;
            let size = u64::from(if self.flags & 0x200 != 0 {
                u32_at(trun, at + size_skip)?
            } else {
                defaults.size?
            });
            if data_len + size > have_bytes {
                break;
            }
            duration += u64::from(if self.flags & 0x100 != 0 {
                u32_at(trun, at)?
            } else {
                defaults.duration
            });
            data_len += size;
            kept = i + 1;
        }
        (kept > 0).then_some((kept, duration, data_len))
    }
}

/// A copy of `moof` without the `dropped` bytes of `trun` entries at `cut_from`: the sizes
/// of `moof`, `traf` and `trun` (payloads at `traf_at` and `trun_at`), the sample count and
/// the data offset (the media now starts that much earlier) follow.
fn drop_entries(
    moof: &[u8],
    (traf_at, trun_at): (usize, usize),
    cut_from: usize,
    dropped: usize,
    kept: u32,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(moof.len().checked_sub(dropped)?);
    out.extend_from_slice(moof.get(..cut_from)?);
    out.extend_from_slice(moof.get(cut_from.checked_add(dropped)?..)?);
    // Each enclosing box has a plain 32-bit size (checked by its type right after it).
    let shrink = |buf: &mut Vec<u8>, box_at: usize, kind: &[u8; 4]| -> Option<()> {
        if buf.get(box_at + 4..box_at + 8)? != kind {
            return None;
        }
        let size = u32_at(buf, box_at)? as usize;
        let smaller = size.checked_sub(dropped).filter(|s| *s >= 8)?;
        buf[box_at..box_at + 4].copy_from_slice(&(smaller as u32).to_be_bytes());
        Some(())
    };
    shrink(&mut out, 0, b"moof")?;
    shrink(&mut out, traf_at.checked_sub(8)?, b"traf")?;
    shrink(&mut out, trun_at.checked_sub(8)?, b"trun")?;
    out.get_mut(trun_at + 4..trun_at + 8)?
        .copy_from_slice(&kept.to_be_bytes());
    let offset = i32::from_be_bytes(out.get(trun_at + 8..trun_at + 12)?.try_into().ok()?);
    let offset = offset.checked_sub(i32::try_from(dropped).ok()?)?;
    out.get_mut(trun_at + 8..trun_at + 12)?
        .copy_from_slice(&offset.to_be_bytes());
    Some(out)
}

/// What a `tfhd` says about its fragment's samples, the `trex` defaults filling in.
struct TfhdDefaults {
    /// It carries an absolute `base_data_offset` (the fragment cannot move).
    absolute: bool,
    /// Default sample duration.
    duration: u32,
    /// Default sample size, if it gives one.
    size: Option<u32>,
    /// Default sample flags.
    flags: u32,
}

impl TfhdDefaults {
    /// Reads a `tfhd` payload.
    fn read(tfhd: &[u8], init: &Init) -> Option<TfhdDefaults> {
        let flags = u32_at(tfhd, 0)? & 0xff_ffff;
        let mut p = 8;
        let mut out = TfhdDefaults {
            absolute: flags & 0x01 != 0,
            duration: init.default_duration,
            size: None,
            flags: init.default_flags,
        };
        if out.absolute {
            p += 8;
        }
        if flags & 0x02 != 0 {
            p += 4;
        }
        if flags & 0x08 != 0 {
            out.duration = u32_at(tfhd, p)?;
            p += 4;
        }
        if flags & 0x10 != 0 {
            out.size = Some(u32_at(tfhd, p)?);
            p += 4;
        }
        if flags & 0x20 != 0 {
            out.flags = u32_at(tfhd, p)?;
        }
        Some(out)
    }
}

/// Sets a `moof`'s sequence number (`mfhd`) in place.
pub fn set_sequence(moof: &mut [u8], sequence: u32) {
    let at = children(moof.get(8..).unwrap_or_default(), 8)
        .into_iter()
        .find(|(k, _, _)| k == b"mfhd")
        .map(|(_, _, at)| at);
    if let Some(slot) = at.and_then(|at| moof.get_mut(at + 4..at + 8)) {
        slot.copy_from_slice(&sequence.to_be_bytes());
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
    /// The fragment the file ends in when that fragment runs past its end (being written, or
    /// cut short when the recorder stopped) but its `moof` and `mdat` header are whole: `len`
    /// is the bytes it has. Its first samples may be all there ([`trim_moof`] keeps those).
    pub partial: Option<Fragment>,
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

    /// Where no frame arrived for longer than `min_ticks`, as spans of ticks after the first
    /// fragment's decode time: a sample lasting that much longer than the file's usual frame
    /// (ffmpeg's MP4 muxer gives the last frame before a pause the pause's length), or a jump in
    /// decode time between two fragments. Each span starts one usual frame after the frame
    /// shown through it, and ends where the next frame starts.
    pub fn pauses(&self, min_ticks: u64) -> Vec<(u64, u64)> {
        let Some(first) = self.fragments.first() else {
            return Vec::new();
        };
        let base = first.info.decode_time;
        let (mut rest, mut frames) = (0u64, 0u64);
        for f in &self.fragments {
            rest += f.info.duration - u64::from(f.info.longest.1);
            frames += u64::from(f.info.samples.saturating_sub(1));
        }
        let usual = rest.checked_div(frames).unwrap_or(0);
        let mut pauses = Vec::new();
        let mut previous_end: Option<u64> = None;
        for f in &self.fragments {
            let start = f.info.decode_time.saturating_sub(base);
            if let Some(end) = previous_end
                && start > end + min_ticks
            {
                pauses.push((end, start));
            }
            let (at, longest) = f.info.longest;
            let longest = u64::from(longest);
            if longest > usual + min_ticks {
                pauses.push((start + at + usual, start + at + longest));
            }
            previous_end = Some(start + f.info.duration);
        }
        pauses
    }

    /// Bytes of media: from the first fragment to the end of the last.
    pub fn media_end(&self) -> u64 {
        self.fragments
            .last()
            .map_or(self.init_len, |f| f.offset + f.len)
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Walks a file's boxes; errors when it is not a fragmented MP4 (no `moov` before a `moof`).
/// The walk runs on the blocking pool: it is a few positioned reads per fragment.
pub async fn index_file(path: &Path) -> std::io::Result<FileIndex> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || index_blocking(&path))
        .await
        .map_err(std::io::Error::other)?
}

/// [`index_file`] on the calling thread: two positioned reads per fragment (its box header,
/// then its `moof` with the `mdat` header after it), none of the media.
pub fn index_blocking(path: &Path) -> std::io::Result<FileIndex> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let read_at = |at: u64, buf: &mut [u8]| file.read_exact_at(buf, at);
    let mut at = 0u64;
    let mut init: Option<Init> = None;
    let mut init_len = None;
    let mut fragments = Vec::new();
    let mut partial = None;
    let mut head = [0u8; 16];
    let mut moof = Vec::new();
    while at + 8 <= size {
        let n = (size - at).min(16) as usize;
        read_at(at, &mut head[..n])?;
        let Some(h) = header(&head[..n]) else { break };
        let box_size = h.size.unwrap_or(size - at);
        // (A corrupt size near u64::MAX must not wrap round.)
        if at.checked_add(box_size).is_none_or(|end| end > size) {
            break; // still being written
        }
        match &h.kind {
            b"moov" => {
                if box_size > MAX_HEADER_BOX {
                    return Err(invalid("moov too large"));
                }
                let mut moov = vec![0u8; box_size as usize];
                read_at(at, &mut moov)?;
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
                let next = at + box_size;
                // The moof and as much of the mdat header as the file holds.
                let m = size.saturating_sub(next).min(16) as usize;
                if m < 8 {
                    break;
                }
                moof.resize(box_size as usize + m, 0);
                read_at(at, &mut moof)?;
                let (moof, mdat_head) = moof.split_at(box_size as usize);
                let info = parse_moof(moof, track).ok_or_else(|| invalid("unreadable moof"))?;
                let Some(mh) = header(mdat_head).filter(|mh| &mh.kind == b"mdat") else {
                    return Err(invalid("a moof without its mdat"));
                };
                let mdat_size = mh.size.unwrap_or(size - next);
                if next.checked_add(mdat_size).is_none_or(|end| end > size) {
                    partial = Some(Fragment {
                        offset: at,
                        moof_len: box_size,
                        len: size - at,
                        info,
                    });
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
        partial,
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

#[cfg(test)]
mod tests {
    /// An `hvcC` with the given profile byte, compatibility flags, constraint bytes and level,
    /// and `arrays` parameter-set arrays (types 32, 33, 34 in turn) of one 2-byte unit each.
    fn hvcc(profile: u8, compat: u32, constraints: [u8; 6], level: u8, arrays: u8) -> Vec<u8> {
        let mut b = vec![1, profile];
        b.extend(compat.to_be_bytes());
        b.extend(constraints);
        b.push(level);
        b.extend([0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, arrays]);
        for unit in 0..arrays {
            b.extend([32 + unit, 0, 1, 0, 2, 0x40, 0x01]);
        }
        b
    }

    #[test]
    fn h265_codec_strings_follow_annex_e() {
        let main = hvcc(0x01, 0x6000_0000, [0xb0, 0, 0, 0, 0, 0], 93, 3);
        assert_eq!(hevc_codec("hvc1", &main).unwrap(), "hvc1.1.6.L93.B0");
        // Main 10, high tier, level 5.1, no constraint bytes.
        let main10 = hvcc(0x22, 0x2000_0000, [0; 6], 153, 3);
        assert_eq!(hevc_codec("hev1", &main10).unwrap(), "hev1.2.4.H153");
        assert!(hvcc_holds_parameter_sets(&main));
        assert!(!hvcc_holds_parameter_sets(&hvcc(
            0x01,
            0x6000_0000,
            [0; 6],
            93,
            2
        )));
        let mut cut = main.clone();
        cut.truncate(main.len() - 1);
        assert!(!hvcc_holds_parameter_sets(&cut), "a unit runs past the end");
    }

    /// A `moov` whose one track's sample entry is `entry`, with `hvcc` as its configuration.
    fn moov_with(entry: &[u8; 4], hvcc: &[u8]) -> Vec<u8> {
        let boxed = |kind: &[u8; 4], body: &[u8]| {
            let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            b.extend(kind);
            b.extend(body);
            b
        };
        let mut sample = vec![0u8; 78];
        sample.extend(boxed(b"hvcC", hvcc));
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(boxed(entry, &sample));
        let mut inner = boxed(b"stsd", &stsd);
        for kind in [b"stbl", b"minf", b"mdia", b"trak", b"moov"] {
            inner = boxed(kind, &inner);
        }
        inner
    }

    #[test]
    fn hev1_with_its_parameter_sets_is_retagged_hvc1_and_marked_complete() {
        let hvcc_of = |init: &[u8]| {
            let at = init.windows(4).position(|w| w == b"hvcC").unwrap() + 4;
            init[at..].to_vec()
        };
        let mut init = moov_with(
            b"hev1",
            &hvcc(0x01, 0x6000_0000, [0xb0, 0, 0, 0, 0, 0], 93, 3),
        );
        let before = init.len();
        tag_hevc_for_browsers(&mut init);
        assert_eq!(init.len(), before);
        assert!(init.windows(4).any(|w| w == b"hvc1"));
        let arrays = parameter_set_arrays(&hvcc_of(&init)).unwrap();
        assert!(arrays.iter().all(|&a| hvcc_of(&init)[a] & 0x80 != 0));
        // Without its PPS, or already another entry: untouched.
        for (entry, sets) in [(b"hev1", 2), (b"avc1", 3)] {
            let original = moov_with(entry, &hvcc(0x01, 0x6000_0000, [0; 6], 93, sets));
            let mut init = original.clone();
            tag_hevc_for_browsers(&mut init);
            assert_eq!(init, original);
        }
    }

    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    /// A `moof` as ffmpeg writes it with `default_base_moof`: three samples of 100 ticks and
    /// 10, 20 and 30 bytes, the data right after an 8-byte `mdat` header.
    fn moof(tfhd_flags: u32) -> Vec<u8> {
        let mfhd = boxed(b"mfhd", &[0, 0, 0, 0, 0, 0, 0, 7]);
        let mut tfhd = tfhd_flags.to_be_bytes().to_vec();
        tfhd.extend_from_slice(&1u32.to_be_bytes());
        if tfhd_flags & 0x01 != 0 {
            tfhd.extend_from_slice(&0u64.to_be_bytes());
        }
        let mut tfdt = vec![1, 0, 0, 0];
        tfdt.extend_from_slice(&5000u64.to_be_bytes());
        let entries: [(u32, u32); 3] = [(100, 10), (100, 20), (100, 30)];
        let trun_len = 8 + 12 + entries.len() * 8;
        let traf_len = 8 + (8 + tfhd.len()) + (8 + tfdt.len()) + trun_len;
        let moof_len = 8 + mfhd.len() + traf_len;
        let mut trun = 0x0301u32.to_be_bytes().to_vec();
        trun.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        trun.extend_from_slice(&((moof_len + 8) as i32).to_be_bytes());
        for (duration, size) in entries {
            trun.extend_from_slice(&duration.to_be_bytes());
            trun.extend_from_slice(&size.to_be_bytes());
        }
        let mut traf = boxed(b"tfhd", &tfhd);
        traf.extend(boxed(b"tfdt", &tfdt));
        traf.extend(boxed(b"trun", &trun));
        let mut body = mfhd;
        body.extend(boxed(b"traf", &traf));
        let out = boxed(b"moof", &body);
        assert_eq!(out.len(), moof_len);
        out
    }

    fn init() -> Init {
        Init {
            timescale: 1000,
            codec: "avc1.640028".into(),
            default_duration: 0,
            default_flags: 0,
            tracks: 1,
        }
    }

    #[test]
    fn trimming_keeps_the_samples_that_start_before_the_cut_and_fixes_sizes_and_offsets() {
        let original = moof(0x02_0000);
        let trimmed = trim_moof(&original, &init(), 8, 150, u64::MAX).unwrap();
        assert_eq!(
            (trimmed.samples, trimmed.duration, trimmed.data_len),
            (2, 200, 30)
        );
        assert_eq!(trimmed.moof.len(), original.len() - 8);
        let info = parse_moof(&trimmed.moof, &init()).unwrap();
        assert_eq!(
            (info.samples, info.duration, info.decode_time),
            (2, 200, 5000)
        );
        // The data offset still points just past the (smaller) moof and its mdat header.
        let at = trimmed.moof.len() - 2 * 8 - 4;
        let offset = i32::from_be_bytes(trimmed.moof[at..at + 4].try_into().unwrap());
        assert_eq!(offset as usize, trimmed.moof.len() + 8);
        // The first sample is always kept; a cut past the end keeps everything.
        assert_eq!(
            trim_moof(&original, &init(), 8, 0, u64::MAX)
                .unwrap()
                .samples,
            1
        );
        let whole = trim_moof(&original, &init(), 8, 1000, u64::MAX).unwrap();
        assert_eq!((whole.samples, whole.moof), (3, original.clone()));
        // A file cut short: only the samples whose bytes are all there (10 + 20 of 35).
        let cut = trim_moof(&original, &init(), 8, 1000, 35).unwrap();
        assert_eq!((cut.samples, cut.duration, cut.data_len), (2, 200, 30));
        assert_eq!(trim_moof(&original, &init(), 8, 1000, 5), None);
    }

    #[test]
    fn fragments_that_cannot_be_moved_or_cut_are_refused() {
        // An absolute base data offset: not relocatable, not trimmed.
        let absolute = moof(0x01);
        assert!(!parse_moof(&absolute, &init()).unwrap().relocatable);
        assert_eq!(trim_moof(&absolute, &init(), 8, 150, u64::MAX), None);
        // A data offset that does not point at the mdat payload.
        assert_eq!(
            trim_moof(&moof(0x02_0000), &init(), 16, 150, u64::MAX),
            None
        );
        // A sample count the trun does not hold entries for.
        let mut lying = moof(0x02_0000);
        let at = lying.windows(4).position(|w| w == b"trun").unwrap() + 8;
        lying[at..at + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
        assert_eq!(trim_moof(&lying, &init(), 8, 150, u64::MAX), None);
    }

    #[test]
    fn the_sequence_number_is_set_in_place() {
        let mut m = moof(0x02_0000);
        set_sequence(&mut m, 42);
        assert_eq!(
            &m[20..24],
            &42u32.to_be_bytes(),
            "after the mfhd header and its flags"
        );
    }

    fn fragment(decode_time: u64, samples: u32, duration: u64, longest: (u64, u32)) -> Fragment {
        Fragment {
            offset: 0,
            moof_len: 0,
            len: 0,
            info: MoofInfo {
                decode_time,
                duration,
                samples,
                sync: true,
                longest,
                tfdt_at: None,
                relocatable: true,
            },
        }
    }

    #[test]
    fn a_pause_is_found_in_a_long_last_frame_and_between_fragments() {
        // 10 frames of 100 ticks a fragment; the second fragment's last frame lasts 5,000
        // ticks (a pause), and the fourth starts 4,000 ticks after the third ends.
        let index = FileIndex {
            init_len: 0,
            init: init(),
            fragments: vec![
                fragment(0, 10, 1_000, (0, 100)),
                fragment(1_000, 10, 5_900, (900, 5_000)),
                fragment(6_900, 10, 1_000, (0, 100)),
                fragment(11_900, 10, 1_000, (0, 100)),
            ],
            partial: None,
        };
        assert_eq!(index.pauses(3_000), vec![(2_000, 6_900), (7_900, 11_900)]);
        assert_eq!(index.pauses(5_000), Vec::<(u64, u64)>::new());
        let steady = FileIndex {
            fragments: vec![fragment(0, 10, 1_000, (0, 100))],
            ..index
        };
        assert!(steady.pauses(0).is_empty());
    }
}
