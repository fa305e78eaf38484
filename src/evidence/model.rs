//! Pure parts of evidence export: what a clip is made of, the concat list, progress lines,
//! and signed media URLs. Time and secrets are passed in.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::AppError;

/// Longest clip, in seconds (exactly 3600 is allowed).
pub const MAX_CLIP_SECONDS: f64 = 3600.0;
/// A hole in a clip is disclosed when longer than this (ms).
pub const CLIP_GAP_MS: i64 = 1000;

/// A source segment of a clip, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Segment id.
    pub id: String,
    /// Path under the recordings root.
    pub path: String,
    /// Segment start, ms since the epoch.
    pub start_ms: i64,
    /// Segment end, ms since the epoch.
    pub end_ms: i64,
    /// File size.
    pub size_bytes: i64,
}

/// A hole inside a clip's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hole {
    /// Start, ms since the epoch.
    pub from_ms: i64,
    /// End, ms since the epoch.
    pub to_ms: i64,
}

/// A hole as stored with an export and shown to clients: where, and why when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosedGap {
    /// Start, ms since the epoch.
    pub from_ms: i64,
    /// End, ms since the epoch.
    pub to_ms: i64,
    /// Stored gap reason (`camera_offline`, `pruned`, …), if known.
    pub reason: Option<String>,
}

/// The holes of a run's plan, keeping the reasons known when the job was queued; a hole that
/// is new since then is footage deleted meanwhile (`pruned`).
pub fn disclose(plan: &[Hole], known: &[DisclosedGap]) -> Vec<DisclosedGap> {
    plan.iter()
        .map(|h| DisclosedGap {
            from_ms: h.from_ms,
            to_ms: h.to_ms,
            reason: match known
                .iter()
                .find(|k| k.from_ms <= h.from_ms && k.to_ms >= h.to_ms)
            {
                Some(k) => k.reason.clone(),
                None => Some("pruned".into()),
            },
        })
        .collect()
}

/// What a made clip discloses: its plan's holes with the reasons known when it was queued
/// ([`disclose`]) and the pauses in its keyframe lead-in, in time order.
pub fn disclose_clip(plan: &ClipPlan, known: &[DisclosedGap]) -> Vec<DisclosedGap> {
    let mut gaps = disclose(&plan.gaps, known);
    let paused = crate::footage::model::GapReason::StreamPaused.as_str();
    gaps.extend(plan.lead_in_pauses.iter().map(|h| DisclosedGap {
        from_ms: h.from_ms,
        to_ms: h.to_ms,
        reason: Some(paused.to_owned()),
    }));
    gaps.sort_by_key(|g| g.from_ms);
    gaps
}

/// One concat entry: a file with the part of it to take (seconds from the file's start).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Path relative to the recordings root.
    pub path: String,
    /// Where to start in the file, if not at its beginning.
    pub inpoint: Option<f64>,
    /// Where to stop, if not at its end.
    pub outpoint: Option<f64>,
    /// The file's size when it was indexed: a file shorter now was cut after it was indexed.
    pub indexed_size: u64,
}

/// What a clip of `[from, to)` is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPlan {
    /// Concat entries in time order.
    pub entries: Vec<Entry>,
    /// Seconds of footage inside the window (the output's length, before keyframe lead-in,
    /// less its pauses).
    pub covered_seconds: f64,
    /// Seconds of pauses inside the files the clip takes: no footage, but the output holds the
    /// frame before each pause through it, so they count in its length.
    pub paused_seconds: f64,
    /// Pauses in the clip's keyframe lead-in, before the requested start (set once the clip
    /// is made and its first keyframe known): shown in it, so disclosed too.
    pub lead_in_pauses: Vec<Hole>,
    /// Holes over 1 s, which the output silently joins; disclosed here.
    pub gaps: Vec<Hole>,
}

/// Plans a clip from the segments overlapping the window (sorted by start) and the pauses
/// recorded inside them (the clip shows the frame before a pause until the next one: no
/// footage, disclosed as a hole and left out of the covered seconds).
pub fn clip_plan(from_ms: i64, to_ms: i64, sources: &[Source], pauses: &[Hole]) -> ClipPlan {
    let mut cursor = from_ms;
    let mut entries = Vec::new();
    let mut gaps = Vec::new();
    let mut covered_ms = 0;
    let mut paused_ms = 0;
    for s in sources {
        let start = s.start_ms.max(from_ms).max(cursor);
        let end = s.end_ms.min(to_ms);
        if end <= start {
            continue;
        }
        if start - cursor > CLIP_GAP_MS {
            gaps.push(Hole {
                from_ms: cursor,
                to_ms: start,
            });
        }
        covered_ms += end - start;
        for pause in pauses {
            let (from, to) = (pause.from_ms.max(start), pause.to_ms.min(end));
            if to > from {
                covered_ms -= to - from;
                paused_ms += to - from;
                gaps.push(Hole {
                    from_ms: from,
                    to_ms: to,
                });
            }
        }
        entries.push(Entry {
            path: s.path.clone(),
            inpoint: (start > s.start_ms).then(|| (start - s.start_ms) as f64 / 1000.0),
            outpoint: (end < s.end_ms).then(|| (end - s.start_ms) as f64 / 1000.0),
            indexed_size: s.size_bytes.max(0) as u64,
        });
        cursor = end;
    }
    if to_ms - cursor > CLIP_GAP_MS {
        gaps.push(Hole {
            from_ms: cursor,
            to_ms,
        });
    }
    gaps.sort_by_key(|hole| hole.from_ms);
    ClipPlan {
        entries,
        covered_seconds: covered_ms as f64 / 1000.0,
        paused_seconds: paused_ms as f64 / 1000.0,
        lead_in_pauses: Vec::new(),
        gaps,
    }
}

/// Whether a stored segment path is safe to hand ffmpeg's concat demuxer in safe mode:
/// relative, `<camera>/<file>.mp4` (or `<camera>/sub/<file>.mp4`), every component from the portable set and not starting
/// with a dot. Anything else (quotes, newlines, `..`, protocols) is refused.
pub fn safe_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    (parts.len() == 2 || (parts.len() == 3 && parts[1] == "sub"))
        && path.ends_with(".mp4")
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// The `ffconcat` list of a plan; every path must pass [`safe_path`].
pub fn concat_list(entries: &[Entry]) -> Result<String, AppError> {
    let mut out = String::from("ffconcat version 1.0\n");
    for e in entries {
        if !safe_path(&e.path) {
            return Err(AppError::internal(format!(
                "refusing an unsafe recording path in a concat list: {:?}",
                e.path
            )));
        }
        out.push_str(&format!("file '{}'\n", e.path));
        if let Some(at) = e.inpoint {
            out.push_str(&format!("inpoint {at:.3}\n"));
        }
        if let Some(at) = e.outpoint {
            out.push_str(&format!("outpoint {at:.3}\n"));
        }
    }
    Ok(out)
}

/// Seconds of output written, from one line of ffmpeg's `-progress` output (`out_time_us`,
/// or `out_time_ms`, which ffmpeg also reports in microseconds).
pub fn progress_seconds(line: &str) -> Option<f64> {
    let (key, value) = line.trim().split_once('=')?;
    match key {
        "out_time_us" | "out_time_ms" => value.parse::<i64>().ok().map(|us| us as f64 / 1e6),
        _ => None,
    }
}

/// The latest keyframe at or before `at` seconds, from a file's keyframe times.
pub fn keyframe_at_or_before(keyframes: &[f64], at: f64) -> Option<f64> {
    keyframes
        .iter()
        .copied()
        .filter(|k| *k <= at + 0.0005)
        .fold(None, |best: Option<f64>, k| {
            Some(best.map_or(k, |b| b.max(k)))
        })
}

type HmacSha256 = Hmac<Sha256>;

/// Signs a media path for `subject` until `expires` (unix seconds); hex HMAC-SHA256.
pub fn sign(key: &[u8], path: &str, expires: i64, subject: &str) -> String {
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(format!("{path}\n{expires}\n{subject}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whom a signed link was issued to: the credential, so it can be checked again when the link
/// is used. Written `u.<session>.<user>` or `k.<key>.<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSubject {
    /// A user's session or an API key.
    pub kind: crate::auth::token::TokenKind,
    /// The session (or key) id.
    pub sid: String,
    /// The user (or key) id.
    pub sub: String,
}

impl LinkSubject {
    /// The subject of a link issued to `principal`.
    pub fn of(principal: &crate::auth::principal::Principal) -> Self {
        let kind = match principal.kind {
            crate::auth::principal::PrincipalKind::User => crate::auth::token::TokenKind::User,
            crate::auth::principal::PrincipalKind::ApiKey => crate::auth::token::TokenKind::ApiKey,
        };
        LinkSubject {
            kind,
            sid: principal.session_id.clone(),
            sub: principal.id.clone(),
        }
    }

    /// Reads a subject written by [`Display`](std::fmt::Display); `None` if malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let kind = match parts.next()? {
            "u" => crate::auth::token::TokenKind::User,
            "k" => crate::auth::token::TokenKind::ApiKey,
            _ => return None,
        };
        let (sid, sub) = (parts.next()?, parts.next()?);
        (!sid.is_empty() && !sub.is_empty()).then(|| LinkSubject {
            kind,
            sid: sid.to_owned(),
            sub: sub.to_owned(),
        })
    }
}

impl std::fmt::Display for LinkSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            crate::auth::token::TokenKind::User => "u",
            crate::auth::token::TokenKind::ApiKey => "k",
        };
        write!(f, "{kind}.{}.{}", self.sid, self.sub)
    }
}

/// Checks a signature in constant time, and that it has not expired at `now` (unix seconds).
pub fn verify(
    key: &[u8],
    path: &str,
    expires: i64,
    subject: &str,
    signature: &str,
    now: i64,
) -> Result<(), &'static str> {
    if expires < now {
        return Err("the link has expired; ask the API for a fresh one");
    }
    let Ok(given) = hex::decode(signature) else {
        return Err("the link's signature is malformed");
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return Err("the link cannot be checked");
    };
    mac.update(format!("{path}\n{expires}\n{subject}").as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| "the link's signature does not match this file")
}

/// The name a clip downloads as: the camera, the requested window in UTC (`YYYYmmddTHHMMSSZ`)
/// and the export id, so a folder of evidence sorts by camera and time and each file says
/// what it is. The manifest is the same name with `.manifest.json`.
pub fn clip_file_name(camera_id: &str, from_ms: i64, to_ms: i64, id: &str) -> String {
    format!(
        "{camera_id}_{}-{}_{id}.mp4",
        compact_utc(from_ms),
        compact_utc(to_ms)
    )
}

/// The name a snapshot downloads as: the camera, the instant in UTC and the snapshot id.
pub fn snapshot_file_name(camera_id: &str, at_ms: i64, id: &str) -> String {
    format!("{camera_id}_{}_{id}.jpg", compact_utc(at_ms))
}

fn compact_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(id: &str, start_s: f64, end_s: f64) -> Source {
        Source {
            id: id.into(),
            path: format!("cam/{id}.mp4"),
            start_ms: (start_s * 1000.0) as i64,
            end_ms: (end_s * 1000.0) as i64,
            size_bytes: 1,
        }
    }

    #[test]
    fn c5_holes_inside_the_window_are_disclosed_and_not_counted() {
        let plan = clip_plan(
            0,
            100_000,
            &[src("a", 0.0, 30.0), src("b", 60.0, 90.0)],
            &[],
        );
        assert_eq!(
            plan.gaps,
            vec![
                Hole {
                    from_ms: 30_000,
                    to_ms: 60_000
                },
                Hole {
                    from_ms: 90_000,
                    to_ms: 100_000
                }
            ]
        );
        assert!((plan.covered_seconds - 60.0).abs() < 0.01);
    }

    #[test]
    fn a_pause_inside_a_recording_is_disclosed_where_the_clip_takes_it() {
        let pause = |from, to| Hole {
            from_ms: from,
            to_ms: to,
        };
        // A pause at 40–50 s inside `a`, one at 150–160 s past the window's end.
        let pauses = [pause(40_000, 50_000), pause(150_000, 160_000)];
        let plan = clip_plan(
            45_000,
            100_000,
            &[src("a", 0.0, 60.0), src("b", 60.0, 120.0)],
            &pauses,
        );
        assert_eq!(plan.gaps, vec![pause(45_000, 50_000)]);
        assert!((plan.covered_seconds - 50.0).abs() < 0.001);
        assert!((plan.paused_seconds - 5.0).abs() < 0.001);
        assert_eq!(plan.entries.len(), 2, "the clip still reads both files");
    }

    #[test]
    fn c6_a_half_second_seam_is_not_a_gap() {
        let plan = clip_plan(
            0,
            100_000,
            &[src("a", 0.0, 50.0), src("b", 50.5, 100.0)],
            &[],
        );
        assert!(plan.gaps.is_empty());
        assert!(plan.covered_seconds > 99.0);
    }

    #[test]
    fn the_first_and_last_files_are_trimmed_to_the_window() {
        let plan = clip_plan(
            10_000,
            130_000,
            &[
                src("a", 0.0, 60.0),
                src("b", 60.0, 120.0),
                src("c", 120.0, 180.0),
            ],
            &[],
        );
        assert_eq!(plan.entries[0].inpoint, Some(10.0));
        assert_eq!(plan.entries[0].outpoint, None);
        assert_eq!(plan.entries[1].inpoint, None);
        assert_eq!(plan.entries[2].outpoint, Some(10.0));
        assert!((plan.covered_seconds - 120.0).abs() < 0.001);
        let list = concat_list(&plan.entries).unwrap();
        assert_eq!(
            list,
            "ffconcat version 1.0\nfile 'cam/a.mp4'\ninpoint 10.000\nfile 'cam/b.mp4'\nfile 'cam/c.mp4'\noutpoint 10.000\n"
        );
    }

    #[test]
    fn unsafe_paths_never_reach_a_concat_list() {
        for bad in [
            "cam/it's.mp4",
            "cam/a.mp4\nfile '/etc/passwd'",
            "../cam/a.mp4",
            "/abs/a.mp4",
            "http://x/a.mp4",
            "cam/.hidden.mp4",
            "a.mp4",
        ] {
            assert!(!safe_path(bad), "{bad:?}");
            let entry = Entry {
                path: bad.into(),
                inpoint: None,
                outpoint: None,
                indexed_size: 1,
            };
            assert!(concat_list(&[entry]).is_err());
        }
        assert!(safe_path("front-door/20261124_010203.mp4"));
    }

    #[test]
    fn progress_lines_and_keyframes() {
        assert_eq!(progress_seconds("out_time_us=2500000"), Some(2.5));
        assert_eq!(progress_seconds("out_time_ms=1000000"), Some(1.0));
        assert_eq!(progress_seconds("progress=continue"), None);
        assert_eq!(keyframe_at_or_before(&[0.0, 2.0, 4.0], 3.9), Some(2.0));
        assert_eq!(keyframe_at_or_before(&[0.0, 2.0, 4.0], 4.0), Some(4.0));
        assert_eq!(keyframe_at_or_before(&[1.0], 0.5), None);
    }

    #[test]
    fn downloads_are_named_by_camera_window_and_id() {
        let from = 1_795_000_000_000; // 2026-11-18T11:06:40Z
        let name = clip_file_name("front_door", from, from + 300_000, "clip_01");
        assert_eq!(
            name,
            "front_door_20261118T110640Z-20261118T111140Z_clip_01.mp4"
        );
        assert_eq!(
            snapshot_file_name("gate", from, "snap_1"),
            "gate_20261118T110640Z_snap_1.jpg"
        );
    }

    #[test]
    fn signed_links_bind_path_subject_and_expiry() {
        let key = b"0123456789abcdef0123456789abcdef";
        let sig = sign(key, "/media/clips/clip_a.mp4", 1000, "usr_1");
        assert_eq!(
            verify(key, "/media/clips/clip_a.mp4", 1000, "usr_1", &sig, 999),
            Ok(())
        );
        assert!(verify(key, "/media/clips/clip_b.mp4", 1000, "usr_1", &sig, 999).is_err());
        assert!(verify(key, "/media/clips/clip_a.mp4", 1000, "usr_2", &sig, 999).is_err());
        assert!(verify(key, "/media/clips/clip_a.mp4", 2000, "usr_1", &sig, 999).is_err());
        assert!(verify(key, "/media/clips/clip_a.mp4", 1000, "usr_1", &sig, 1001).is_err());
    }
}
