//! The operator console at `/`, in headless Chromium with every request outside loopback
//! refused: sign in, play a range across a gap from the timeline, and mark a review item
//! reviewed as one user while another still sees it unreviewed; its GraphQL types are fresh.

use serde_json::json;

use crate::helpers::media::ffmpeg_ready;
use crate::helpers::receiver::Receiver;
use crate::helpers::{ADMIN_PASSWORD, Backend, TestApp, USER_PASSWORD, eventually};
use crate::node_clients::{node_ready, run_script};

/// The console's page and bundle come from the binary, under a CSP without inline script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_at_the_root_by_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(page.text().await.unwrap().contains("/console/app.js"));
    let bundle = app.get("/console/app.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.bytes().await.unwrap().len() > 10_000,
        "the bundle was built (npm run build --prefix web)"
    );
    assert_eq!(app.get("/console/nope.js").await.status(), 404);
    assert_eq!(app.get("/console/app.js.gz").await.status(), 404);

    // Compressed at build time: a client that accepts gzip gets the twin, byte for byte the
    // same script once decompressed.
    let plain = app.get("/console/app.js").await.bytes().await.unwrap();
    let zipped = reqwest::Client::new()
        .get(format!("{}/console/app.js", app.addr))
        .header("accept-encoding", "br;q=1, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "accept-encoding");
    let zipped = zipped.bytes().await.unwrap();
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    let unzipped = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut gunzip = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        gunzip.stdin.take().unwrap().write_all(&zipped).unwrap();
        gunzip.wait_with_output().unwrap().stdout
    })
    .await
    .unwrap();
    assert_eq!(unzipped, plain.to_vec());
    let refused = reqwest::Client::new()
        .get(format!("{}/console/app.js", app.addr))
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
}

/// `web/console/src/gql.ts` matches `schema.graphql` and the console's documents.
#[tokio::test]
async fn the_consoles_generated_types_are_fresh() {
    let Some(web) = node_ready(None) else { return };
    let result =
        tokio::task::spawn_blocking(move || run_script(&web, "console-codegen-fresh.mjs", &[]))
            .await
            .unwrap();
    assert_eq!(result["fresh"], true, "{result}");
}

/// The main flows in Chromium (sign in, a live tile following its camera to a new stream URL,
/// play across a gap with previews on hover, export and
/// check the download against its manifest, hold, draw a zone and see an ENTER and its
/// occupancy, an API key shown once, a webhook's delivery log, an AI task paused, review per
/// user and an item played, keyboard-only use); screenshots of each page land in
/// `target/console-screenshots`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_plays_across_a_gap_and_reviews_per_user() {
    let Some(web) = node_ready(Some("/usr/bin/chromium")) else {
        return;
    };
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.webhook_allowed_hosts = vec!["127.0.0.1".into()];
        // The camera's live tile is moved to a generated source.
        config.allow_local_sources = true;
    })
    .await;
    // Footage up to now: zone events and their review items carry the server's time, so the
    // item opened by the person below has footage to play.
    let base = chrono::DateTime::from_timestamp((chrono::Utc::now().timestamp()) - 38, 0).unwrap();
    crate::watch::footage(&app, "yard", base).await;
    app.user_with_role("watcher", "viewer").await;
    app.whole_frame_zone("yard", "lawn", "CRITICAL").await;
    // A webhook whose delivery log the admin page shows.
    let receiver = Receiver::start().await;
    app.gql(
        "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }",
        json!({"i": {"url": receiver.url, "kinds": ["ZONE_ENTER"]}}),
        app.admin(),
    )
    .await;
    app.person_in_frame("yard", "f1", "t1").await;
    receiver
        .wait_accepted(1, std::time::Duration::from_secs(20))
        .await;
    let item = eventually(
        std::time::Duration::from_secs(20),
        "a review item",
        || async {
            let data = app
                .gql(
                    "{ reviewItems(first: 1) { nodes { id } } }",
                    json!({}),
                    app.admin(),
                )
                .await;
            data["reviewItems"]["nodes"][0]["id"]
                .as_str()
                .map(str::to_owned)
        },
    )
    .await;
    let args = json!({
        "admin": {"username": "admin", "password": ADMIN_PASSWORD},
        "viewer": {"username": "watcher", "password": USER_PASSWORD},
        "cameraId": "yard",
        "playAt": (base + chrono::Duration::seconds(6)).to_rfc3339(),
        "reviewId": item,
        "liveUrl": "lavfi:testsrc2=size=160x90:rate=5",
    })
    .to_string();
    let addr = app.addr.clone();
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let result = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new("node");
        command
            .arg(web.join("tests/console-browser.mjs"))
            .arg(&addr)
            .arg(&args)
            .env("HELDAR_SCREENSHOT_DIR", &shots);
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|_| {
                panic!(
                    "no result: {stdout} {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
    })
    .await
    .unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert!(
        result["gaps"].as_u64().unwrap() >= 1,
        "the gap is drawn: {result}"
    );
    assert_eq!(result["advanced"], true, "{result}");
    assert!(result["clipBytes"].as_u64().unwrap() > 1000, "{result}");
    assert_eq!(
        result["hashMatches"], true,
        "the download is what the manifest hashed: {result}"
    );
    assert_eq!(result["held"], true, "{result}");
    assert_eq!(result["zoneFieldError"], true, "{result}");
    assert_eq!(
        result["zoneEnter"], true,
        "a drawn zone sees the person enter: {result}"
    );
    assert_eq!(result["unreviewedForViewer"], true, "{result}");
    for flow in [
        "signInRefusalShown",
        "liveState",
        "preview",
        "occupancy",
        "pointRemoved",
        "refreshKeptLive",
        "liveFollowed",
        "deliveryLog",
        "taskToggled",
        "adminKeyboard",
        "reviewPlayed",
        "keyboard",
    ] {
        assert_eq!(result[flow], true, "{flow}: {result}");
    }
}
