//! Real footage for tests: lavfi runs cut into recording segments, and whether ffmpeg is here.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

/// `count` real segments of `seconds` each, named for base + i·seconds, cut from one ffmpeg run
/// (one keyframe per second, small frames so it is quick).
pub fn write_run(dir: &Path, base: DateTime<Utc>, count: u32, seconds: u32) {
    write_run_at(dir, base, count, seconds, 5);
}

/// [`write_run`] at `fps` frames a second.
pub fn write_run_at(dir: &Path, base: DateTime<Utc>, count: u32, seconds: u32, fps: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "testsrc2=size=160x120:rate={fps}:duration={}",
            count * seconds
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "5",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-f",
            "segment",
            "-segment_time",
            &seconds.to_string(),
            "-reset_timestamps",
            "1",
        ])
        .arg(tmp.path().join("s%05d.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
    name_run(tmp.path(), dir, base, count, seconds);
}

/// Sets when `path` was last written, as a recorder running at another clock would have.
pub fn set_modified(path: &Path, at: DateTime<Utc>) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at.into())
        .unwrap();
}

/// Whether ffmpeg is installed; in CI its absence fails the test instead of skipping it.
pub fn ffmpeg_ready() -> bool {
    let ok = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").is_err(),
        "CI must have ffmpeg (the test command installs it)"
    );
    if !ok {
        eprintln!("skipping: ffmpeg not installed (apt-get install -y ffmpeg)");
    }
    ok
}

/// The test pattern whose frames carry their own number and wall-clock time, as blocks a
/// browser can read back: 320×180; block i (20 px wide) of row 0 is bit i of the frame number,
/// rows 1 and 2 the low and high 16 bits of wall-clock centiseconds (mod 2^32).
/// With `realtime`, frames are made at the pace they are shown (their clock is then true);
/// without, as fast as ffmpeg can (recorded footage made in a blink).
pub fn numbered_source(rate: u32, realtime: bool) -> String {
    let pace = if realtime { "realtime," } else { "" };
    format!(
        "testsrc2=size=320x180:rate={rate},{pace}settb=1/1000,setpts=RTCTIME/1000,\
         geq=lum='255*mod(floor(if(lt(Y\\,60)\\,N\\,if(lt(Y\\,120)\\,mod(floor(T*100)\\,65536)\\,\
         mod(floor(T*100/65536)\\,65536)))/pow(2\\,floor(X/20)))\\,2)':cb=128:cr=128,\
         setpts=N*{}",
        1000 / rate
    )
}

/// `count` fragmented-MP4 segments of `seconds` each cut from one run of the numbered test
/// pattern at 10 frames a second (a keyframe a second), named for base + i·seconds: what the
/// recorder writes.
pub fn write_fragmented_run(dir: &Path, base: DateTime<Utc>, count: u32, seconds: u32) {
    let run = Run {
        gop: 10,
        audio: false,
        pauses: &[],
    };
    fragmented_run(dir, base, (count, seconds), run);
}

/// [`write_fragmented_run`] with a keyframe every `gop` frames: with a GOP longer than a second
/// the recorder writes fragments that start between keyframes.
pub fn write_fragmented_run_with_gop(
    dir: &Path,
    base: DateTime<Utc>,
    (count, seconds): (u32, u32),
    gop: u32,
) {
    let run = Run {
        gop,
        audio: false,
        pauses: &[],
    };
    fragmented_run(dir, base, (count, seconds), run);
}

/// [`write_fragmented_run`] with an AAC audio track beside the video (a camera with a
/// microphone).
pub fn write_fragmented_run_with_audio(dir: &Path, base: DateTime<Utc>, count: u32, seconds: u32) {
    let run = Run {
        gop: 10,
        audio: true,
        pauses: &[],
    };
    fragmented_run(dir, base, (count, seconds), run);
}

/// How [`fragmented_run`] encodes.
struct Run {
    /// Frames from one keyframe to the next.
    gop: u32,
    /// With an AAC track beside the video.
    audio: bool,
    /// Pauses: from frame `.0` on, timestamps run `.1` seconds later (a pause before that
    /// frame), on top of the pauses before.
    pauses: &'static [(u32, u32)],
}

fn fragmented_run(dir: &Path, base: DateTime<Utc>, (count, seconds): (u32, u32), run: Run) {
    let Run { gop, audio, pauses } = run;
    std::fs::create_dir_all(dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(numbered_source(10, false));
    if audio {
        command.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
        command.args(["-map", "0:v", "-map", "1:a", "-c:a", "aac"]);
    }
    command.args(["-t", &(count * seconds).to_string()]).args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        &gop.to_string(),
        "-pix_fmt",
        "yuv420p",
    ]);
    let mut options = heldar::fleet::ffmpeg::record_format_options();
    if !pauses.is_empty() {
        // Ticks of the track's timescale, set with the muxer's options.
        let shifts: Vec<String> = pauses
            .iter()
            .map(|(frame, pause)| format!("if(gte(N\\,{frame})\\,{}\\,0)", pause * 10_240))
            .collect();
        command
            .arg("-bsf:v")
            .arg(format!("setts=ts=TS+{}", shifts.join("+")));
        options.push_str(":video_track_timescale=10240");
    }
    let segment_time = seconds + pauses.iter().map(|(_, pause)| pause).sum::<u32>();
    let status = command
        .args([
            "-f",
            "segment",
            "-segment_time",
            &segment_time.to_string(),
            "-segment_format",
            "mp4",
            "-segment_format_options",
            &options,
            "-reset_timestamps",
            "1",
        ])
        .arg(tmp.path().join("s%05d.mp4"))
        .status()
        .unwrap();
    assert!(status.success());
    name_run(tmp.path(), dir, base, count, seconds);
}

/// One fragmented-MP4 recording named for `base`, as the recorder writes it from a camera that
/// stops sending and later goes on with its clock run on: `seconds` of the numbered pattern (10
/// frames a second, a keyframe a second) with a pause of `.1` seconds before frame `.0` for each
/// of `pauses` (the last frame before a pause lasts that much longer).
pub fn write_fragmented_with_pauses(
    dir: &Path,
    base: DateTime<Utc>,
    seconds: u32,
    pauses: &'static [(u32, u32)],
) {
    let run = Run {
        gop: 10,
        audio: false,
        pauses,
    };
    fragmented_run(dir, base, (1, seconds), run);
}

/// Moves the cut files `s00000.mp4`… of `tmp` into `dir`, named for base + i·seconds as the
/// recorder names them.
fn name_run(tmp: &Path, dir: &Path, base: DateTime<Utc>, count: u32, seconds: u32) {
    for i in 0..count {
        let start = base + chrono::Duration::seconds((i * seconds) as i64);
        std::fs::rename(
            tmp.join(format!("s{i:05}.mp4")),
            dir.join(format!("{}.mp4", start.format("%Y%m%d_%H%M%S"))),
        )
        .unwrap();
    }
}

/// A camera served over RTSP by GStreamer's RTSP server (`tests/cameras/rtsp_camera.py`), as
/// most network cameras are: a GStreamer `pipeline` ending in a payloader named `pay0`, shared
/// by every client. It stops when dropped.
pub struct RtspCamera {
    /// `rtsp://127.0.0.1:<port>/stream`.
    pub url: String,
    server: std::process::Child,
    /// Client connections so far (each a login tried, when the camera asks for one).
    connections: Arc<AtomicUsize>,
}

impl RtspCamera {
    /// How many client connections the camera has had.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Starts the camera; `None` (the test skips) where GStreamer's RTSP server is not
    /// installed, which fails the test in CI (the test command installs it).
    pub fn start(pipeline: &str) -> Option<RtspCamera> {
        Self::start_with_login(pipeline, None)
    }

    /// A small H.264 camera (160×120, 5 pictures a second, a keyframe a second) that asks
    /// for `user` and `password` by digest authentication.
    pub fn with_login(user: &str, password: &str) -> Option<RtspCamera> {
        Self::start_with_login(
            "videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=5/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 \
             ! rtph264pay name=pay0 pt=96",
            Some((user, password)),
        )
    }

    /// The camera's URL with `login` (`user:password`, percent-encoded) in it.
    pub fn url_with(&self, login: &str) -> String {
        self.url.replacen("rtsp://", &format!("rtsp://{login}@"), 1)
    }

    /// [`start`](Self::start) for a camera that asks for `login` (user, password) by digest
    /// authentication, as network cameras do.
    pub fn start_with_login(pipeline: &str, login: Option<(&str, &str)>) -> Option<RtspCamera> {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cameras/rtsp_camera.py");
        // Debian's Python, where its GStreamer bindings are (not a pyenv or venv first on PATH).
        let mut server = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .arg(pipeline)
            .args(
                login
                    .map(|(user, password)| [user, password])
                    .into_iter()
                    .flatten(),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut port = String::new();
        let mut stdout = std::io::BufReader::new(server.stdout.take()?);
        let _ = stdout.read_line(&mut port);
        let Ok(port) = port.trim().parse::<u16>() else {
            let _ = server.kill();
            let _ = server.wait();
            assert!(
                std::env::var("CI").is_err(),
                "CI must have GStreamer's RTSP server (the test command installs it)"
            );
            eprintln!("skipping: no GStreamer RTSP server (scripts/test installs it)");
            return None;
        };
        // Then a line per client connection, counted until the camera stops.
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                match line {
                    Ok(line) if line == "connected" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Some(RtspCamera {
            url: format!("rtsp://127.0.0.1:{port}/stream"),
            server,
            connections,
        })
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
