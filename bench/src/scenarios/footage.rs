//! `footage`: coverage and timeline queries over a camera with up to 525,600 indexed segments, on
//! SQLite and (with `HELDAR_TEST_DATABASE_URL`) PostgreSQL.

use std::time::Instant;

use crate::harness::stats::median;
use crate::{BenchError, Options};

/// Seeds camera `camera` with `count` consecutive 60 s segments ending now, in batches; with
/// `layout`, each row also carries the playback layout the indexer records (90 kHz ticks).
pub(crate) async fn seed_segments(
    state: &heldar::state::AppState,
    camera: &str,
    count: usize,
    layout: bool,
) -> Result<chrono::DateTime<chrono::Utc>, BenchError> {
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::minutes(count as i64);
    entity::camera::ActiveModel {
        id: Set(camera.into()),
        name: Set(camera.into()),
        stream_url: Set("rtsp://127.0.0.1:9/none".into()),
        sub_stream_url: Set(None),
        record_sub: Set(false),
        enabled: Set(true),
        record_enabled: Set(false),
        segment_seconds: Set(60),
        retention_hours: Set(24 * 400),
        storage_quota_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..count {
        let s = start + chrono::Duration::minutes(i as i64);
        // A 5-minute hole every 6 hours, so gaps exist to be found.
        let missing = i % 360 >= 355;
        if !missing {
            batch.push(entity::segment::Model {
                id: format!("seg_{camera}_{i:08}"),
                camera_id: camera.into(),
                path: format!("{camera}/{i:08}.mp4"),
                start_ms: s.timestamp_millis(),
                end_ms: s.timestamp_millis() + 60_000,
                codec: Some("h264".into()),
                width: Some(1920),
                height: Some(1080),
                fps: Some(15.0),
                size_bytes: 30_000_000,
                read_locks: 0,
                evidence_locked: false,
                created_at: now,
                profile: "main".to_owned(),
                media_offset: layout.then_some(1_024),
                timescale: layout.then_some(90_000),
                duration_ticks: layout.then_some(60 * 90_000),
                instance_id: None,
            });
        }
        if batch.len() == 1000 || (i + 1 == count && !batch.is_empty()) {
            heldar::footage::store::insert_segments(&state.db, std::mem::take(&mut batch)).await?;
        }
    }
    // As autovacuum/`PRAGMA optimize` would: fresh statistics for the planner.
    use sea_orm::ConnectionTrait;
    state.db.execute_unprepared("ANALYZE segments").await?;
    state
        .db
        .execute_unprepared("ANALYZE footage_ranges")
        .await?;
    Ok(now)
}

/// Runs `query` `runs` times through the schema as an admin; median milliseconds.
pub(crate) async fn time_query(
    schema: &heldar::schema::HeldarSchema,
    principal: &heldar::auth::principal::Principal,
    query: &str,
    runs: usize,
) -> Result<f64, BenchError> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let request = async_graphql::Request::new(query).data(
            heldar::auth::principal::RequestAuth::Authenticated(principal.clone()),
        );
        let started = Instant::now();
        let response = schema.execute(request).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if !response.errors.is_empty() {
            return Err(format!("{:?}", response.errors).into());
        }
    }
    Ok(median(&mut times))
}

pub(crate) async fn footage(options: &Options) -> Result<String, BenchError> {
    let mut backends: Vec<(&str, Option<String>)> = vec![("SQLite", None)];
    if let Ok(url) = std::env::var("HELDAR_TEST_DATABASE_URL") {
        backends.push(("PostgreSQL", Some(url)));
    }
    let sizes = [10_000usize, 100_000, 525_600];
    let mut table = String::from(
        "| backend | segments | seed (s) | `footageCoverage` 24 h, p50 | `footageTimeline` 30 days by hour, p50 |\n|---|---|---|---|---|\n",
    );
    let mut growth = Vec::new();
    for (label, admin_url) in backends {
        let mut first_coverage = None;
        let mut first_timeline = None;
        for size in sizes {
            let dir = std::env::temp_dir().join(format!(
                "heldar-bench-footage-{}-{size}",
                std::process::id()
            ));
            let mut config = heldar::config::Config::for_tests(&dir);
            let mut drop_db = None;
            if let Some(admin) = &admin_url {
                use sea_orm::ConnectionTrait;
                let name = format!("heldar_bench_{}_{size}", std::process::id());
                let conn = sea_orm::Database::connect(admin.as_str()).await?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
                config.database_url = Some(heldar::config::Secret::from(format!("{base}/{name}")));
                drop_db = Some((conn, name));
            }
            let state = heldar::app::admin_state(config).await?;
            let seeded = Instant::now();
            let now = seed_segments(&state, "bench", size, false).await?;
            let seed_s = seeded.elapsed().as_secs_f64();
            let limits = heldar::schema::SchemaLimits {
                max_depth: 64,
                max_complexity: 100_000,
                introspection: true,
            };
            let schema = heldar::schema::build_schema(Some(state.clone()), limits);
            let principal = heldar::auth::principal::Principal {
                id: "bench".into(),
                name: "bench".into(),
                role: heldar::auth::principal::Role::Admin,
                kind: heldar::auth::principal::PrincipalKind::User,
                scope: heldar::auth::principal::CameraScope::All,
                session_id: "bench".into(),
                expires_at: now,
            };
            let to = now.to_rfc3339();
            let day = (now - chrono::Duration::hours(24)).to_rfc3339();
            let month = (now - chrono::Duration::days(30)).to_rfc3339();
            let coverage_q = format!(
                r#"{{ footageCoverage(cameraId: "bench", from: "{day}", to: "{to}") {{ coveredSeconds gaps {{ seconds }} }} }}"#
            );
            let timeline_q = format!(
                r#"{{ footageTimeline(cameraIds: ["bench"], from: "{month}", to: "{to}", bucket: HOUR, timeZone: "Europe/Berlin") {{ buckets {{ coveredSeconds gapCount }} }} }}"#
            );
            let runs = 10 * options.rounds;
            let coverage = time_query(&schema, &principal, &coverage_q, runs).await?;
            let timeline = time_query(&schema, &principal, &timeline_q, runs.max(5) / 2).await?;
            println!(
                "{label} {size}: seed {seed_s:.1} s, coverage {coverage:.2} ms, timeline {timeline:.2} ms"
            );
            table.push_str(&format!(
                "| {label} | {size} | {seed_s:.1} | {coverage:.2} ms | {timeline:.2} ms |\n"
            ));
            let base = *first_coverage.get_or_insert(coverage);
            let base_timeline = *first_timeline.get_or_insert(timeline);
            if size == 525_600 {
                growth.push(format!(
                    "{label}: at 525,600 rows / at 10,000 rows = {:.2} (coverage), {:.2} (timeline)",
                    coverage / base,
                    timeline / base_timeline
                ));
            }
            state.db.close_by_ref().await.ok();
            if let Some((conn, name)) = drop_db {
                use sea_orm::ConnectionTrait;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(format!(
        "One camera with consecutive 60 s segments (a 5-minute hole every 6 hours), seeded through the store in 1000-row batches and analysed; \
         queries run in-process through the schema as an admin, median of {} runs (timeline: half as many).\n\n{table}\n{}\n\n\
         Targets: coverage p50 ≤ 5 ms and timeline ≤ 50 ms at 525,600 rows; growth ≤ 1.5× for the same window. Both read \
         the camera's continuous ranges (`footage_ranges`, kept with every segment insert and delete) overlapping the window.",
        10 * options.rounds,
        growth.join("; "),
    ))
}
