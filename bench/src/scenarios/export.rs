//! `export`: one-hour clip exports against a raw `ffmpeg -f concat -c copy` of the same files, and
//! footage queries while exports run.

use std::time::{Duration, Instant};

use crate::harness::stats::{median, percentile};
use crate::scenarios::footage::time_query;
use crate::{BenchError, Options};

/// Waits until every export of `ids` is READY (an error if one fails).
pub(crate) async fn wait_final(
    updates: &mut tokio::sync::broadcast::Receiver<entity::clip_export::Model>,
    ids: &[&str],
) -> Result<(), BenchError> {
    let mut pending: Vec<&str> = ids.to_vec();
    while !pending.is_empty() {
        match updates.recv().await {
            Ok(row) if pending.contains(&row.id.as_str()) && row.status.is_final() => {
                if row.status != entity::vocab::ClipStatus::Ready {
                    return Err(
                        format!("export {} ended {}: {:?}", row.id, row.status, row.error).into(),
                    );
                }
                pending.retain(|id| *id != row.id);
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                return Err("missed export updates".into());
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Queues an export through the schema; its id.
pub(crate) async fn queue_export(
    schema: &heldar::schema::HeldarSchema,
    principal: &heldar::auth::principal::Principal,
    from: chrono::DateTime<chrono::Utc>,
    seconds: i64,
) -> Result<String, BenchError> {
    let query = format!(
        r#"mutation {{ exportClip(input: {{cameraId: "bench", from: "{}", to: "{}"}}) {{ id }} }}"#,
        from.to_rfc3339(),
        (from + chrono::Duration::seconds(seconds)).to_rfc3339()
    );
    let request = async_graphql::Request::new(query).data(
        heldar::auth::principal::RequestAuth::Authenticated(principal.clone()),
    );
    let response = schema.execute(request).await;
    if !response.errors.is_empty() {
        return Err(format!("{:?}", response.errors).into());
    }
    let data = response.data.into_json()?;
    Ok(data["exportClip"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

pub(crate) async fn export(options: &Options) -> Result<String, BenchError> {
    use sea_orm::{ActiveModelTrait, Set};
    let dir = std::env::temp_dir().join(format!("heldar-bench-export-{}", std::process::id()));
    let mut config = heldar::config::Config::for_tests(&dir);
    config.index_settle_ms = 0;
    config.media_jobs = 2;
    // The coverage queries below come from one credential as fast as they can.
    config.rate_limit_per_sec = 100_000_000;
    config.rate_limit_burst = 100_000_000;
    let state = heldar::app::admin_state(config).await?;
    heldar::evidence::exports::recover(&state).await?;
    let now = chrono::Utc::now();
    entity::camera::ActiveModel {
        id: Set("bench".into()),
        name: Set("Bench".into()),
        stream_url: Set("rtsp://127.0.0.1:9/none".into()),
        sub_stream_url: Set(None),
        record_sub: Set(false),
        enabled: Set(true),
        record_enabled: Set(false),
        segment_seconds: Set(2),
        retention_hours: Set(24 * 400),
        storage_quota_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    // One hour of 640x360 at 15 fps and 2 Mb/s, cut into 60 one-minute files as the recorder would.
    let base = chrono::DateTime::from_timestamp(now.timestamp() - 7200, 0).unwrap_or(now);
    let cam_dir = dir.join("recordings/bench");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&cam_dir)?;
    std::fs::create_dir_all(&scratch)?;
    let generated = Instant::now();
    let status = crate::harness::ffmpeg::ffmpeg()
        .args(["-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=15:duration=3600")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-b:v",
            "2M",
        ])
        .args(["-maxrate", "2M", "-bufsize", "4M", "-pix_fmt", "yuv420p"])
        .args([
            "-f",
            "segment",
            "-segment_time",
            "60",
            // The recorder's own file format (fragmented MP4, a fragment at each keyframe and at
            // least every second).
            "-segment_format",
            "mp4",
            "-segment_format_options",
            &heldar::fleet::ffmpeg::record_format_options(),
            "-reset_timestamps",
            "1",
        ])
        .arg(scratch.join("s%03d.mp4"))
        .status()
        .await?;
    if !status.success() {
        return Err("ffmpeg could not generate the footage".into());
    }
    let mut files = Vec::new();
    for i in 0..60 {
        let start = base + chrono::Duration::seconds(i * 60);
        let path = cam_dir.join(format!("{}.mp4", start.format("%Y%m%d_%H%M%S")));
        std::fs::rename(scratch.join(format!("s{i:03}.mp4")), &path)?;
        files.push(path);
    }
    println!(
        "generated 60 × 60 s in {:.1} s",
        generated.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let indexed = heldar::footage::indexer::index_once(&state).await?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    println!("indexed {indexed} segments, {:.0} MB", bytes as f64 / 1e6);
    let runner = tokio::spawn(heldar::evidence::exports::run(state.clone()));
    let schema = heldar::schema::build_schema(
        Some(state.clone()),
        heldar::schema::SchemaLimits {
            max_depth: 64,
            max_complexity: 100_000,
            introspection: true,
        },
    );
    let principal = heldar::auth::principal::Principal {
        id: "bench".into(),
        name: "bench".into(),
        role: heldar::auth::principal::Role::Admin,
        kind: heldar::auth::principal::PrincipalKind::User,
        scope: heldar::auth::principal::CameraScope::All,
        session_id: "bench".into(),
        expires_at: now + chrono::Duration::days(1),
    };
    let list = scratch.join("raw.txt");
    std::fs::write(
        &list,
        files
            .iter()
            .map(|f| format!("file '{}'\n", f.display()))
            .collect::<String>(),
    )?;
    // Each setting in turn: the whole process (the runner, its hashing, the ffmpeg it starts)
    // and the raw ffmpeg on both cores, then all of it pinned to one.
    let mut settings = Vec::new();
    // The first hour-long clip is checked against the raw copy: same duration to the frame.
    let (mut raw_duration, mut method) = (String::new(), String::new());
    for cores in ["0,1", "1"] {
        pin_process(cores).await?;
        let (mut raw, mut job, mut short) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..options.rounds {
            let out = scratch.join("raw.mp4");
            let started = Instant::now();
            let status = crate::harness::ffmpeg::ffmpeg()
                .args(["-f", "concat", "-safe", "0", "-i"])
                .arg(&list)
                .args(["-c", "copy"])
                .arg(&out)
                .status()
                .await?;
            raw.push(started.elapsed().as_secs_f64());
            if !status.success() {
                return Err("raw ffmpeg concat failed".into());
            }
            if raw_duration.is_empty() {
                raw_duration = duration_of(&out).await?;
            }
            let _ = std::fs::remove_file(&out);
            let mut updates = state.media.updates.subscribe();
            let started = Instant::now();
            let id = queue_export(&schema, &principal, base, 3600).await?;
            wait_final(&mut updates, &[&id]).await?;
            job.push(started.elapsed().as_secs_f64());
            if method.is_empty() {
                method = check_clip(&dir, &id, &raw_duration).await?;
            }
            let started = Instant::now();
            let id5 = queue_export(
                &schema,
                &principal,
                base + chrono::Duration::seconds(1234),
                300,
            )
            .await?;
            wait_final(&mut updates, &[&id5]).await?;
            short.push(started.elapsed().as_secs_f64() * 1000.0);
            for id in [id, id5] {
                for ext in ["mp4", "json"] {
                    let _ = std::fs::remove_file(dir.join("exports").join(format!("{id}.{ext}")));
                }
            }
        }
        let (raw_m, job_m) = (median(&mut raw), median(&mut job));
        println!(
            "cores {cores}: job {job_m:.2} s, raw {raw_m:.2} s, ratio {:.2}",
            job_m / raw_m
        );
        settings.push((cores, job_m, raw_m, median(&mut short)));
    }
    pin_process("0,1").await?;
    // footageCoverage latency alone, then while two one-hour exports run.
    let coverage = format!(
        r#"{{ footageCoverage(cameraId: "bench", from: "{}", to: "{}") {{ coveredSeconds gaps {{ seconds }} }} }}"#,
        base.to_rfc3339(),
        (base + chrono::Duration::hours(24)).to_rfc3339()
    );
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(time_query(&schema, &principal, &coverage, 1).await?);
    }
    let mut updates = state.media.updates.subscribe();
    let a = queue_export(&schema, &principal, base, 3600).await?;
    let b = queue_export(&schema, &principal, base, 3600).await?;
    let waiting = tokio::spawn(async move { wait_final(&mut updates, &[&a, &b]).await });
    let mut busy = Vec::new();
    while !waiting.is_finished() {
        busy.push(time_query(&schema, &principal, &coverage, 1).await?);
    }
    waiting.await??;
    runner.abort();
    state.db.close_by_ref().await.ok();
    let _ = std::fs::remove_dir_all(&dir);
    let rows: String = settings
        .iter()
        .map(|(cores, job_m, raw_m, short_m)| {
            let label = if cores.contains(',') {
                "both cores"
            } else {
                "one core (all pinned to core 1)"
            };
            format!(
                "| {label} | {job_m:.2} s | {raw_m:.2} s | {:.2} | {short_m:.0} ms |\n",
                job_m / raw_m
            )
        })
        .collect();
    Ok(format!(
        "60 one-minute files (640x360, 15 fps, 2 Mb/s H.264, {:.0} MB) generated with ffmpeg in the recorder's format (fragmented MP4, a fragment at each keyframe and at least every second: two per 2 s GOP) and indexed; jobs queued through the schema as an admin \
         and timed from the mutation to READY (runner, read locks, the clip written and hashed in one pass, manifest). \
         The manifest says how the clip was made: \"{method}\"; the first one-hour clip was checked to last as long as the raw copy ({raw_duration} s) and to decode cleanly at its start and end. \
         The raw figure is `ffmpeg -f concat -safe 0 -i list -c copy out.mp4` over the same files in the same run, alternating; medians of {} rounds. \
         First with both cores, then with the whole process (the runner, its hashing and the ffmpeg it starts) and the raw ffmpeg pinned to one core (`taskset -a -p`).\n\n\
         | cores | one-hour export job, p50 | raw `ffmpeg -f concat -c copy`, p50 | job / raw (target ≤ 1.1) | 5-minute clip, mutation to READY, p50 |\n|---|---|---|---|---|\n{rows}\n\
         | measure | value |\n|---|---|\n\
         | `footageCoverage` 24 h, idle: p50 / p99 | {:.2} / {:.2} ms ({} queries) |\n\
         | `footageCoverage` 24 h, two exports running: p50 / p99 | {:.2} / {:.2} ms ({} queries) |",
        bytes as f64 / 1e6,
        options.rounds,
        percentile(&mut idle, 0.5),
        percentile(&mut idle, 0.99),
        idle.len(),
        percentile(&mut busy, 0.5),
        percentile(&mut busy, 0.99),
        busy.len(),
    ))
}

/// `ffprobe`'s duration of a file, as it prints it.
async fn duration_of(path: &std::path::Path) -> Result<String, BenchError> {
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!("ffprobe failed on {}", path.display()).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Checks an exported clip: it lasts what the raw copy lasts and decodes its first and last
/// seconds cleanly; returns how the manifest says it was made.
async fn check_clip(
    dir: &std::path::Path,
    id: &str,
    raw_duration: &str,
) -> Result<String, BenchError> {
    let clip = dir.join("exports").join(format!("{id}.mp4"));
    let duration = duration_of(&clip).await?;
    let (a, b): (f64, f64) = (
        duration.parse().map_err(|_| "unreadable clip duration")?,
        raw_duration
            .parse()
            .map_err(|_| "unreadable raw duration")?,
    );
    if (a - b).abs() > 0.1 {
        return Err(format!("the clip lasts {duration} s, the raw copy {raw_duration} s").into());
    }
    for seek in ["0", &format!("{}", (a - 1.0).max(0.0))] {
        let out = tokio::process::Command::new("ffmpeg")
            .args(["-v", "error", "-ss", seek, "-i"])
            .arg(&clip)
            .args(["-t", "1", "-f", "null", "-"])
            .output()
            .await?;
        if !out.status.success() || !out.stderr.is_empty() {
            return Err(format!(
                "the clip does not decode cleanly at {seek} s: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clip.with_extension("json"))?)?;
    let method = manifest["method"].as_str().unwrap_or("?").to_owned();
    println!("clip checked: {duration} s (raw {raw_duration} s), {method}");
    Ok(method)
}

/// Sets the CPU affinity of every thread of this process (and so of the children it starts
/// from now on) to `cores`, a `taskset` list.
async fn pin_process(cores: &str) -> Result<(), BenchError> {
    let status = tokio::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cores])
        .arg(std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    if !status.success() {
        return Err(format!("taskset -a -p -c {cores} failed").into());
    }
    Ok(())
}
