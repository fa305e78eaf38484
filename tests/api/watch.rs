//! Watching footage through the public API: HLS playback built from the index (playlist
//! validity, ffprobe, byte ranges, the timeline across files), its refusals (forged, expired,
//! revoked, out of scope), retention sparing a watched playback, thumbnails and previews, and
//! live view (one relay for many viewers, HLS live, close on revocation).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::both;
use crate::helpers::media::{ffmpeg_ready, write_fragmented_run};
use crate::helpers::{Backend, TestApp, eventually};

const PLAYBACK: &str = "query($c: ID!, $f: DateTime!, $t: DateTime!) { playback(cameraId: $c, from: $f, to: $t) { url expiresAt coveredSeconds segmentCount gaps { from to seconds } } }";

/// A camera with two runs of real fragmented footage: 3 × 4 s from `base`, a 20 s hole, then
/// 2 × 4 s; indexed.
pub(crate) async fn footage(app: &TestApp, camera: &str, base: DateTime<Utc>) {
    app.camera(camera, &format!("Camera {camera}")).await;
    let dir = app.data_dir.join("recordings").join(camera);
    write_fragmented_run(&dir, base, 3, 4);
    write_fragmented_run(&dir, base + chrono::Duration::seconds(32), 2, 4);
    settle(&dir);
    heldar::footage::indexer::index_once(&app.state)
        .await
        .unwrap();
}

/// Ages the files' modification times so the indexer takes even the newest as closed.
pub(crate) fn settle(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    }
}

pub(crate) fn base() -> DateTime<Utc> {
    let now = Utc::now() - chrono::Duration::minutes(10);
    DateTime::from_timestamp(now.timestamp(), 0).unwrap()
}

pub(crate) async fn playback(
    app: &TestApp,
    camera: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    token: Option<&str>,
) -> Value {
    app.gql(
        PLAYBACK,
        json!({"c": camera, "f": from.to_rfc3339(), "t": to.to_rfc3339()}),
        token,
    )
    .await["playback"]
        .clone()
}

pub(crate) async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.addr))
        .send()
        .await
        .unwrap()
}

/// ffprobe's answer for the first video stream of `url`: one non-empty line per item of
/// `entries` (`packet=dts_time`, `stream=width,height`), as CSV without prefixes.
fn ffprobe_video(url: &str, entries: &str) -> Vec<String> {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            entries,
        ])
        .args(["-of", "csv=p=0", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The decode times ffprobe reads, packet by packet, from a playlist URL.
fn packet_times(url: &str) -> Vec<f64> {
    ffprobe_video(url, "packet=dts_time")
        .iter()
        .filter_map(|l| l.trim_end_matches(',').parse().ok())
        .collect()
}

fn extinf(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse::<f64>().unwrap())
        .collect()
}

/// The playlist follows RFC 8216: tags, target duration, a map per run, a discontinuity at the
/// gap, program date-time on every segment, the start at `from`; ffprobe plays it; byte ranges
/// work; each file continues the previous one's timeline.
async fn a_playback_is_a_valid_hls_playlist_across_a_gap(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let base = base();
    footage(&app, "yard", base).await;
    let from = base + chrono::Duration::milliseconds(1500);
    let to = base + chrono::Duration::seconds(40);
    let pb = playback(&app, "yard", from, to, app.admin()).await;
    assert_eq!(pb["segmentCount"], 5, "{pb}");
    assert_eq!(pb["gaps"].as_array().unwrap().len(), 1, "{pb}");
    let covered = pb["coveredSeconds"].as_f64().unwrap();
    assert!((covered - 18.5).abs() < 1.5, "covered {covered}");
    let url = pb["url"].as_str().unwrap().to_owned();
    let response = fetch(&app, &url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    assert!(text.contains("#EXT-X-VERSION:7\n") && text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
    assert!(
        text.contains("#EXT-X-START:TIME-OFFSET=1.500,PRECISE=YES\n"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"#EXT-X-ENDLIST"));
    let durations = extinf(&text);
    assert_eq!(durations.len(), 5);
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        durations.iter().all(|d| d.round() <= target),
        "{durations:?} vs {target}"
    );
    let total: f64 = durations.iter().sum();
    assert!((total - 20.0).abs() < 0.3, "total {total}");
    assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 5);
    assert_eq!(text.matches("#EXT-X-MAP:").count(), 2);
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
    // The discontinuity comes right after the third file, and its date-time jumps the hole.
    let disc = lines
        .iter()
        .position(|l| *l == "#EXT-X-DISCONTINUITY")
        .unwrap();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("s/"))
            .take_while(|_| true)
            .count(),
        5
    );
    assert!(lines[disc + 2].starts_with("#EXT-X-PROGRAM-DATE-TIME:"));
    let after: DateTime<Utc> = lines[disc + 2]
        .trim_start_matches("#EXT-X-PROGRAM-DATE-TIME:")
        .parse()
        .unwrap();
    assert_eq!(after, base + chrono::Duration::seconds(32));

    // Segment URLs resolve against the playlist; each continues the timeline (tfdt rebased).
    let dir = url.trim_end_matches("index.m3u8");
    let media: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("s/"))
        .collect();
    let bases: Vec<u64> = media
        .iter()
        .map(|l| {
            l.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".m4s")
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(bases[0], 0);
    assert!(bases.windows(2).all(|w| w[1] > w[0]), "{bases:?}");
    let second = fetch(&app, &format!("{dir}{}", media[1])).await;
    assert_eq!(second.status(), 200);
    let body = second.bytes().await.unwrap();
    assert_eq!(&body[4..8], b"moof", "media segments start with a moof");
    // A byte range of it.
    let ranged = app
        .http
        .get(format!("{}{dir}{}", app.addr, media[1]))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(
        ranged.headers()["content-range"],
        format!("bytes 100-199/{}", body.len()).as_str()
    );
    assert_eq!(ranged.bytes().await.unwrap(), body.slice(100..200));
    let with_range = |range: String| {
        app.http
            .get(format!("{}{dir}{}", app.addr, media[1]))
            .header("Range", range)
            .send()
    };
    // The last 100 bytes; past the end (416, with the size); several ranges (the whole body).
    let tail = with_range("bytes=-100".into()).await.unwrap();
    assert_eq!(tail.status(), 206);
    let len = body.len();
    assert_eq!(
        tail.headers()["content-range"],
        format!("bytes {}-{}/{len}", len - 100, len - 1).as_str()
    );
    assert_eq!(tail.bytes().await.unwrap(), body.slice(len - 100..));
    let past = with_range(format!("bytes={len}-")).await.unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{len}").as_str()
    );
    let several = with_range("bytes=0-9,20-29".into()).await.unwrap();
    assert_eq!(several.status(), 200);
    assert_eq!(several.bytes().await.unwrap(), body);
    let map = lines
        .iter()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .unwrap()
        .trim_end_matches('"');
    let init = fetch(&app, &format!("{dir}{map}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&init[4..8], b"ftyp");

    // ffprobe reads the playlist over HTTP and finds all 20 s.
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(format!("{}{url}", app.addr))
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let seconds: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!((seconds - 20.0).abs() < 0.5, "ffprobe: {seconds}");
    // ffprobe decodes every packet of it in order: timestamps rise across files and the gap.
    let dts = packet_times(&format!("{}{url}", app.addr));
    assert_eq!(dts.len(), 200, "20 s at 10 frames a second");
    assert!(dts.windows(2).all(|w| w[1] > w[0]), "decode times rise");
}
both!(a_playback_is_a_valid_hls_playlist_across_a_gap);

fn bad((code, message): &(String, String), field: &str) {
    assert_eq!(code, "BAD_USER_INPUT", "{message}");
    assert!(message.starts_with(&format!("{field}:")), "{message}");
}

/// Bad windows are refused naming the field; nothing to play is said plainly.
async fn playback_arguments_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.camera("gate", "Gate").await;
    let now = Utc::now();
    let check = |from: DateTime<Utc>, to: DateTime<Utc>| json!({"c": "gate", "f": from.to_rfc3339(), "t": to.to_rfc3339()});
    let long = app
        .gql_err(
            PLAYBACK,
            check(now - chrono::Duration::hours(25), now),
            app.admin(),
        )
        .await;
    bad(&long, "to");
    let empty = app
        .gql_err(
            PLAYBACK,
            check(now - chrono::Duration::hours(1), now),
            app.admin(),
        )
        .await;
    bad(&empty, "from");
    let sub = app
        .gql_err(
            "query($c: ID!, $f: DateTime!, $t: DateTime!) { playback(cameraId: $c, from: $f, to: $t, profile: SUB) { url } }",
            check(now - chrono::Duration::hours(1), now),
            app.admin(),
        )
        .await;
    bad(&sub, "profile");
    let frames = app
        .gql_err(
            "query($c: ID!, $f: DateTime!, $t: DateTime!) { previewFrames(cameraId: $c, from: $f, to: $t, every: 1) { url } }",
            check(now - chrono::Duration::hours(1), now),
            app.admin(),
        )
        .await;
    bad(&frames, "every");
}
both!(playback_arguments_are_checked);

/// The media paths of a playlist: its first init segment and its media segments.
async fn playlist_paths(app: &TestApp, url: &str) -> (String, Vec<String>) {
    let text = fetch(app, url).await.text().await.unwrap();
    let dir = url.trim_end_matches("index.m3u8");
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .unwrap()
        .trim_end_matches('"');
    let media = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{dir}{l}"))
        .collect();
    (format!("{dir}{map}"), media)
}

/// A playback URL is refused when forged, expired, issued to a revoked credential, or asked
/// for a camera outside the caller's scope; a scoped caller's own camera plays.
async fn playback_urls_are_refused_unless_genuine_current_and_in_scope(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let clock = std::sync::Arc::new(heldar::clock::ManualClock::new(Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| c.media_url_ttl_secs = 30).await;
    let base = base();
    footage(&app, "yard", base).await;
    app.camera("porch", "Porch").await;
    let (from, to) = (base, base + chrono::Duration::seconds(40));
    let (key_id, _, scoped) = app.api_key("viewer", Some(vec!["yard"])).await;

    // Out of scope: the same FORBIDDEN as for a camera that does not exist.
    let vars = json!({"c": "porch", "f": from.to_rfc3339(), "t": to.to_rfc3339()});
    assert_eq!(
        app.gql_err(PLAYBACK, vars, Some(&scoped)).await.0,
        "FORBIDDEN"
    );
    let url = playback(&app, "yard", from, to, Some(&scoped)).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        fetch(&app, &url).await.status(),
        200,
        "a scoped caller's own camera plays"
    );

    // Forged: a changed claim (another camera) under the old signature; a changed signature.
    let token = url
        .trim_start_matches("/media/playback/")
        .trim_end_matches("/index.m3u8");
    let (body, sig) = token.split_once('.').unwrap();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(engine.decode(body).unwrap()).unwrap();
    let other = engine.encode(claims.replacen("yard", "porch", 1));
    let forged = format!("/media/playback/{other}.{sig}/index.m3u8");
    assert_eq!(fetch(&app, &forged).await.status(), 403);
    let flipped = if sig.ends_with('0') { "1" } else { "0" };
    let resigned = format!(
        "/media/playback/{body}.{}{flipped}/index.m3u8",
        &sig[..sig.len() - 1]
    );
    assert_eq!(fetch(&app, &resigned).await.status(), 403);

    // Expired before it was ever watched.
    let unwatched = playback(&app, "yard", from, to, app.admin()).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(chrono::Duration::seconds(31));
    let expired = fetch(&app, &unwatched).await;
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
    // The viewing in progress (the scoped key's) goes on past the expiry while it fetches.
    let (init, media) = playlist_paths(&app, &url).await;
    assert_eq!(fetch(&app, &init).await.status(), 200);
    assert_eq!(fetch(&app, &media[0]).await.status(), 200);

    // Revoked: every URL of the key stops at once.
    app.gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({"id": key_id}),
        app.admin(),
    )
    .await;
    for path in [&url, &init, &media[0]] {
        let refused = fetch(&app, path).await;
        assert_eq!(refused.status(), 403, "{path}");
        assert!(refused.text().await.unwrap().contains("no longer valid"));
    }
}
both!(playback_urls_are_refused_unless_genuine_current_and_in_scope);

/// While a playback is watched, a sweep deletes none of its segments; once it is idle they go,
/// and so do their cached thumbnails.
async fn retention_spares_footage_being_watched(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.playback_idle_secs = 1).await;
    let base = base() - chrono::Duration::hours(3);
    footage(&app, "yard", base).await;
    app.gql(
        "mutation { updateCamera(input: {id: \"yard\", retentionHours: 1}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    let thumb = app
        .gql(
            "query($c: ID!, $at: DateTime!) { thumbnail(cameraId: $c, at: $at) { url } }",
            json!({"c": "yard", "at": base.to_rfc3339()}),
            app.admin(),
        )
        .await["thumbnail"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fetch(&app, &thumb).await.status(), 200);
    let pb = playback(
        &app,
        "yard",
        base,
        base + chrono::Duration::seconds(40),
        app.admin(),
    )
    .await;
    let url = pb["url"].as_str().unwrap().to_owned();
    let (_, media) = playlist_paths(&app, &url).await;
    const SWEEP: &str = "mutation { runRetention { deletedSegments skippedLocked } }";
    let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
    assert_eq!(report["deletedSegments"], 0, "{report}");
    assert_eq!(fetch(&app, &media[4]).await.status(), 200, "still playing");
    // Idle: no fetch for over a second; the lease ends and the next sweep takes them all.
    let report = eventually(
        Duration::from_secs(10),
        "the idle playback's lease to end",
        || async {
            let report = app.gql(SWEEP, json!({}), app.admin()).await["runRetention"].clone();
            (report["deletedSegments"] == 5).then_some(report)
        },
    )
    .await;
    assert_eq!(report["deletedSegments"], 5);
    assert_eq!(fetch(&app, &media[4]).await.status(), 404);
    let cached = app.data_dir.join("previews").join("yard");
    let left = std::fs::read_dir(&cached).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the thumbnails of deleted footage went too");
}
both!(retention_spares_footage_being_watched);

/// Reads the frame number the numbered test pattern burns into a JPEG.
pub(crate) fn frame_number(jpeg: &[u8]) -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jpg");
    std::fs::write(&path, jpeg).unwrap();
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args([
            "-vf",
            "scale=320:180",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "pipe:1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    (0..16)
        .filter(|i| out.stdout[30 * 320 + i * 20 + 10] > 128)
        .map(|i| 1u32 << i)
        .sum()
}

/// `thumbnail` shows the nearest keyframe (its instant and its picture), `previewFrames` one
/// per keyframe step, cached on disk; the links are signed and refused after revocation.
async fn thumbnails_and_previews_show_the_nearest_keyframes(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let base = base();
    footage(&app, "yard", base).await;
    let (_, viewer) = app.user_with_role("watcher", "viewer").await;
    let thumb = app
        .gql(
            "query($c: ID!, $at: DateTime!) { thumbnail(cameraId: $c, at: $at) { url at } }",
            json!({"c": "yard", "at": (base + chrono::Duration::milliseconds(6300)).to_rfc3339()}),
            Some(&viewer),
        )
        .await["thumbnail"]
        .clone();
    let at: DateTime<Utc> = thumb["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        at,
        base + chrono::Duration::seconds(6),
        "keyframes are a second apart"
    );
    let url = thumb["url"].as_str().unwrap();
    let response = fetch(&app, url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    let jpeg = response.bytes().await.unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    assert_eq!(frame_number(&jpeg), 60, "6 s in at 10 frames a second");
    assert!(
        app.data_dir
            .join("previews/yard")
            .read_dir()
            .unwrap()
            .count()
            == 1,
        "cached"
    );

    let frames = app
        .gql(
            "query($c: ID!, $f: DateTime!, $t: DateTime!) { previewFrames(cameraId: $c, from: $f, to: $t, every: 2) { url at } }",
            json!({"c": "yard", "f": base.to_rfc3339(), "t": (base + chrono::Duration::seconds(10)).to_rfc3339()}),
            Some(&viewer),
        )
        .await["previewFrames"]
        .clone();
    let ats: Vec<i64> = frames
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (f["at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap() - base).num_milliseconds()
        })
        .collect();
    assert_eq!(ats, vec![0, 2000, 4000, 6000, 8000, 10_000]);
    let last = frames[5]["url"].as_str().unwrap();
    assert_eq!(
        frame_number(&fetch(&app, last).await.bytes().await.unwrap()),
        100
    );

    // The viewer signs out: the links it was given stop working.
    app.gql("mutation { logout }", json!({}), Some(&viewer))
        .await;
    assert_eq!(fetch(&app, url).await.status(), 403);
}
both!(thumbnails_and_previews_show_the_nearest_keyframes);

/// A live socket's messages: (text messages, binary messages' box types), reading `binary` binary ones.
async fn live_messages<S>(
    socket: &mut tokio_tungstenite::WebSocketStream<S>,
    binary: usize,
) -> (Vec<Value>, Vec<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut texts, mut boxes) = (Vec::new(), Vec::new());
    while boxes.len() < binary {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("the live socket sends in time")
            .unwrap()
            .unwrap();
        match message {
            Message::Text(text) => texts.push(serde_json::from_str(text.as_str()).unwrap()),
            Message::Binary(bytes) => {
                boxes.push(String::from_utf8_lossy(&bytes[4..8]).into_owned())
            }
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
    (texts, boxes)
}

const LIVE: &str = "query($c: ID!) { liveStream(cameraId: $c) { url hlsUrl expiresAt profile } }";

/// The MIME type (with codecs) the live view of `camera` announces first.
pub(crate) async fn live_mime(app: &TestApp, camera: &str) -> String {
    let live = app.gql(LIVE, json!({"c": camera}), app.admin()).await["liveStream"].clone();
    let url = format!(
        "ws://127.0.0.1:{}{}",
        app.port,
        live["url"].as_str().unwrap()
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (texts, _) = live_messages(&mut socket, 2).await;
    assert_eq!(texts[0]["type"], "init", "{texts:?}");
    texts[0]["mimeType"].as_str().unwrap().to_owned()
}

/// A live camera `street` of a generated test pattern (10 frames a second, not recorded).
async fn live_camera(app: &TestApp) {
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "street", "name": "Street", "recordEnabled": false,
            "streamUrl": "lavfi:testsrc2=size=320x180:rate=10"}}),
        app.admin(),
    )
    .await;
}

/// Points camera `id` at the numbered pattern made in real time, whose frames carry their
/// wall-clock time. Written to the row directly: the API refuses lavfi graphs with quotes,
/// which the pattern needs.
pub(crate) async fn number_camera(app: &TestApp, id: &str) {
    use sea_orm::{ActiveModelTrait, Set};
    entity::camera::ActiveModel {
        id: Set(id.to_owned()),
        stream_url: Set(format!(
            "lavfi:{}",
            crate::helpers::media::numbered_source(10, true)
        )),
        ..Default::default()
    }
    .update(&app.state.db)
    .await
    .unwrap();
}

/// Two viewers share one camera connection; each gets the init segment then fragments from a
/// keyframe; HLS live serves the same relay; a revoked viewer's socket closes with 4403.
async fn live_view_fans_out_one_relay_and_closes_on_revocation(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.allow_local_sources = true).await;
    live_camera(&app).await;
    let (_, viewer) = app.user_with_role("watcher", "viewer").await;
    let live = app.gql(LIVE, json!({"c": "street"}), app.admin()).await["liveStream"].clone();
    assert_eq!(
        live["profile"], "MAIN",
        "no sub stream: the main one is served"
    );
    let theirs = app.gql(LIVE, json!({"c": "street"}), Some(&viewer)).await["liveStream"].clone();
    let ws = |path: &str| format!("ws://127.0.0.1:{}{path}", app.port);
    let (mut first, _) = tokio_tungstenite::connect_async(ws(live["url"].as_str().unwrap()))
        .await
        .unwrap();
    let (mut second, _) = tokio_tungstenite::connect_async(ws(theirs["url"].as_str().unwrap()))
        .await
        .unwrap();
    for socket in [&mut first, &mut second] {
        let (texts, boxes) = live_messages(socket, 3).await;
        assert_eq!(texts[0]["type"], "init");
        assert!(
            texts[0]["mimeType"]
                .as_str()
                .unwrap()
                .starts_with("video/mp4; codecs=\"avc1."),
            "{texts:?}"
        );
        assert_eq!(boxes, vec!["ftyp", "moof", "moof"]);
    }
    let viewers = app
        .gql(
            "{ camera(id: \"street\") { liveViewers } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(viewers["camera"]["liveViewers"], 2);
    assert_eq!(
        app.state.watch.live.relays(),
        1,
        "one camera connection for both"
    );

    // HLS live from the same relay: a sliding window of keyframe-led parts.
    let hls = live["hlsUrl"].as_str().unwrap();
    let text = fetch(&app, hls).await.text().await.unwrap();
    assert!(
        text.starts_with("#EXTM3U\n") && text.contains("#EXT-X-MAP:URI=\"init-1.mp4\""),
        "{text}"
    );
    assert!(!text.contains("#EXT-X-ENDLIST"));
    let part = text.lines().find(|l| l.ends_with(".m4s")).unwrap();
    let dir = hls.trim_end_matches("index.m3u8");
    let bytes = fetch(&app, &format!("{dir}{part}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[4..8], b"moof");
    assert_eq!(
        &fetch(&app, &format!("{dir}init-1.mp4"))
            .await
            .bytes()
            .await
            .unwrap()[4..8],
        b"ftyp"
    );
    assert_eq!(app.state.watch.live.relays(), 1);

    let their_hls = theirs["hlsUrl"].as_str().unwrap();
    assert_eq!(fetch(&app, their_hls).await.status(), 200);

    // The viewer signs out: its socket closes with 4403; the admin's keeps streaming.
    app.gql("mutation { logout }", json!({}), Some(&viewer))
        .await;
    assert_eq!(live_close_code(&mut second).await, 4403);
    let (_, boxes) = live_messages(&mut first, 2).await;
    assert_eq!(boxes, vec!["moof", "moof"]);
    // A refused socket: the revoked credential's URL cannot open a new one.
    match tokio_tungstenite::connect_async(ws(theirs["url"].as_str().unwrap())).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("the revoked URL opened a socket: {:?}", other.map(|_| ())),
    }
    // Nor its HLS links: the playlist and a stream's init segment are refused too.
    let their_dir = their_hls.trim_end_matches("index.m3u8");
    for path in [their_hls.to_owned(), format!("{their_dir}init-1.mp4")] {
        assert_eq!(fetch(&app, &path).await.status(), 403, "{path}");
    }
}
both!(live_view_fans_out_one_relay_and_closes_on_revocation);

/// The width in the `avc1` sample entry of an H.264 init segment.
fn init_width(init: &[u8]) -> u16 {
    let at = init
        .windows(4)
        .position(|w| w == b"avc1")
        .expect("an avc1 sample entry");
    // type, then 6 reserved bytes, the data reference index and 16 bytes of pre-defined and
    // reserved fields before the width.
    u16::from_be_bytes([init[at + 28], init[at + 29]])
}

/// Opens the live socket of `path` and returns it with the width of its init segment.
async fn live_socket(
    app: &TestApp,
    path: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    u16,
) {
    let url = format!("ws://127.0.0.1:{}{path}", app.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("the init segment in time")
            .unwrap()
            .unwrap();
        match message {
            Message::Binary(bytes) => return (socket, init_width(&bytes)),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// The close code a live socket ends with (fragments before it are skipped).
async fn live_close_code<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> u16
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the live socket closes in time")
}

/// A camera whose stream URL changes while people watch it live (a corrected password, a
/// camera moved to a new address) is not shown from the old URL any longer: its websocket
/// viewers are closed with 1012 (come back), a new socket shows the new stream, and an HLS
/// client going on with its link gets the new stream with its parts numbered on. A camera
/// disabled while watched closes its viewers with 4404 and its camera connection.
async fn a_live_view_follows_its_cameras_new_url_and_ends_when_it_is_disabled(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.allow_local_sources = true).await;
    live_camera(&app).await;
    let live = app.gql(LIVE, json!({"c": "street"}), app.admin()).await["liveStream"].clone();
    let (mut socket, width) = live_socket(&app, live["url"].as_str().unwrap()).await;
    assert_eq!(width, 320);
    let hls = live["hlsUrl"].as_str().unwrap();
    let sequence = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no media sequence: {text}"))
    };
    // Some parts into the stream, so that numbering from 0 again would go backwards.
    let before = eventually(Duration::from_secs(20), "a few HLS parts", || async {
        let text = fetch(&app, hls).await.text().await.ok()?;
        (sequence(&text) >= 2).then_some(sequence(&text))
    })
    .await;

    app.gql(
        "mutation { updateCamera(input: {id: \"street\", streamUrl: \"lavfi:testsrc2=size=640x360:rate=10\"}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    assert_eq!(live_close_code(&mut socket).await, 1012);
    let again = app.gql(LIVE, json!({"c": "street"}), app.admin()).await["liveStream"].clone();
    let (mut socket, width) = live_socket(&app, again["url"].as_str().unwrap()).await;
    assert_eq!(width, 640, "the new URL's stream");
    // The HLS client's next playlist: numbered on, a new timeline with the new stream's init.
    let text = fetch(&app, hls).await.text().await.unwrap();
    assert!(sequence(&text) >= before, "{before} then {text}");
    assert!(
        !text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0\n"),
        "a new timeline: {text}"
    );
    let map = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no map: {text}"));
    assert_ne!(map, "init-1.mp4", "{text}");
    let dir = hls.trim_end_matches("index.m3u8");
    let init = fetch(&app, &format!("{dir}{map}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(init_width(&init), 640, "HLS goes on with the new stream");
    assert_eq!(
        app.state.watch.live.relays(),
        1,
        "the old connection is gone"
    );

    app.gql(
        "mutation { updateCamera(input: {id: \"street\", enabled: false}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    assert_eq!(live_close_code(&mut socket).await, 4404);
    assert_eq!(app.state.watch.live.relays(), 0);
    assert_eq!(fetch(&app, hls).await.status(), 404);
}
both!(a_live_view_follows_its_cameras_new_url_and_ends_when_it_is_disabled);

/// One credential holds at most `HELDAR_LIVE_MAX_SOCKETS_PER_CREDENTIAL` live video sockets
/// (counted apart from its GraphQL websockets); one more is refused with 429 until one closes.
async fn live_sockets_are_limited_per_credential(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.allow_local_sources = true;
        c.live_max_sockets_per_credential = 2;
        c.ws_max_sockets_per_credential = 2;
    })
    .await;
    live_camera(&app).await;
    let live = app.gql(LIVE, json!({"c": "street"}), app.admin()).await["liveStream"].clone();
    let url = format!(
        "ws://127.0.0.1:{}{}",
        app.port,
        live["url"].as_str().unwrap()
    );
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    live_messages(&mut first, 1).await;
    live_messages(&mut second, 1).await;
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(refused)) => {
            assert_eq!(refused.status(), 429)
        }
        other => panic!("a third live socket: {:?}", other.map(|(_, r)| r.status())),
    }
    // The GraphQL websocket budget is another one.
    crate::helpers::WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    first.close(None).await.unwrap();
    drop(first);
    let (mut third, _) = eventually(Duration::from_secs(10), "a free slot", || async {
        tokio_tungstenite::connect_async(&url).await.ok()
    })
    .await;
    live_messages(&mut third, 1).await;
}
both!(live_sockets_are_limited_per_credential);

/// The player page in headless Chromium (network limited to loopback): recorded playback
/// starts at `from` and advances, a seek lands on the asked instant within one frame, in the
/// first run and after the gap (each run's frames count from zero).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_page_plays_a_recorded_range_and_seeks_to_the_frame() {
    let Some(web) = crate::node_clients::node_ready(Some("/usr/bin/chromium")) else {
        return;
    };
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = base();
    footage(&app, "yard", base).await;
    let secs = chrono::Duration::milliseconds;
    let run = |seek: DateTime<Utc>| {
        let web = web.clone();
        let args = json!({"mode": "recorded", "username": "admin", "password": crate::helpers::ADMIN_PASSWORD,
            "cameraId": "yard", "from": (base + secs(2000)).to_rfc3339(), "to": (base + secs(40_000)).to_rfc3339(),
            "seekTo": seek.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)})
        .to_string();
        let addr = app.addr.clone();
        tokio::task::spawn_blocking(move || {
            crate::node_clients::run_script(&web, "play-browser.mjs", &[&addr, &args])
        })
    };
    let result = run(base + secs(9500)).await.unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["advanced"], true, "{result}");
    let near = |got: &Value, want: i64| (got.as_i64().unwrap() - want).abs() <= 1;
    assert!(
        near(&result["startFrame"]["n"], 20),
        "starts at `from` (2 s in): {result}"
    );
    assert!(
        near(&result["seekFrame"]["n"], 95),
        "lands on 9.5 s: {result}"
    );
    let after_gap = run(base + secs(34_300)).await.unwrap();
    assert_eq!(after_gap["ok"], true, "{after_gap}");
    assert!(
        near(&after_gap["seekFrame"]["n"], 23),
        "2.3 s into the second run: {after_gap}"
    );
}

/// Live in headless Chromium: the page plays the websocket through Media Source Extensions and
/// the picture it shows is at most 2 s behind the source's own clock burnt into each frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_page_plays_live_within_two_seconds_of_the_source() {
    let Some(web) = crate::node_clients::node_ready(Some("/usr/bin/chromium")) else {
        return;
    };
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.allow_local_sources = true).await;
    live_camera(&app).await;
    number_camera(&app, "street").await;
    let args = json!({"mode": "live", "username": "admin", "password": crate::helpers::ADMIN_PASSWORD, "cameraId": "street"})
        .to_string();
    let addr = app.addr.clone();
    let result = tokio::task::spawn_blocking(move || {
        crate::node_clients::run_script(&web, "play-browser.mjs", &[&addr, &args])
    })
    .await
    .unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert!(result["delays"].as_array().unwrap().len() >= 10, "{result}");
    let max = result["delayMax"].as_f64().unwrap();
    assert!(
        (0.0..=2000.0).contains(&max),
        "live delay up to {max} ms: {result}"
    );
}

/// A camera's sub stream: masked like the main one, recorded beside it when asked, played back
/// with `profile: SUB` at its own resolution, served live as SUB; coverage stays the main
/// stream's.
async fn a_recorded_sub_stream_plays_back_on_its_own(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.allow_local_sources = true).await;
    let refused = app
        .gql_err(
            "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
            json!({"i": {"name": "Nope", "streamUrl": "rtsp://127.0.0.1:9/x", "recordSub": true}}),
            app.admin(),
        )
        .await;
    bad(&refused, "input.recordSub");
    let created = app
        .gql(
            "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id subStreamUrl recordSub } }",
            json!({"i": {"id": "lane", "name": "Lane", "segmentSeconds": 2, "recordSub": true,
                "streamUrl": "lavfi:testsrc2=size=320x180:rate=10",
                "subStreamUrl": "lavfi:testsrc2=size=160x90:rate=10"}}),
            app.admin(),
        )
        .await;
    assert_eq!(created["createCamera"]["recordSub"], true);
    let started = Utc::now() - chrono::Duration::seconds(5);
    let count = |profile: &'static str| {
        let db = app.state.db.clone();
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
            entity::segment::Entity::find()
                .filter(entity::segment::Column::CameraId.eq("lane"))
                .filter(entity::segment::Column::Profile.eq(profile))
                .count(&db)
                .await
                .unwrap()
        }
    };
    eventually(
        Duration::from_secs(40),
        "main and sub segments to be indexed",
        || async {
            heldar::footage::indexer::index_once(&app.state)
                .await
                .unwrap();
            (count("main").await >= 2 && count("sub").await >= 2).then_some(())
        },
    )
    .await;
    let to = Utc::now();
    let sub = app
        .gql(
            "query($f: DateTime!, $t: DateTime!) { playback(cameraId: \"lane\", from: $f, to: $t, profile: SUB) { url segmentCount } }",
            json!({"f": started.to_rfc3339(), "t": to.to_rfc3339()}),
            app.admin(),
        )
        .await["playback"]
        .clone();
    let sizes = ffprobe_video(
        &format!("{}{}", app.addr, sub["url"].as_str().unwrap()),
        "stream=width,height",
    );
    assert!(
        !sizes.is_empty() && sizes.iter().all(|s| s == "160,90"),
        "{sizes:?} {sub}"
    );
    // The segments list and coverage are the main stream's alone.
    let listed = app
        .gql(
            "query($f: DateTime!, $t: DateTime!) { segments(cameraId: \"lane\", from: $f, to: $t, first: 100) { nodes { width } } }",
            json!({"f": started.to_rfc3339(), "t": to.to_rfc3339()}),
            app.admin(),
        )
        .await;
    let widths: Vec<&Value> = listed["segments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["width"])
        .collect();
    assert!(
        !widths.is_empty() && widths.iter().all(|w| **w == 320),
        "{listed}"
    );
    let live = app
        .gql(
            "query { liveStream(cameraId: \"lane\", profile: SUB) { profile } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(live["liveStream"]["profile"], "SUB");
    app.gql(
        "mutation { updateCamera(input: {id: \"lane\", enabled: false}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
}
both!(a_recorded_sub_stream_plays_back_on_its_own);

/// A recording in plain (unfragmented) MP4, as other recorders and imports write them, plays
/// too: it is copied once into fragmented MP4 and served from that copy.
async fn plain_mp4_recordings_play_through_a_fragmented_copy(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    app.camera("shed", "Shed").await;
    let base = base();
    let dir = app.data_dir.join("recordings/shed");
    crate::helpers::media::write_run(&dir, base, 3, 4);
    settle(&dir);
    heldar::footage::indexer::index_once(&app.state)
        .await
        .unwrap();
    let pb = playback(
        &app,
        "shed",
        base,
        base + chrono::Duration::seconds(12),
        app.admin(),
    )
    .await;
    assert_eq!(pb["segmentCount"], 3, "{pb}");
    let url = format!("{}{}", app.addr, pb["url"].as_str().unwrap());
    let dts = packet_times(&url);
    assert_eq!(dts.len(), 60, "12 s at 5 frames a second");
    assert!(dts.windows(2).all(|w| w[1] > w[0]));
    let copies = std::fs::read_dir(app.data_dir.join("previews/shed"))
        .unwrap()
        .count();
    assert_eq!(copies, 3, "one fragmented copy per file");
}
both!(plain_mp4_recordings_play_through_a_fragmented_copy);

/// A live viewer that stops reading falls behind: when it reads again it is told how many
/// frames were skipped and goes on from a keyframe, close to now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_live_viewer_is_told_what_it_missed_and_skipped_to_a_keyframe() {
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.allow_local_sources = true).await;
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "busy", "name": "Busy", "recordEnabled": false,
            "streamUrl": "lavfi:testsrc2=size=1280x720:rate=25"}}),
        app.admin(),
    )
    .await;
    let live = app.gql(LIVE, json!({"c": "busy"}), app.admin()).await["liveStream"].clone();
    // A client with a tiny receive buffer, so the server's sends soon block when it stops reading.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(format!("127.0.0.1:{}", app.port).parse().unwrap())
        .await
        .unwrap();
    let url = format!(
        "ws://127.0.0.1:{}{}",
        app.port,
        live["url"].as_str().unwrap()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let (_, boxes) = live_messages(&mut ws, 3).await;
    assert_eq!(boxes, vec!["ftyp", "moof", "moof"]);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let notice = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str::<Value>(text.as_str()).unwrap();
                }
                Some(Ok(_)) => continue,
                other => panic!("the socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a drop notice");
    assert_eq!(notice["type"], "dropped", "{notice}");
    assert!(notice["frames"].as_u64().unwrap() > 0, "{notice}");
    let (texts, boxes) = live_messages(&mut ws, 1).await;
    assert!(texts.is_empty());
    assert_eq!(boxes, vec!["moof"], "fragments go on after the notice");
}
