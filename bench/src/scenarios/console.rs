//! `console`: the operator console (`/`) in headless Chromium against a release server holding
//! 16 cameras with 30 days of 60 s segments each (691,200 rows) and 10,000 review items: first
//! load to interactive, the script's size on the wire, the 30-day timeline of all 16 cameras,
//! and scrolling the review queue and the live event list at 10,000 items. The browser side is
//! `web/tests/console-bench.mjs`.

use std::path::Path;
use std::time::Instant;

use crate::harness::client::{admin_token, gql};
use crate::harness::server::{ADMIN_PASSWORD, start_server};
use crate::{BenchError, Options};

const CAMERAS: usize = 16;
const DAYS: usize = 30;
const REVIEW_ITEMS: usize = 10_000;

/// Seeds the database of `dir`: the cameras (`cam00`…) with their segments, and the review
/// items spread over the last week on `cam00`.
async fn seed(dir: &Path) -> Result<(), BenchError> {
    use sea_orm::{EntityTrait, Set};
    let state = heldar::app::admin_state(heldar::config::Config::for_tests(dir)).await?;
    let seeded = Instant::now();
    for camera in 0..CAMERAS {
        crate::scenarios::footage::seed_segments(
            &state,
            &format!("cam{camera:02}"),
            DAYS * 1440,
            false,
        )
        .await?;
    }
    // Not streaming: the wall shows their state, the timeline their footage.
    entity::camera::Entity::update_many()
        .col_expr(
            entity::camera::Column::Enabled,
            sea_orm::sea_query::Expr::value(false),
        )
        .exec(&state.db)
        .await?;
    let now = chrono::Utc::now();
    let mut batch = Vec::with_capacity(500);
    for i in 0..REVIEW_ITEMS {
        let at = now - chrono::Duration::seconds((i as i64) * 60);
        batch.push(entity::review_item::ActiveModel {
            id: Set(format!("rev_{:013}_{:012}", at.timestamp_millis(), i)),
            camera_id: Set(format!("cam{:02}", i % CAMERAS)),
            severity: Set(if i % 3 == 0 { "alert" } else { "detection" }.to_owned()),
            started_at: Set(at),
            ended_at: Set(at + chrono::Duration::seconds(20)),
            first_seq: Set(i as i64),
            last_seq: Set(i as i64),
            labels: Set(serde_json::json!(["person"])),
            zone_ids: Set(serde_json::json!([])),
            thumbnail_at: Set(at),
            event_count: Set(1),
        });
        if batch.len() == 500 {
            entity::review_item::Entity::insert_many(std::mem::take(&mut batch))
                .exec(&state.db)
                .await?;
        }
    }
    println!(
        "seeded {} segments and {REVIEW_ITEMS} review items in {:.1} s",
        CAMERAS * DAYS * 1440,
        seeded.elapsed().as_secs_f64()
    );
    state.db.close_by_ref().await.ok();
    Ok(())
}

/// The browser driver's JSON result.
async fn drive(port: u16, rounds: usize) -> Result<serde_json::Value, BenchError> {
    let output = tokio::process::Command::new("node")
        .arg("web/tests/console-bench.mjs")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(
            serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD, "cameras": CAMERAS,
                "days": DAYS, "rounds": rounds, "items": REVIEW_ITEMS, "zoneCamera": "cam00"})
            .to_string(),
        )
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .map_err(|_| {
            format!(
                "the console driver printed no result: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    if result["ok"] != true {
        return Err(format!("the console driver failed: {result}").into());
    }
    Ok(result)
}

fn ms(value: &serde_json::Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} ms"))
}

pub(crate) async fn console(options: &Options) -> Result<String, BenchError> {
    let ready = Path::new("web/node_modules/playwright-core").is_dir()
        && Path::new("/usr/bin/chromium").exists();
    if !ready {
        return Err(
            "needs web/node_modules and /usr/bin/chromium (`scripts/test` installs them)".into(),
        );
    }
    let dir = std::env::temp_dir().join(format!("heldar-bench-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    seed(&dir).await?;
    let server = start_server(&[
        ("HELDAR_DATA_DIR", dir.display().to_string()),
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("HELDAR_RETENTION_INTERVAL_SECS", "0".to_owned()),
        ("HELDAR_INDEX_INTERVAL_MS", "600000".to_owned()),
    ])?;
    let token = admin_token(server.port).await?;
    // The zone the live event list's 10,000 ENTERs come from.
    gql(
        server.port,
        Some(&token),
        "mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }",
        serde_json::json!({"i": {"cameraId": "cam00", "name": "all", "kind": "REGION", "labels": ["person"],
            "confirmFrames": 1, "points": [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 1}, {"x": 0, "y": 1}]}}),
    )
    .await?;
    let r = drive(server.port, options.rounds.max(3)).await?;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let kb = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN) / 1024.0;
    Ok(format!(
        "Release server on its own core, Chromium (headless, 1280×800) on the other; SQLite with {CAMERAS} cameras × {DAYS} days \
         of 60 s segments ({} rows) and {REVIEW_ITEMS} review items. Load times are from navigation start (`performance.now()`) to \
         the moment the page can be used, polled every animation frame; median of {rounds} fresh browser contexts (no cache).\n\n\
         | measure | figure | target |\n|---|---|---|\n\
         | first load, sign-in form ready (p50; max) | {} ; {} | ≤ 1 s |\n\
         | signed-in load, console with {CAMERAS} camera tiles ready (p50; max) | {} ; {} | ≤ 1 s |\n\
         | script on the wire (`/console/app.js`, gzip) | {:.0} KB ({:.0} KB uncompressed) | ≤ 300 KB |\n\
         | 30-day timeline of {CAMERAS} cameras: drawing (p50; max) | {} ; {} | ≤ 100 ms |\n\
         | the same, from the span chosen to drawn (query of {} hourly buckets included; p50) | {} | |\n\
         | review queue: {} items loaded by scrolling (pages of 500); scrolling through them, frame interval p50 / p95 / max | {} / {} / {} ({} rows in the DOM) | smooth |\n\
         | live event list: {} ENTER events received over the subscription; scrolling, frame interval p50 / p95 / max | {} / {} / {} ({} rows in the DOM) | smooth |\n",
        CAMERAS * DAYS * 1440,
        ms(&r["signInReady"]["p50"]),
        ms(&r["signInReady"]["max"]),
        ms(&r["consoleReady"]["p50"]),
        ms(&r["consoleReady"]["max"]),
        kb(&r["scriptEncoded"]),
        kb(&r["scriptDecoded"]),
        ms(&r["monthDraw"]["p50"]),
        ms(&r["monthDraw"]["max"]),
        CAMERAS * DAYS * 24,
        ms(&r["monthTotal"]["p50"]),
        r["review"]["items"],
        ms(&r["review"]["frames"]["p50"]),
        ms(&r["review"]["frames"]["p95"]),
        ms(&r["review"]["frames"]["max"]),
        r["review"]["domRows"],
        r["events"]["items"],
        ms(&r["events"]["frames"]["p50"]),
        ms(&r["events"]["frames"]["p95"]),
        ms(&r["events"]["frames"]["max"]),
        r["events"]["domRows"],
        rounds = options.rounds.max(3),
    ))
}
