//! HLS playlists (RFC 8216, fMP4 segments) built straight from the segment index: no remux, no
//! job. A recorded window becomes one VOD playlist whose media segments are the recording files
//! (minus their init segment), with one `EXT-X-MAP` per run of files that share a codec, a
//! resolution and a timeline, `EXT-X-DISCONTINUITY` between runs (a gap or a change), an
//! `EXT-X-PROGRAM-DATE-TIME` on every segment, and `EXT-X-START` at the instant asked for.
//!
//! Every file's fragments are placed on one continuous media timeline: the segment URL carries
//! the base decode time the file's first fragment gets (`s/<id>/<base>.m4s`), and the server
//! rewrites each `tfdt` by that much when it serves the file.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

/// Files further apart than this are separate runs (a discontinuity); closer is a seam of the
/// same recording (a file's start is known to the millisecond only where the file system keeps
/// birth times; otherwise its name has whole seconds).
pub const SEAM_MS: i64 = 2_000;

/// One playable recording file, from its index row.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// Segment id.
    pub id: String,
    /// Index start, ms since the epoch.
    pub start_ms: i64,
    /// Index end, ms since the epoch.
    pub end_ms: i64,
    /// Ticks per second of its video track.
    pub timescale: u32,
    /// Exact media duration in ticks.
    pub duration_ticks: u64,
    /// Codec as indexed (`h264`), width and height: a change starts a new run.
    pub format: (Option<String>, Option<i32>, Option<i32>),
}

impl Piece {
    fn seconds(&self) -> f64 {
        self.duration_ticks as f64 / f64::from(self.timescale.max(1))
    }
}

/// A VOD playlist of `pieces` (in time order, overlapping the window), starting at `from_ms`.
pub fn vod(pieces: &[Piece], from_ms: i64) -> String {
    let target = pieces
        .iter()
        .map(|p| p.seconds().round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let start_offset = pieces.first().map_or(0.0, |p| {
        ((from_ms - p.start_ms).max(0) as f64 / 1000.0).min(p.seconds())
    });
    let mut out = String::with_capacity(128 + pieces.len() * 120);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str(
        "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n",
    );
    let _ = writeln!(
        out,
        "#EXT-X-START:TIME-OFFSET={start_offset:.3},PRECISE=YES"
    );
    // The media timeline so far, in seconds, and in the current run's ticks (exact within a run).
    let mut elapsed = 0.0f64;
    let mut ticks = 0u64;
    let mut previous: Option<&Piece> = None;
    for piece in pieces {
        let new_run = previous.is_none_or(|prev| {
            piece.start_ms - prev.end_ms > SEAM_MS
                || piece.format != prev.format
                || piece.timescale != prev.timescale
        });
        if new_run {
            if previous.is_some() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"i/{}.mp4\"", piece.id);
            ticks = (elapsed * f64::from(piece.timescale)).round() as u64;
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            date_time(piece.start_ms).to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        let _ = writeln!(out, "#EXTINF:{:.6},", piece.seconds());
        let _ = writeln!(out, "s/{}/{ticks}.m4s", piece.id);
        ticks += piece.duration_ticks;
        elapsed += piece.seconds();
        previous = Some(piece);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

fn date_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// One media segment of a live playlist: a run of fragments starting at a keyframe.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePart {
    /// Media sequence number.
    pub sequence: u64,
    /// Seconds of media.
    pub seconds: f64,
    /// Wall-clock time of its first frame, ms since the epoch.
    pub at_ms: i64,
    /// The camera stream it belongs to (a new one at each camera connection, with its own
    /// init segment `init-<stream>.mp4` and timeline).
    pub stream: u64,
    /// Discontinuities before it: one at each change of stream between parts.
    pub discontinuity: u64,
}

/// A live playlist (a sliding window, no `EXT-X-ENDLIST`) over `parts`, oldest first: each
/// stream's parts under its own `EXT-X-MAP`, with `EXT-X-DISCONTINUITY` where a new camera
/// connection (a restart, a new URL) began a new timeline.
pub fn live(parts: &[LivePart]) -> String {
    let target = parts
        .iter()
        .map(|p| p.seconds.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let (first, discontinuities) = parts
        .first()
        .map_or((0, 0), |p| (p.sequence, p.discontinuity));
    let mut out = String::with_capacity(200 + parts.len() * 100);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities}");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let mut stream = None;
    for part in parts {
        if stream != Some(part.stream) {
            if stream.is_some() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"init-{}.mp4\"", part.stream);
            stream = Some(part.stream);
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            date_time(part.at_ms).to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        let _ = writeln!(out, "#EXTINF:{:.6},", part.seconds);
        let _ = writeln!(out, "{}.m4s", part.sequence);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(id: &str, start_s: i64, seconds: u64) -> Piece {
        Piece {
            id: id.to_owned(),
            start_ms: start_s * 1000,
            end_ms: (start_s + seconds as i64) * 1000,
            timescale: 10_240,
            duration_ticks: seconds * 10_240,
            format: (Some("h264".to_owned()), Some(320), Some(180)),
        }
    }

    #[test]
    fn a_gap_is_a_discontinuity_with_a_new_map_and_the_timeline_continues() {
        let t0 = 1_800_000_000;
        let text = vod(
            &[
                piece("a", t0, 4),
                piece("b", t0 + 4, 4),
                piece("c", t0 + 20, 4),
            ],
            (t0 + 1) * 1000 + 500,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#EXTM3U");
        assert!(text.contains("#EXT-X-TARGETDURATION:4\n"));
        assert!(text.contains("#EXT-X-START:TIME-OFFSET=1.500,PRECISE=YES\n"));
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert_eq!(text.matches("#EXT-X-MAP:").count(), 2);
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 3);
        // b continues a's timeline; c continues it too, the gap collapsed.
        assert!(text.contains("s/a/0.m4s\n"));
        assert!(text.contains("s/b/40960.m4s\n"));
        assert!(text.contains("s/c/81920.m4s\n"));
        let disc = lines
            .iter()
            .position(|l| *l == "#EXT-X-DISCONTINUITY")
            .unwrap_or(0);
        assert_eq!(lines[disc + 1], "#EXT-X-MAP:URI=\"i/c.mp4\"");
        assert_eq!(lines.last(), Some(&"#EXT-X-ENDLIST"));
    }

    #[test]
    fn a_resolution_change_without_a_gap_is_a_discontinuity_too() {
        let mut b = piece("b", 104, 4);
        b.format.1 = Some(640);
        let text = vod(&[piece("a", 100, 4), b], 100_000);
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY").count(), 1);
        assert!(text.contains("#EXT-X-START:TIME-OFFSET=0.000"));
    }

    #[test]
    fn a_live_window_counts_from_its_oldest_part() {
        let parts: Vec<LivePart> = (7..10)
            .map(|s| LivePart {
                sequence: s,
                seconds: 1.0,
                at_ms: s as i64 * 1000,
                stream: 1,
                discontinuity: 0,
            })
            .collect();
        let text = live(&parts);
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:7\n"));
        assert!(text.contains("9.m4s\n"));
        assert_eq!(text.matches("#EXT-X-MAP:URI=\"init-1.mp4\"").count(), 1);
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
        assert!(!text.contains("ENDLIST"));
    }

    #[test]
    fn a_new_camera_connection_in_a_live_window_is_a_discontinuity_with_its_own_map() {
        let part = |sequence: u64, stream: u64, discontinuity: u64| LivePart {
            sequence,
            seconds: 1.0,
            at_ms: sequence as i64 * 1000,
            stream,
            discontinuity,
        };
        let text = live(&[part(4, 2, 3), part(5, 2, 3), part(6, 3, 4)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:3\n"), "{text}");
        let disc = lines
            .iter()
            .position(|l| *l == "#EXT-X-DISCONTINUITY")
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(lines[disc + 1], "#EXT-X-MAP:URI=\"init-3.mp4\"");
        assert!(lines[disc + 2..].contains(&"6.m4s"));
        assert!(lines[..disc].contains(&"#EXT-X-MAP:URI=\"init-2.mp4\""));
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
    }
}
