//! Recording end to end with real ffmpeg: a generated camera records segments, the indexer
//! indexes them, coverage and gaps are reported, changes are pushed, crashes are survived.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, WsClient, eventually, ffmpeg_ready};

const COVERAGE: &str = "query($c: ID!, $f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: $c, from: $f, to: $t) {
    requestedSeconds coveredSeconds coverageRatio gaps { from to seconds reason }
    segments(first: 500) { edges { node { id start end codec width height sizeBytes playbackUrl } } } } }";

async fn coverage(app: &TestApp, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> Value {
    app.gql(
        COVERAGE,
        json!({"c": "lab", "f": from.to_rfc3339(), "t": to.to_rfc3339()}),
        app.admin(),
    )
    .await["footageCoverage"]
        .clone()
}

/// Asserts a camera's status shows one restart by the health check, for the reason `why`.
fn restarted_once(status: &Value, why: &str) {
    assert_eq!(status["reconnectCount"], 1, "{status}");
    assert!(
        status["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains(why),
        "{status}"
    );
}

async fn status(app: &TestApp) -> Value {
    app.gql("{ camera(id: \"lab\") { status { state reconnectCount segmentsWritten lastError fpsObserved } } }", json!({}), app.admin()).await["camera"]["status"].clone()
}

/// A server that may record local sources, indexing every 300 ms (a file quiet for its
/// segment length and half a second is closed).
async fn recording(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.allow_local_sources = true;
        c.index_interval_ms = 300;
        c.index_settle_ms = 500;
    })
    .await
}

async fn a_generated_camera_is_recorded_indexed_and_its_gaps_explained(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = recording(backend).await;
    let t0 = Utc::now();
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"name": "Lab", "streamUrl": "lavfi:testsrc2=size=320x240:rate=10", "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "c", "type": "subscribe", "payload": {"query": "subscription { coverageChanged(cameraIds: [\"lab\"]) { cameraId kind from to } }"}})).await;

    // Footage accumulates and is indexed, and each indexed segment is pushed.
    let pushed = ws.next_json().await;
    assert_eq!(pushed["type"], "next", "{pushed}");
    assert_eq!(
        pushed["payload"]["data"]["coverageChanged"]["kind"],
        "SEGMENT_INDEXED"
    );
    assert_eq!(
        pushed["payload"]["data"]["coverageChanged"]["cameraId"],
        "lab"
    );
    let first = eventually(Duration::from_secs(40), "three segments", || async {
        let c = coverage(&app, t0 - chrono::Duration::seconds(5), Utc::now()).await;
        (c["segments"]["edges"].as_array().map_or(0, Vec::len) >= 3).then_some(c)
    })
    .await;
    let segments = first["segments"]["edges"].as_array().unwrap();
    let start =
        chrono::DateTime::parse_from_rfc3339(segments[0]["node"]["start"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
    let end = chrono::DateTime::parse_from_rfc3339(
        segments.last().unwrap()["node"]["end"].as_str().unwrap(),
    )
    .unwrap()
    .with_timezone(&Utc);
    for s in segments {
        assert_eq!(s["node"]["codec"], "h264");
        assert_eq!(s["node"]["width"], 320);
        assert!(s["node"]["sizeBytes"].as_i64().unwrap() > 0);
    }
    let within = coverage(&app, start, end).await;
    let wall = (end - start).num_milliseconds() as f64 / 1000.0;
    assert!(
        (within["coveredSeconds"].as_f64().unwrap() - wall).abs() < 2.0,
        "covered {within} vs wall {wall}"
    );
    assert_eq!(
        within["gaps"],
        json!([]),
        "continuous recording has no gaps"
    );
    let st = status(&app).await;
    assert_eq!(st["state"], "RECORDING", "{st}");
    assert!(st["segmentsWritten"].as_i64().unwrap() >= 3);

    // The playback URL serves the MP4 to a bearer of video:playback, to nobody else.
    let url = format!(
        "{}{}",
        app.addr,
        segments[0]["node"]["playbackUrl"].as_str().unwrap()
    );
    let anonymous = app.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let file = app
        .http
        .get(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "video/mp4");
    assert!(file.bytes().await.unwrap().len() > 1000);

    // Switching recording off for a while leaves a gap that says why.
    app.gql(
        "mutation { updateCamera(input: {id: \"lab\", recordEnabled: false}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    let paused = Utc::now();
    assert_eq!(status(&app).await["state"], "DISABLED");
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.gql(
        "mutation { updateCamera(input: {id: \"lab\", recordEnabled: true}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    let resumed = Utc::now();
    let after = eventually(
        Duration::from_secs(40),
        "footage after the pause",
        || async {
            let c = coverage(&app, t0, Utc::now()).await;
            let resumed_segments = c["segments"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["node"]["start"].as_str().unwrap() > resumed.to_rfc3339().as_str())
                .count();
            (resumed_segments >= 1).then_some(c)
        },
    )
    .await;
    let gap = after["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["reason"] == "RECORDING_DISABLED")
        .unwrap_or_else(|| panic!("no explained gap: {after}"));
    assert!(gap["seconds"].as_f64().unwrap() >= 3.0, "{gap}");
    let gap_from = chrono::DateTime::parse_from_rfc3339(gap["from"].as_str().unwrap()).unwrap();
    assert!(
        (gap_from.with_timezone(&Utc) - paused).num_seconds().abs() <= 4,
        "the gap starts at the pause: {gap}"
    );
    // The gap is in the event log too.
    let logged = app.gql("{ perceptionEvents(filter: {kinds: [RECORDING_GAP], cameraIds: [\"lab\"]}) { edges { node { severity payload } } } }", json!({}), app.admin()).await;
    let logged = logged["perceptionEvents"]["edges"].as_array().unwrap();
    assert!(
        logged
            .iter()
            .any(|e| e["node"]["payload"]["reason"] == "recording_disabled"
                && e["node"]["severity"] == "WARNING"),
        "{logged:?}"
    );

    // A crashed recorder is restarted with backoff and the status says so.
    let data = app
        .data_dir
        .join("recordings")
        .join("lab")
        .display()
        .to_string();
    let killed = std::process::Command::new("pkill")
        .args(["-KILL", "-f", &data])
        .status()
        .unwrap();
    assert!(killed.success(), "an ffmpeg was recording into {data}");
    eventually(
        Duration::from_secs(30),
        "a restart after the crash",
        || async {
            let st = status(&app).await;
            (st["reconnectCount"].as_i64().unwrap_or(0) >= 1 && st["lastError"].is_string())
                .then_some(())
        },
    )
    .await;
    let outage = app.gql("{ perceptionEvents(filter: {kinds: [RECORDER_ERROR, CAMERA_OFFLINE], cameraIds: [\"lab\"]}) { edges { node { kind } } } }", json!({}), app.admin()).await;
    assert_eq!(
        outage["perceptionEvents"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "one event for the outage: {outage}"
    );
    let segments_doc = "query($f: DateTime!, $t: DateTime!) { segments(cameraId: \"lab\", from: $f, to: $t, first: 500) { edges { node { id } } } }";
    let vars = json!({"f": (t0 - chrono::Duration::hours(1)).to_rfc3339(), "t": (t0 + chrono::Duration::hours(1)).to_rfc3339()});
    let count = app.gql(segments_doc, vars.clone(), app.admin()).await["segments"]["edges"]
        .as_array()
        .unwrap()
        .len();
    eventually(
        Duration::from_secs(30),
        "recording again after the crash",
        || async {
            let now = app.gql(segments_doc, vars.clone(), app.admin()).await;
            (now["segments"]["edges"].as_array().unwrap().len() > count).then_some(())
        },
    )
    .await;

    // Deleting the camera stops its ffmpeg: nothing keeps writing into its directory.
    app.gql(
        "mutation { deleteCamera(id: \"lab\") }",
        json!({}),
        app.admin(),
    )
    .await;
    let alive = std::process::Command::new("pgrep")
        .args(["-af", &format!("^ffmpeg .*{data}")])
        .output()
        .unwrap();
    assert!(
        alive.stdout.is_empty(),
        "no orphan ffmpeg after delete: {}",
        String::from_utf8_lossy(&alive.stdout)
    );
}
both!(a_generated_camera_is_recorded_indexed_and_its_gaps_explained);

async fn timelines_bucket_by_the_callers_time_zone_and_refuse_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.gql("mutation { createCamera(input: {name: \"T\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }", json!({}), app.admin()).await;
    let doc = "query($f: DateTime!, $t: DateTime!, $b: Bucket!, $z: String!) { footageTimeline(cameraIds: [\"t\"], from: $f, to: $t, bucket: $b, timeZone: $z) { cameraId buckets { start label coveredSeconds coverageRatio gapCount } } }";
    let day = app.gql(doc, json!({"f": "2026-10-25T00:00:00+02:00", "t": "2026-10-26T00:00:00+01:00", "b": "HOUR", "z": "Europe/Berlin"}), app.admin()).await;
    let buckets = day["footageTimeline"][0]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 25, "the autumn DST day has 25 hours");
    assert_eq!(buckets[0]["label"], "2026-10-25T00:00+02:00");
    assert!(
        buckets
            .iter()
            .all(|b| b["coveredSeconds"] == 0.0 && b["gapCount"] == 1)
    );
    let cases = [
        (
            json!({"f": "2026-01-02T00:00:00Z", "t": "2026-01-01T00:00:00Z", "b": "HOUR", "z": "UTC"}),
            "to",
        ),
        (
            json!({"f": "2026-01-01T00:00:00Z", "t": "2026-01-03T00:00:00Z", "b": "MINUTE", "z": "UTC"}),
            "to",
        ),
        (
            json!({"f": "2026-01-01T00:00:00Z", "t": "2026-01-02T00:00:00Z", "b": "HOUR", "z": "Moon/Base"}),
            "timeZone",
        ),
    ];
    for (vars, field) in cases {
        let (_, body) = app.post(doc, vars.clone(), app.admin()).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{vars}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{vars}");
    }
    let (code, _) = app.gql_err("{ footageCoverage(cameraId: \"ghost\", from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\") { coveredSeconds } }", json!({}), app.admin()).await;
    assert_eq!(code, "NOT_FOUND");
    let empty = app.gql("{ footageCoverage(cameraId: \"t\", from: \"2026-01-01T00:00:00Z\", to: \"2026-01-01T01:00:00Z\") { requestedSeconds coveredSeconds gaps { seconds reason } } }", json!({}), app.admin()).await;
    assert_eq!(
        empty["footageCoverage"],
        json!({"requestedSeconds": 3600.0, "coveredSeconds": 0.0, "gaps": [{"seconds": 3600.0, "reason": null}]})
    );
}
both!(timelines_bucket_by_the_callers_time_zone_and_refuse_bad_input);

/// The compact form (`bucketStarts`, `coverageRatios`) says what `buckets` says, and is what
/// lets a front-end ask for 30 days of 16 cameras by hour in one document under the default
/// complexity limit, where the object form is refused.
async fn a_month_of_sixteen_cameras_fits_one_query_in_the_compact_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.camera("t", "T").await;
    let base = Utc::now() - chrono::Duration::hours(3);
    seed(&app, base, &[(0.0, 1800.0), (3600.0, 7200.0)]).await;
    let one = app.gql("query($f: DateTime!, $t: DateTime!) { footageTimeline(cameraIds: [\"t\"], from: $f, to: $t, bucket: HOUR) { buckets { start coverageRatio } bucketStarts coverageRatios } }",
        json!({"f": base.to_rfc3339(), "t": (base + chrono::Duration::hours(3)).to_rfc3339()}), app.admin()).await;
    let row = &one["footageTimeline"][0];
    let buckets = row["buckets"].as_array().unwrap();
    let starts: Vec<_> = buckets.iter().map(|b| b["start"].clone()).collect();
    let ratios: Vec<_> = buckets.iter().map(|b| b["coverageRatio"].clone()).collect();
    assert_eq!(row["bucketStarts"], json!(starts));
    assert_eq!(row["coverageRatios"], json!(ratios));
    assert!(ratios.iter().any(|r| r.as_f64().unwrap() > 0.0), "{row}");

    let ids: Vec<String> = (0..16).map(|i| format!("c{i:02}")).collect();
    for id in &ids {
        app.camera(id, id).await;
    }
    let month = json!({"c": ids, "f": (Utc::now() - chrono::Duration::days(30)).to_rfc3339(), "t": Utc::now().to_rfc3339()});
    let compact = app.gql("query($c: [ID!]!, $f: DateTime!, $t: DateTime!) { footageTimeline(cameraIds: $c, from: $f, to: $t, bucket: HOUR) { cameraId bucketStarts coverageRatios } }", month.clone(), app.admin()).await;
    assert_eq!(compact["footageTimeline"].as_array().unwrap().len(), 16);
    assert!(
        compact["footageTimeline"][0]["coverageRatios"]
            .as_array()
            .unwrap()
            .len()
            >= 720
    );
    let (code, _) = app.gql_err("query($c: [ID!]!, $f: DateTime!, $t: DateTime!) { footageTimeline(cameraIds: $c, from: $f, to: $t, bucket: HOUR) { cameraId buckets { start end coverageRatio gapCount } } }", month, app.admin()).await;
    assert_eq!(code, "QUERY_TOO_COMPLEX");
}
both!(a_month_of_sixteen_cameras_fits_one_query_in_the_compact_form);

/// Inserts segments `[start, end]` (seconds after `base`) for camera `t` straight into the store.
async fn seed(app: &TestApp, base: chrono::DateTime<Utc>, spans: &[(f64, f64)]) {
    for (i, (start, end)) in spans.iter().enumerate() {
        let ms = |s: f64| base.timestamp_millis() + (s * 1000.0) as i64;
        let row = entity::segment::Model {
            id: format!("seg_t{i:03}"),
            camera_id: "t".into(),
            path: format!("t/{i:03}.mp4"),
            start_ms: ms(*start),
            end_ms: ms(*end),
            codec: Some("h264".into()),
            width: Some(640),
            height: Some(360),
            fps: Some(10.0),
            size_bytes: 1000,
            read_locks: 0,
            evidence_locked: false,
            created_at: base,
            profile: "main".to_owned(),
            media_offset: None,
            timescale: None,
            duration_ticks: None,
            instance_id: None,
        };
        heldar::footage::store::insert_segments(&app.state.db, vec![row])
            .await
            .unwrap();
    }
}

async fn the_database_coalesces_footage_exactly_as_the_model_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.gql("mutation { createCamera(input: {name: \"T\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }", json!({}), app.admin()).await;
    let base = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    // A 1 s seam (joins), a 3 s hole (gap), a 2.5 s seam (joins), an overlap, a 10 s hole.
    let spans = [
        (0.0, 60.0),
        (61.0, 120.0),
        (123.0, 180.0),
        (182.5, 240.0),
        (230.0, 250.0),
        (260.0, 300.0),
    ];
    seed(&app, base, &spans).await;
    let at = |s: f64| {
        (base + chrono::Duration::milliseconds((s * 1000.0) as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    };
    let doc = "query($f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: \"t\", from: $f, to: $t) { requestedSeconds coveredSeconds gaps { from to seconds } segments(first: 2) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }";
    let got = app
        .gql(doc, json!({"f": at(-10.0), "t": at(310.0)}), app.admin())
        .await["footageCoverage"]
        .clone();

    let window = heldar::footage::model::TimeRange::new(
        base - chrono::Duration::seconds(10),
        base + chrono::Duration::seconds(310),
        chrono::Duration::days(1),
    )
    .unwrap();
    let ranges = heldar::footage::model::coalesce(spans.iter().map(|(a, b)| {
        (
            base + chrono::Duration::milliseconds((a * 1000.0) as i64),
            base + chrono::Duration::milliseconds((b * 1000.0) as i64),
        )
    }));
    let expected: Vec<Value> = heldar::footage::model::gaps(&ranges, window)
        .iter()
        .map(
            |g| json!({"from": g.from.to_rfc3339(), "to": g.to.to_rfc3339(), "seconds": g.seconds}),
        )
        .collect();
    assert_eq!(got["gaps"], json!(expected));
    assert_eq!(
        expected.len(),
        4,
        "leading, 3 s, 10 s, trailing: {expected:?}"
    );
    assert_eq!(
        got["coveredSeconds"],
        json!(heldar::footage::model::covered_seconds(
            &ranges,
            window.from,
            window.to
        ))
    );
    assert_eq!(got["requestedSeconds"], 320.0);

    // Segments page by cursor, in time order, without repeats.
    assert_eq!(got["segments"]["pageInfo"]["hasNextPage"], true);
    let mut seen: Vec<String> = got["segments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = got["segments"]["pageInfo"]["endCursor"].clone();
    loop {
        let page = app
            .gql("query($a: String) { segments(cameraId: \"t\", from: \"2026-06-01T00:00:00Z\", to: \"2026-06-01T01:00:00Z\", first: 2, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }", json!({"a": cursor}), app.admin())
            .await["segments"]
            .clone();
        seen.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        cursor = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        seen,
        (0..spans.len())
            .map(|i| format!("seg_t{i:03}"))
            .collect::<Vec<_>>()
    );
}
both!(the_database_coalesces_footage_exactly_as_the_model_does);

async fn stored_ranges_follow_segments_inserted_in_any_order_and_deleted(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn(backend).await;
    app.gql("mutation { createCamera(input: {name: \"T\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }", json!({}), app.admin()).await;
    let base = chrono::DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    // 40 non-overlapping segments of 10 s with seams of 0, 1, 2.5, 3 or 20 s, inserted in a
    // scrambled order, then every third one deleted: the stored ranges must always equal
    // the model's coalescing of what is left.
    let seams = [0.0, 1.0, 2.5, 3.0, 20.0];
    let mut spans = Vec::new();
    let mut t = 0.0;
    for i in 0..40 {
        spans.push((i, t, t + 10.0));
        t += 10.0 + seams[(i * 7) % seams.len()];
    }
    let ms = |s: f64| base + chrono::Duration::milliseconds((s * 1000.0) as i64);
    let row = |(i, a, b): (usize, f64, f64)| entity::segment::Model {
        id: format!("seg_r{i:03}"),
        camera_id: "t".into(),
        path: format!("t/r{i:03}.mp4"),
        start_ms: ms(a).timestamp_millis(),
        end_ms: ms(b).timestamp_millis(),
        codec: None,
        width: None,
        height: None,
        fps: None,
        size_bytes: 1,
        read_locks: 0,
        evidence_locked: false,
        created_at: base,
        profile: "main".to_owned(),
        media_offset: None,
        timescale: None,
        duration_ticks: None,
        instance_id: None,
    };
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|i| (i * 17) % 41);
    let window =
        heldar::footage::model::TimeRange::new(ms(-100.0), ms(2000.0), chrono::Duration::days(1))
            .unwrap();
    let check = |left: Vec<(usize, f64, f64)>| {
        let mut left = left;
        left.sort_by(|a, b| a.1.total_cmp(&b.1));
        heldar::footage::model::coalesce(left.into_iter().map(|(_, a, b)| (ms(a), ms(b))))
    };
    for (n, i) in order.iter().enumerate() {
        heldar::footage::store::insert_segments(&app.state.db, vec![row(spans[*i])])
            .await
            .unwrap();
        if n % 10 == 9 {
            let present: Vec<_> = order[..=n].iter().map(|j| spans[*j]).collect();
            let got = heldar::footage::store::ranges_overlapping(&app.state.db, "t", window)
                .await
                .unwrap();
            assert_eq!(got, check(present), "after inserting {n}");
        }
    }
    let mut left = spans.clone();
    for victim in spans.iter().filter(|(i, _, _)| i % 3 == 0) {
        let id = format!("seg_r{:03}", victim.0);
        entity::segment::Entity::delete_many()
            .filter(entity::segment::Column::Id.eq(id))
            .exec(&app.state.db)
            .await
            .unwrap();
        heldar::footage::store::remove_span(
            &app.state.db,
            "t",
            ms(victim.1).timestamp_millis(),
            ms(victim.2).timestamp_millis(),
        )
        .await
        .unwrap();
        left.retain(|s| s.0 != victim.0);
        let got = heldar::footage::store::ranges_overlapping(&app.state.db, "t", window)
            .await
            .unwrap();
        assert_eq!(got, check(left.clone()), "after deleting {}", victim.0);
    }
}
both!(stored_ranges_follow_segments_inserted_in_any_order_and_deleted);

/// A server whose indexer runs only when the test calls it (files count as closed at once),
/// with camera `id` (2 s segments) that records nothing itself, and a time ten minutes ago
/// (whole seconds) for the footage the test writes.
async fn indexed_by_hand(backend: Backend, id: &str) -> (TestApp, chrono::DateTime<Utc>) {
    indexed_by_hand_on(backend, id, std::sync::Arc::new(heldar::clock::SystemClock)).await
}

/// [`indexed_by_hand`] on the server clock `clock`.
async fn indexed_by_hand_on(
    backend: Backend,
    id: &str,
    clock: std::sync::Arc<dyn heldar::clock::Clock>,
) -> (TestApp, chrono::DateTime<Utc>) {
    let app = TestApp::spawn_full(backend, clock, |c| {
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
    })
    .await;
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": id, "name": id, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false, "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    let base = chrono::DateTime::from_timestamp(Utc::now().timestamp() - 600, 0).unwrap();
    (app, base)
}

/// One indexer pass, once the files just written have been quiet for the 2 s segment length
/// of these tests' cameras (their servers have no settle time); how many segments it indexed.
async fn index_settled(app: &TestApp) -> usize {
    tokio::time::sleep(Duration::from_millis(2100)).await;
    heldar::footage::indexer::index_once(&app.state)
        .await
        .unwrap()
}

async fn t10_the_indexer_repairs_a_row_whose_file_changed_after_indexing(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !ffmpeg_ready() {
        return;
    }
    let (app, base) = indexed_by_hand(backend, "rep").await;
    crate::helpers::write_run(&app.data_dir.join("recordings/rep"), base, 2, 10);
    assert_eq!(index_settled(&app).await, 2);
    let first = entity::segment::Entity::find()
        .filter(entity::segment::Column::CameraId.eq("rep"))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .min_by_key(|s| s.start_ms)
        .unwrap();
    let real_size = first.size_bytes;
    // A stale row, as after indexing a file that was still being flushed: wrong size, short end.
    entity::segment::Entity::update_many()
        .col_expr(
            entity::segment::Column::SizeBytes,
            sea_orm::sea_query::Expr::value(262_172i64),
        )
        .col_expr(
            entity::segment::Column::EndMs,
            sea_orm::sea_query::Expr::value(first.start_ms + 3_000),
        )
        .filter(entity::segment::Column::Id.eq(first.id.clone()))
        .exec(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        heldar::footage::indexer::index_once(&app.state)
            .await
            .unwrap(),
        0,
        "nothing new to index"
    );
    let page = app.gql("query($f: DateTime!, $t: DateTime!) { segments(cameraId: \"rep\", from: $f, to: $t) { edges { node { id sizeBytes durationSeconds } } } }",
        json!({"f": base.to_rfc3339(), "t": (base + chrono::Duration::seconds(20)).to_rfc3339()}), app.admin()).await;
    let node = &page["segments"]["edges"][0]["node"];
    assert_eq!(node["id"], first.id.as_str());
    assert_eq!(
        node["sizeBytes"], real_size,
        "the size is corrected from the file"
    );
    assert!((node["durationSeconds"].as_f64().unwrap() - 10.0).abs() < 0.5);
    let coverage = app.gql("query($f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: \"rep\", from: $f, to: $t) { coveredSeconds } }",
        json!({"f": base.to_rfc3339(), "t": (base + chrono::Duration::seconds(20)).to_rfc3339()}), app.admin()).await;
    assert!(
        coverage["footageCoverage"]["coveredSeconds"]
            .as_f64()
            .unwrap()
            > 19.0
    );

    // A file starting over an hour before the newest segment is settled history and not
    // looked at again, so a file whose row retention deleted (and whose unlink failed) is
    // never resurrected; one that arrives that late is left to orphan reclamation.
    let old = base - chrono::Duration::hours(3);
    crate::helpers::write_run(&app.data_dir.join("recordings/rep"), old, 1, 10);
    let name = format!("rep/{}.mp4", old.format("%Y%m%d_%H%M%S"));
    assert_eq!(
        heldar::footage::indexer::index_once(&app.state)
            .await
            .unwrap(),
        0,
        "settled history is not rescanned"
    );
    let found = entity::segment::Entity::find()
        .filter(entity::segment::Column::Path.eq(name))
        .one(&app.state.db)
        .await
        .unwrap();
    assert!(found.is_none());
}
both!(t10_the_indexer_repairs_a_row_whose_file_changed_after_indexing);

/// A file indexed after newer ones (a restart's backlog, a copy put back) counts as written,
/// but the camera's frame rate, bitrate and newest segment stay those of its newest footage.
async fn a_late_older_segment_leaves_the_cameras_rates_to_its_newest(backend: Backend) {
    use sea_orm::EntityTrait;
    if !ffmpeg_ready() {
        return;
    }
    let (app, base) = indexed_by_hand(backend, "late").await;
    let dir = app.data_dir.join("recordings/late");
    crate::helpers::write_run_at(&dir, base + chrono::Duration::seconds(60), 1, 4, 5);
    index_settled(&app).await;
    let query = "{ camera(id: \"late\") { status { state segmentsWritten fpsObserved bitrateKbps lastSegmentAt } } }";
    let newest = app.gql(query, json!({}), app.admin()).await["camera"]["status"].clone();
    assert_eq!(newest["segmentsWritten"], 1, "{newest}");
    assert!(
        (newest["fpsObserved"].as_f64().unwrap() - 5.0).abs() < 0.5,
        "{newest}"
    );
    // The camera's recorder has since gone offline (the API shows a camera that does not
    // record as DISABLED whatever is stored, so the stored state is read directly).
    let stored_state = || async {
        entity::camera_status::Entity::find_by_id("late".to_owned())
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap()
            .state
    };
    entity::camera_status::Entity::update_many()
        .col_expr(
            entity::camera_status::Column::State,
            sea_orm::sea_query::Expr::value(entity::vocab::CameraState::Offline),
        )
        .exec(&app.state.db)
        .await
        .unwrap();
    // An older file, at three times the frame rate, indexed afterwards.
    crate::helpers::write_run_at(&dir, base, 1, 4, 15);
    assert_eq!(index_settled(&app).await, 1);
    let after = app.gql(query, json!({}), app.admin()).await["camera"]["status"].clone();
    assert_eq!(after["segmentsWritten"], 2, "{after}");
    for field in ["fpsObserved", "bitrateKbps", "lastSegmentAt"] {
        assert_eq!(
            after[field], newest[field],
            "{field}: {after} after {newest}"
        );
    }
    assert_eq!(
        stored_state().await,
        entity::vocab::CameraState::Offline,
        "an old file says nothing about whether the camera records now"
    );
}
both!(a_late_older_segment_leaves_the_cameras_rates_to_its_newest);

/// The server's clock runs two days fast for a while, then NTP steps it back. Segments indexed
/// meanwhile are the camera's newest by the clock of then; afterwards the files the recorder
/// writes are still indexed and replace them as the newest, and a file finished while the clock
/// ran fast but indexed after the step (named and last written two days ahead) is kept at its
/// name's time and counted, but opens no gap and is not the camera's newest segment.
async fn a_recording_named_ahead_of_the_clock_does_not_freeze_the_camera(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let clock = std::sync::Arc::new(heldar::clock::ManualClock::new(Utc::now()));
    let (app, base) = indexed_by_hand_on(backend, "ahead", clock.clone()).await;
    let dir = app.data_dir.join("recordings/ahead");
    let (s, days) = (chrono::Duration::seconds, chrono::Duration::days);
    let index = || index_settled(&app);
    let status = || async {
        let query =
            "{ camera(id: \"ahead\") { status { segmentsWritten fpsObserved lastSegmentAt } } }";
        app.gql(query, json!({}), app.admin()).await["camera"]["status"].clone()
    };
    let newest = |seen: &Value| -> chrono::DateTime<Utc> {
        seen["lastSegmentAt"].as_str().unwrap().parse().unwrap()
    };
    let covered = |from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>| {
        let app = &app;
        async move {
            app.gql(
                "query($f: DateTime!, $t: DateTime!) { footageCoverage(cameraId: \"ahead\", from: $f, to: $t) { coveredSeconds } }",
                json!({"f": from.to_rfc3339(), "t": to.to_rfc3339()}),
                app.admin(),
            )
            .await["footageCoverage"]["coveredSeconds"]
                .as_f64()
                .unwrap()
        }
    };
    let gap_events = || async {
        let seen = app.gql("{ perceptionEvents(filter: {kinds: [RECORDING_GAP], cameraIds: [\"ahead\"]}) { edges { node { payload } } } }", json!({}), app.admin()).await;
        seen["perceptionEvents"]["edges"]
            .as_array()
            .unwrap()
            .clone()
    };
    crate::helpers::write_run(&dir, base, 1, 4);
    assert_eq!(index().await, 1);

    // The clock runs two days fast: the next file is named by it, and indexed as the newest.
    clock.advance(days(2));
    let fast = base + days(2) + s(4);
    crate::helpers::write_run(&dir, fast, 1, 4);
    // (No API call while the clock is fast: the admin's token would read as expired.)
    assert_eq!(index().await, 1);

    // One more finished (last written by the fast clock too), still unindexed when NTP steps
    // the clock back; the recorder goes on from the first file.
    let late = fast + s(10);
    crate::helpers::write_run(&dir, late, 1, 4);
    crate::helpers::media::set_modified(
        &dir.join(format!("{}.mp4", late.format("%Y%m%d_%H%M%S"))),
        late + s(4),
    );
    clock.advance(-days(2));
    crate::helpers::write_run(&dir, base + s(4), 2, 4);
    assert_eq!(
        index().await,
        3,
        "the files after the step, and the one finished before it"
    );
    assert!(covered(base, base + s(12)).await > 11.5);
    assert!(
        covered(late, late + s(4)).await > 3.5,
        "the file ahead is kept"
    );
    let seen = status().await;
    assert_eq!(seen["segmentsWritten"], 5, "{seen}");
    assert!(
        newest(&seen) > base + s(11) && newest(&seen) < base + s(13),
        "{seen}"
    );
    assert!(
        (seen["fpsObserved"].as_f64().unwrap() - 5.0).abs() < 0.5,
        "{seen}"
    );
    // The jump forward was a hole by the clock of then; the file ahead opens none.
    let gaps = gap_events().await;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["node"]["payload"]["to"], json!(fast.to_rfc3339()));
}
both!(a_recording_named_ahead_of_the_clock_does_not_freeze_the_camera);

async fn the_sub_stream_neither_shortens_nor_hides_the_main_streams_footage(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !ffmpeg_ready() {
        return;
    }
    let (app, base) = indexed_by_hand(backend, "lab").await;
    let s = chrono::Duration::seconds;
    // The sub stream's recorder runs on its own: its files start a second before the main
    // stream's and it kept recording through the main stream's 20 s outage.
    let dir = app.data_dir.join("recordings/lab");
    crate::helpers::write_run(&dir.join("sub"), base - s(1), 4, 10);
    crate::helpers::write_run(&dir, base, 1, 10);
    crate::helpers::write_run(&dir, base + s(30), 1, 10);
    assert_eq!(index_settled(&app).await, 6);
    let seen = coverage(&app, base, base + s(40)).await;
    let gaps = seen["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{seen}");
    let from: chrono::DateTime<Utc> = gaps[0]["from"].as_str().unwrap().parse().unwrap();
    assert_eq!(from, base + s(10));
    assert!(
        !gaps[0]["reason"].is_null(),
        "the main stream's hole is recorded as a gap although the sub stream covered it: {seen}"
    );
    let subs = entity::segment::Entity::find()
        .filter(entity::segment::Column::CameraId.eq("lab"))
        .filter(entity::segment::Column::Profile.eq("sub"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(subs.len(), 4);
    for sub in subs {
        assert!(
            sub.end_ms - sub.start_ms > 9_500,
            "a main segment clamped the sub segment {} to {} ms",
            sub.path,
            sub.end_ms - sub.start_ms
        );
    }
}
both!(the_sub_stream_neither_shortens_nor_hides_the_main_streams_footage);

async fn an_http_source_that_answers_then_stalls_is_restarted(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    // A camera's HTTP stream that sends its headers and then nothing: ffmpeg must give up
    // (15 s without a byte) so the camera shows its outage and is retried, not CONNECTING forever.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stalled = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n\r\n")
                .await;
            held.push(socket);
        }
    });
    let app = TestApp::spawn(backend).await;
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "streamUrl": format!("http://127.0.0.1:{port}/live.ts"), "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    let status = eventually(
        Duration::from_secs(40),
        "the stalled source is given up",
        || async {
            let s = status(&app).await;
            (s["reconnectCount"].as_i64().unwrap_or(0) >= 1).then_some(s)
        },
    )
    .await;
    assert_retrying(&status);
    assert!(
        status["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("ffmpeg exited"),
        "{status}"
    );
    stalled.abort();
}
both!(an_http_source_that_answers_then_stalls_is_restarted);

/// A Motion JPEG camera over HTTP (`multipart/x-mixed-replace`, 5 pictures a second: what
/// ESP32 boards, mjpg-streamer and older network cameras serve) carries no timestamps and a
/// codec browsers do not play from MP4. It is recorded at its real pace, as H.264: segments
/// that meet and cover the time they were filmed in, and a live view browsers can play.
async fn a_motion_jpeg_camera_is_recorded_at_its_pace_as_h264(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let camera = GeneratedCamera::motion_jpeg("testsrc=size=320x240:rate=5").await;
    let app = recording(backend).await;
    let listed = camera.recorded(&app, 4).await;
    let edges = &listed["segments"]["edges"].as_array().unwrap()[..4];
    let at = |i: usize, end: &str| -> chrono::DateTime<Utc> {
        edges[i]["node"][end].as_str().unwrap().parse().unwrap()
    };
    for edge in edges {
        assert_eq!(edge["node"]["codec"], "h264", "{listed}");
    }
    // Copied, each 2 s file held about 0.4 s of "footage" (10 pictures taken for 25 a second).
    let (from, to) = (at(0, "start"), at(3, "end"));
    let span = (to - from).num_milliseconds() as f64 / 1000.0;
    assert!(span >= 5.0, "four segments span {span} s: {listed}");
    let within = coverage(&app, from, to).await;
    assert_eq!(within["gaps"], json!([]), "{within}");
    let covered = within["coveredSeconds"].as_f64().unwrap();
    assert!(
        (covered - span).abs() < 1.0,
        "{covered} of {span} s: {within}"
    );

    let mime = crate::watch::live_mime(&app, "lab").await;
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");
}
both!(a_motion_jpeg_camera_is_recorded_at_its_pace_as_h264);

/// A Motion JPEG camera sending more than 25 pictures a second (30 here, as USB webcams behind
/// mjpg-streamer do) keeps each picture's own time: stamping its pictures on arrival used to
/// round them to 1/25 s, so one picture in six landed on the tick of the one before it and the
/// footage stuttered (two pictures at once, then 40 ms of nothing). A loaded machine may read a
/// few pictures late and at once, so the test looks for the rounding's mark (a picture within
/// 1 ms of the one before) in fewer than one picture in ten.
async fn a_motion_jpeg_camera_over_25_pictures_a_second_keeps_their_times(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let camera = GeneratedCamera::motion_jpeg("testsrc=size=160x120:rate=30").await;
    let app = recording(backend).await;
    let listed = camera.recorded(&app, 3).await;
    let edges = &listed["segments"]["edges"].as_array().unwrap()[..3];
    let at = |i: usize, end: &str| -> chrono::DateTime<Utc> {
        edges[i]["node"][end].as_str().unwrap().parse().unwrap()
    };
    let (from, to) = (at(1, "start"), at(2, "end"));
    let clip = crate::evidence::ready_clip(&app, "lab", from.to_rfc3339(), to.to_rfc3339()).await;
    let times = presentation_times(&crate::evidence::downloaded(&app, &clip).await);
    let mut steps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.len() >= 60, "{} pictures", times.len());
    // Rounded to 1/25 s, a picture landed on its forerunner's tick, nudged one tick apart.
    let bunched = steps.iter().filter(|&&step| step < 0.001).count();
    steps.sort_by(f64::total_cmp);
    let median = steps[steps.len() / 2];
    assert!(
        (0.029..0.038).contains(&median),
        "pictures {:.1} ms apart, not 33 ms",
        median * 1000.0
    );
    assert!(
        bunched * 10 < steps.len(),
        "{bunched} of {} pictures within 1 ms of the one before",
        steps.len()
    );
}
both!(a_motion_jpeg_camera_over_25_pictures_a_second_keeps_their_times);

/// The live view of an HTTP camera that is being recorded starts from what the recorder found
/// the stream to carry: no probe of its own (a connection and up to seconds before the relay
/// can start, refused by a camera whose few client slots are taken).
async fn the_live_view_takes_the_recorders_word_for_what_a_camera_sends(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let camera = GeneratedCamera::motion_jpeg("testsrc=size=160x120:rate=5").await;
    let app = recording(backend).await;
    camera.recorded(&app, 1).await;
    let restarts = || async { status(&app).await["reconnectCount"].as_i64().unwrap() as usize };
    let (probed, restarted) = (camera.probed(), restarts().await);
    assert!(probed >= 1, "the recorder asked the camera what it sends");
    let mime = crate::watch::live_mime(&app, "lab").await;
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");
    // Only a recorder that started again meanwhile (it asks before each start) may have asked.
    let (more, again) = (camera.probed() - probed, restarts().await - restarted);
    assert!(more <= again, "the live view probed the camera again");
}
both!(the_live_view_takes_the_recorders_word_for_what_a_camera_sends);

/// Asserts that ffmpeg decodes `mp4` without a complaint.
fn decodes_cleanly(mp4: &[u8]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), mp4).unwrap();
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file.path())
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decoded.status.success());
    assert_eq!(String::from_utf8_lossy(&decoded.stderr), "", "clean decode");
}

/// The presentation times of an MP4's video pictures, in seconds, in order.
fn presentation_times(mp4: &[u8]) -> Vec<f64> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), mp4).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.trim().trim_end_matches(',').parse().ok())
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

/// A camera sending H.265 (many do by default) is recorded as it comes and served to browsers
/// as `hvc1` with its full codec string: ffmpeg writes copied H.265 as `hev1`, which Safari and
/// Apple's HLS refuse, and MSE refuses a bare codec name. The recording files keep their bytes.
async fn h265_footage_is_served_to_browsers_as_hvc1(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let x265 = "keyint=10:log-level=error";
    let camera = GeneratedCamera::start(
        "video/mp2t",
        "testsrc=size=160x120:rate=10",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            x265,
            "-pix_fmt",
            "yuv420p",
            "-f",
            "mpegts",
        ],
    )
    .await;
    let app = recording(backend).await;
    let listed = camera.recorded(&app, 2).await;
    let edges = &listed["segments"]["edges"].as_array().unwrap()[..2];
    assert_eq!(edges[0]["node"]["codec"], "hevc", "{listed}");
    let at = |i: usize, end: &str| -> chrono::DateTime<Utc> {
        edges[i]["node"][end].as_str().unwrap().parse().unwrap()
    };
    let retagged = |bytes: &[u8], what: &str| {
        let has = |tag: &[u8]| bytes.windows(4).any(|w| w == tag);
        assert!(has(b"hvc1") && !has(b"hev1"), "{what} is tagged hvc1");
    };

    // Recorded playback's init segment.
    let (from, to) = (at(0, "start"), at(1, "end"));
    let pb = crate::watch::playback(&app, "lab", from, to, app.admin()).await;
    let url = pb["url"].as_str().unwrap();
    let playlist = crate::watch::fetch(&app, url).await.text().await.unwrap();
    let map = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .unwrap()
        .trim_end_matches('"');
    let dir = url.trim_end_matches("index.m3u8");
    let init = crate::watch::fetch(&app, &format!("{dir}{map}")).await;
    retagged(&init.bytes().await.unwrap(), "the playlist's init segment");

    // A clip, which decodes cleanly.
    let clip = crate::evidence::ready_clip(&app, "lab", from.to_rfc3339(), to.to_rfc3339()).await;
    let bytes = crate::evidence::downloaded(&app, &clip).await;
    retagged(&bytes, "the clip");
    decodes_cleanly(&bytes);

    // The live view, with the codec string MSE is asked about.
    let mime = crate::watch::live_mime(&app, "lab").await;
    assert!(
        mime.starts_with("video/mp4; codecs=\"hvc1.1.6.L"),
        "Main profile, its level: {mime}"
    );
}
both!(h265_footage_is_served_to_browsers_as_hvc1);

/// An RTSP camera, as most network cameras are (H.264 over RTP, interleaved in the RTSP
/// connection), is recorded as it comes: segments that meet with no gap between them, a clip
/// that decodes cleanly with the pictures the camera sent, and a live view browsers can play.
async fn an_rtsp_camera_is_recorded_exported_and_watched(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let Some(camera) = crate::helpers::media::RtspCamera::start(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=10/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 \
         ! rtph264pay name=pay0 pt=96 config-interval=1",
    ) else {
        return;
    };
    let app = recording(backend).await;
    let listed = recorded(&app, &camera.url, 4).await;
    let edges = &listed["segments"]["edges"].as_array().unwrap()[..4];
    let at = |i: usize, end: &str| -> chrono::DateTime<Utc> {
        edges[i]["node"][end].as_str().unwrap().parse().unwrap()
    };
    for edge in edges {
        assert_eq!(edge["node"]["codec"], "h264", "{listed}");
    }
    let (from, to) = (at(0, "start"), at(3, "end"));
    let within = coverage(&app, from, to).await;
    assert_eq!(within["gaps"], json!([]), "{within}");

    let (from, to) = (at(1, "start"), at(2, "end"));
    let clip = crate::evidence::ready_clip(&app, "lab", from.to_rfc3339(), to.to_rfc3339()).await;
    let bytes = crate::evidence::downloaded(&app, &clip).await;
    decodes_cleanly(&bytes);
    let times = presentation_times(&bytes);
    let seconds = (to - from).num_milliseconds() as f64 / 1000.0;
    let expected = seconds * 10.0;
    assert!(
        (times.len() as f64 - expected).abs() <= expected * 0.15 + 2.0,
        "{} pictures in a {seconds} s clip of a 10 fps camera",
        times.len()
    );

    let mime = crate::watch::live_mime(&app, "lab").await;
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");
}
both!(an_rtsp_camera_is_recorded_exported_and_watched);

/// A Motion JPEG camera over RTSP (RTP/JPEG, which some network cameras send on their second
/// stream) is recorded as H.264 at its own timestamps, as one over HTTP is: copied, its footage
/// was Motion JPEG in MP4, which no browser plays back or live.
async fn a_motion_jpeg_camera_over_rtsp_is_recorded_as_h264(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let Some(camera) = crate::helpers::media::RtspCamera::start(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=5/1 \
         ! jpegenc quality=60 ! rtpjpegpay name=pay0 pt=26",
    ) else {
        return;
    };
    let app = recording(backend).await;
    let listed = recorded(&app, &camera.url, 3).await;
    let edges = &listed["segments"]["edges"].as_array().unwrap()[..3];
    for edge in edges {
        assert_eq!(edge["node"]["codec"], "h264", "{listed}");
    }
    let at = |i: usize, end: &str| -> chrono::DateTime<Utc> {
        edges[i]["node"][end].as_str().unwrap().parse().unwrap()
    };
    let within = coverage(&app, at(0, "start"), at(2, "end")).await;
    assert_eq!(within["gaps"], json!([]), "{within}");
    let mime = crate::watch::live_mime(&app, "lab").await;
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");
    // The level suits the picture size and rate, not RTP's 90 kHz clock taken for a frame
    // rate (level 6.2, which hardware decoders refuse).
    let level = mime.trim_end_matches('"').rsplit('.').next().unwrap();
    let level = u8::from_str_radix(&level[4..6], 16).unwrap();
    assert!(
        level <= 31,
        "H.264 level {level} for 320×240 at 5 fps: {mime}"
    );
}
both!(a_motion_jpeg_camera_over_rtsp_is_recorded_as_h264);

/// An RTSP camera that asks for a login by digest authentication, as network cameras do, is
/// recorded with the user and password in its URL, a password with `@`, `:`, `#` and `%`
/// percent-encoded as URLs require; the API shows the URL with the password masked.
async fn an_rtsp_camera_asking_for_a_login_is_recorded_with_the_one_in_its_url(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let Some(camera) = crate::helpers::media::RtspCamera::with_login("admin", "p@ss:w#rd%1") else {
        return;
    };
    let app = recording(backend).await;
    let at = |login: &str| camera.url_with(login);
    let listed = recorded(&app, &at("admin:p%40ss%3Aw%23rd%251"), 2).await;
    assert_eq!(listed["segments"]["edges"][0]["node"]["codec"], "h264");
    let shown = app
        .gql(
            "{ camera(id: \"lab\") { streamUrl } }",
            json!({}),
            app.admin(),
        )
        .await["camera"]["streamUrl"]
        .clone();
    assert_eq!(shown, json!(at("admin:***")));
}
both!(an_rtsp_camera_asking_for_a_login_is_recorded_with_the_one_in_its_url);

/// A camera that refuses the login in its URL (a wrong password) is shown `UNAUTHORIZED` with
/// the camera's answer (the password masked) and logs `CAMERA_LOGIN_REFUSED` once. It is not
/// asked again before the retry interval (`HELDAR_REFUSED_LOGIN_RETRY_SECS`): network cameras
/// lock an account after a handful of failed logins, and a retry after 1 s, 2 s, 4 s …, each
/// with a probe and a recorder, tries six logins in 4 s and keeps the account locked after the
/// password is corrected. A live view asked for meanwhile is refused at once, saying why,
/// without a login of its own. The corrected URL is tried at once and recorded.
async fn a_camera_refusing_the_login_is_shown_unauthorized_and_not_asked_again_until_corrected(
    backend: Backend,
) {
    if !ffmpeg_ready() {
        return;
    }
    let Some(camera) = crate::helpers::media::RtspCamera::with_login("admin", "s3cret") else {
        return;
    };
    let app = recording(backend).await;
    let at = |login: &str| camera.url_with(login);
    refused_as_unauthorized(&app, "lab", &at("admin:guessed")).await;

    // A live view now: refused at once with the reason, no login tried for it.
    let tried = camera.connections();
    assert!(
        (1..=2).contains(&tried),
        "{tried} logins tried before the refusal showed"
    );
    let live = app
        .gql(
            "{ liveStream(cameraId: \"lab\") { hlsUrl } }",
            json!({}),
            app.admin(),
        )
        .await;
    let hls = live["liveStream"]["hlsUrl"].as_str().unwrap().to_owned();
    let asked = std::time::Instant::now();
    let response = app.get(&hls).await;
    assert_eq!(response.status(), 503);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("refused the login"), "{body}");
    // Longer than the usual backoff's first retries (1 s, 2 s, 4 s): no further login tried.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        camera.connections(),
        tried,
        "logins tried within the retry interval"
    );
    let status = app
        .gql(
            "{ camera(id: \"lab\") { status { state } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(status["camera"]["status"]["state"], "UNAUTHORIZED");
    let logged = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [CAMERA_LOGIN_REFUSED], cameraIds: [\"lab\"]}) \
             { edges { node { severity payload } } } }",
            json!({}),
            app.admin(),
        )
        .await["perceptionEvents"]["edges"]
        .clone();
    assert_eq!(logged.as_array().map(Vec::len), Some(1), "{logged}");
    assert_eq!(logged[0]["node"]["payload"]["reason"], "login_refused");

    // Corrected: tried at once (not after the retry interval) and recorded.
    let corrected = Utc::now();
    app.gql(
        "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "streamUrl": at("admin:s3cret")}}),
        app.admin(),
    )
    .await;
    listing(&app, corrected, 1).await;
}
both!(a_camera_refusing_the_login_is_shown_unauthorized_and_not_asked_again_until_corrected);

/// With a short retry interval (2 s here), a camera that keeps refusing the login is tried
/// again at that pace with one login a try for all its readers together (its recorder and
/// its frame sampler take turns, not a login each), stays `UNAUTHORIZED` with the camera's 401
/// in `lastError`, its sampler `OFFLINE` saying why, and its outage is logged once.
async fn a_camera_refusing_the_login_is_tried_once_per_retry_interval(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let Some(camera) = crate::helpers::media::RtspCamera::with_login("admin", "s3cret") else {
        return;
    };
    let app = TestApp::spawn_with(backend, |c| {
        c.index_interval_ms = 300;
        c.refused_login_retry_secs = 2;
    })
    .await;
    let url = camera.url_with("admin:guessed");
    refused_as_unauthorized(&app, "lab", &url).await;
    app.gql(
        "mutation($i: CreateAiTaskInput!) { createAiTask(input: $i) { id } }",
        json!({"i": {"cameraId": "lab", "taskType": "motion", "fps": 1.0, "width": 160}}),
        app.admin(),
    )
    .await;
    let after_probe = camera.connections();
    let (from, counted) = (camera.connections(), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(7)).await;
    let tries = camera.connections() - from;
    let elapsed = counted.elapsed();
    // A try every 2 s and some (a probe's connect and refusal): 2 or 3 in 7 s. The usual
    // backoff with a probe before each recorder start would have made 6 or more, and a login
    // per reader twice as many.
    let most = elapsed.as_secs() as usize / 2 + 1;
    assert!((2..=most).contains(&tries), "{tries} logins in {elapsed:?}");
    assert!(
        after_probe <= 2,
        "{after_probe} logins before the refusal showed"
    );
    let status = app
        .gql(
            "{ camera(id: \"lab\") { status { state lastError } } }",
            json!({}),
            app.admin(),
        )
        .await["camera"]["status"]
        .clone();
    assert_eq!(status["state"], "UNAUTHORIZED", "{status}");
    let error = status["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("401 Unauthorized"), "{status}");
    let samplers = app
        .gql(
            "{ aiSamplers { cameraId state lastError } }",
            json!({}),
            app.admin(),
        )
        .await["aiSamplers"]
        .clone();
    assert_eq!(samplers[0]["state"], "OFFLINE", "{samplers}");
    let why = samplers[0]["lastError"].as_str().unwrap_or_default();
    assert!(why.contains("refused the login"), "{samplers}");
    let logged = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [CAMERA_LOGIN_REFUSED, CAMERA_OFFLINE, \
             RECORDER_ERROR], cameraIds: [\"lab\"]}) { edges { node { kind } } } }",
            json!({}),
            app.admin(),
        )
        .await["perceptionEvents"]["edges"]
        .clone();
    assert_eq!(
        logged,
        json!([{"node": {"kind": "CAMERA_LOGIN_REFUSED"}}]),
        "one outage, one event"
    );
}
both!(a_camera_refusing_the_login_is_tried_once_per_retry_interval);

/// A recorded camera given a wrong password, and corrected after a while, leaves one hole in
/// its footage that says the camera refused the login, not that recording was switched off
/// (the correction restarts the recorder, which is not the hole's cause).
async fn the_hole_left_by_a_refused_login_says_so_once_the_login_is_corrected(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let Some(camera) = crate::helpers::media::RtspCamera::with_login("admin", "s3cret") else {
        return;
    };
    let app = recording(backend).await;
    let t0 = Utc::now();
    recorded(&app, &camera.url_with("admin:s3cret"), 1).await;
    let update = |login: &str| json!({"i": {"id": "lab", "streamUrl": camera.url_with(login)}});
    let mutation = "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id } }";
    let refused_from = Utc::now();
    app.gql(mutation, update("admin:guessed"), app.admin())
        .await;
    eventually(Duration::from_secs(30), "the login refused", || async {
        (status(&app).await["state"] == "UNAUTHORIZED").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let corrected = Utc::now();
    app.gql(mutation, update("admin:s3cret"), app.admin()).await;
    let after = eventually(
        Duration::from_secs(60),
        "footage after the correction",
        || async {
            let c = coverage(&app, t0, Utc::now()).await;
            let later = c["segments"]["edges"]
                .as_array()?
                .iter()
                .any(|s| s["node"]["start"].as_str() > Some(corrected.to_rfc3339().as_str()));
            later.then_some(c)
        },
    )
    .await;
    // The holes over the outage (not the one before the first file or after the last).
    let over = |g: &&Value| {
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(g[k].as_str().unwrap()).unwrap();
        at("from") < corrected && at("to") > refused_from + chrono::Duration::seconds(4)
    };
    let gaps: Vec<&Value> = after["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(over)
        .collect();
    assert_eq!(gaps.len(), 1, "one outage, one hole: {after}");
    assert_eq!(gaps[0]["reason"], "LOGIN_REFUSED", "{after}");
    let from = chrono::DateTime::parse_from_rfc3339(gaps[0]["from"].as_str().unwrap()).unwrap();
    assert!(
        (from.with_timezone(&Utc) - refused_from)
            .num_seconds()
            .abs()
            <= 4,
        "the hole starts when the wrong password was given: {after}"
    );
    assert!(gaps[0]["seconds"].as_f64().unwrap() >= 4.0, "{after}");
}
both!(the_hole_left_by_a_refused_login_says_so_once_the_login_is_corrected);

/// An HTTP Motion JPEG camera that asks for a login by basic authentication (as ESP32 boards
/// and older network cameras do) is recorded with the one in its URL; given a wrong password it
/// shows `UNAUTHORIZED` with the camera's 401, the password masked.
async fn an_http_camera_asking_for_a_login_is_recorded_with_it_and_refused_without_it(
    backend: Backend,
) {
    if !ffmpeg_ready() {
        return;
    }
    let camera = GeneratedCamera::start_with_login(
        "multipart/x-mixed-replace;boundary=ffmpeg",
        "testsrc=size=160x120:rate=5",
        &["-c:v", "mjpeg", "-q:v", "8", "-f", "mpjpeg"],
        Some(("admin", "s3cret")),
    )
    .await;
    let app = recording(backend).await;
    let at = |login: &str| format!("http://{login}@127.0.0.1:{}/stream", camera.port);
    refused_as_unauthorized(&app, "wrong", &at("admin:guessed")).await;

    let listed = recorded(&app, &at("admin:s3cret"), 1).await;
    assert_eq!(listed["segments"]["edges"][0]["node"]["codec"], "h264");
}
both!(an_http_camera_asking_for_a_login_is_recorded_with_it_and_refused_without_it);

/// Adds camera `id` at `url`, whose login (password `guessed`) the camera refuses, and waits
/// for it to show `UNAUTHORIZED` with the camera's 401 and the password masked.
async fn refused_as_unauthorized(app: &TestApp, id: &str, url: &str) {
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": id, "name": id, "segmentSeconds": 2, "streamUrl": url}}),
        app.admin(),
    )
    .await;
    let status = eventually(Duration::from_secs(30), "the login refused", || async {
        let status = app
            .gql(
                "query($c: ID!) { camera(id: $c) { status { state lastError } } }",
                json!({"c": id}),
                app.admin(),
            )
            .await["camera"]["status"]
            .clone();
        (status["state"] == "UNAUTHORIZED").then_some(status)
    })
    .await;
    let error = status["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("401 Unauthorized"), "{status}");
    assert!(
        !error.contains("guessed"),
        "the password in the error: {error}"
    );
}

/// Asserts that a camera's `status` shows its recorder out of the stream and trying again.
fn assert_retrying(status: &Value) {
    assert!(
        matches!(
            status["state"].as_str(),
            Some("OFFLINE" | "ERROR" | "CONNECTING")
        ),
        "{status}"
    );
}

/// Adds the stream at `url` as camera `lab` (2 s segments) and waits for `count` segments: the
/// coverage.
async fn recorded(app: &TestApp, url: &str, count: usize) -> Value {
    let started = Utc::now();
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "segmentSeconds": 2, "streamUrl": url}}),
        app.admin(),
    )
    .await;
    listing(app, started, count).await
}

/// The coverage from a minute before `since` to now, once it lists `count` segments.
async fn listing(app: &TestApp, since: chrono::DateTime<Utc>, count: usize) -> Value {
    eventually(Duration::from_secs(60), "segments", || async {
        let c = coverage(app, since - chrono::Duration::minutes(1), Utc::now()).await;
        (c["segments"]["edges"].as_array()?.len() >= count).then_some(c)
    })
    .await
}

/// ffmpeg making the test pattern `source` in real time, encoded with `encoding`, on its stdout.
fn generated(source: &str, encoding: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi"])
        .args(["-i", source])
        .args(encoding)
        .arg("pipe:1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A camera on a local port serving every connection the test pattern as ffmpeg encodes it
/// while it is sent (a generated `source`, `encoding`'s arguments, as `content_type`); it stops
/// when dropped.
struct GeneratedCamera {
    port: u16,
    /// Connections from the server's probes (user agent `heldar-probe`).
    probes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl GeneratedCamera {
    async fn start(content_type: &str, source: &str, encoding: &[&str]) -> GeneratedCamera {
        Self::start_with_login(content_type, source, encoding, None).await
    }

    /// [`start`](Self::start) for a camera that asks for `login` (user, password) by HTTP
    /// basic authentication, as ESP32 boards and older network cameras do: a request without
    /// it gets `401 Unauthorized` with a `WWW-Authenticate` challenge.
    async fn start_with_login(
        content_type: &str,
        source: &str,
        encoding: &[&str],
        login: Option<(&str, &str)>,
    ) -> GeneratedCamera {
        use base64::Engine;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let expected = login.map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("authorization: basic {}", token.to_ascii_lowercase())
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n");
        let source = source.to_owned();
        let encoding: Vec<String> = encoding.iter().map(|a| (*a).to_owned()).collect();
        let probes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = probes.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (head, source, encoding) = (head.clone(), source.clone(), encoding.clone());
                let (counted, expected) = (counted.clone(), expected.clone());
                tokio::spawn(async move {
                    let mut request = [0u8; 2048];
                    let n = socket.read(&mut request).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&request[..n]).to_ascii_lowercase();
                    if request.contains("heldar-probe") {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    if expected.is_some_and(|login| !request.lines().any(|l| l.trim() == login)) {
                        let refusal = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic \
                                       realm=\"camera\"\r\nContent-Length: 0\r\n\r\n";
                        let _ = socket.write_all(refusal.as_bytes()).await;
                        return;
                    }
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let encoding: Vec<&str> = encoding.iter().map(String::as_str).collect();
                    let mut encoder = generated(&source, &encoding);
                    let mut stream = encoder.stdout.take().unwrap();
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        GeneratedCamera { port, probes, task }
    }

    /// A Motion JPEG camera over HTTP (`multipart/x-mixed-replace`, as ESP32 boards and
    /// mjpg-streamer serve it) of the test pattern `source`.
    async fn motion_jpeg(source: &str) -> GeneratedCamera {
        let encoding = ["-c:v", "mjpeg", "-q:v", "8", "-f", "mpjpeg"];
        Self::start(
            "multipart/x-mixed-replace;boundary=ffmpeg",
            source,
            &encoding,
        )
        .await
    }

    /// How many times the server has probed it.
    fn probed(&self) -> usize {
        self.probes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Adds it as camera `lab` (2 s segments) and waits for `count` segments: the coverage.
    async fn recorded(&self, app: &TestApp, count: usize) -> Value {
        recorded(
            app,
            &format!("http://127.0.0.1:{}/stream", self.port),
            count,
        )
        .await
    }
}

impl Drop for GeneratedCamera {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A camera served over HTTP as MPEG-TS of the test pattern, made by ffmpeg as it is sent.
/// Told to [`freeze`](Self::freeze), its first connection's picture stops but the connection
/// stays busy with MPEG-TS null packets, as a camera whose encoder hung behind a live session
/// does, so no socket timeout ever fires. Later connections stream normally. The server's
/// probes (user agent `heldar-probe`, before each recorder start) are served the stream and
/// neither counted nor frozen.
struct FreezingCamera {
    port: u16,
    /// Connections taken, probes left out.
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Asked to freeze, then frozen.
    state: std::sync::Arc<std::sync::atomic::AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

const FREEZE: u8 = 1;
const FROZEN: u8 = 2;

impl FreezingCamera {
    async fn start() -> FreezingCamera {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(AtomicU8::new(0));
        let (count, shared) = (served.clone(), state.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (count, shared) = (count.clone(), shared.clone());
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut request = [0u8; 2048];
                    let read = socket.read(&mut request).await.unwrap_or(0);
                    let probe = request[..read].windows(12).any(|w| w == b"heldar-probe");
                    let first = !probe && count.fetch_add(1, Ordering::SeqCst) == 0;
                    Self::serve(socket, first.then_some(shared)).await;
                });
            }
        });
        FreezingCamera {
            port,
            served,
            state,
            task,
        }
    }

    /// Freezes the first connection's picture; returns once it is frozen.
    async fn freeze(&self) {
        use std::sync::atomic::Ordering;
        self.state.store(FREEZE, Ordering::SeqCst);
        eventually(Duration::from_secs(10), "the picture froze", || async {
            (self.state.load(Ordering::SeqCst) == FROZEN).then_some(())
        })
        .await;
    }

    /// Streams to a connection whose request was read.
    async fn serve(
        mut socket: tokio::net::TcpStream,
        freeze: Option<std::sync::Arc<std::sync::atomic::AtomicU8>>,
    ) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n";
        if socket.write_all(head).await.is_err() {
            return;
        }
        let encoding = [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "10",
            "-f",
            "mpegts",
        ];
        let mut encoder = generated("testsrc=size=160x120:rate=10", &encoding);
        let mut picture = encoder.stdout.take().unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let asked = || {
            freeze
                .as_ref()
                .is_some_and(|f| f.load(Ordering::SeqCst) == FREEZE)
        };
        while !asked() {
            match picture.read(&mut buf).await {
                Ok(n) if n > 0 => {
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
        drop(encoder);
        if let Some(state) = freeze {
            state.store(FROZEN, Ordering::SeqCst);
        }
        // Null packets (PID 0x1FFF): bytes that keep the connection alive and carry nothing.
        let mut null = [0xFFu8; 188];
        null[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
        let padding = null.repeat(7);
        while socket.write_all(&padding).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A server with the health monitor on (every 200 ms) and a manual clock (the monitor reads
/// the server's clock: a test moves it past the limit instead of waiting 30 s), recording
/// camera `lab` (2 s segments) from `camera`.
async fn recording_from(
    camera: &FreezingCamera,
    backend: Backend,
) -> (TestApp, std::sync::Arc<heldar::clock::ManualClock>) {
    let clock = std::sync::Arc::new(heldar::clock::ManualClock::new(Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| {
        c.index_interval_ms = 300;
        c.index_settle_ms = 0;
        c.health_interval_ms = 200;
    })
    .await;
    records(&app, camera, 2).await;
    (app, clock)
}

/// Creates camera `lab`, recorded from `camera` in segments of `segment_seconds`.
async fn records(app: &TestApp, camera: &FreezingCamera, segment_seconds: i32) {
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "streamUrl": format!("http://127.0.0.1:{}/live.ts", camera.port), "segmentSeconds": segment_seconds}}),
        app.admin(),
    )
    .await;
}

/// A recorder whose camera stops sending pictures but keeps the connection busy writes
/// nothing and never times out. The health monitor notices that the recording camera has had
/// no new segment for three segment lengths (30 s at least): it marks the camera ERROR, logs
/// RECORDER_ERROR with reason `stale`, and restarts ffmpeg, which records again.
async fn a_recorder_that_stops_writing_is_reported_and_restarted(backend: Backend) {
    stops_writing(backend, false).await;
}
both!(a_recorder_that_stops_writing_is_reported_and_restarted);

/// The same, when the camera's newest segment was stored while the clock ran two days fast
/// and the clock has since been stepped back: a time ahead of the clock is no sign of life.
async fn a_recorder_that_stops_writing_is_restarted_whatever_time_was_stored_ahead(
    backend: Backend,
) {
    stops_writing(backend, true).await;
}
both!(a_recorder_that_stops_writing_is_restarted_whatever_time_was_stored_ahead);

async fn stops_writing(backend: Backend, stored_ahead: bool) {
    use std::sync::atomic::Ordering;
    if !ffmpeg_ready() {
        return;
    }
    let camera = FreezingCamera::start().await;
    let (app, clock) = recording_from(&camera, backend).await;
    eventually(Duration::from_secs(60), "recording", || async {
        (status(&app).await["state"] == "RECORDING").then_some(())
    })
    .await;
    camera.freeze().await;
    // Frozen, the recorder neither writes nor exits: nothing but the monitor can tell. Wait
    // until its last write and the indexing of that file are behind it (3 s without a change).
    let dir = app.data_dir.join("recordings/lab");
    let newest_write = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|f| f.metadata().ok()?.modified().ok())
            .max()
            .map(chrono::DateTime::<Utc>::from)
            .unwrap()
    };
    let started = std::time::Instant::now();
    let (mut seen, mut quiet_since) = ((newest_write(), status(&app).await), started);
    while quiet_since.elapsed() < Duration::from_secs(3) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still writing: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = (newest_write(), status(&app).await);
        if now != seen {
            (seen, quiet_since) = (now, std::time::Instant::now());
        }
    }
    let (last_write, frozen) = seen;
    assert_eq!(frozen["state"], "RECORDING", "{frozen}");
    assert_eq!(frozen["reconnectCount"], 0, "{frozen}");
    assert_eq!(camera.served.load(Ordering::SeqCst), 1);
    if stored_ahead {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::camera_status::Entity::update_many()
            .col_expr(
                entity::camera_status::Column::LastSegmentAt,
                sea_orm::sea_query::Expr::value(clock.now_dt() + chrono::Duration::days(2)),
            )
            .filter(entity::camera_status::Column::CameraId.eq("lab"))
            .exec(&app.state.db)
            .await
            .unwrap();
    }

    // The limit (30 s) then ends 1.5 s after the last write, which is over 3 s ago: the frozen
    // file is past it; a file still growing would not be.
    clock.advance(last_write + chrono::Duration::milliseconds(31_500) - clock.now_dt());
    const OUTAGES: &str = "{ perceptionEvents(filter: {kinds: [RECORDER_ERROR, CAMERA_OFFLINE], cameraIds: [\"lab\"]}) { edges { node { kind severity payload } } } }";
    let reported = eventually(Duration::from_secs(20), "the stall reported", || async {
        let seen = app.gql(OUTAGES, json!({}), app.admin()).await;
        let edges = seen["perceptionEvents"]["edges"]
            .as_array()
            .unwrap()
            .clone();
        (!edges.is_empty()).then_some(edges)
    })
    .await;
    let node = &reported[0]["node"];
    assert_eq!(node["kind"], "RECORDER_ERROR", "{node}");
    assert_eq!(node["payload"]["reason"], "stale", "{node}");
    assert!(
        node["payload"]["silentSeconds"].as_i64().unwrap() >= 30,
        "{node}"
    );
    if stored_ahead {
        assert_eq!(node["payload"]["lastSegmentAt"], Value::Null, "{node}");
    }

    let recovered = eventually(
        Duration::from_secs(40),
        "recording again on a new connection",
        || async {
            let now = status(&app).await;
            let more = now["segmentsWritten"].as_i64() > frozen["segmentsWritten"].as_i64();
            let reconnected = camera.served.load(Ordering::SeqCst) >= 2;
            (now["state"] == "RECORDING" && more && reconnected).then_some(now)
        },
    )
    .await;
    restarted_once(&recovered, "stale recorder");
    let seen = app.gql(OUTAGES, json!({}), app.admin()).await;
    assert_eq!(
        seen["perceptionEvents"]["edges"].as_array().unwrap().len(),
        1,
        "one event for the outage: {seen}"
    );
    camera.task.abort();
}

/// The monitor judges the recorder, not the indexer: a recording camera whose index is an hour
/// behind (a long sweep, slow probes) but whose file keeps growing is left alone, even beside a
/// file named ahead of the clock (written an hour ago while the clock ran fast), which sorts
/// after the one being written.
async fn a_recorder_whose_index_lags_but_whose_file_grows_is_not_stale(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    if !ffmpeg_ready() {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.allow_local_sources = true;
        c.index_interval_ms = 600_000;
    })
    .await;
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "streamUrl": "lavfi:testsrc2=size=160x120:rate=5", "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    let dir = app.data_dir.join("recordings/lab");
    eventually(Duration::from_secs(30), "a recording file", || async {
        let files = std::fs::read_dir(&dir).ok()?;
        (files.flatten().count() > 0).then_some(())
    })
    .await;
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let ahead = dir.join(format!(
        "{}.mp4",
        (Utc::now() + chrono::Duration::days(2)).format("%Y%m%d_%H%M%S")
    ));
    std::fs::write(&ahead, b"written while the clock ran fast").unwrap();
    crate::helpers::media::set_modified(&ahead, hour_ago);
    entity::camera_status::Entity::update_many()
        .col_expr(
            entity::camera_status::Column::State,
            sea_orm::sea_query::Expr::value(entity::vocab::CameraState::Recording),
        )
        .col_expr(
            entity::camera_status::Column::LastSegmentAt,
            sea_orm::sea_query::Expr::value(hour_ago),
        )
        .col_expr(
            entity::camera_status::Column::LastStartedAt,
            sea_orm::sea_query::Expr::value(hour_ago),
        )
        .filter(entity::camera_status::Column::CameraId.eq("lab"))
        .exec(&app.state.db)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.state.recorders.recording(), vec!["lab".to_owned()]);
    let restarted = heldar::footage::health::check_once(&app.state)
        .await
        .unwrap();
    assert!(restarted.is_empty(), "{restarted:?}");
    let now = status(&app).await;
    assert_eq!(now["state"], "RECORDING", "{now}");
    assert_eq!(now["reconnectCount"], 0, "{now}");
}
both!(a_recorder_whose_index_lags_but_whose_file_grows_is_not_stale);

/// A camera that sends a keyframe only every 40 s (a dynamic GOP such as Axis Zipstream's, a
/// low-bandwidth profile) is recorded a second at a time: its open file grows while the GOP is
/// still open, so the health monitor does not take it for stalled 30 s in (the recorder used to
/// write nothing between keyframes, and was restarted before its first one), the indexer does
/// not take the open file for a finished one, and the whole GOP is indexed once it closes.
async fn a_camera_with_a_keyframe_every_40_s_is_recorded_without_restarts(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let clock = std::sync::Arc::new(heldar::clock::ManualClock::new(Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| {
        c.allow_local_sources = true;
        c.index_interval_ms = 300;
        // The open file counts as closed after 7 s without a write: a loaded machine may hold
        // ffmpeg's once-a-second write back a little, not that long.
        c.index_settle_ms = 5_000;
        c.health_interval_ms = 200;
    })
    .await;
    let source = app.data_dir.join("long-gop.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=5",
        ])
        .args([
            "-t",
            "120",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "200", "-keyint_min", "200", "-sc_threshold", "0"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "streamUrl": format!("file://{}", source.display()), "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    let dir = app.data_dir.join("recordings/lab");
    let writes = || {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|f| Some((f.file_name(), f.metadata().ok()?)))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    };
    let opened = eventually(Duration::from_secs(30), "a recording file", || async {
        let files = writes();
        let first = files.first()?;
        Some((Utc::now(), first.1.modified().unwrap()))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let files = writes();
    assert_eq!(files.len(), 1, "the first GOP is still open: {files:?}");
    let written = chrono::DateTime::<Utc>::from(files[0].1.modified().unwrap());
    assert!(
        files[0].1.len() > 10_000 && written > chrono::DateTime::<Utc>::from(opened.1),
        "the open file grows between keyframes: {files:?}"
    );

    // The server's clock now says 31.5 s passed since the file was opened: past the monitor's
    // 30 s, with the file's last write 4 s or less behind (a second at most, but the machine
    // may be slow).
    clock.advance(opened.0 + chrono::Duration::milliseconds(31_500) - clock.now_dt());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = status(&app).await;
    assert_eq!(now["reconnectCount"], 0, "not restarted: {now}");
    assert_ne!(now["state"], "ERROR", "{now}");
    assert_eq!(
        now["segmentsWritten"], 0,
        "the open GOP is not indexed: {now}"
    );

    // The first keyframe after 40 s closes the file: its whole GOP is indexed as one segment.
    let indexed = eventually(Duration::from_secs(60), "the first GOP indexed", || async {
        let now = status(&app).await;
        (now["segmentsWritten"] == 1).then_some(now)
    })
    .await;
    assert_eq!(indexed["state"], "RECORDING", "{indexed}");
    assert_eq!(indexed["reconnectCount"], 0, "{indexed}");
    let c = coverage(
        &app,
        Utc::now() - chrono::Duration::minutes(2),
        Utc::now() + chrono::Duration::minutes(2),
    )
    .await;
    let segments = c["segments"]["edges"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{c}");
    let (start, end) = (
        segments[0]["node"]["start"].as_str().unwrap(),
        segments[0]["node"]["end"].as_str().unwrap(),
    );
    let seconds = (chrono::DateTime::parse_from_rfc3339(end).unwrap()
        - chrono::DateTime::parse_from_rfc3339(start).unwrap())
    .num_milliseconds() as f64
        / 1000.0;
    assert!((seconds - 40.0).abs() < 1.0, "one 40 s GOP: {c}");
    const OUTAGES: &str = "{ perceptionEvents(filter: {kinds: [RECORDER_ERROR], cameraIds: [\"lab\"]}) { edges { node { kind payload } } } }";
    let seen = app.gql(OUTAGES, json!({}), app.admin()).await;
    assert_eq!(seen["perceptionEvents"]["edges"], json!([]), "{seen}");
}
both!(a_camera_with_a_keyframe_every_40_s_is_recorded_without_restarts);

/// An MPEG-TS camera that stops sending for 12 s and goes on with its clock run on: the
/// recorder keeps the jump in its timestamps (ffmpeg by default closes up any jump over 10 s in
/// MPEG-TS, which would stamp every later frame of the file 12 s early), and the pause is a
/// `STREAM_PAUSED` gap where it happened, inside the recording that holds it.
async fn a_camera_that_pauses_for_12_s_leaves_a_gap_where_it_paused(backend: Backend) {
    // Frame 25 is between keyframes: the recording that holds frame 24 goes on after it.
    pauses_at(backend, 25, 10, 0.5).await;
}
both!(a_camera_that_pauses_for_12_s_leaves_a_gap_where_it_paused);

/// The same pause from a camera with a keyframe every 200 ms: the recording after the pause
/// starts where it ended. (Cut on the stream's timestamps, the muxer would catch up on the 12 s
/// with a file per keyframe, six files in about a second under two names, and the second of
/// footage in those replaced would lengthen the gap.)
async fn a_pause_from_a_short_gop_camera_loses_no_footage_after_it(backend: Backend) {
    let Some((app, gap)) = pauses_at(backend, 25, 2, 0.5).await else {
        return;
    };
    let resumed: chrono::DateTime<Utc> = gap["to"].as_str().unwrap().parse().unwrap();
    let at = |ms: i64| (resumed + chrono::Duration::milliseconds(ms)).to_rfc3339();
    eventually(
        Duration::from_secs(30),
        "footage after the pause",
        || async {
            let c = coverage(&app, resumed, resumed + chrono::Duration::seconds(3)).await;
            (c["coveredSeconds"].as_f64()? >= 2.9).then_some(())
        },
    )
    .await;
    let clip = crate::evidence::ready_clip(&app, "lab", at(300), at(2_800)).await;
    let bytes = crate::evidence::downloaded(&app, &clip).await;
    let (numbers, _) = crate::evidence::frame_numbers(&bytes);
    assert!(numbers.len() >= 24, "2.5 s at 10 fps: {numbers:?}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "every frame after the pause, in order: {numbers:?}"
    );
}
both!(a_pause_from_a_short_gop_camera_loses_no_footage_after_it);

/// The same pause just before a keyframe: the frame after it opens a recording, so the pause
/// falls between two recordings of one ffmpeg run. It is a `STREAM_PAUSED` gap all the same
/// (it was an unexplained one: the recorder never stopped).
async fn a_pause_between_two_recordings_of_one_run_is_a_stream_pause(backend: Backend) {
    // The file after the pause is opened as its first frame reaches the muxer: known to a
    // second on a loaded machine.
    pauses_at(backend, 20, 10, 1.1).await;
}
both!(a_pause_between_two_recordings_of_one_run_is_a_stream_pause);

/// A camera whose MPEG-TS stream (10 frames a second, a keyframe every `gop` frames, 6 s
/// looped) pauses 12 s before frame `frame`: a `STREAM_PAUSED` gap of 12 s (± `tolerance`) a
/// few seconds after the camera was added, with the recorder never restarted; the server and
/// the gap. Its frames carry their numbers ([`numbered_source`](crate::helpers::media::numbered_source)).
async fn pauses_at(
    backend: Backend,
    frame: u32,
    gop: u32,
    tolerance: f64,
) -> Option<(TestApp, Value)> {
    if !ffmpeg_ready() {
        return None;
    }
    let app = recording(backend).await;
    let source = app.data_dir.join("paused.ts");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(crate::helpers::media::numbered_source(10, false))
        .args(["-t", "6", "-c:v", "libx264", "-preset", "ultrafast"])
        .args(["-g", &gop.to_string(), "-pix_fmt", "yuv420p", "-bsf:v"])
        .arg(format!("setts=ts=if(gte(N\\,{frame})\\,TS+12*90000\\,TS)"))
        .args(["-f", "mpegts"])
        .arg(&source)
        .status()
        .unwrap();
    assert!(made.success());
    let started = Utc::now();
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "streamUrl": format!("file://{}", source.display()), "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    let gap = eventually(Duration::from_secs(60), "the pause recorded", || async {
        let c = coverage(
            &app,
            started - chrono::Duration::minutes(1),
            Utc::now() + chrono::Duration::minutes(1),
        )
        .await;
        // Once footage after the pause is indexed, the gap ends where it did.
        let gaps = c["gaps"].as_array()?.clone();
        gaps.into_iter()
            .find(|g| g["reason"] == "STREAM_PAUSED" && g["seconds"].as_f64() < Some(30.0))
    })
    .await;
    let seconds = gap["seconds"].as_f64().unwrap();
    assert!((seconds - 12.0).abs() < tolerance, "a 12 s pause: {gap}");
    // 2.5 s of frames came first: the pause starts a few seconds after the camera was added,
    // not at the end of its recording (ffmpeg reads the first half second of a file at once:
    // its first recording is opened up to that much after its first frame).
    let from: chrono::DateTime<Utc> = gap["from"].as_str().unwrap().parse().unwrap();
    let after = (from - started).num_milliseconds();
    assert!(
        (500..8_000).contains(&after),
        "{after} ms after the start: {gap}"
    );
    let state = status(&app).await;
    assert_eq!(
        state["reconnectCount"], 0,
        "recorded through the pause: {state}"
    );
    Some((app, gap))
}

/// Footage is placed at the time it was filmed, to a fraction of a second: a recording starts
/// when ffmpeg opened it (its name has whole seconds; its birth time the rest), so a clip asked
/// from a segment's start begins on a frame filmed then, not up to a second later.
async fn recordings_are_placed_at_the_time_they_were_filmed(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let app = recording(backend).await;
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "lab", "name": "Lab", "recordEnabled": false,
            "streamUrl": "lavfi:testsrc2=size=320x180:rate=10", "segmentSeconds": 2}}),
        app.admin(),
    )
    .await;
    crate::watch::number_camera(&app, "lab").await;
    // Started half way through a second, the recorder opens its files (on its keyframes, a
    // second apart) well inside a second: named, they would start that much early.
    let into_second = Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(
        (1_500 - into_second) % 1_000,
    )))
    .await;
    let started = Utc::now();
    app.gql(
        "mutation { updateCamera(input: {id: \"lab\", recordEnabled: true}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    let listed = listing(&app, started, 4).await;
    for edge in &listed["segments"]["edges"].as_array().unwrap()[..4] {
        let start: chrono::DateTime<Utc> = edge["node"]["start"].as_str().unwrap().parse().unwrap();
        let clip = crate::evidence::ready_clip(
            &app,
            "lab",
            start.to_rfc3339(),
            (start + chrono::Duration::seconds(1)).to_rfc3339(),
        )
        .await;
        let from: chrono::DateTime<Utc> = clip["actualFrom"].as_str().unwrap().parse().unwrap();
        let bytes = crate::evidence::downloaded(&app, &clip).await;
        let filmed = crate::evidence::frame_clocks(&bytes)[0];
        let placed = (from.timestamp_millis() / 10) as u32;
        let off_ms = i64::from(placed.wrapping_sub(filmed) as i32) * 10;
        assert!(
            off_ms.abs() <= 300,
            "the clip from {from} starts on a frame filmed {off_ms} ms away: {listed}"
        );
    }
}
both!(recordings_are_placed_at_the_time_they_were_filmed);

/// ffmpeg reads a network stream for a few seconds to learn it before recording, then writes
/// what it read at once, so the first file of every run is named seconds after its first frame.
/// Its segment starts at its first frame all the same: footage is placed at the time it was
/// filmed (a clip of "12:00:03" shows 12:00:03), the segments of a run meet without a hole, and
/// no gap is recorded before the first one.
async fn the_first_recording_after_a_start_is_placed_at_its_first_frame(backend: Backend) {
    placed_at_first_frame(backend, 8).await;
}
both!(the_first_recording_after_a_start_is_placed_at_its_first_frame);

/// The same with segments shorter than the seconds ffmpeg reads before it records: those
/// seconds, written at once, are one recording, not several files opened in the same second
/// (whole-second names: the last would have replaced the others, and the first seconds of every
/// run would be lost).
async fn short_segments_keep_the_seconds_read_before_recording(backend: Backend) {
    placed_at_first_frame(backend, 2).await;
}
both!(short_segments_keep_the_seconds_read_before_recording);

/// A camera served over HTTP recorded in segments of `segment_seconds`: its first segment
/// starts at its first frame, and the run's segments meet without a hole.
async fn placed_at_first_frame(backend: Backend, segment_seconds: i32) {
    use std::sync::atomic::Ordering;
    if !ffmpeg_ready() {
        return;
    }
    let camera = FreezingCamera::start().await;
    let app = TestApp::spawn_with(backend, |c| {
        c.index_interval_ms = 300;
        c.index_settle_ms = 0;
    })
    .await;
    records(&app, &camera, segment_seconds).await;
    let connected = eventually(Duration::from_secs(20), "the camera connected", || async {
        (camera.served.load(Ordering::SeqCst) > 0).then(Utc::now)
    })
    .await;
    let listed = eventually(Duration::from_secs(60), "two segments", || async {
        let c = coverage(&app, connected - chrono::Duration::minutes(1), Utc::now()).await;
        (c["segments"]["edges"].as_array()?.len() >= 2).then_some(c)
    })
    .await;
    let at = |i: usize, end: &str| {
        chrono::DateTime::parse_from_rfc3339(
            listed["segments"]["edges"][i]["node"][end]
                .as_str()
                .unwrap(),
        )
        .unwrap()
        .with_timezone(&Utc)
    };
    let first_frame = at(0, "start");
    // The camera's first frame leaves once its encoder has started (a fraction of a second, more
    // on a loaded machine); names have whole seconds. Named as ffmpeg names it, the segment
    // would start after the 5 s the recorder spends probing the stream.
    let late = (first_frame - connected).num_milliseconds();
    assert!(
        (-1_500..=3_000).contains(&late),
        "the first segment starts {late} ms after the camera connected: {listed}"
    );
    // It holds the seconds read while probing and up to a segment after them (files are cut on
    // the clock), and ends where the next one starts.
    let length = (at(0, "end") - first_frame).num_milliseconds();
    let most = 7_000 + i64::from(segment_seconds) * 1000;
    assert!(
        (4_000..=most).contains(&length),
        "the first segment holds its first seconds: {length} ms: {listed}"
    );
    assert!(
        (at(1, "start") - at(0, "end")).num_milliseconds().abs() <= 1_000,
        "the run's segments meet: {listed}"
    );
    let within = coverage(&app, first_frame, at(1, "end")).await;
    assert_eq!(within["gaps"], json!([]), "{within}");
    camera.task.abort();
}

/// A file indexed late (an older segment whose probe succeeded only on a later pass) does not
/// move the camera's newest segment back.
async fn a_late_older_segment_does_not_move_the_newest_segment_back(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    let (app, base) = indexed_by_hand(backend, "lab").await;
    let dir = app.data_dir.join("recordings/lab");
    let index = || index_settled(&app);
    let newest = || async {
        let s = app
            .gql(
                "{ camera(id: \"lab\") { status { lastSegmentAt } } }",
                json!({}),
                app.admin(),
            )
            .await;
        let at = s["camera"]["status"]["lastSegmentAt"]
            .as_str()
            .unwrap()
            .to_owned();
        at.parse::<chrono::DateTime<Utc>>().unwrap()
    };
    crate::helpers::write_run(&dir, base + chrono::Duration::seconds(30), 1, 10);
    assert_eq!(index().await, 1);
    let first = newest().await;
    assert!(first >= base + chrono::Duration::seconds(39), "{first}");
    crate::helpers::write_run(&dir, base, 1, 10);
    assert_eq!(index().await, 1);
    assert_eq!(newest().await, first);
}
both!(a_late_older_segment_does_not_move_the_newest_segment_back);

/// A source hung from the start (its connection opens and carries nothing playable) holds
/// ffmpeg in CONNECTING, probing, with no socket timeout to end it: the monitor restarts it
/// there too (no event: an outage before any recording is the recorder's to announce), and
/// it records once the source answers.
async fn a_recorder_hung_while_connecting_is_restarted(backend: Backend) {
    use std::sync::atomic::Ordering;
    if !ffmpeg_ready() {
        return;
    }
    let camera = FreezingCamera::start().await;
    camera.state.store(FREEZE, Ordering::SeqCst);
    let (app, clock) = recording_from(&camera, backend).await;
    eventually(Duration::from_secs(30), "the hung connection", || async {
        (camera.state.load(Ordering::SeqCst) == FROZEN).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hung = status(&app).await;
    assert_eq!(hung["state"], "CONNECTING", "{hung}");
    assert_eq!(hung["reconnectCount"], 0, "{hung}");

    clock.advance(Utc::now() - clock.now_dt() + chrono::Duration::seconds(31));
    let recovered = eventually(
        Duration::from_secs(40),
        "recording after a restart",
        || async {
            let now = status(&app).await;
            let reconnected = camera.served.load(Ordering::SeqCst) >= 2;
            (now["state"] == "RECORDING" && reconnected).then_some(now)
        },
    )
    .await;
    restarted_once(&recovered, "since it started");
    const OUTAGES: &str = "{ perceptionEvents(filter: {kinds: [RECORDER_ERROR], cameraIds: [\"lab\"]}) { edges { node { kind } } } }";
    let seen = app.gql(OUTAGES, json!({}), app.admin()).await;
    assert_eq!(seen["perceptionEvents"]["edges"], json!([]), "{seen}");
    camera.task.abort();
}
both!(a_recorder_hung_while_connecting_is_restarted);
