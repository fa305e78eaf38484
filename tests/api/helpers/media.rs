//! Real footage for tests: lavfi runs cut into recording segments, and whether ffmpeg is here.

use std::path::Path;

use chrono::{DateTime, Utc};

/// `count` real segments of `seconds` each, named for base + i·seconds, cut from one ffmpeg run
/// (one keyframe per second, small frames so it is quick).
pub fn write_run(dir: &Path, base: DateTime<Utc>, count: u32, seconds: u32) {
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
            "testsrc2=size=160x120:rate=5:duration={}",
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
    for i in 0..count {
        let start = base + chrono::Duration::seconds((i * seconds) as i64);
        std::fs::rename(
            tmp.path().join(format!("s{i:05}.mp4")),
            dir.join(format!("{}.mp4", start.format("%Y%m%d_%H%M%S"))),
        )
        .unwrap();
    }
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
