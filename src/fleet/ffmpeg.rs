//! Every ffmpeg and ffprobe the server runs: argument builders as pure functions (each with an
//! exact-argv test), one way to spawn a child (no stdin, killed when dropped, its stderr tail
//! kept), and the one-shot runs (probe, keyframes, one frame) with their timeouts.
//!
//! Arguments are built from values the server checked (stream URLs through
//! [`crate::cameras::model::StreamUrl`], paths from the database through
//! [`crate::evidence::model::safe_path`]); inputs are whitelisted to `file` where a local file
//! is read.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::error::AppError;

/// Longest stderr line kept (ffmpeg repeats whole URLs and paths in its messages).
pub const MAX_LINE: usize = 1000;

/// How long a one-shot probe or frame extraction may take.
pub const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(20);

fn strings<const N: usize>(args: [&str; N]) -> Vec<String> {
    args.map(String::from).to_vec()
}

/// ffmpeg's input arguments for a stream URL: generated graphs and files in real time, RTSP
/// over TCP with a 15 s timeout and no frame-rate guess, HTTP(S) with a 15 s timeout on each
/// read (a source that answers and then stalls would otherwise hold ffmpeg, and the camera's
/// state, forever).
pub fn input_args(url: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(graph) = url.strip_prefix("lavfi:") {
        // Generated frames need no probing: frames made while ffmpeg probes would be held back
        // for the whole run (`-re` never lets it catch up), each recorded seconds after it was
        // made.
        args.extend(strings([
            "-probesize",
            "32",
            "-analyzeduration",
            "1",
            "-fpsprobesize",
            "0",
            "-re",
            "-f",
            "lavfi",
            "-i",
            graph,
        ]));
    } else if let Some(path) = url.strip_prefix("file://") {
        args.extend(strings(["-re", "-stream_loop", "-1", "-i", path]));
    } else {
        if url.starts_with("rtsp") {
            // The SDP names the codec and usually carries its parameter sets: what ffmpeg
            // still waits for is twenty pictures to guess a frame rate, two seconds before a
            // live view's first picture. Copies keep RTP's timestamps and need no rate; encoded
            // Motion JPEG is given a nominal one (`first_video_track`).
            args.extend(strings([
                "-rtsp_transport",
                "tcp",
                "-timeout",
                "15000000",
                "-fpsprobesize",
                "0",
            ]));
        } else if url.starts_with("http") {
            args.extend(strings(["-rw_timeout", "15000000"]));
        }
        args.extend(["-i".to_owned(), url.to_owned()]);
    }
    args
}

/// What a stream's pictures are, as far as recording and watching them goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pictures {
    /// Copied as they come: H.264 or H.265 with the camera's own timestamps (what RTSP and
    /// MPEG-TS cameras send), or a generated test pattern (encoded anyway).
    #[default]
    Copied,
    /// Motion JPEG: over HTTP (`multipart/x-mixed-replace`: cheap cameras, ESP32 boards,
    /// mjpg-streamer, older network cameras) or RTSP (RTP/JPEG, some cameras' second stream), a
    /// codec no browser plays from MP4; over HTTP the pictures also come with no timestamps.
    /// Copied, an HTTP stream's seconds were stored as ffmpeg's guess of 25 frames a second (a
    /// 5-frame-a-second camera's minute as 12 s of footage), and no MJPEG footage could be
    /// watched. It is encoded as H.264 (a keyframe a second), as a generated pattern is, over
    /// HTTP with each picture stamped as it arrives ([`arrival_clock`]).
    MotionJpeg,
}

/// How long a probe of a stream's pictures may take.
const PICTURES_PROBE_TIMEOUT: Duration = Duration::from_secs(6);

/// What a probe of a stream found: its pictures, a refused login, or nothing it could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// The stream answered with pictures of this kind.
    Pictures(Pictures),
    /// The camera refused the login in the URL ([`login_refused`]): ffprobe's line saying so.
    LoginRefused(String),
    /// It could not tell: the camera is down, busy with its one client, or silent.
    Unknown,
}

/// Asks ffprobe what a camera's stream carries ([`Pictures`]): HTTP(S) and RTSP(S) streams
/// (either may carry Motion JPEG); generated sources and files are [`Pictures::Copied`] without
/// asking. The probe stops at the first pictures it can name, over its own connection (user
/// agent `heldar-probe`, so a camera's log tells it from the recorder; RTSP over TCP, as the
/// recorder reads it), within [`PICTURES_PROBE_TIMEOUT`], and is over before the recorder
/// connects. When it cannot tell, the caller keeps what it knew, and the next start asks again.
pub async fn stream_pictures(ffprobe: &Path, url: &str) -> Probed {
    let transport: &[&str] = if url.starts_with("http") {
        &["-rw_timeout", "5000000"]
    } else if url.starts_with("rtsp") {
        &["-rtsp_transport", "tcp", "-timeout", "5000000"]
    } else {
        return Probed::Pictures(Pictures::Copied);
    };
    let mut args = vec!["-v", "error", "-user_agent", "heldar-probe"];
    args.extend(transport);
    args.extend([
        "-probesize",
        "1000000",
        "-analyzeduration",
        "1",
        "-fpsprobesize",
        "0",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name",
        "-of",
        "csv=p=0",
        url,
    ]);
    let args = args.into_iter().map(OsString::from).collect();
    match one_shot(ffprobe, args, PICTURES_PROBE_TIMEOUT).await {
        Ok((status, stdout, _)) if status.success() => match stdout.trim_ascii() {
            b"mjpeg" => Probed::Pictures(Pictures::MotionJpeg),
            b"" => Probed::Unknown,
            _ => Probed::Pictures(Pictures::Copied),
        },
        Ok((_, _, stderr)) => {
            let stderr = String::from_utf8_lossy(&stderr);
            match stderr.lines().rev().find(|line| login_refused([line])) {
                Some(line) => Probed::LoginRefused(line.trim().to_owned()),
                None => Probed::Unknown,
            }
        }
        _ => Probed::Unknown,
    }
}

/// Whether ffmpeg's (or ffprobe's) stderr says the camera refused the login in the URL: an
/// HTTP or RTSP `401 Unauthorized` (wrong user name or password) or `403 Forbidden` (cameras
/// answer so for a locked account or a user without the right to the stream).
pub fn login_refused<S: AsRef<str>>(stderr: impl IntoIterator<Item = S>) -> bool {
    // ffmpeg ends either with "Server returned 401 Unauthorized (authorization failed)" or
    // "... 403 Forbidden (access denied)"; the lines are read with the URL's password masked,
    // so the words in brackets count too (a password "401" masks the code, not them).
    stderr.into_iter().any(|line| {
        let line = line.as_ref();
        [
            "401 Unauthorized",
            "403 Forbidden",
            "(authorization failed)",
            "(access denied)",
        ]
        .iter()
        .any(|said| line.contains(said))
    })
}

/// Most stream URLs [`KnownStreams`] keeps; past this it starts over (one or two per camera,
/// so this is seldom reached).
const MAX_KNOWN_STREAMS: usize = 4096;

/// What is known of each camera stream, by URL, shared by the processes that read a camera: what
/// it carries ([`stream_pictures`]) and whether it refused our login lately.
///
/// The camera's recorder asks what a stream carries before each start, and the live view and
/// the frame sampler, which start while the recorder runs, take its answer instead of probing
/// the camera again (a probe is a connection of its own and up to [`PICTURES_PROBE_TIMEOUT`]
/// before the first picture; a camera with few client slots may refuse it while the recorder
/// holds one, and a relay started as [`Pictures::Copied`] on such a refusal could not play).
///
/// A refused login is noted, by camera account ([`account`]), by whichever of them met it; the
/// next try is [claimed](Self::claim_try) by one of them when the retry interval has passed,
/// and the others hold back instead of adding failed logins of their own: network cameras lock
/// an account after a handful.
#[derive(Debug, Default)]
pub struct KnownStreams {
    pictures: Mutex<HashMap<String, Pictures>>,
    refused: Mutex<HashMap<String, Instant>>,
}

impl KnownStreams {
    /// Asks the stream and remembers a clear answer; when the probe cannot tell, the last
    /// answer (or [`Pictures::Copied`] for a stream never named). `Err` when the camera
    /// refused the login (noted for the others).
    pub async fn ask(&self, ffprobe: &Path, url: &str) -> Result<Pictures, LoginRefused> {
        match stream_pictures(ffprobe, url).await {
            Probed::Pictures(pictures) => {
                self.remember(url, pictures);
                self.login_accepted(url);
                Ok(pictures)
            }
            Probed::LoginRefused(line) => {
                self.login_refused(url);
                Err(LoginRefused(line))
            }
            Probed::Unknown => Ok(self.known(url).unwrap_or_default()),
        }
    }

    /// What the stream was last found to carry, asking it only when it never was.
    pub async fn known_or_ask(&self, ffprobe: &Path, url: &str) -> Result<Pictures, LoginRefused> {
        match self.known(url) {
            Some(pictures) => Ok(pictures),
            None => self.ask(ffprobe, url).await,
        }
    }

    /// What the stream was last found to carry, without asking it.
    pub fn known(&self, url: &str) -> Option<Pictures> {
        self.pictures.lock().ok()?.get(url).copied()
    }

    fn remember(&self, url: &str, pictures: Pictures) {
        // Other streams are copied without asking: nothing to keep.
        if !url.starts_with("http") && !url.starts_with("rtsp") {
            return;
        }
        if let Ok(mut known) = self.pictures.lock() {
            if known.len() >= MAX_KNOWN_STREAMS && !known.contains_key(url) {
                known.clear();
            }
            known.insert(url.to_owned(), pictures);
        }
    }

    /// Notes that the camera at `url` refused the login in it just now.
    pub fn login_refused(&self, url: &str) {
        let account = account(url);
        if let Ok(mut refused) = self.refused.lock() {
            if refused.len() >= MAX_KNOWN_STREAMS && !refused.contains_key(account) {
                refused.clear();
            }
            refused.insert(account.to_owned(), Instant::now());
        }
    }

    /// Notes that the camera at `url` took the login (or asked for none).
    pub fn login_accepted(&self, url: &str) {
        if let Ok(mut refused) = self.refused.lock() {
            refused.remove(account(url));
        }
    }

    /// How long until `url`'s login may be tried again, when it was refused less than `retry`
    /// ago.
    pub fn refused_for(&self, url: &str, retry: Duration) -> Option<Duration> {
        let at = *self.refused.lock().ok()?.get(account(url))?;
        still_waiting(at, retry)
    }

    /// Whether the caller may try `url`'s login now: `None` when it may (it was never refused,
    /// or its retry is due, in which case the caller takes the try and the other readers wait
    /// another `retry`), else how long until the retry is due. One login a try for all the
    /// readers of a camera account together, whichever stream they read.
    pub fn claim_try(&self, url: &str, retry: Duration) -> Option<Duration> {
        let mut refused = self.refused.lock().ok()?;
        let at = refused.get_mut(account(url))?;
        let left = still_waiting(*at, retry);
        if left.is_none() {
            *at = Instant::now();
        }
        left
    }
}

/// What is left of `retry` since a refusal `at`; `None` once it has passed.
fn still_waiting(at: Instant, retry: Duration) -> Option<Duration> {
    retry
        .checked_sub(at.elapsed())
        .filter(|left| !left.is_zero())
}

/// The account a stream URL logs in to: its scheme, login, host and port (a camera's main
/// and sub streams share it, and cameras lock the account, not the stream).
fn account(url: &str) -> &str {
    // A login holds `/`, `?` and `#` only percent-encoded: the first after `://` ends the host.
    let rest = url.find("://").map_or(0, |at| at + 3);
    url[rest..]
        .find(['/', '?', '#'])
        .map_or(url, |end| &url[..rest + end])
}

/// The camera refused the login in the stream's URL (HTTP or RTSP 401 or 403): the line of
/// ffprobe's that said so, the URL's password masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRefused(pub String);

impl std::fmt::Display for LoginRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the camera refused the login in its URL: {}", self.0)
    }
}

/// Whether the stream is Motion JPEG over HTTP, whose pictures carry no timestamps: they are
/// stamped as they arrive ([`arrival_clock`]).
fn stamped_on_arrival(url: &str, pictures: Pictures) -> bool {
    pictures == Pictures::MotionJpeg && url.starts_with("http")
}

/// The filters that stamp Motion JPEG's pictures with the time they reach them (decoded), in a
/// 90 kHz time base, counted from `origin` (when the arguments are built, just before ffmpeg
/// starts). The multipart demuxer has no timestamps, and stamping there
/// (`-use_wallclock_as_timestamps`) rounds each arrival to its 1/25 s time base, so a camera
/// sending more than 25 pictures a second had pictures stamped on the same tick (nudged one
/// tick apart by the muxer, with a warning each): a 30 fps camera's footage played a picture
/// in six twice over in the same instant and then stood still for 40 ms. The origin is fixed in
/// the arguments, not the filter's own start (`RTCSTART`), which ffmpeg resets whenever it
/// rebuilds the filters (a camera switched to another picture size while it streams): the
/// pictures after it would go back to zero, behind everything recorded before them.
fn arrival_clock(origin: SystemTime) -> String {
    let origin = origin
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    format!("settb=1/90000,setpts=(RTCTIME-{origin})*9/100")
}

/// The stream's first video track, copied; a generated test pattern is raw video and Motion
/// JPEG is no codec to keep, so they are encoded once (H.264, a keyframe a second; Motion JPEG's
/// pictures keep their times: RTP's over RTSP, their arrival over HTTP, [`arrival_clock`]).
fn first_video_track(url: &str, pictures: Pictures) -> Vec<String> {
    let mut args = strings(["-map", "0:v:0"]);
    if stamped_on_arrival(url, pictures) {
        args.extend(["-vf".to_owned(), arrival_clock(SystemTime::now())]);
    }
    if url.starts_with("lavfi:") || pictures == Pictures::MotionJpeg {
        args.extend(strings([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-force_key_frames",
            "expr:gte(t,n_forced*1)",
        ]));
        if pictures == Pictures::MotionJpeg {
            // Each picture keeps its time (none dropped or repeated to fit a rate), in 90 kHz;
            // the nominal rate is only what the encoder is told (its level, its VUI): without
            // it an RTSP stream's rate is its 90 kHz clock, level 6.2 H.264 that hardware
            // decoders refuse.
            args.extend(strings([
                "-fps_mode",
                "passthrough",
                "-r",
                "25",
                "-enc_time_base",
                "1:90000",
            ]));
        }
    } else {
        args.extend(strings(["-c", "copy"]));
    }
    args
}

/// The longest forward jump in an input's timestamps (seconds) the recorder keeps, passed as
/// `-dts_delta_threshold`: the longest pause it lives through, the health monitor's
/// [`stale_after`](crate::footage::health::stale_after) for the camera's segment length. For
/// inputs whose timestamps may jump (MPEG-TS, FLV: HTTP cameras) ffmpeg by default closes up
/// any jump over 10 s, as if the frames after a camera's pause had come straight after those
/// before it: every later frame of the recording would be stamped the pause's length too early.
/// A longer jump is no pause the recorder outlived (the monitor restarts it sooner): an encoder
/// that restarted its clock, closed up as before; so are backward jumps (the muxer needs rising
/// timestamps). Never so long that the file holding the pause would run past the longest span
/// the indexer takes ([`MAX_SEGMENT_SPAN`](crate::footage::store::MAX_SEGMENT_SPAN)): files are
/// cut on the wall clock, which goes on through a pause, so the file holds what came before the
/// pause, the pause, and what comes after it up to the next boundary, at most a segment and the
/// pause (when the pause hides a boundary from the muxer, which sees the clock's phase after it
/// no lower than before, the file runs on to the next one: still no more than that).
pub fn kept_forward_jump(segment_seconds: i32) -> i64 {
    let stale = crate::footage::health::stale_after(segment_seconds).num_seconds();
    let room = crate::footage::store::MAX_SEGMENT_SPAN.num_seconds()
        - i64::from(segment_seconds.max(2))
        - 60;
    stale.min(room).max(10)
}

/// The longest fragment the recorder writes, in microseconds: a long GOP is written a second at
/// a time (fragments that start between keyframes are fine in fragmented MP4; clips and
/// previews start at a fragment that starts with a keyframe).
pub const RECORD_FRAGMENT: u32 = 1_000_000;

/// The MP4 muxer's options for a recording file (`-segment_format_options`): fragmented, a
/// fragment at each keyframe and at least every [`RECORD_FRAGMENT`], each written out at once.
/// Benchmarks and tests that make recordings use them too.
pub fn record_format_options() -> String {
    format!(
        "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration={RECORD_FRAGMENT}:flush_packets=1"
    )
}

/// The recorder: copy the stream's first video track (a generated test pattern and Motion JPEG
/// are encoded once, with a keyframe a second: [`Pictures`]) into fragmented MP4 segments named
/// by their UTC start.
///
/// Files are cut at the first keyframe after each multiple of the segment length on the wall
/// clock (`-segment_atclocktime`), not on the stream's timestamps: names have whole seconds,
/// and cutting on timestamps opens several files in one second whenever timestamps run ahead
/// of the clock (the seconds ffmpeg reads while probing a network stream, written at once; the
/// catch-up after a kept jump, a file per keyframe), each replacing the one before it.
///
/// A fragment is written at each keyframe and at least every second ([`RECORD_FRAGMENT`]), and
/// flushed to the file at once: a camera with a long GOP (a dynamic GOP stretches it to a minute
/// on a still scene) would otherwise leave its open file untouched from one keyframe to the
/// next, which the health monitor takes for a stalled recorder and the indexer for a finished
/// file, and a crash would lose the whole GOP held in ffmpeg's memory.
///
/// A forward jump in the camera's timestamps is kept ([`kept_forward_jump`]): it is a pause
/// (the camera stopped sending and went on), which the indexer finds in the file and reports.
pub fn record_args(url: &str, pictures: Pictures, segment_seconds: i32, dir: &Path) -> Vec<String> {
    let mut args = strings(["-nostdin", "-hide_banner", "-loglevel", "warning", "-y"]);
    let kept = kept_forward_jump(segment_seconds).to_string();
    args.extend(strings(["-dts_delta_threshold", &kept]));
    args.extend(input_args(url));
    args.extend(first_video_track(url, pictures));
    args.extend(strings([
        "-f",
        "segment",
        "-segment_time",
        &segment_seconds.max(2).to_string(),
        "-segment_format",
        "mp4",
        "-segment_format_options",
        &record_format_options(),
        "-segment_atclocktime",
        "1",
        "-reset_timestamps",
        "1",
        "-strftime",
        "1",
    ]));
    args.push(dir.join("%Y%m%d_%H%M%S.mp4").display().to_string());
    args
}

/// A live relay: the stream's first video track as fragmented MP4 on stdout, a fragment at
/// each keyframe and at least every 200 ms, flushed at once (a generated test pattern is
/// encoded with a keyframe a second, as the recorder does, and so is Motion JPEG; real
/// cameras are copied).
pub fn live_args(url: &str, pictures: Pictures) -> Vec<String> {
    let mut args = strings(["-nostdin", "-hide_banner", "-loglevel", "warning"]);
    if !url.starts_with("lavfi:") {
        args.extend(strings(["-fflags", "nobuffer", "-flags", "low_delay"]));
    }
    args.extend(input_args(url));
    args.extend(first_video_track(url, pictures));
    if url.starts_with("lavfi:") {
        // Frames leave as they come, however irregular a paced test source is.
        args.extend(strings(["-fps_mode", "passthrough"]));
    }
    args.extend(strings([
        "-f",
        "mp4",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof",
        "-frag_duration",
        "200000",
        "-flush_packets",
        "1",
        "pipe:1",
    ]));
    args
}

/// The frame sampler: decode, drop audio, resample the rate, scale, and keep replacing one
/// JPEG atomically. Motion JPEG over HTTP is stamped as it arrives ([`arrival_clock`]), so
/// the rate is resampled from its real pace.
pub fn sample_args(url: &str, pictures: Pictures, fps: f64, width: i32, out: &Path) -> Vec<String> {
    let mut args = strings(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    args.extend(input_args(url));
    let clock = if stamped_on_arrival(url, pictures) {
        format!("{},", arrival_clock(SystemTime::now()))
    } else {
        String::new()
    };
    args.extend([
        "-an".to_owned(),
        "-vf".to_owned(),
        format!("{clock}fps={fps:.3},scale={width}:-2"),
    ]);
    args.extend(strings([
        "-q:v",
        "5",
        "-f",
        "image2",
        "-update",
        "1",
        "-atomic_writing",
        "1",
    ]));
    args.push(out.display().to_string());
    args
}

/// A clip export: the concat demuxer over a list the server wrote, stream copy, fragmented
/// MP4 written strictly in order (so it can be hashed while written), progress on stdout.
pub fn concat_args(list: &Path, out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file",
        "-f",
        "concat",
        "-safe",
        "1",
        "-i",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(list.into());
    args.extend(
        [
            "-map",
            "0",
            "-c",
            "copy",
            "-avoid_negative_ts",
            "make_zero",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-progress",
            "pipe:1",
            "-nostats",
            "-f",
            "mp4",
            "-y",
        ]
        .map(OsString::from),
    );
    args.push(out.into());
    args
}

/// One frame at `offset` seconds into `file`, as a JPEG.
pub fn frame_args(file: &Path, offset: f64, out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file",
        "-ss",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(format!("{offset:.3}").into());
    args.push("-i".into());
    args.push(file.into());
    args.extend(
        [
            "-frames:v",
            "1",
            "-q:v",
            "3",
            "-f",
            "image2",
            "-c:v",
            "mjpeg",
            "-y",
        ]
        .map(OsString::from),
    );
    args.push(out.into());
    args
}

/// ffprobe: duration, codec, size and rate of a file's first video stream, as JSON.
pub fn probe_args(file: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "format=duration:stream=codec_name,width,height,avg_frame_rate",
        "-of",
        "json",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(file.into());
    args
}

/// ffprobe: keyframe times up to `until` + 1 s, and the file's start time, as JSON.
pub fn keyframe_args(file: &Path, until: f64) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-skip_frame",
        "nokey",
        "-show_entries",
        "frame=pts_time:format=start_time",
        "-of",
        "json",
        "-read_intervals",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(format!("%{:.3}", until + 1.0).into());
    args.push(file.into());
    args
}

/// The passwords a child's output must never show: those of the URLs among its arguments,
/// as written and percent-decoded.
fn secrets_in(args: &[OsString]) -> Vec<String> {
    let mut secrets = Vec::new();
    for arg in args {
        let Some(url) = arg.to_str().and_then(|a| url::Url::parse(a).ok()) else {
            continue;
        };
        if let Some(password) = url.password().filter(|p| !p.is_empty()) {
            secrets.push(password.to_owned());
            secrets.push(percent_decoded(password));
        }
    }
    secrets.retain(|s| !s.is_empty());
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// `%XX` escapes decoded (as ffmpeg decodes a URL's user information before it uses it).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with the password of every URL in it replaced by `***` (`rtsp://user:***@host/…`),
/// and every one of `secrets` too wherever it appears on its own. Child-process output goes
/// through here before anything keeps it: camera status, sampler errors, events and the log.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(sign) => {
                let userinfo = &authority[..sign];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[sign..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// The last lines a child wrote to stderr.
#[derive(Debug, Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A running child process: killed when dropped; its stderr tail kept while it runs.
#[derive(Debug)]
pub struct Running {
    /// The process.
    pub child: Child,
    /// Its stdout, when asked for.
    pub stdout: Option<ChildStdout>,
    /// The last lines of its stderr.
    pub stderr: StderrTail,
    /// The task reading stderr; it ends at end of file, once the child has exited.
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The last lines of stderr once the child has exited: waits (briefly) for the reader to
    /// take in what the child wrote last.
    pub async fn final_stderr(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
        }
        self.stderr.lines()
    }
}

/// Spawns `program` with `args`: no stdin, stdout piped only when `stdout` is true, stderr's
/// last `keep` lines (each cut to [`MAX_LINE`] characters) kept, killed when dropped, times in
/// UTC.
pub fn spawn<I, S>(program: &Path, args: I, stdout: bool, keep: usize) -> std::io::Result<Running>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let secrets = secrets_in(&args);
    let mut child = Command::new(program)
        .args(&args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .stdout(if stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let tail = StderrTail::default();
    let mut reader = None;
    if let Some(stderr) = child.stderr.take() {
        let lines = tail.0.clone();
        reader = Some(tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(mut lines) = lines.lock() {
                    if lines.len() == keep.max(1) {
                        lines.pop_front();
                    }
                    let line = redact(&line, &secrets);
                    lines.push_back(line.chars().take(MAX_LINE).collect());
                }
            }
        }));
    }
    let stdout = child.stdout.take();
    Ok(Running {
        child,
        stdout,
        stderr: tail,
        reader,
    })
}

/// Why a one-shot command produced nothing.
#[derive(Debug)]
enum OneShotError {
    /// It could not be started.
    Spawn(std::io::Error),
    /// It ran past its time and was killed.
    TimedOut,
}

/// Runs a one-shot command to its end within `timeout`: its exit status, stdout and stderr.
async fn one_shot(
    program: &Path,
    args: Vec<OsString>,
    timeout: Duration,
) -> Result<(ExitStatus, Vec<u8>, Vec<u8>), OneShotError> {
    let secrets = secrets_in(&args);
    let run = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| OneShotError::TimedOut)?
        .map_err(OneShotError::Spawn)?;
    let stderr = redact(&String::from_utf8_lossy(&output.stderr), &secrets).into_bytes();
    Ok((output.status, output.stdout, stderr))
}

/// What ffprobe says about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Duration in seconds.
    pub duration: f64,
    /// Video codec.
    pub codec: Option<String>,
    /// Width in pixels.
    pub width: Option<i32>,
    /// Height in pixels.
    pub height: Option<i32>,
    /// Average frame rate.
    pub fps: Option<f64>,
}

/// Probes a file with ffprobe (20 s timeout); `None` means "try again next pass".
pub async fn probe(ffprobe: &Path, file: &Path) -> Option<Probe> {
    let (status, stdout, _) = one_shot(ffprobe, probe_args(file), ONE_SHOT_TIMEOUT)
        .await
        .ok()?;
    if !status.success() {
        return None;
    }
    parse_probe(&serde_json::from_slice(&stdout).ok()?)
}

fn parse_probe(json: &Json) -> Option<Probe> {
    let duration: f64 = json["format"]["duration"].as_str()?.parse().ok()?;
    let stream = &json["streams"][0];
    let fps = stream["avg_frame_rate"].as_str().and_then(|r| {
        let (n, d) = r.split_once('/')?;
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (d > 0.0).then_some(n / d)
    });
    Some(Probe {
        duration,
        codec: stream["codec_name"].as_str().map(str::to_owned),
        width: stream["width"].as_i64().map(|v| v as i32),
        height: stream["height"].as_i64().map(|v| v as i32),
        fps,
    })
}

/// Keyframe times (seconds from the file's start) up to `until` + 1 s.
pub async fn keyframes(ffprobe: &Path, file: &Path, until: f64) -> Option<Vec<f64>> {
    let (_, stdout, _) = one_shot(ffprobe, keyframe_args(file, until), ONE_SHOT_TIMEOUT)
        .await
        .ok()?;
    let json: Json = serde_json::from_slice(&stdout).ok()?;
    let start: f64 = json["format"]["start_time"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    Some(
        json["frames"]
            .as_array()?
            .iter()
            .filter_map(|f| f["pts_time"].as_str()?.parse::<f64>().ok())
            .map(|t| t - start)
            .collect(),
    )
}

/// Extracts the frame at `offset` seconds into `file` as a JPEG at `out` (written to a
/// `.part` file first, then renamed).
pub async fn capture_frame(
    ffmpeg: &Path,
    file: &Path,
    offset: f64,
    out: &Path,
) -> Result<(), AppError> {
    let part = out.with_extension("jpg.part");
    let (status, _, stderr) =
        match one_shot(ffmpeg, frame_args(file, offset, &part), ONE_SHOT_TIMEOUT).await {
            Ok(output) => output,
            Err(OneShotError::TimedOut) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(AppError::Unavailable(
                    "the frame took over 20 s to extract".into(),
                ));
            }
            Err(OneShotError::Spawn(err)) => return Err(AppError::internal(err)),
        };
    let size = tokio::fs::metadata(&part)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if !status.success() || size == 0 {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(AppError::internal(format!(
            "ffmpeg could not extract a frame: {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    tokio::fs::rename(&part, out)
        .await
        .map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::{KnownStreams, account};
    use std::time::Duration;

    #[test]
    fn a_camera_account_is_its_scheme_login_host_and_port() {
        let main = "rtsp://admin:p%40ss%2F1@10.0.0.5:554/Streaming/Channels/101?transport=tcp";
        let sub = "rtsp://admin:p%40ss%2F1@10.0.0.5:554/Streaming/Channels/102";
        assert_eq!(account(main), "rtsp://admin:p%40ss%2F1@10.0.0.5:554");
        assert_eq!(account(main), account(sub));
        assert_ne!(
            account(main),
            account("rtsp://viewer:x@10.0.0.5:554/Streaming/Channels/101")
        );
        assert_eq!(account("http://cam.local?x=1"), "http://cam.local");
        assert_eq!(account("http://cam.local"), "http://cam.local");
    }

    #[test]
    fn one_reader_takes_the_retry_of_a_refused_login_and_the_others_wait() {
        let streams = KnownStreams::default();
        let (main, sub) = ("rtsp://u:p@cam:554/main", "rtsp://u:p@cam:554/sub");
        let retry = Duration::from_secs(60);
        assert_eq!(streams.claim_try(main, retry), None, "never refused");
        streams.login_refused(main);
        assert!(
            streams.claim_try(sub, retry).is_some(),
            "the same account waits"
        );
        assert!(streams.refused_for(main, retry).is_some());
        // Due (a retry of nothing has passed): this reader takes it, the others wait again.
        assert_eq!(streams.claim_try(main, Duration::ZERO), None);
        assert!(
            streams.claim_try(sub, retry).is_some(),
            "the others wait again"
        );
        streams.login_accepted(sub);
        assert_eq!(streams.claim_try(main, retry), None);
        assert_eq!(streams.refused_for(main, retry), None);
    }

    #[test]
    fn redact_hides_url_passwords_and_known_secrets() {
        let args: Vec<std::ffi::OsString> = vec![
            "-i".into(),
            "rtsp://cam:p%40ss-Word@10.0.0.5:554/live".into(),
        ];
        let secrets = super::secrets_in(&args);
        assert_eq!(secrets, ["p%40ss-Word", "p@ss-Word"]);
        assert_eq!(
            super::redact(
                "rtsp://cam:p%40ss-Word@10.0.0.5:554/live: 401 (p@ss-Word) http://a@b/ x://u:v@w",
                &secrets
            ),
            "rtsp://cam:***@10.0.0.5:554/live: 401 (***) http://a@b/ x://u:***@w"
        );
        assert_eq!(super::redact("no url here", &[]), "no url here");
    }

    use super::*;

    fn os(args: &[OsString]) -> Vec<&str> {
        args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn inputs_read_generated_graphs_and_files_in_real_time_and_rtsp_over_tcp() {
        assert_eq!(
            input_args("lavfi:testsrc"),
            [
                "-probesize",
                "32",
                "-analyzeduration",
                "1",
                "-fpsprobesize",
                "0",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc"
            ]
        );
        assert_eq!(
            input_args("file:///v/a.mp4"),
            ["-re", "-stream_loop", "-1", "-i", "/v/a.mp4"]
        );
        assert_eq!(
            input_args("rtsp://cam/s"),
            [
                "-rtsp_transport",
                "tcp",
                "-timeout",
                "15000000",
                "-fpsprobesize",
                "0",
                "-i",
                "rtsp://cam/s"
            ]
        );
        assert_eq!(
            input_args("http://cam/s"),
            ["-rw_timeout", "15000000", "-i", "http://cam/s"]
        );
    }

    #[test]
    fn the_recorder_copies_a_camera_into_fragmented_segments() {
        let args = record_args(
            "rtsp://cam/s",
            Pictures::Copied,
            60,
            Path::new("/d/rec/cam"),
        );
        assert_eq!(
            args,
            [
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "warning",
                "-y",
                "-dts_delta_threshold",
                "180",
                "-rtsp_transport",
                "tcp",
                "-timeout",
                "15000000",
                "-fpsprobesize",
                "0",
                "-i",
                "rtsp://cam/s",
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-f",
                "segment",
                "-segment_time",
                "60",
                "-segment_format",
                "mp4",
                "-segment_format_options",
                "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=1000000:flush_packets=1",
                "-segment_atclocktime",
                "1",
                "-reset_timestamps",
                "1",
                "-strftime",
                "1",
                "/d/rec/cam/%Y%m%d_%H%M%S.mp4",
            ]
        );
    }

    #[test]
    fn forward_jumps_are_kept_up_to_the_stale_limit_within_the_longest_segment() {
        assert_eq!(kept_forward_jump(2), 30);
        assert_eq!(kept_forward_jump(60), 180);
        // An hour's segments: not 3 h (the stale limit) but what fits in 2 h with the segment.
        assert_eq!(kept_forward_jump(3600), 3540);
    }

    #[test]
    fn the_arrival_clock_counts_from_a_fixed_origin() {
        let origin = SystemTime::UNIX_EPOCH + Duration::from_micros(1_500_000);
        assert_eq!(
            arrival_clock(origin),
            "settb=1/90000,setpts=(RTCTIME-1500000)*9/100"
        );
    }

    #[test]
    fn motion_jpeg_is_stamped_on_arrival_at_90_khz_and_encoded() {
        let args = record_args(
            "http://cam/video.mjpg",
            Pictures::MotionJpeg,
            10,
            Path::new("/d"),
        );
        let at = |a: &str| args.iter().position(|x| x == a).unwrap();
        let clock = &args[at("-vf") + 1];
        assert!(
            clock.starts_with("settb=1/90000,setpts=(RTCTIME-"),
            "{clock}"
        );
        assert!(at("-vf") > at("-i"));
        assert_eq!(args[at("-enc_time_base") + 1], "1:90000");
        assert_eq!(args[at("-c:v") + 1], "libx264");
        assert_eq!(args[at("-fps_mode") + 1], "passthrough");
        let live = live_args("http://cam/video.mjpg", Pictures::MotionJpeg);
        assert!(
            live.iter()
                .any(|a| a.starts_with("settb=1/90000,setpts=(RTCTIME-"))
        );
        assert!(live.contains(&"libx264".to_owned()));
        let sampled = sample_args(
            "http://cam/video.mjpg",
            Pictures::MotionJpeg,
            2.0,
            640,
            Path::new("/f.jpg"),
        );
        let filters = &sampled[sampled.iter().position(|a| a == "-vf").unwrap() + 1];
        assert!(
            filters.starts_with("settb=1/90000,setpts=(RTCTIME-"),
            "{filters}"
        );
        assert!(
            filters.ends_with(")*9/100,fps=2.000,scale=640:-2"),
            "{filters}"
        );
        // RTP carries each picture's time: encoded, not stamped again.
        let rtsp = record_args(
            "rtsp://cam/mjpeg",
            Pictures::MotionJpeg,
            10,
            Path::new("/d"),
        );
        assert!(rtsp.contains(&"libx264".to_owned()));
        assert!(!rtsp.contains(&"-vf".to_owned()));
        let at = |a: &str| rtsp.iter().position(|x| x == a).unwrap();
        assert_eq!(
            rtsp[at("-r") + 1],
            "25",
            "a nominal rate for the encoder's level"
        );
        assert_eq!(rtsp[at("-enc_time_base") + 1], "1:90000");
        assert!(
            at("-r") > at("-i"),
            "an output option: the input keeps its times"
        );
        let copied = record_args("http://cam/live.ts", Pictures::Copied, 10, Path::new("/d"));
        assert!(!copied.contains(&"-vf".to_owned()));
        assert!(!copied.contains(&"libx264".to_owned()));
    }

    #[test]
    fn a_generated_source_is_encoded_with_a_keyframe_a_second() {
        let args = record_args("lavfi:testsrc", Pictures::Copied, 1, Path::new("/d"));
        let encode = args.iter().position(|a| a == "-c:v").unwrap();
        assert_eq!(args[encode + 1], "libx264");
        assert!(args.contains(&"expr:gte(t,n_forced*1)".to_owned()));
        let time = args.iter().position(|a| a == "-segment_time").unwrap();
        assert_eq!(args[time + 1], "2", "segments are at least 2 s");
    }

    #[test]
    fn the_sampler_scales_and_replaces_one_jpeg() {
        let args = sample_args(
            "rtsp://cam/s",
            Pictures::Copied,
            5.0,
            640,
            Path::new("/d/latest_sub.jpg"),
        );
        assert_eq!(
            args,
            [
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-rtsp_transport",
                "tcp",
                "-timeout",
                "15000000",
                "-fpsprobesize",
                "0",
                "-i",
                "rtsp://cam/s",
                "-an",
                "-vf",
                "fps=5.000,scale=640:-2",
                "-q:v",
                "5",
                "-f",
                "image2",
                "-update",
                "1",
                "-atomic_writing",
                "1",
                "/d/latest_sub.jpg",
            ]
        );
    }

    #[test]
    fn an_export_concatenates_with_stream_copy_and_reports_progress() {
        let args = concat_args(
            Path::new("/r/clip_1.ffconcat"),
            Path::new("/e/clip_1.mp4.part"),
        );
        assert_eq!(
            os(&args),
            [
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-protocol_whitelist",
                "file",
                "-f",
                "concat",
                "-safe",
                "1",
                "-i",
                "/r/clip_1.ffconcat",
                "-map",
                "0",
                "-c",
                "copy",
                "-avoid_negative_ts",
                "make_zero",
                "-movflags",
                "frag_keyframe+empty_moov+default_base_moof",
                "-progress",
                "pipe:1",
                "-nostats",
                "-f",
                "mp4",
                "-y",
                "/e/clip_1.mp4.part",
            ]
        );
    }

    #[test]
    fn a_snapshot_seeks_then_takes_one_frame() {
        let args = frame_args(Path::new("/r/a.mp4"), 2.5, Path::new("/s/x.jpg.part"));
        assert_eq!(
            os(&args),
            [
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "error",
                "-protocol_whitelist",
                "file",
                "-ss",
                "2.500",
                "-i",
                "/r/a.mp4",
                "-frames:v",
                "1",
                "-q:v",
                "3",
                "-f",
                "image2",
                "-c:v",
                "mjpeg",
                "-y",
                "/s/x.jpg.part",
            ]
        );
    }

    #[test]
    fn probes_ask_for_exactly_what_they_read() {
        assert_eq!(
            os(&probe_args(Path::new("/r/a.mp4"))),
            [
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "format=duration:stream=codec_name,width,height,avg_frame_rate",
                "-of",
                "json",
                "/r/a.mp4",
            ]
        );
        assert_eq!(
            os(&keyframe_args(Path::new("/r/a.mp4"), 4.0)),
            [
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-skip_frame",
                "nokey",
                "-show_entries",
                "frame=pts_time:format=start_time",
                "-of",
                "json",
                "-read_intervals",
                "%5.000",
                "/r/a.mp4",
            ]
        );
    }

    #[test]
    fn a_probe_reads_duration_codec_size_and_rate() {
        let json = serde_json::json!({
            "format": {"duration": "60.040000"},
            "streams": [{"codec_name": "h264", "width": 1280, "height": 720, "avg_frame_rate": "25/1"}],
        });
        let probe = parse_probe(&json).unwrap();
        assert_eq!(probe.duration, 60.04);
        assert_eq!(probe.codec.as_deref(), Some("h264"));
        assert_eq!((probe.width, probe.height), (Some(1280), Some(720)));
        assert_eq!(probe.fps, Some(25.0));
        assert!(parse_probe(&serde_json::json!({"format": {}})).is_none());
    }
}
