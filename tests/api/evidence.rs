//! Evidence end to end: real clips from generated footage (exported, hashed, described,
//! downloaded with signed links), snapshots, holds, retention that never takes protected
//! footage, and input checks.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::Digest;

use crate::both;
use crate::helpers::Backend;
use crate::helpers::process::{call, start_server};
use crate::helpers::write_run;
use crate::helpers::{TestApp, WsClient, ffmpeg_ready};

fn at(base: DateTime<Utc>, s: i64) -> String {
    (base + chrono::Duration::seconds(s)).to_rfc3339()
}

async fn camera(app: &TestApp, id: &str, extra: Value) {
    let mut input = json!({"id": id, "name": id, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false, "segmentSeconds": 2});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": input}),
        app.admin(),
    )
    .await;
}

/// Three 10 s files at base+0, +10 and +30 (a 10 s hole), indexed by the real indexer.
async fn footage(app: &TestApp, cam: &str) -> DateTime<Utc> {
    let base = DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0).unwrap();
    let dir = app.data_dir.join("recordings").join(cam);
    write_run(&dir, base + chrono::Duration::seconds(30), 1, 10);
    let written = Instant::now();
    write_run(&dir, base, 1, 10);
    write_run(&dir, base + chrono::Duration::seconds(10), 1, 10);
    // The newest file is indexed once quiet for the segment length (2 s) plus the settle time (0).
    tokio::time::sleep(Duration::from_millis(2100).saturating_sub(written.elapsed())).await;
    assert_eq!(
        heldar::footage::indexer::index_once(&app.state)
            .await
            .unwrap(),
        3
    );
    base
}

/// A server that indexes only when told, and camera `ev` with [`footage`]; its base time.
async fn with_footage(backend: Backend) -> (TestApp, DateTime<Utc>) {
    let app = TestApp::spawn_with(backend, |c| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
    })
    .await;
    camera(&app, "ev", json!({})).await;
    let base = footage(&app, "ev").await;
    (app, base)
}

const CLIP: &str = "id status progress requestedSeconds coveredSeconds gaps { from to seconds reason } actualFrom actualTo sourceSegments sizeBytes sha256 downloadUrl manifestUrl error requestedBy";

async fn read_locks(app: &TestApp) -> i32 {
    use sea_orm::EntityTrait;
    entity::segment::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.read_locks)
        .sum()
}

/// Exports `[from, to)` of `camera` as the admin and waits for the clip to be READY.
pub(crate) async fn ready_clip(app: &TestApp, camera: &str, from: String, to: String) -> Value {
    let clip = finished_clip(app, camera, from, to).await;
    assert_eq!(clip["status"], "READY", "{clip}");
    clip
}

/// Exports `[from, to)` of `camera` as the admin and waits for the job to end (READY or FAILED).
async fn finished_clip(app: &TestApp, camera: &str, from: String, to: String) -> Value {
    let id = queued_clip(app, camera, from, to).await;
    finished(app, &id).await
}

/// Waits for export `id` to end (READY or FAILED); the clip.
async fn finished(app: &TestApp, id: &str) -> Value {
    crate::helpers::eventually(Duration::from_secs(60), "the clip", || async {
        let clip = app
            .gql(
                &format!("query($id: ID!) {{ clipExport(id: $id) {{ {CLIP} }} }}"),
                json!({"id": id}),
                app.admin(),
            )
            .await["clipExport"]
            .clone();
        (clip["status"] == "READY" || clip["status"] == "FAILED").then_some(clip)
    })
    .await
}

/// Queues an export of `[from, to)` of `camera` as the admin; its id.
async fn queued_clip(app: &TestApp, camera: &str, from: String, to: String) -> String {
    app.gql(
        "mutation($i: ExportClipInput!) { exportClip(input: $i) { id } }",
        json!({"i": {"cameraId": camera, "from": from, "to": to}}),
        app.admin(),
    )
    .await["exportClip"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A READY clip's bytes through its signed link, checked against its size and digest.
pub(crate) async fn downloaded(app: &TestApp, clip: &Value) -> bytes::Bytes {
    let url = format!("{}{}", app.addr, clip["downloadUrl"].as_str().unwrap());
    let bytes = app
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len() as i64, clip["sizeBytes"].as_i64().unwrap());
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        clip["sha256"].as_str().unwrap()
    );
    bytes
}

/// The manifest a READY clip links to.
async fn manifest_of(app: &TestApp, clip: &Value) -> Value {
    let url = format!("{}{}", app.addr, clip["manifestUrl"].as_str().unwrap());
    app.http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn ffprobe_duration(bytes: &[u8]) -> f64 {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "the clip must be a playable MP4");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

async fn a_clip_across_two_segments_and_a_gap_is_exported_hashed_described_and_served(
    backend: Backend,
) {
    if !ffmpeg_ready() {
        return;
    }
    let (app, base) = with_footage(backend).await;

    let started = app
        .gql(
            &format!("mutation($i: ExportClipInput!) {{ exportClip(input: $i) {{ {CLIP} }} }}"),
            json!({"i": {"cameraId": "ev", "from": at(base, 5), "to": at(base, 35)}}),
            app.admin(),
        )
        .await["exportClip"]
        .clone();
    let id = started["id"].as_str().unwrap().to_owned();
    assert!(["QUEUED", "RUNNING", "READY"].contains(&started["status"].as_str().unwrap()));
    assert_eq!(started["requestedSeconds"], 30.0);
    assert_eq!(started["coveredSeconds"], 20.0);
    assert_eq!(
        started["gaps"],
        json!([{"from": at(base, 20), "to": at(base, 30), "seconds": 10.0, "reason": "UNKNOWN"}])
    );
    assert_eq!(
        started["downloadUrl"],
        Value::Null,
        "nothing is served before READY"
    );

    // The subscription streams status and progress until READY, then completes.
    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "c", "type": "subscribe", "payload": {"query": "subscription($id: ID!) { clipExport(id: $id) { status progress } }", "variables": {"id": id}}})).await;
    let messages = tokio::time::timeout(Duration::from_secs(60), ws.until_done("c"))
        .await
        .expect("the export finishes");
    let updates: Vec<&Value> = messages
        .iter()
        .filter(|m| m["type"] == "next")
        .map(|m| &m["payload"]["data"]["clipExport"])
        .collect();
    assert_eq!(messages.last().unwrap()["type"], "complete");
    assert_eq!(updates.last().unwrap()["status"], "READY", "{updates:?}");
    assert_eq!(updates.last().unwrap()["progress"], 1.0);
    let progress: Vec<f64> = updates
        .iter()
        .map(|u| u["progress"].as_f64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back: {progress:?}"
    );

    let clip = app
        .gql(
            &format!("query($id: ID!) {{ clipExport(id: $id) {{ {CLIP} }} }}"),
            json!({"id": id}),
            app.admin(),
        )
        .await["clipExport"]
        .clone();
    assert_eq!(clip["status"], "READY");
    assert_eq!(clip["sourceSegments"], 3);
    assert_eq!(clip["requestedBy"], "admin");
    let actual_from = DateTime::parse_from_rfc3339(clip["actualFrom"].as_str().unwrap()).unwrap();
    let from = base + chrono::Duration::seconds(5);
    assert!(
        actual_from <= from
            && from - actual_from.with_timezone(&Utc) <= chrono::Duration::seconds(1),
        "keyframe shift within one GOP: {actual_from}"
    );
    assert_eq!(clip["actualTo"], at(base, 35));

    // The signed link serves the MP4 without a token; its hash and length are what the API says.
    let url = format!("{}{}", app.addr, clip["downloadUrl"].as_str().unwrap());
    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len() as i64, clip["sizeBytes"].as_i64().unwrap());
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        clip["sha256"].as_str().unwrap()
    );
    let duration = ffprobe_duration(&bytes);
    assert!(
        (duration - 20.0).abs() <= 1.1,
        "duration {duration} vs covered 20 s (one GOP of lead-in allowed)"
    );
    let partial = app
        .http
        .get(&url)
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.bytes().await.unwrap().len(), 100);

    // The manifest tells the chain of custody.
    let manifest = manifest_of(&app, &clip).await;
    assert_eq!(manifest["sha256"], clip["sha256"]);
    assert_eq!(manifest["sources"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["gaps"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["requestedBy"]["name"], "admin");
    assert_eq!(manifest["coveredSeconds"], 20.0);
    assert!(
        manifest["method"].as_str().unwrap().starts_with("ffmpeg"),
        "plain MP4 recordings are cut by ffmpeg: {}",
        manifest["method"]
    );
    // The download and the manifest name the same file: camera, range in UTC, clip id.
    let file = manifest["file"].as_str().unwrap();
    assert_eq!(disposition, format!("attachment; filename=\"{file}\""));
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let range = format!(
        "{}-{}",
        stamp(from),
        stamp(base + chrono::Duration::seconds(35))
    );
    assert!(
        file.contains(&range) && file.ends_with(&format!("_{}.mp4", clip["id"].as_str().unwrap())),
        "{file} should carry {range} and the clip id"
    );

    // Tampered, foreign, expired and unsigned links are refused.
    let tampered = format!("{}0", &url[..url.len() - 1]);
    let tampered = if tampered == url {
        format!("{}1", &url[..url.len() - 1])
    } else {
        tampered
    };
    assert_eq!(app.http.get(&tampered).send().await.unwrap().status(), 403);
    let foreign = url.replace(&format!("{id}.mp4"), &format!("{id}.json"));
    assert_eq!(app.http.get(&foreign).send().await.unwrap().status(), 403);
    let path = format!("/media/clips/{id}.mp4");
    let past = Utc::now().timestamp() - 10;
    let sig = heldar::evidence::model::sign(&app.state.media.url_key, &path, past, "usr_x");
    let expired = app
        .http
        .get(format!(
            "{}{path}?expires={past}&sub=usr_x&sig={sig}",
            app.addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
    assert_eq!(
        app.http
            .get(format!("{}{path}", app.addr))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let list = app
        .http
        .get(format!("{}/media/clips/{id}.txt", app.addr))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.status(),
        404,
        "only the clip and its manifest are ever served"
    );
    let (_, _, other_camera) = app.api_key("viewer", Some(vec!["elsewhere"])).await;
    let scoped = app
        .http
        .get(format!("{}{path}", app.addr))
        .bearer_auth(&other_camera)
        .send()
        .await
        .unwrap();
    assert_eq!(scoped.status(), 403);
    let (code, _) = app
        .gql_err(
            "query($id: ID!) { clipExport(id: $id) { id } }",
            json!({"id": id}),
            Some(&other_camera),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");

    // A snapshot is one real JPEG frame.
    let snap = app.gql("mutation($at: DateTime!) { exportSnapshot(cameraId: \"ev\", at: $at) { sizeBytes sha256 downloadUrl } }", json!({"at": at(base, 12)}), app.admin()).await["exportSnapshot"].clone();
    let jpeg = app
        .http
        .get(format!(
            "{}{}",
            app.addr,
            snap["downloadUrl"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(jpeg.headers()["content-type"], "image/jpeg");
    let disposition = jpeg.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("inline; filename=\"") && disposition.ends_with(".jpg\""),
        "{disposition}"
    );
    let jpeg = jpeg.bytes().await.unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&jpeg)),
        snap["sha256"].as_str().unwrap()
    );
    let (code, _) = app
        .gql_err(
            "mutation($at: DateTime!) { exportSnapshot(cameraId: \"ev\", at: $at) { id } }",
            json!({"at": at(base, 25)}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "NO_FOOTAGE", "no frame inside the hole");

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(read_locks(&app).await, 0, "every read lock is released");
    let listed = app
        .gql(
            "{ clipExports(status: [READY]) { edges { node { id } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(listed["clipExports"]["edges"][0]["node"]["id"], id);
}
both!(a_clip_across_two_segments_and_a_gap_is_exported_hashed_described_and_served);

/// Every frame of a clip, as the numbers the numbered test pattern burns into them, and what
/// ffmpeg said while decoding it (nothing, for a sound file).
pub(crate) fn frame_numbers(clip: &[u8]) -> (Vec<u32>, String) {
    let (frames, complaints) = frame_rows(clip);
    (frames.into_iter().map(|rows| rows[0]).collect(), complaints)
}

/// The wall-clock time each frame of a clip made from the numbered pattern in real time was
/// made at, in centiseconds since the epoch modulo 2^32.
pub(crate) fn frame_clocks(clip: &[u8]) -> Vec<u32> {
    let (frames, _) = frame_rows(clip);
    frames
        .into_iter()
        .map(|rows| rows[2] << 16 | rows[1])
        .collect()
}

/// The three 16-bit values the numbered pattern burns into each frame (its number, then the
/// low and high halves of its clock), and what ffmpeg said while decoding.
fn frame_rows(clip: &[u8]) -> (Vec<[u32; 3]>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, clip).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let frame = 320 * 180;
    let row = |f: &[u8], y: usize| {
        (0..16)
            .filter(|i| f[y * 320 + i * 20 + 10] > 128)
            .map(|i| 1u32 << i)
            .sum()
    };
    let rows = out
        .stdout
        .chunks_exact(frame)
        .map(|f| [row(f, 30), row(f, 90), row(f, 150)])
        .collect();
    (rows, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Recordings in the recorder's own format (fragmented MP4, a keyframe a second at 10 fps)
/// are spliced from their fragments without ffmpeg: the clip starts on the keyframe at or
/// before `from`, holds every frame up to the last one that starts before `to` across files
/// and a hole, decodes cleanly, and its digest, size and span are what the API says.
async fn a_clip_of_fragmented_recordings_is_spliced_frame_exact(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let base = crate::watch::base();
    // Frames 0..119 over 0-12 s (three files), a 20 s hole, frames 0..79 over 32-40 s.
    crate::watch::footage(&app, "yard", base).await;
    let ms = |n: i64| (base + chrono::Duration::milliseconds(n)).to_rfc3339();
    let clip = ready_clip(&app, "yard", ms(5_500), ms(34_250)).await;
    // The keyframe at 5 s (frame 50) is where it starts; 34.25 s is where it was asked to end.
    assert_eq!(clip["actualFrom"], ms(5_000));
    assert_eq!(clip["actualTo"], ms(34_250));
    assert_eq!(clip["sourceSegments"], 3);
    let bytes = downloaded(&app, &clip).await;
    let (numbers, complaints) = frame_numbers(&bytes);
    let expected: Vec<u32> = (50..120).chain(0..23).collect();
    assert_eq!(
        numbers, expected,
        "frames 50-119 then 0-22 (0.0 s to 2.2 s of the second run)"
    );
    assert_eq!(complaints, "", "the clip decodes without a complaint");
    let duration = ffprobe_duration(&bytes);
    assert!(
        (duration - 9.3).abs() < 0.05,
        "93 frames at 10 fps, got {duration} s"
    );
    let manifest = manifest_of(&app, &clip).await;
    assert!(
        manifest["method"].as_str().unwrap().starts_with("spliced"),
        "{}",
        manifest["method"]
    );
    assert_eq!(manifest["sha256"], clip["sha256"]);
}
both!(a_clip_of_fragmented_recordings_is_spliced_frame_exact);

/// With a keyframe every 4 s the recorder writes a fragment a second, three of four starting
/// between keyframes: a clip still starts on the keyframe at or before `from` (not on the
/// fragment that holds it), holds every frame to the last one that starts before `to`, decodes
/// cleanly and is spliced, not left to ffmpeg.
async fn a_clip_of_recordings_with_a_long_gop_starts_on_its_keyframe(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.index_settle_ms = 0).await;
    camera(&app, "gop", json!({})).await;
    let base = crate::watch::base();
    let dir = app.data_dir.join("recordings/gop");
    // Frames 0..239 over 0-24 s, keyframes at 0, 4, 8 … s, in three 8 s files.
    crate::helpers::media::write_fragmented_run_with_gop(&dir, base, (3, 8), 40);
    settled_and_indexed(&app, &dir).await;
    let ms = |n: i64| (base + chrono::Duration::milliseconds(n)).to_rfc3339();
    let clip = ready_clip(&app, "gop", ms(6_500), ms(13_250)).await;
    assert_eq!(clip["actualFrom"], ms(4_000), "the keyframe at 4 s: {clip}");
    assert_eq!(clip["actualTo"], ms(13_250));
    let bytes = downloaded(&app, &clip).await;
    let (numbers, complaints) = frame_numbers(&bytes);
    assert_eq!(numbers, (40..133).collect::<Vec<u32>>(), "frames 40-132");
    assert_eq!(complaints, "", "the clip decodes without a complaint");
    let manifest = manifest_of(&app, &clip).await;
    assert!(
        manifest["method"].as_str().unwrap().starts_with("spliced"),
        "{}",
        manifest["method"]
    );
    // A thumbnail shows the nearest keyframe (8 s for 6.5 s), not a fragment between them.
    let thumb = app
        .gql(
            "query($c: ID!, $at: DateTime!) { thumbnail(cameraId: $c, at: $at) { url at } }",
            json!({"c": "gop", "at": ms(6_500)}),
            app.admin(),
        )
        .await["thumbnail"]
        .clone();
    let at: DateTime<Utc> = thumb["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at, base + chrono::Duration::seconds(8), "{thumb}");
    let thumbnail = crate::watch::fetch(&app, thumb["url"].as_str().unwrap()).await;
    let jpeg = thumbnail.bytes().await.unwrap();
    assert_eq!(crate::watch::frame_number(&jpeg), 80);
}
both!(a_clip_of_recordings_with_a_long_gop_starts_on_its_keyframe);

/// The gaps of `value` (a coverage or a clip) as (from, to, reason).
fn gap_list(value: &Value) -> Vec<(DateTime<Utc>, DateTime<Utc>, Value)> {
    let when = |v: &Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    value["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (when(&g["from"]), when(&g["to"]), g["reason"].clone()))
        .collect()
}

/// Camera `paused`'s coverage of `[from, to)`: covered seconds and gaps.
async fn paused_coverage(app: &TestApp, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    app.gql(
        "query($c: ID!, $f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: $c, from: $f, to: $t) { coveredSeconds gaps { from to reason } } }",
        json!({"c": "paused", "f": from.to_rfc3339(), "t": to.to_rfc3339()}),
        app.admin(),
    )
    .await["footageCoverage"]
        .clone()
}

/// A server whose indexer runs when the test calls it, with camera `paused` (recording nothing
/// itself) and a time ten minutes ago for its footage; `None` without ffmpeg.
async fn paused_camera(backend: Backend) -> Option<(TestApp, DateTime<Utc>)> {
    if !ffmpeg_ready() {
        return None;
    }
    let app = TestApp::spawn_with(backend, |c| c.index_settle_ms = 0).await;
    app.camera("paused", "Camera that paused").await;
    Some((app, crate::watch::base()))
}

/// Camera `paused`'s recordings from `base`: one with frames 0-39 over 0-4 s, none over
/// 4-10 s and frames 40-119 over 10-18 s, then one over 18-22 s; indexed.
async fn paused_recordings(app: &TestApp, base: DateTime<Utc>) {
    let dir = app.data_dir.join("recordings/paused");
    // Frames 0-39 over 0-4 s, then a pause of 6 s, then frames 40-119.
    crate::helpers::media::write_fragmented_with_pauses(&dir, base, 12, &[(40, 6)]);
    let after = base + chrono::Duration::seconds(18);
    crate::helpers::media::write_fragmented_run(&dir, after, 1, 4);
    settled_and_indexed(app, &dir).await;
}

/// A camera that stops sending with its connection open and later goes on, its clock run on,
/// leaves the pause inside one recording: ffmpeg gives the last frame before it the pause's
/// length, and the file's duration spans it. Coverage leaves the pause out and reports it as a
/// gap with its reason; a clip across it still holds every frame on both sides, discloses the
/// pause with its reason and does not count it as footage.
async fn a_pause_inside_a_recording_is_a_gap_that_clips_disclose(backend: Backend) {
    let Some((app, base)) = paused_camera(backend).await else {
        return;
    };
    let at = |s: i64| base + chrono::Duration::seconds(s);
    paused_recordings(&app, base).await;
    let coverage = paused_coverage(&app, at(0), at(22)).await;
    let pause = (at(4), at(10), json!("STREAM_PAUSED"));
    assert_eq!(gap_list(&coverage), vec![pause.clone()], "{coverage}");
    assert_eq!(coverage["coveredSeconds"], 16.0, "{coverage}");

    let clip = ready_clip(&app, "paused", at(2).to_rfc3339(), at(12).to_rfc3339()).await;
    assert_eq!(gap_list(&clip), vec![pause], "{clip}");
    assert_eq!(clip["coveredSeconds"], 4.0, "{clip}");
    let manifest = manifest_of(&app, &clip).await;
    assert_eq!(manifest["gaps"][0]["reason"], "stream_paused", "{manifest}");
    // The decoder repeats frame 39 through the pause (its sample lasts 6.1 s).
    let (mut numbers, complaints) = frame_numbers(&downloaded(&app, &clip).await);
    numbers.dedup();
    assert_eq!(
        numbers,
        (20..60).collect::<Vec<u32>>(),
        "frames 20-39, then 40-59"
    );
    assert_eq!(complaints, "");
}
both!(a_pause_inside_a_recording_is_a_gap_that_clips_disclose);

/// Retention deleting the recording after a held one that paused keeps the held one's footage
/// after its pause: only the deleted span becomes a gap.
async fn a_pause_survives_retention_of_the_recording_after_it(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.index_settle_ms = 0).await;
    camera(&app, "paused", json!({"retentionHours": 1})).await;
    let base = DateTime::from_timestamp(Utc::now().timestamp() - 3 * 3600, 0).unwrap();
    let at = |s: i64| base + chrono::Duration::seconds(s);
    paused_recordings(&app, base).await;
    let held = app
        .gql(
            "mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { segmentCount } }",
            json!({"i": {"cameraId": "paused", "from": at(0).to_rfc3339(), "to": at(10).to_rfc3339(), "incidentId": "case-9", "note": "held"}}),
            app.admin(),
        )
        .await;
    assert_eq!(held["lockEvidence"]["segmentCount"], 1);
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(report["deletedSegments"], 1, "{report}");
    let coverage = paused_coverage(&app, at(0), at(22)).await;
    assert_eq!(
        gap_list(&coverage),
        vec![
            (at(4), at(10), json!("STREAM_PAUSED")),
            (at(18), at(22), json!("PRUNED"))
        ],
        "{coverage}"
    );
    assert_eq!(coverage["coveredSeconds"], 12.0, "{coverage}");
}
both!(a_pause_survives_retention_of_the_recording_after_it);

/// A recording indexed while the recorder still wrote it (it went quiet through a pause: the
/// fragment before a pause is written when the next frame comes) and again once it grew: each
/// pause is one gap with one event, and the footage it grew by is covered.
async fn a_recording_that_grew_after_a_pause_keeps_one_gap_per_pause(backend: Backend) {
    let Some((app, base)) = paused_camera(backend).await else {
        return;
    };
    let at = |s: i64| base + chrono::Duration::seconds(s);
    let dir = app.data_dir.join("recordings/paused");
    // Frames 0-39 over 0-4 s, none over 4-10 s, frames 40-99 over 10-16 s, none over 16-21 s,
    // frames 100-139 over 21-25 s.
    crate::helpers::media::write_fragmented_with_pauses(&dir, base, 14, &[(40, 6), (100, 5)]);
    let file = files_in(&dir).remove(0);
    let whole = std::fs::read(&file).unwrap();
    // Through the second pause the file ends with the fragment that ends at 15 s.
    let index = heldar::playback::mp4::index_blocking(&file).unwrap();
    let written = index
        .fragments
        .iter()
        .filter(|f| f.info.decode_time + f.info.duration <= 15 * 10_240)
        .map(|f| f.offset + f.len)
        .max()
        .unwrap();
    cut_short(&file, written);
    settled_and_indexed(&app, &dir).await;
    let coverage = paused_coverage(&app, at(0), at(25)).await;
    let first = (at(4), at(10), json!("STREAM_PAUSED"));
    assert_eq!(
        gap_list(&coverage),
        vec![first.clone(), (at(15), at(25), Value::Null)],
        "{coverage}"
    );
    std::fs::write(&file, &whole).unwrap();
    settled_and_indexed(&app, &dir).await;
    let coverage = paused_coverage(&app, at(0), at(25)).await;
    let second = (at(16), at(21), json!("STREAM_PAUSED"));
    assert_eq!(gap_list(&coverage), vec![first, second], "{coverage}");
    assert_eq!(coverage["coveredSeconds"], 14.0, "{coverage}");
    let events = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [RECORDING_GAP], cameraIds: [\"paused\"]}) { edges { node { payload } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let reasons: Vec<Value> = events["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["payload"]["reason"].clone())
        .collect();
    assert_eq!(reasons, vec![json!("stream_paused"); 2], "{events}");
}
both!(a_recording_that_grew_after_a_pause_keeps_one_gap_per_pause);

/// A camera whose clock jumped 20 s ahead inside a recording, with the next recording named by
/// the server's clock 8 s after the first: the first is cut short where the next starts, and
/// so is the pause inside it. Coverage and a clip agree on the 4 s without footage.
async fn a_recording_cut_short_by_the_next_keeps_its_pause_to_the_cut(backend: Backend) {
    let Some((app, base)) = paused_camera(backend).await else {
        return;
    };
    let at = |s: i64| base + chrono::Duration::seconds(s);
    let dir = app.data_dir.join("recordings/paused");
    // Frames 0-39 over 0-4 s, then frames 40-79 stamped 24-28 s; the next file at 8 s.
    crate::helpers::media::write_fragmented_with_pauses(&dir, base, 8, &[(40, 20)]);
    crate::helpers::media::write_fragmented_run(&dir, at(8), 1, 4);
    settled_and_indexed(&app, &dir).await;
    let coverage = paused_coverage(&app, at(0), at(12)).await;
    let pause = (at(4), at(8), json!("STREAM_PAUSED"));
    assert_eq!(gap_list(&coverage), vec![pause.clone()], "{coverage}");
    assert_eq!(coverage["coveredSeconds"], 8.0, "{coverage}");
    let clip = ready_clip(&app, "paused", at(2).to_rfc3339(), at(12).to_rfc3339()).await;
    assert_eq!(gap_list(&clip), vec![pause], "{clip}");
    assert_eq!(clip["coveredSeconds"], 6.0, "{clip}");
}
both!(a_recording_cut_short_by_the_next_keeps_its_pause_to_the_cut);

/// A clip that starts just after a pause, before the next keyframe, starts on the keyframe
/// before the pause: the pause is in the clip, before the requested start, and is disclosed.
async fn a_pause_in_a_clips_keyframe_lead_in_is_disclosed(backend: Backend) {
    let Some((app, base)) = paused_camera(backend).await else {
        return;
    };
    let at = |ms: i64| base + chrono::Duration::milliseconds(ms);
    let dir = app.data_dir.join("recordings/paused");
    // Frames 0-34 over 0-3.5 s, none over 3.5-9.5 s, frames 35-119 over 9.5-18 s (keyframes
    // at 0, 1, … 3 s, then 10, 11, … s); the next file at 18 s.
    crate::helpers::media::write_fragmented_with_pauses(&dir, base, 12, &[(35, 6)]);
    crate::helpers::media::write_fragmented_run(&dir, at(18_000), 1, 4);
    settled_and_indexed(&app, &dir).await;
    let clip = ready_clip(
        &app,
        "paused",
        at(9_600).to_rfc3339(),
        at(12_000).to_rfc3339(),
    )
    .await;
    assert_eq!(clip["actualFrom"], at(3_000).to_rfc3339(), "{clip}");
    let pause = (at(3_500), at(9_500), json!("STREAM_PAUSED"));
    assert_eq!(gap_list(&clip), vec![pause], "{clip}");
    assert_eq!(clip["coveredSeconds"], 2.4, "{clip}");
    let manifest = manifest_of(&app, &clip).await;
    assert_eq!(manifest["gaps"][0]["reason"], "stream_paused", "{manifest}");
}
both!(a_pause_in_a_clips_keyframe_lead_in_is_disclosed);

/// Makes the files in `dir` look long finished and runs the indexer once.
async fn settled_and_indexed(app: &TestApp, dir: &std::path::Path) {
    crate::watch::settle(dir);
    heldar::footage::indexer::index_once(&app.state)
        .await
        .unwrap();
}

/// The files of a recordings folder, in name (time) order.
fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Camera `camera` with `files` video-only recordings of 4 s each (a fragment a second) from
/// `base`, indexed; returns them in time order.
async fn recorded_video(
    app: &TestApp,
    camera: &str,
    base: DateTime<Utc>,
    files: u32,
) -> Vec<std::path::PathBuf> {
    app.camera(camera, camera).await;
    let dir = app.data_dir.join("recordings").join(camera);
    crate::helpers::media::write_fragmented_run(&dir, base, files, 4);
    settled_and_indexed(app, &dir).await;
    files_in(&dir)
}

/// Camera `mic` with `files` recordings of 4 s each (video and audio) from `base`, indexed;
/// returns them in time order.
async fn recorded_with_audio(
    app: &TestApp,
    base: DateTime<Utc>,
    files: u32,
) -> Vec<std::path::PathBuf> {
    app.camera("mic", "Camera with a microphone").await;
    let dir = app.data_dir.join("recordings").join("mic");
    crate::helpers::media::write_fragmented_run_with_audio(&dir, base, files, 4);
    settled_and_indexed(app, &dir).await;
    files_in(&dir)
}

/// Truncates a file to its first `len` bytes.
fn cut_short(path: &std::path::Path, len: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// A recording cut short inside a fragment (the recorder stopped mid-write) still holds samples
/// of that fragment: the clip keeps every frame whose bytes are all there, and the files after
/// it (ffmpeg's concat stopped at such a file and left the rest of the clip out).
async fn a_recording_cut_short_keeps_its_last_frames_in_a_clip(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let base = crate::watch::base();
    app.camera("cut", "Camera cut short").await;
    let dir = app.data_dir.join("recordings").join("cut");
    // Frames 0..119 over 0-12 s in three files, a fragment (keyframe) a second.
    crate::helpers::media::write_fragmented_run(&dir, base, 3, 4);
    let files = files_in(&dir);
    // The middle file is cut 10 bytes into its last fragment's second frame: frame 70 is
    // whole, 71-79 are gone.
    let index = heldar::playback::mp4::index_blocking(&files[1]).unwrap();
    let last = index.fragments.last().unwrap();
    let bytes = std::fs::read(&files[1]).unwrap();
    let moof = &bytes[last.offset as usize..(last.offset + last.moof_len) as usize];
    let first = heldar::playback::mp4::trim_moof(moof, &index.init, 8, 1, u64::MAX).unwrap();
    assert_eq!(first.samples, 1);
    cut_short(
        &files[1],
        last.offset + last.moof_len + 8 + first.data_len + 10,
    );
    let index = heldar::playback::mp4::index_blocking(&files[1]).unwrap();
    assert_eq!(
        index.fragments.len(),
        3,
        "the cut fragment is not a whole one"
    );
    assert!(index.partial.is_some(), "the cut fragment is found");
    settled_and_indexed(&app, &dir).await;
    let clip = ready_clip(&app, "cut", at(base, 1), at(base, 11)).await;
    let manifest = manifest_of(&app, &clip).await;
    assert!(
        manifest["method"].as_str().unwrap().starts_with("spliced"),
        "{}",
        manifest["method"]
    );
    let (numbers, complaints) = frame_numbers(&downloaded(&app, &clip).await);
    assert_eq!(complaints, "", "the clip decodes without a complaint");
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "frames in order: {numbers:?}"
    );
    let kept: Vec<u32> = numbers
        .iter()
        .copied()
        .filter(|n| (70..80).contains(n))
        .collect();
    assert_eq!(
        kept,
        [70],
        "the cut fragment's whole frame is in the clip: {numbers:?}"
    );
    for n in (10..70).chain(80..110) {
        assert!(
            numbers.contains(&n),
            "frame {n} is in the clip: {numbers:?}"
        );
    }
}
both!(a_recording_cut_short_keeps_its_last_frames_in_a_clip);

/// A recording cut after it was indexed (shorter than its row says), even by a few bytes of its
/// last fragment, would splice into a clip shorter than its coverage, every later frame at the
/// wrong time: the export fails and names the file, and no clip is published.
async fn a_spliced_clip_of_a_source_damaged_after_indexing_is_not_published(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.index_interval_ms = 600_000).await;
    let base = crate::watch::base();
    let files = recorded_video(&app, "cut", base, 3).await;
    // The middle file loses the last 100 bytes of its last fragment.
    let size = std::fs::metadata(&files[1]).unwrap().len();
    cut_short(&files[1], size - 100);
    let clip = finished_clip(&app, "cut", at(base, 1), at(base, 11)).await;
    assert_eq!(clip["status"], "FAILED", "{clip}");
    let error = clip["error"].as_str().unwrap();
    let name = files[1].file_name().unwrap().to_str().unwrap();
    assert!(
        error.contains(&format!(
            "cut/{name} is {} bytes where its index says {size}",
            size - 100
        )) && error.contains("a source file is damaged"),
        "{error}"
    );
    assert!(
        !error.contains(app.data_dir.to_str().unwrap()),
        "no server path in the error: {error}"
    );
    assert_eq!(clip["downloadUrl"], Value::Null);
    assert_eq!(read_locks(&app).await, 0, "the sources are unlocked");
}
both!(a_spliced_clip_of_a_source_damaged_after_indexing_is_not_published);

/// Replaces an indexed recording with a FIFO: opening it blocks until a writer comes, as a read
/// from a stalled disk or a hung network mount does. Dropping the guard (when the test ends or
/// fails) lets every reader blocked on it go, so the runtime's blocking threads can finish.
fn stall(path: &std::path::Path) -> Stalled {
    std::fs::remove_file(path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
    Stalled(path.to_owned())
}

/// A FIFO made by [`stall`].
struct Stalled(std::path::PathBuf);

impl Drop for Stalled {
    fn drop(&mut self) {
        // Opening a FIFO for reading and writing never blocks on Linux, and counts as the
        // writer the blocked readers wait for (they then read an empty file).
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0);
    }
}

/// A server with `media_jobs` slots and an export limit of `limit_secs`, and camera `hang` with
/// two indexed recordings (in time order) from its base time.
async fn hanging(
    backend: Backend,
    media_jobs: u64,
    limit_secs: u64,
) -> (TestApp, DateTime<Utc>, Vec<std::path::PathBuf>) {
    let app = TestApp::spawn_with(backend, |c| {
        c.index_interval_ms = 600_000;
        c.export_timeout_secs = limit_secs;
        c.media_jobs = media_jobs;
    })
    .await;
    let base = crate::watch::base();
    let files = recorded_video(&app, "hang", base, 2).await;
    (app, base, files)
}

/// Waits until export `id` is RUNNING.
async fn running(app: &TestApp, id: &str) {
    crate::helpers::eventually(Duration::from_secs(30), "the export running", || async {
        let clip = app
            .gql(
                "query($id: ID!) { clipExport(id: $id) { status } }",
                json!({"id": id}),
                app.admin(),
            )
            .await;
        (clip["clipExport"]["status"] == "RUNNING").then_some(())
    })
    .await
}

/// An export whose source never answers (a stalled disk) fails at the export time limit,
/// reading the sources' layouts included, and unlocks its sources; one cancelled while it
/// waits ends FAILED "cancelled by" its canceller at once, and cannot be cancelled twice.
async fn an_export_stalled_on_its_source_times_out_or_is_cancelled(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let (app, base, files) = hanging(backend, 2, 2).await;
    let _stalled = stall(&files[0]);

    let started = std::time::Instant::now();
    let clip = finished_clip(&app, "hang", at(base, 1), at(base, 7)).await;
    assert_eq!(clip["status"], "FAILED", "{clip}");
    assert_eq!(
        clip["error"],
        "the clip was not written within 2 s (HELDAR_EXPORT_TIMEOUT_SECS)"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(read_locks(&app).await, 0, "the sources are unlocked");

    let id = queued_clip(&app, "hang", at(base, 1), at(base, 7)).await;
    running(&app, &id).await;
    let cancel = "mutation($id: ID!) { cancelClipExport(id: $id) { status error } }";
    // Someone else who may export may not cancel another's export.
    let (_, viewer) = app.user_with_role("watcher", "viewer").await;
    let (code, message) = app.gql_err(cancel, json!({"id": id}), Some(&viewer)).await;
    assert_eq!(code, "FORBIDDEN", "{message}");
    let cancelled =
        app.gql(cancel, json!({"id": id}), app.admin()).await["cancelClipExport"].clone();
    assert_eq!(cancelled["status"], "FAILED", "{cancelled}");
    assert_eq!(cancelled["error"], "cancelled by admin");
    crate::helpers::eventually(Duration::from_secs(10), "the sources unlocked", || async {
        (read_locks(&app).await == 0).then_some(())
    })
    .await;
    // The runner has stopped (it unlocks last); its own ending is not stored over the cancel.
    let clip = app
        .gql(
            &format!("query($id: ID!) {{ clipExport(id: $id) {{ {CLIP} }} }}"),
            json!({"id": id}),
            app.admin(),
        )
        .await["clipExport"]
        .clone();
    assert_eq!(clip["error"], "cancelled by admin", "{clip}");
    let (code, message) = app.gql_err(cancel, json!({"id": id}), app.admin()).await;
    assert_eq!(code, "CONFLICT", "{message}");
    assert!(message.contains("has already finished"), "{message}");
    let audit = app
        .gql(
            r#"{ auditLog(filter: {action: "cancel_clip_export"}) { edges { node { targetId actorName cameraId } } } }"#,
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        audit["auditLog"]["edges"],
        json!([{"node": {"targetId": id, "actorName": "admin", "cameraId": "hang"}}])
    );
}
both!(an_export_stalled_on_its_source_times_out_or_is_cancelled);

/// An export that gave up on a stalled disk keeps its media job slot until its stuck read
/// returns: with one slot, the next export waits QUEUED (no second thread piles up on the same
/// disk), and runs to READY once the read comes back.
async fn a_stalled_export_keeps_its_slot_until_its_read_returns(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let (app, base, files) = hanging(backend, 1, 6).await;
    let aside = app.data_dir.join("aside.mp4");
    std::fs::copy(&files[0], &aside).unwrap();
    let stalled = stall(&files[0]);

    let clip = finished_clip(&app, "hang", at(base, 1), at(base, 7)).await;
    assert_eq!(clip["status"], "FAILED", "{clip}");
    let id = queued_clip(&app, "hang", at(base, 1), at(base, 7)).await;
    let status = || async {
        app.gql(
            "query($id: ID!) { clipExport(id: $id) { status } }",
            json!({"id": id}),
            app.admin(),
        )
        .await["clipExport"]["status"]
            .clone()
    };
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            status().await,
            "QUEUED",
            "waits while the stuck read holds the slot"
        );
    }

    // The disk comes back: the file is whole again, and the stuck read returns (it reads the
    // FIFO, still reachable through a second name, as an empty file).
    let fifo = app.data_dir.join("stalled.fifo");
    std::fs::hard_link(&files[0], &fifo).unwrap();
    std::fs::rename(&aside, &files[0]).unwrap();
    drop(stalled);
    drop(Stalled(fifo));
    let clip = finished(&app, &id).await;
    assert_eq!(clip["status"], "READY", "{clip}");
    assert_eq!(read_locks(&app).await, 0, "the sources are unlocked");
}
both!(a_stalled_export_keeps_its_slot_until_its_read_returns);

/// ffmpeg (recordings with audio) stops a clip at a source it cannot read to the end and exits
/// happily: a clip that much shorter than its sources fails with the reason, never READY.
async fn an_ffmpeg_clip_cut_short_by_a_damaged_source_is_not_published(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let base = crate::watch::base();
    let files = recorded_with_audio(&app, base, 3).await;
    // Damaged after it was recorded: the middle file loses three quarters of its media.
    cut_short(&files[1], std::fs::metadata(&files[1]).unwrap().len() / 4);
    let clip = finished_clip(&app, "mic", at(base, 1), at(base, 11)).await;
    assert_eq!(clip["status"], "FAILED", "{clip}");
    // (An ffmpeg that exits non-zero on the damaged file fails the job the same way.)
    let error = clip["error"].as_str().unwrap();
    assert!(
        error.contains("a source file is damaged") || error.contains("ffmpeg failed"),
        "{error}"
    );
    assert_eq!(read_locks(&app).await, 0, "the sources are unlocked");
}
both!(an_ffmpeg_clip_cut_short_by_a_damaged_source_is_not_published);

/// Recordings with an audio track are not spliced (only video-only ones are): ffmpeg makes the
/// clip, with both tracks, and the manifest says so.
async fn a_clip_of_recordings_with_audio_is_made_by_ffmpeg(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let base = crate::watch::base();
    recorded_with_audio(&app, base, 2).await;
    let clip = ready_clip(&app, "mic", at(base, 1), at(base, 7)).await;
    let manifest = manifest_of(&app, &clip).await;
    assert!(
        manifest["method"].as_str().unwrap().starts_with("ffmpeg"),
        "{}",
        manifest["method"]
    );
    let bytes = downloaded(&app, &clip).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(file.path())
        .output()
        .unwrap();
    let kinds = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(kinds, "video,audio", "both tracks are in the clip");
    let duration = ffprobe_duration(&bytes);
    assert!((duration - 6.0).abs() <= 1.1, "about 6 s, got {duration}");
}
both!(a_clip_of_recordings_with_audio_is_made_by_ffmpeg);

async fn export_requests_are_checked_in_order_with_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "empty", json!({})).await;
    let doc = "mutation($i: ExportClipInput!) { exportClip(input: $i) { id } }";
    let base = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let cases = [
        ("empty", 10, 0, "BAD_USER_INPUT", Some("input.to")),
        ("empty", 10, 10, "BAD_USER_INPUT", Some("input.to")),
        ("empty", 0, 3601, "BAD_USER_INPUT", Some("input.to")),
        ("ghost", 0, 3600, "NOT_FOUND", None),
        ("empty", 0, 3600, "NO_FOOTAGE", None),
    ];
    for (cam, from, to, code, field) in cases {
        let (_, body) = app
            .post(
                doc,
                json!({"i": {"cameraId": cam, "from": at(base, from), "to": at(base, to)}}),
                app.admin(),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], code,
            "{cam} {from}..{to}: {body}"
        );
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["extensions"]["field"], field);
        }
    }
    let (_, body) = app
        .post(
            doc,
            json!({"i": {"cameraId": "empty", "from": at(base, 0), "to": at(base, 3601)}}),
            app.admin(),
        )
        .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("3601")
    );
    // Scope is checked before anything else: the same answer for a foreign and a missing camera.
    let (_, _, scoped) = app.api_key("viewer", Some(vec!["elsewhere"])).await;
    for cam in ["empty", "ghost"] {
        let (code, _) = app
            .gql_err(
                doc,
                json!({"i": {"cameraId": cam, "from": at(base, 10), "to": at(base, 0)}}),
                Some(&scoped),
            )
            .await;
        assert_eq!(code, "FORBIDDEN");
    }
    let (code, _) = app
        .gql_err(
            "query { clipExport(id: \"clip_nope\") { id } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
}
both!(export_requests_are_checked_in_order_with_clear_errors);

/// Inserts a segment row of `size` bytes, on this server's disk as the indexer would (no file:
/// retention treats a missing file as already gone).
async fn seg(app: &TestApp, cam: &str, n: usize, start: DateTime<Utc>, size: i64) -> String {
    let id = format!("seg_{cam}_{n:03}");
    heldar::footage::store::insert_segments(
        &app.state.db,
        vec![entity::segment::Model {
            id: id.clone(),
            camera_id: cam.into(),
            path: format!("{cam}/{n:03}.mp4"),
            start_ms: start.timestamp_millis(),
            end_ms: start.timestamp_millis() + 60_000,
            codec: None,
            width: None,
            height: None,
            fps: None,
            size_bytes: size,
            read_locks: 0,
            evidence_locked: false,
            created_at: start,
            profile: "main".to_owned(),
            media_offset: None,
            timescale: None,
            duration_ticks: None,
            instance_id: Some(app.state.ownership.instance_id().to_owned()),
        }],
    )
    .await
    .unwrap();
    id
}

/// `count` segments of `size` bytes for `cam` ([`seg`] numbers 0..count), an hour apart from
/// `first`.
async fn hourly(app: &TestApp, cam: &str, count: usize, first: DateTime<Utc>, size: i64) {
    for i in 0..count {
        seg(app, cam, i, first + chrono::Duration::hours(i as i64), size).await;
    }
}

async fn remaining(app: &TestApp, cam: &str) -> Vec<String> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    entity::segment::Entity::find()
        .filter(entity::segment::Column::CameraId.eq(cam))
        .order_by_asc(entity::segment::Column::StartMs)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

async fn hold(app: &TestApp, cam: &str, start: DateTime<Utc>, incident: &str) -> String {
    let data = app.gql("mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { id segmentCount totalBytes } }",
        json!({"i": {"cameraId": cam, "from": start.to_rfc3339(), "to": (start + chrono::Duration::seconds(60)).to_rfc3339(), "incidentId": incident, "note": "held"}}), app.admin()).await;
    assert_eq!(data["lockEvidence"]["segmentCount"], 1);
    data["lockEvidence"]["id"].as_str().unwrap().to_owned()
}

/// A recording file no row accounts for, `rel` under `app`'s recordings, last written two
/// hours ago when `old` (orphan reclamation leaves younger files alone).
fn stray_file(app: &TestApp, rel: &str, old: bool) -> std::path::PathBuf {
    let path = app.data_dir.join("recordings").join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    if old {
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
    }
    path
}

/// Makes the segment rows `ids` say `instance` holds their files (`None`: no server claimed them).
async fn place_rows(app: &TestApp, ids: &[&String], instance: Option<&str>) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::segment::Entity::update_many()
        .col_expr(
            entity::segment::Column::InstanceId,
            sea_orm::sea_query::Expr::value(instance.map(str::to_owned)),
        )
        .filter(entity::segment::Column::Id.is_in(ids.iter().map(|id| id.as_str())))
        .exec(&app.state.db)
        .await
        .unwrap();
}

/// Runs a sweep and answers how many recording files no row accounts for it removed.
async fn reclaimed_orphans(app: &TestApp) -> i64 {
    let report = app
        .gql(
            "mutation { runRetention { reclaimedOrphans } }",
            json!({}),
            app.admin(),
        )
        .await;
    report["runRetention"]["reclaimedOrphans"].as_i64().unwrap()
}

const SWEEP: &str = "mutation { runRetention { deletedSegments deletedBytes skippedLocked byReason { reason segments bytes } warnings { severity code cameraId } } }";

async fn retention_takes_only_unprotected_footage_phase_by_phase(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = Utc::now();
    let h = |hours: i64| now - chrono::Duration::hours(hours);
    // R1: age. Recent, 48 h old, 48 h old but read-locked, 48 h old but held.
    camera(&app, "aged", json!({"retentionHours": 24})).await;
    let _recent = seg(&app, "aged", 0, h(1), 10).await;
    let old = seg(&app, "aged", 1, h(48), 10).await;
    let locked = seg(&app, "aged", 2, h(49), 10).await;
    let held = seg(&app, "aged", 3, h(50), 10).await;
    let lock = heldar::evidence::locks::ReadLock::acquire(
        &app.state.db,
        app.state.ownership.instance_id(),
        vec![locked.clone()],
    )
    .await
    .unwrap();
    hold(&app, "aged", h(50), "case-7").await;
    let preview = app
        .gql(
            "{ retentionPreview { totalSegments segments { segmentId reason } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        preview["retentionPreview"]["segments"],
        json!([{"segmentId": old, "reason": "AGE"}])
    );
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(report["deletedSegments"], 1);
    assert!(!remaining(&app, "aged").await.contains(&old));
    assert!(
        remaining(&app, "aged").await.contains(&locked)
            && remaining(&app, "aged").await.contains(&held)
    );
    // The pruned span is a gap with its reason; the sweep left one event.
    let cov = app.gql("query($f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: \"aged\", from: $f, to: $t) { gaps { reason } } }",
        json!({"f": h(48).to_rfc3339(), "t": (h(48) + chrono::Duration::seconds(60)).to_rfc3339()}), app.admin()).await;
    assert_eq!(
        cov["footageCoverage"]["gaps"],
        json!([{"reason": "PRUNED"}])
    );
    {
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(
            entity::event::Entity::find()
                .count(&app.state.db)
                .await
                .unwrap(),
            1
        );
    }
    // Once the reader is done, the next sweep may take it; the hold still protects its segment.
    lock.release().await;
    app.gql(SWEEP, json!({}), app.admin()).await;
    assert!(!remaining(&app, "aged").await.contains(&locked));
    assert!(remaining(&app, "aged").await.contains(&held));

    // R2: a quota of 1000 with 600 held and three 400 B segments: the two oldest go.
    camera(
        &app,
        "quota",
        json!({"storageQuotaBytes": 1000, "retentionHours": 1000}),
    )
    .await;
    seg(&app, "quota", 0, h(10), 600).await;
    hold(&app, "quota", h(10), "case-7").await;
    let a = seg(&app, "quota", 1, h(9), 400).await;
    let b = seg(&app, "quota", 2, h(8), 400).await;
    let c = seg(&app, "quota", 3, h(7), 400).await;
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(
        report["byReason"],
        json!([{"reason": "CAMERA_QUOTA", "segments": 2, "bytes": 800}])
    );
    let left = remaining(&app, "quota").await;
    assert!(!left.contains(&a) && !left.contains(&b) && left.contains(&c));

    // R3: a quota of 100 with 500 held: nothing goes, and the sweep says why.
    camera(
        &app,
        "tight",
        json!({"storageQuotaBytes": 100, "retentionHours": 1000}),
    )
    .await;
    seg(&app, "tight", 0, h(5), 500).await;
    hold(&app, "tight", h(5), "case-8").await;
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(report["deletedSegments"], 0);
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "CAMERA_QUOTA_PROTECTED" && w["cameraId"] == "tight")
    );

    // Incidents total their holds' footage.
    let incidents = app
        .gql(
            "{ incidents { incidentId holdCount cameraIds segmentCount totalBytes } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        incidents["incidents"],
        json!([
            {"incidentId": "case-8", "holdCount": 1, "cameraIds": ["tight"], "segmentCount": 1, "totalBytes": 500},
            {"incidentId": "case-7", "holdCount": 2, "cameraIds": ["aged", "quota"], "segmentCount": 2, "totalBytes": 610},
        ])
    );

    // A camera with holds cannot be deleted until they are released.
    let (code, message) = app
        .gql_err(
            "mutation { deleteCamera(id: \"tight\") }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    assert!(
        message.contains("1 active evidence hold") && message.contains("releaseEvidence"),
        "{message}"
    );
    let holds = app
        .gql(
            "{ evidenceHolds(cameraId: \"tight\") { edges { node { id } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let hold_id = holds["evidenceHolds"]["edges"][0]["node"]["id"].clone();
    app.gql(
        "mutation($id: ID!) { releaseEvidence(id: $id) { releasedAt } }",
        json!({"id": hold_id}),
        app.admin(),
    )
    .await;
    let (code, _) = app
        .gql_err(
            "mutation($id: ID!) { releaseEvidence(id: $id) { id } }",
            json!({"id": hold_id}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    app.gql(
        "mutation { deleteCamera(id: \"tight\") }",
        json!({}),
        app.admin(),
    )
    .await;

    // Orphan files: a deleted camera's, and one older than its camera's oldest segment, both
    // an hour old, go; a newer one is the indexer's business and a fresh one is too young.
    let orphan = |rel: &str, old: bool| stray_file(&app, rel, old);
    let gone = [
        orphan("tight/20200101_000000.mp4", true),
        orphan("quota/20000101_000000.mp4", true),
    ];
    let kept = [
        orphan("quota/29990101_000000.mp4", true),
        orphan("aged/19990101_000000.mp4", false),
    ];
    assert_eq!(reclaimed_orphans(&app).await, 2);
    assert!(gone.iter().all(|p| !p.exists()) && kept.iter().all(|p| p.exists()));
}
both!(retention_takes_only_unprotected_footage_phase_by_phase);

/// A server whose recordings may use `cap` bytes, with cameras `a` and `b` that keep footage
/// for 1000 hours (only the size cap takes any), and the time now.
async fn two_cameras_under_a_cap(backend: Backend, cap: u64) -> (TestApp, DateTime<Utc>) {
    let app =
        TestApp::spawn_with(backend, |c| c.max_recordings_size = bytesize::ByteSize(cap)).await;
    camera(&app, "a", json!({"retentionHours": 1000})).await;
    camera(&app, "b", json!({"retentionHours": 1000})).await;
    (app, Utc::now())
}

async fn the_size_cap_takes_from_the_camera_over_its_share_and_stops_at_protected_footage(
    backend: Backend,
) {
    // R6: cap 5000. A holds 4×1000 held + 1×1000; B has 3×500, older. B keeps all three.
    let (app, now) = two_cameras_under_a_cap(backend, 5000).await;
    hourly(&app, "b", 3, now - chrono::Duration::hours(20), 500).await;
    for i in 0..4 {
        let start = now - chrono::Duration::hours(10 - i as i64);
        seg(&app, "a", i, start, 1000).await;
        hold(&app, "a", start, "case-a").await;
    }
    let free = seg(&app, "a", 9, now - chrono::Duration::hours(1), 1000).await;
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(
        report["byReason"],
        json!([{"reason": "SIZE_CAP", "segments": 1, "bytes": 1000}])
    );
    assert!(!remaining(&app, "a").await.contains(&free));
    assert_eq!(remaining(&app, "b").await.len(), 3);
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "OVER_SHARE_ALL_PROTECTED" && w["severity"] == "CRITICAL")
    );
}
both!(the_size_cap_takes_from_the_camera_over_its_share_and_stops_at_protected_footage);

/// Servers sharing one PostgreSQL keep their recordings in their own data directories. A
/// sweep's size cap (and quotas, and disk floor) takes only the segments whose files are on
/// its own server's disk, so a server over its cap, or short of disk, never deletes footage
/// another server holds. Rows that do not say where their file is (indexed before rows did,
/// or under an instance id since lost) are placed at start-up by the server that has the file.
async fn a_sweep_takes_only_the_footage_on_its_own_servers_disk(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !matches!(backend, Backend::Postgres(_)) || !ffmpeg_ready() {
        return;
    }
    let manual = |c: &mut heldar::config::Config| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
    };
    // This server's cap is one byte: everything of its own it may delete goes.
    let first = TestApp::spawn_with(backend.clone(), |c| {
        manual(c);
        c.max_recordings_size = bytesize::ByteSize(1);
    })
    .await;
    let shared = first.state.config.database_url.clone();
    let neighbour = TestApp::spawn_with(backend.clone(), |c| {
        manual(c);
        c.database_url = shared.clone();
    })
    .await;
    for id in ["here", "there"] {
        camera(&first, id, json!({"retentionHours": 1000})).await;
    }
    let base = DateTime::from_timestamp(Utc::now().timestamp() - 600, 0).unwrap();
    write_run(&first.data_dir.join("recordings/here"), base, 2, 2);
    write_run(&neighbour.data_dir.join("recordings/there"), base, 2, 2);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    for app in [&first, &neighbour] {
        assert_eq!(
            heldar::footage::indexer::index_once(&app.state)
                .await
                .unwrap(),
            2
        );
    }
    let rows_of = |cam: &'static str| {
        let db = first.state.db.clone();
        async move {
            entity::segment::Entity::find()
                .filter(entity::segment::Column::CameraId.eq(cam))
                .all(&db)
                .await
                .unwrap()
        }
    };
    for s in rows_of("there").await {
        assert_eq!(
            s.instance_id.as_deref(),
            Some(neighbour.state.ownership.instance_id())
        );
    }
    // As after an upgrade, no row of this server says where its file is; the neighbour's rows
    // carry an id its data directory lost (no server holds it). It has not restarted yet.
    let place = |cam: &'static str, id: Option<&'static str>| {
        let db = first.state.db.clone();
        async move {
            entity::segment::Entity::update_many()
                .col_expr(
                    entity::segment::Column::InstanceId,
                    sea_orm::sea_query::Expr::value(id.map(str::to_owned)),
                )
                .filter(entity::segment::Column::CameraId.eq(cam))
                .exec(&db)
                .await
                .unwrap();
        }
    };
    place("here", None).await;
    place("there", Some("0123456789abcdef0123456789abcdef")).await;
    // This server starts: it places the rows of the files it has, and only those.
    assert_eq!(
        heldar::footage::indexer::adopt_local(&first.state)
            .await
            .unwrap(),
        2
    );

    let report = first.gql(SWEEP, json!({}), first.admin()).await["runRetention"].clone();
    assert_eq!(
        report["byReason"],
        json!([{"reason": "SIZE_CAP", "segments": 2, "bytes": report["deletedBytes"]}]),
        "its own two: {report}"
    );
    assert!(rows_of("here").await.is_empty());
    let files = std::fs::read_dir(first.data_dir.join("recordings/here")).unwrap();
    assert_eq!(
        files.count(),
        0,
        "its own files are deleted with their rows"
    );
    let theirs = rows_of("there").await;
    assert_eq!(
        theirs.len(),
        2,
        "the neighbour's footage is not this server's to delete"
    );
    for s in &theirs {
        assert!(neighbour.data_dir.join("recordings").join(&s.path).exists());
    }
    // The neighbour restarts and places its own.
    assert_eq!(
        heldar::footage::indexer::adopt_local(&neighbour.state)
            .await
            .unwrap(),
        2
    );
    for s in rows_of("there").await {
        assert_eq!(
            s.instance_id.as_deref(),
            Some(neighbour.state.ownership.instance_id())
        );
    }
}
both!(a_sweep_takes_only_the_footage_on_its_own_servers_disk);

/// A server of a fleet that stopped for good leaves rows no one would expire: coverage would
/// offer its footage forever. A day past their camera's retention, any server's sweep takes
/// those rows (only the rows: the files are the other server's, wherever its disk is); until
/// then they are left to their own server, which unlinks their files when it expires them.
async fn another_servers_rows_expire_a_day_past_retention_and_its_files_are_left_alone(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "left", json!({"retentionHours": 1})).await;
    let now = Utc::now();
    let overdue = seg(&app, "left", 1, now - chrono::Duration::hours(27), 100).await;
    let recent = seg(&app, "left", 2, now - chrono::Duration::hours(12), 100).await;
    let own = seg(&app, "left", 3, now - chrono::Duration::hours(3), 100).await;
    // A row no server claimed (its file is on no server's disk) expires by age alone.
    // One whose file turns out to be on this disk is deleted with it, and counted as deleted.
    let unclaimed = seg(&app, "left", 4, now - chrono::Duration::hours(5), 100).await;
    let unclaimed_here = seg(&app, "left", 5, now - chrono::Duration::hours(6), 100).await;
    let unclaimed_file = stray_file(&app, "left/005.mp4", false);
    place_rows(&app, &[&unclaimed, &unclaimed_here], None).await;
    let gone_server = "0123456789abcdef0123456789abcdef";
    place_rows(&app, &[&overdue, &recent], Some(gone_server)).await;
    // A file of this server's at the overdue row's path is not that row's file.
    let path = stray_file(&app, "left/001.mp4", false);

    // The preview and the report count only what frees this server's disk; the other
    // server's row is forgotten, and flagged.
    let preview = app
        .gql(
            "{ retentionPreview { totalSegments totalBytes forgottenSegments byReason { reason segments bytes } segments { segmentId elsewhere } } }",
            json!({}),
            app.admin(),
        )
        .await["retentionPreview"]
        .clone();
    assert_eq!(preview["totalSegments"], 1, "{preview}");
    assert_eq!(preview["totalBytes"], 100, "{preview}");
    assert_eq!(preview["forgottenSegments"], 3, "{preview}");
    assert_eq!(
        preview["byReason"],
        json!([{"reason": "AGE", "segments": 1, "bytes": 100}])
    );
    let mut flagged: Vec<(String, bool)> = preview["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["segmentId"].as_str().unwrap().to_owned(),
                c["elsewhere"].as_bool().unwrap(),
            )
        })
        .collect();
    flagged.sort();
    let mut expected = vec![
        (overdue.clone(), true),
        (own.clone(), false),
        (unclaimed.clone(), true),
        (unclaimed_here.clone(), true),
    ];
    expected.sort();
    assert_eq!(flagged, expected, "{preview}");
    let report = app
        .gql(
            "mutation { runRetention { deletedSegments deletedBytes forgottenSegments byReason { reason segments bytes } } }",
            json!({}),
            app.admin(),
        )
        .await["runRetention"]
        .clone();
    assert_eq!(
        report,
        json!({
            "deletedSegments": 2,
            "deletedBytes": 200,
            "forgottenSegments": 2,
            "byReason": [{"reason": "AGE", "segments": 2, "bytes": 200}],
        }),
        "only this server's segment and the unclaimed row whose file was here freed its disk"
    );
    assert!(!unclaimed_file.exists());
    assert_eq!(
        remaining(&app, "left").await,
        vec![recent],
        "the row a day past retention and this server's own go; the other server's recent one waits for it"
    );
    assert!(!remaining(&app, "left").await.contains(&own));
    assert!(
        path.exists(),
        "another server's row goes without an unlink here"
    );
    // Coverage no longer offers the expired span: it is a pruned gap.
    let from = now - chrono::Duration::hours(27);
    let cov = app
        .gql(
            "query($f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: \"left\", from: $f, to: $t) { coveredSeconds gaps { reason } } }",
            json!({"f": from.to_rfc3339(), "t": (from + chrono::Duration::seconds(60)).to_rfc3339()}),
            app.admin(),
        )
        .await;
    assert_eq!(
        cov["footageCoverage"]["gaps"],
        json!([{"reason": "PRUNED"}]),
        "{cov}"
    );
    assert_eq!(cov["footageCoverage"]["coveredSeconds"], 0.0, "{cov}");
}
both!(another_servers_rows_expire_a_day_past_retention_and_its_files_are_left_alone);

/// Orphan reclamation covers the sub-stream's directory as well as the main one, each judged
/// by this server's oldest segment of its own stream; a file no row accounts for that is past
/// its camera's retention goes even when this server holds no row of the camera (its rows were
/// expired elsewhere while it was away), unless an active hold overlaps it; a file within
/// retention with no row is left to the indexer.
async fn orphans_of_both_streams_past_retention_are_reclaimed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "kept", json!({"retentionHours": 1})).await;
    let file = |rel: String| stray_file(&app, &rel, true);
    let name = |ago: i64| {
        (Utc::now() - chrono::Duration::minutes(ago))
            .format("%Y%m%d_%H%M%S")
            .to_string()
    };
    // This server's oldest sub-stream segment began 30 minutes ago; it has no main-stream row.
    let tracked = format!("kept/sub/{}.mp4", name(30));
    let row = entity::segment::Model {
        id: "seg_kept_sub".into(),
        camera_id: "kept".into(),
        path: tracked.clone(),
        start_ms: Utc::now().timestamp_millis() - 30 * 60_000,
        end_ms: Utc::now().timestamp_millis() - 29 * 60_000,
        codec: None,
        width: None,
        height: None,
        fps: None,
        size_bytes: 0,
        read_locks: 0,
        evidence_locked: false,
        created_at: Utc::now(),
        profile: "sub".to_owned(),
        media_offset: None,
        timescale: None,
        duration_ticks: None,
        instance_id: Some(app.state.ownership.instance_id().to_owned()),
    };
    heldar::footage::store::insert_segments(&app.state.db, vec![row])
        .await
        .unwrap();
    app.gql(
        "mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { id } }",
        json!({"i": {"cameraId": "kept", "from": "2021-01-01T00:00:00Z", "to": "2021-01-01T00:10:00Z", "incidentId": "case-old"}}),
        app.admin(),
    )
    .await;
    let gone = [
        file("kept/20200101_000000.mp4".into()),
        file("kept/sub/20200101_000000.mp4".into()),
        file("deleted/sub/20200101_000000.mp4".into()),
        file(format!("kept/sub/{}.mp4", name(40))),
    ];
    let kept = [
        file(format!("kept/{}.mp4", name(10))),
        file(format!("kept/sub/{}.mp4", name(10))),
        file(format!("kept/{}.mp4", name(40))),
        file("kept/20210101_000500.mp4".into()),
        file(tracked),
    ];
    assert_eq!(reclaimed_orphans(&app).await, 4);
    for path in &gone {
        assert!(!path.exists(), "{} should be reclaimed", path.display());
    }
    for path in &kept {
        assert!(path.exists(), "{} should stay", path.display());
    }
}
both!(orphans_of_both_streams_past_retention_are_reclaimed);

async fn the_size_cap_does_not_cut_a_camera_the_pruned_one_came_down_to(backend: Backend) {
    // R5: cap 5000. A has 6×1000 (no age limit to speak of); B has 3×1000, older. A is pruned
    // until both are 500 over their 2500 share; the last 1000 must come from A, not B.
    let (app, now) = two_cameras_under_a_cap(backend, 5000).await;
    hourly(&app, "b", 3, now - chrono::Duration::hours(30), 1000).await;
    hourly(&app, "a", 6, now - chrono::Duration::hours(10), 1000).await;
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(
        report["byReason"],
        json!([{"reason": "SIZE_CAP", "segments": 4, "bytes": 4000}])
    );
    assert_eq!(remaining(&app, "b").await.len(), 3);
    assert_eq!(remaining(&app, "a").await.len(), 2);
}
both!(the_size_cap_does_not_cut_a_camera_the_pruned_one_came_down_to);

async fn a_balanced_fleet_over_the_cap_is_pruned_evenly(backend: Backend) {
    // R7: 4 + 4 × 1000 with cap 4000: each camera keeps two, not one camera all four.
    let (app, now) = two_cameras_under_a_cap(backend, 4000).await;
    for cam in ["a", "b"] {
        hourly(&app, cam, 4, now - chrono::Duration::hours(10), 1000).await;
    }
    app.gql(SWEEP, json!({}), app.admin()).await;
    assert_eq!(remaining(&app, "a").await.len(), 2);
    assert_eq!(remaining(&app, "b").await.len(), 2);
}
both!(a_balanced_fleet_over_the_cap_is_pruned_evenly);

async fn overlapping_readers_each_hold_their_own_lock(backend: Backend) {
    // C10: two readers of one segment; retention waits for both.
    let app = TestApp::spawn(backend).await;
    camera(&app, "c10", json!({"retentionHours": 1})).await;
    let id = seg(&app, "c10", 0, Utc::now() - chrono::Duration::hours(5), 10).await;
    let first = heldar::evidence::locks::ReadLock::acquire(
        &app.state.db,
        app.state.ownership.instance_id(),
        vec![id.clone()],
    )
    .await
    .unwrap();
    let second = heldar::evidence::locks::ReadLock::acquire(
        &app.state.db,
        app.state.ownership.instance_id(),
        vec![id.clone()],
    )
    .await
    .unwrap();
    assert_eq!(read_locks(&app).await, 2);
    first.release().await;
    assert_eq!(read_locks(&app).await, 1);
    assert_eq!(
        app.gql(SWEEP, json!({}), app.admin()).await["runRetention"]["deletedSegments"],
        0
    );
    drop(second); // released from a task, as after a cancelled export
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read_locks(&app).await, 0);
    assert_eq!(
        app.gql(SWEEP, json!({}), app.admin()).await["runRetention"]["deletedSegments"],
        1
    );
}
both!(overlapping_readers_each_hold_their_own_lock);

async fn a_server_killed_mid_export_leaves_no_lock_no_running_job_and_no_partial_file(
    backend: Backend,
) {
    if !ffmpeg_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database_url = crate::helpers::process::fresh_database(&backend).await;
    let http = reqwest::Client::new();
    let (mut server, addr) = start_server(dir.path(), database_url.as_deref());
    let token = crate::helpers::process::admin_token(&http, &addr).await;
    call(&http, &addr, Some(&token), "mutation { createCamera(input: {id: \"crash\", name: \"crash\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false, segmentSeconds: 2}) { id } }", json!({})).await;
    let base = DateTime::from_timestamp(Utc::now().timestamp() - 7200, 0).unwrap();
    write_run(&dir.path().join("recordings/crash"), base, 60, 60);
    let coverage = "query($f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: \"crash\", from: $f, to: $t) { coveredSeconds } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let covered = call(
            &http,
            &addr,
            Some(&token),
            coverage,
            json!({"f": at(base, 0), "t": at(base, 3600)}),
        )
        .await["footageCoverage"]["coveredSeconds"]
            .as_f64()
            .unwrap();
        if covered > 3590.0 {
            break;
        }
        assert!(Instant::now() < deadline, "indexed only {covered} s");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let id = call(
        &http,
        &addr,
        Some(&token),
        "mutation($i: ExportClipInput!) { exportClip(input: $i) { id } }",
        json!({"i": {"cameraId": "crash", "from": at(base, 0), "to": at(base, 3600)}}),
    )
    .await["exportClip"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // kill -9: no chance to clean up.
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &server.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = server.wait();
    // The killed run's partial output gets a name of its own (a re-run after restart writes
    // `<id>.mp4.part` again); start-up must remove every `.part`.
    let killed_part = dir.path().join("exports").join(format!("{id}.killed.part"));
    let part = dir.path().join("exports").join(format!("{id}.mp4.part"));
    if part.exists() {
        std::fs::rename(&part, &killed_part).unwrap();
    }
    let db_url = database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/heldar.db?mode=rw", dir.path().display()));
    {
        use sea_orm::EntityTrait;
        let db = sea_orm::Database::connect(db_url.as_str()).await.unwrap();
        let job = entity::clip_export::Entity::find_by_id(id.clone())
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let locks: i32 = entity::segment::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .iter()
            .map(|s| s.read_locks)
            .sum();
        eprintln!(
            "after kill -9: export {} (progress {:.2}), read locks {locks}",
            job.status, job.progress
        );
        assert!(
            job.status.as_str() == "running" || job.status.as_str() == "ready",
            "{}",
            job.status
        );
        db.close().await.ok();
    }

    let (_server, addr) = start_server(dir.path(), database_url.as_deref());
    let token = crate::helpers::process::admin_token(&http, &addr).await;
    let segments = "{ segments(cameraId: \"crash\", from: \"2000-01-01T00:00:00Z\", to: \"2000-01-01T01:00:00Z\") { edges { node { id } } } }";
    call(&http, &addr, Some(&token), segments, json!({})).await;
    assert!(
        !killed_part.exists(),
        "the killed run's partial file is removed at start-up"
    );
    let status = call(
        &http,
        &addr,
        Some(&token),
        "query($id: ID!) { clipExport(id: $id) { status downloadUrl } }",
        json!({"id": id}),
    )
    .await["clipExport"]
        .clone();
    if status["status"] != "READY" {
        let raw = http
            .get(format!("{addr}/media/clips/{id}.mp4"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 404, "nothing is served before READY");
    }
    // The interrupted job is re-queued and finishes; it never stays RUNNING.
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let job = call(
            &http,
            &addr,
            Some(&token),
            "query($id: ID!) { clipExport(id: $id) { status coveredSeconds sha256 downloadUrl } }",
            json!({"id": id}),
        )
        .await["clipExport"]
            .clone();
        if job["status"] == "READY" {
            break job;
        }
        assert!(
            ["QUEUED", "RUNNING"].contains(&job["status"].as_str().unwrap()),
            "{job}"
        );
        assert!(
            Instant::now() < deadline,
            "the interrupted export never finished: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let bytes = http
        .get(format!("{addr}{}", ready["downloadUrl"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        ready["sha256"].as_str().unwrap()
    );
    // Read locks: none left from the killed run.
    let db = sea_orm::Database::connect(db_url.as_str()).await.unwrap();
    use sea_orm::EntityTrait;
    let locks: i32 = entity::segment::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|s| s.read_locks)
        .sum();
    assert_eq!(locks, 0);
    db.close().await.ok();
    drop(_server);
    if let (crate::helpers::Backend::Postgres(admin), Some(url)) = (&backend, &database_url) {
        use sea_orm::ConnectionTrait;
        let name = url.rsplit('/').next().unwrap();
        let conn = sea_orm::Database::connect(admin.as_str()).await.unwrap();
        conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .ok();
    }
}
both!(a_server_killed_mid_export_leaves_no_lock_no_running_job_and_no_partial_file);

async fn exports_racing_retention_never_lose_a_locked_or_held_segment(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    // Everything unprotected is due (1 h retention, footage 3 h old) and the size cap is 1 byte.
    let app = TestApp::spawn_with(backend, |c| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
        c.max_recordings_size = bytesize::ByteSize(1);
        c.media_jobs = 3;
    })
    .await;
    let mut seed = 0x2545_f491_u64;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..3 {
        let cam = format!("race{round}");
        camera(&app, &cam, json!({"retentionHours": 1})).await;
        let base = DateTime::from_timestamp(Utc::now().timestamp() - 3 * 3600, 0).unwrap();
        write_run(&app.data_dir.join("recordings").join(&cam), base, 12, 10);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        heldar::footage::indexer::index_once(&app.state)
            .await
            .unwrap();
        let held = app
            .gql(
                "mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { segmentCount } }",
                json!({"i": {"cameraId": cam, "from": at(base, 40), "to": at(base, 60)}}),
                app.admin(),
            )
            .await;
        assert_eq!(held["lockEvidence"]["segmentCount"], 2);
        let mut ids = Vec::new();
        for _ in 0..4 {
            let from = random(60) as i64;
            let data = app.gql("mutation($i: ExportClipInput!) { exportClip(input: $i) { id } }",
                json!({"i": {"cameraId": cam, "from": at(base, from), "to": at(base, from + 30 + random(30) as i64)}}), app.admin()).await;
            ids.push(data["exportClip"]["id"].as_str().unwrap().to_owned());
            tokio::time::sleep(Duration::from_millis(random(40))).await;
        }
        // Sweeps race the exports.
        for _ in 0..4 {
            app.gql(SWEEP, json!({}), app.admin()).await;
            tokio::time::sleep(Duration::from_millis(random(60))).await;
        }
        for id in &ids {
            let deadline = Instant::now() + Duration::from_secs(60);
            let job = loop {
                let job = app
                    .gql(
                        &format!("query($id: ID!) {{ clipExport(id: $id) {{ {CLIP} }} }}"),
                        json!({"id": id}),
                        app.admin(),
                    )
                    .await["clipExport"]
                    .clone();
                if job["status"] == "READY" || job["status"] == "FAILED" {
                    break job;
                }
                assert!(Instant::now() < deadline, "{job}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            if job["status"] == "FAILED" {
                // Only a queued job whose footage went before it started may fail, never a read cut short.
                assert_eq!(
                    job["error"], "the footage was deleted before the export could start",
                    "{job}"
                );
                continue;
            }
            let bytes = app
                .http
                .get(format!(
                    "{}{}",
                    app.addr,
                    job["downloadUrl"].as_str().unwrap()
                ))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let covered = job["coveredSeconds"].as_f64().unwrap();
            let duration = ffprobe_duration(&bytes);
            assert!(
                (duration - covered).abs() <= 1.1,
                "round {round}: clip of {duration} s for {covered} s covered: {job}"
            );
        }
        // The held segments are all still there; everything unprotected is gone.
        let left = remaining(&app, &cam).await;
        app.gql(SWEEP, json!({}), app.admin()).await;
        let after = remaining(&app, &cam).await;
        assert_eq!(
            after.len(),
            2,
            "only the two held segments remain: {after:?} (before the last sweep {left:?})"
        );
        assert_eq!(read_locks(&app).await, 0);
    }
}
both!(exports_racing_retention_never_lose_a_locked_or_held_segment);

async fn on_postgres_a_new_hold_waits_for_a_retention_delete_in_progress_on_its_camera(
    backend: Backend,
) {
    // SQLite runs one writer at a time; PostgreSQL needs the per-camera lock this checks.
    if matches!(backend, crate::helpers::Backend::Sqlite) {
        return;
    }
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1", json!({})).await;
    // A retention delete on c1 is in progress: it holds the camera's hold lock.
    let txn = app.state.db.begin().await.unwrap();
    heldar::evidence::locks::lock_camera_holds(&txn, "c1")
        .await
        .unwrap();
    let (http, url, token) = (
        app.http.clone(),
        format!("{}/graphql", app.addr),
        app.token.clone(),
    );
    let now = Utc::now();
    let hold = tokio::spawn(async move {
        let body = json!({"query": "mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { id } }",
            "variables": {"i": {"cameraId": "c1", "from": at(now, -600), "to": at(now, 0)}}});
        http.post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !hold.is_finished(),
        "the hold waits for the delete to commit"
    );
    txn.commit().await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(5), hold)
        .await
        .unwrap()
        .unwrap();
    assert!(done["data"]["lockEvidence"]["id"].is_string(), "{done}");
}
both!(on_postgres_a_new_hold_waits_for_a_retention_delete_in_progress_on_its_camera);

/// A signed link works while the credential it was issued to stands, and stops when the
/// session ends or the holder loses the camera.
async fn a_signed_link_dies_with_its_credential(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let (app, base) = with_footage(backend).await;
    let snapshot =
        "mutation($at: DateTime!) { exportSnapshot(cameraId: \"ev\", at: $at) { downloadUrl } }";
    let fetch = |link: Value| {
        let url = format!(
            "{}{}",
            app.addr,
            link["exportSnapshot"]["downloadUrl"].as_str().unwrap()
        );
        let http = app.http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            )
        }
    };
    let (id, token) = app.user_with_role("taker", "viewer").await;
    let first = app
        .gql(snapshot, json!({"at": at(base, 12)}), Some(&token))
        .await;
    let second_token = app.login("taker", crate::helpers::USER_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app
        .gql(snapshot, json!({"at": at(base, 3)}), Some(&second_token))
        .await;
    assert_eq!(fetch(first.clone()).await.0, 200);
    assert_eq!(fetch(second.clone()).await.0, 200);

    // The first session ends: its link is refused, the other session's still works.
    app.gql("mutation { logout }", json!({}), Some(&token))
        .await;
    let (status, body) = fetch(first).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no longer valid"), "{body}");
    assert_eq!(fetch(second.clone()).await.0, 200);

    // The holder loses the camera: the other link is refused too.
    app.gql(
        "mutation($id: ID!) { updateUser(input: {id: $id, cameraIds: [\"elsewhere\"]}) { id } }",
        json!({"id": id}),
        app.admin(),
    )
    .await;
    assert_eq!(fetch(second).await.0, 403);
}
both!(a_signed_link_dies_with_its_credential);

/// A session nobody refreshed for the idle time has ended: its signed links are refused then,
/// though the link and the session's absolute end are still ahead; a session kept alive by a
/// refresh keeps its links.
async fn a_signed_link_dies_when_its_session_idles_out(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let clock = std::sync::Arc::new(heldar::clock::ManualClock::new(Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
        c.session_idle_secs = 300;
        c.media_url_ttl_secs = 3600;
    })
    .await;
    camera(&app, "ev", json!({})).await;
    let base = footage(&app, "ev").await;
    app.user_with_role("idler", "viewer").await;
    let snapshot =
        "mutation($at: DateTime!) { exportSnapshot(cameraId: \"ev\", at: $at) { downloadUrl } }";
    let session = || async {
        let login = app.login("idler", crate::helpers::USER_PASSWORD).await;
        let token = login["accessToken"].as_str().unwrap().to_owned();
        let link = app
            .gql(snapshot, json!({"at": at(base, 12)}), Some(&token))
            .await["exportSnapshot"]["downloadUrl"]
            .as_str()
            .unwrap()
            .to_owned();
        (login["refreshToken"].clone(), format!("{}{link}", app.addr))
    };
    let status = |url: String| {
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    let (_, idle) = session().await;
    let (refresh, kept) = session().await;
    // The access token itself ends with the idle time (not at its 900 s lifetime).
    let login = app.login("idler", crate::helpers::USER_PASSWORD).await;
    let expires: DateTime<Utc> = login["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(
        expires <= clock.now_dt() + chrono::Duration::seconds(300),
        "{expires} (now {})",
        clock.now_dt()
    );
    assert_eq!(status(idle.clone()).await, 200);

    clock.advance(chrono::Duration::seconds(200));
    let refreshed = app
        .gql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }",
            json!({"t": refresh}),
            None,
        )
        .await;
    assert!(refreshed["refreshSession"]["accessToken"].is_string());
    clock.advance(chrono::Duration::seconds(150));
    assert_eq!(status(idle).await, 403, "idle for 350 s of 300");
    assert_eq!(status(kept).await, 200, "refreshed 150 s ago");
}
both!(a_signed_link_dies_when_its_session_idles_out);

/// `GET /media/recordings/<segment id>`: a bearer with `video:playback` on the camera gets the
/// file (and byte ranges of it); no token is 401; a caller scoped elsewhere is refused alike for
/// the segment and for an id that does not exist, so it learns nothing of either.
async fn a_recording_is_served_to_its_cameras_viewers_only(backend: Backend) {
    use sea_orm::EntityTrait;
    if !ffmpeg_ready() {
        return;
    }
    let (app, _) = with_footage(backend).await;
    let segment = entity::segment::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let disk = std::fs::read(app.data_dir.join("recordings").join(&segment.path)).unwrap();
    let get = |id: &str, token: Option<&str>, range: Option<&str>| {
        let mut request = app.http.get(format!("{}/media/recordings/{id}", app.addr));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        request.send()
    };
    let whole = get(&segment.id, app.admin(), None).await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), disk.as_slice());
    let part = get(&segment.id, app.admin(), Some("bytes=10-19"))
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &disk[10..20]);
    assert_eq!(get(&segment.id, None, None).await.unwrap().status(), 401);
    assert_eq!(
        get("seg_missing", app.admin(), None)
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, _, elsewhere) = app.api_key("viewer", Some(vec!["other"])).await;
    let theirs = get(&segment.id, Some(&elsewhere), None).await.unwrap();
    let missing = get("seg_missing", Some(&elsewhere), None).await.unwrap();
    assert_eq!(theirs.status(), 403);
    assert_eq!(missing.status(), 403);
    assert_eq!(
        theirs.text().await.unwrap(),
        missing.text().await.unwrap(),
        "the same refusal"
    );
}
both!(a_recording_is_served_to_its_cameras_viewers_only);

/// One credential cannot flood the export queue, and exports live within their own quota:
/// the oldest are evicted first (never held footage), before any recording.
async fn exports_are_capped_per_credential_and_kept_within_their_quota(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
        c.exports_per_credential = 2;
        c.exports_max_size = bytesize::ByteSize(1);
    })
    .await;
    camera(&app, "ev", json!({})).await;
    let base = footage(&app, "ev").await;
    let (_, viewer) = app.user_with_role("flood", "viewer").await;
    let export = "mutation($i: ExportClipInput!) { exportClip(input: $i) { id } }";
    let window = json!({"i": {"cameraId": "ev", "from": at(base, 1), "to": at(base, 18)}});
    let answers = futures_util::future::join_all(
        (0..6).map(|_| app.post(export, window.clone(), Some(&viewer))),
    )
    .await;
    let refused: Vec<&Value> = answers
        .iter()
        .map(|(_, body)| body)
        .filter(|body| body["errors"][0]["extensions"]["code"] == "EXPORT_QUEUE_FULL")
        .collect();
    assert!(refused.len() >= 2, "{answers:?}");
    assert!(
        refused[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("the limit")
    );
    // The admin's own queue is separate.
    let (_, admin_export) = app.post(export, window.clone(), app.admin()).await;
    assert!(
        admin_export["data"]["exportClip"]["id"].is_string(),
        "{admin_export}"
    );

    // Two snapshots; the second's instant is under a hold. The quota (1 byte) evicts every
    // finished clip and the first snapshot, never the held one, and no recording.
    let snap =
        "mutation($at: DateTime!) { exportSnapshot(cameraId: \"ev\", at: $at) { downloadUrl } }";
    let free = app.gql(snap, json!({"at": at(base, 3)}), app.admin()).await["exportSnapshot"]["downloadUrl"].clone();
    let held = app
        .gql(snap, json!({"at": at(base, 35)}), app.admin())
        .await["exportSnapshot"]["downloadUrl"]
        .clone();
    app.gql(
        "mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { id } }",
        json!({"i": {"cameraId": "ev", "from": at(base, 30), "to": at(base, 40)}}),
        app.admin(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = app
        .gql(
            "mutation { runRetention { evictedExports deletedSegments } }",
            json!({}),
            app.admin(),
        )
        .await["runRetention"]
        .clone();
    assert!(report["evictedExports"].as_i64().unwrap() >= 2, "{report}");
    assert_eq!(report["deletedSegments"], 0, "{report}");
    let status = |link: &Value| {
        let url = format!("{}{}", app.addr, link.as_str().unwrap());
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&free).await, 404, "the unheld snapshot was evicted");
    assert_eq!(status(&held).await, 200, "the held snapshot stays");
}
both!(exports_are_capped_per_credential_and_kept_within_their_quota);

async fn an_exports_limit_of_zero_means_no_limit(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
        c.exports_max_size = bytesize::ByteSize(0);
    })
    .await;
    camera(&app, "ev", json!({})).await;
    let base = footage(&app, "ev").await;
    let link = app
        .gql(
            "mutation($at: DateTime!) { exportSnapshot(cameraId: \"ev\", at: $at) { downloadUrl } }",
            json!({"at": at(base, 3)}),
            app.admin(),
        )
        .await["exportSnapshot"]["downloadUrl"]
        .clone();
    let report = app
        .gql(
            "mutation { runRetention { evictedExports } }",
            json!({}),
            app.admin(),
        )
        .await["runRetention"]
        .clone();
    assert_eq!(report["evictedExports"], 0, "{report}");
    let url = format!("{}{}", app.addr, link.as_str().unwrap());
    assert_eq!(app.http.get(url).send().await.unwrap().status(), 200);
}
both!(an_exports_limit_of_zero_means_no_limit);
