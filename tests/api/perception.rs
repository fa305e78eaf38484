//! Perception end to end: zones with clear validation, detections ingested by a worker's key,
//! zone events streamed over the websocket with resume, scope and replay.

use std::sync::Arc;
use std::time::Duration;

use heldar::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, WsClient, WsEvent};

const CREATE_ZONE: &str = "mutation($i: CreateZoneInput!) { createZone(input: $i) { id name kind points { x y } severity dwellSeconds } }";
const INGEST: &str = "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { seq duplicate accepted events } }";

async fn camera(app: &TestApp, id: &str) {
    app.gql("mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": id, "name": id, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}}), app.admin()).await;
}

fn right_half(camera: &str) -> Value {
    json!({"cameraId": camera, "name": "right", "points": [{"x": 0.5, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.5, "y": 1.0}],
           "labels": ["person"], "dwellSeconds": 1.0, "severity": "WARNING"})
}

fn frame(camera: &str, frame: &str, bbox: [f64; 4]) -> Value {
    json!({"i": {"cameraId": camera, "taskType": "detect", "frameId": frame, "capturedAt": chrono::Utc::now().to_rfc3339(),
        "detections": [{"label": "person", "confidence": 0.9, "trackId": "t1", "bbox": {"x": bbox[0], "y": bbox[1], "w": bbox[2], "h": bbox[3]}, "attributes": {"colour": "red", "provenance": "forged"}}]}})
}

const INSIDE: [f64; 4] = [0.6, 0.4, 0.1, 0.2];
const OUTSIDE: [f64; 4] = [0.1, 0.1, 0.1, 0.1];

/// Reads `next` payloads of operation `id` until `n` events arrived.
async fn events(ws: &mut WsClient, id: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = ws.next_json().await;
        if m["id"] == id && m["type"] == "next" {
            assert!(m["payload"]["errors"].is_null(), "{m}");
            out.push(m["payload"]["data"]["perceptionEvents"].clone());
        }
    }
    out
}

async fn zones_are_validated_field_by_field_and_names_are_unique_per_camera(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    let bad = [
        (
            json!({"points": [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}]}),
            "input.points",
        ),
        (
            json!({"points": [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}, {"x": 1.5, "y": 0.3}]}),
            "input.points[2].x",
        ),
        (
            json!({"kind": "LINE", "points": [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}, {"x": 0.3, "y": 0.3}]}),
            "input.points",
        ),
        (json!({"labels": ["person", " "]}), "input.labels[1]"),
        (json!({"minConfidence": 7.0}), "input.minConfidence"),
        (json!({"confirmFrames": 0}), "input.confirmFrames"),
        (json!({"name": "  "}), "input.name"),
    ];
    for (patch, field) in bad {
        let mut input = right_half("c1");
        input
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let (_, body) = app
            .post(CREATE_ZONE, json!({"i": input}), app.admin())
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{field}: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let zone = app
        .gql(CREATE_ZONE, json!({"i": right_half("c1")}), app.admin())
        .await["createZone"]
        .clone();
    assert_eq!(zone["kind"], "REGION");
    let (code, message) = app
        .gql_err(CREATE_ZONE, json!({"i": right_half("c1")}), app.admin())
        .await;
    assert_eq!(code, "CONFLICT");
    assert!(message.contains(zone["id"].as_str().unwrap()), "{message}");
    // Flipping a 4-point region to a line: the whole result is checked.
    let (_, body) = app
        .post(
            "mutation($i: UpdateZoneInput!) { updateZone(input: $i) { id } }",
            json!({"i": {"id": zone["id"], "kind": "LINE"}}),
            app.admin(),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.points");
    // A scoped key gets one answer for someone else's zone and a missing one.
    let (_, _, scoped) = app.api_key("manager", Some(vec!["other"])).await;
    for id in [zone["id"].as_str().unwrap(), "zone_missing"] {
        let (code, message) = app
            .gql_err(
                "mutation($id: ID!) { deleteZone(id: $id) }",
                json!({"id": id}),
                Some(&scoped),
            )
            .await;
        assert_eq!(code, "FORBIDDEN");
        assert!(!message.contains(id));
    }
    let (code, _) = app
        .gql_err(
            "mutation { deleteZone(id: \"zone_missing\") }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let listed = app
        .gql(
            "{ zones(cameraId: \"c1\") { name } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(listed["zones"], json!([{"name": "right"}]));
    // Labels are trimmed as detection labels are, or `"person "` would never match one.
    let mut padded = right_half("c1");
    padded["name"] = json!("padded");
    padded["labels"] = json!([" person ", "car\t"]);
    let created = app
        .gql(CREATE_ZONE, json!({"i": padded}), app.admin())
        .await;
    let labels = app
        .gql(
            "{ zones(cameraId: \"c1\") { name labels } }",
            json!({}),
            app.admin(),
        )
        .await["zones"][1]
        .clone();
    assert!(created["createZone"]["id"].is_string());
    assert_eq!(
        labels,
        json!({"name": "padded", "labels": ["person", "car"]})
    );
}
both!(zones_are_validated_field_by_field_and_names_are_unique_per_camera);

async fn a_track_walking_in_dwelling_and_out_streams_enter_dwell_exit(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    camera(&app, "c1").await;
    let zone = app
        .gql(CREATE_ZONE, json!({"i": right_half("c1")}), app.admin())
        .await["createZone"]["id"]
        .clone();
    let (_, _, worker) = app.api_key("integration", Some(vec!["c1"])).await;
    let (_, viewer) = app.user_with_role("watcher", "viewer").await;
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {viewer}")}),
    )
    .await;
    ws.send(json!({"id": "e", "type": "subscribe", "payload": {"query": "subscription { perceptionEvents(filter: {cameraIds: [\"c1\"]}) { cursor kind severity cameraId zoneId trackId label dwellSeconds payload } }"}})).await;
    // Nothing is sent until an event happens; the subscription is live.
    assert!(
        ws.next_event_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    let mut occupancy = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {viewer}")}),
    )
    .await;
    occupancy.send(json!({"id": "o", "type": "subscribe", "payload": {"query": "subscription { zoneOccupancy(cameraId: \"c1\") { zoneId count } }"}})).await;
    let now = occupancy.next_json().await;
    assert_eq!(
        now["payload"]["data"]["zoneOccupancy"],
        json!({"zoneId": zone, "count": 0}),
        "the current count first"
    );
    let mut overlay = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {viewer}")}),
    )
    .await;
    overlay.send(json!({"id": "d", "type": "subscribe", "payload": {"query": "subscription { detections(cameraId: \"c1\") { frameId detections { label trackId x } } }"}})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let first = app
        .gql(INGEST, frame("c1", "f1", INSIDE), Some(&worker))
        .await["ingestDetections"]
        .clone();
    assert_eq!(
        first["events"], 0,
        "debounce: one frame inside is not an entry"
    );
    assert_eq!(first["accepted"], 1);
    clock.advance(chrono::Duration::milliseconds(500));
    assert_eq!(
        app.gql(INGEST, frame("c1", "f2", INSIDE), Some(&worker))
            .await["ingestDetections"]["events"],
        1
    );
    clock.advance(chrono::Duration::milliseconds(1500));
    app.gql(INGEST, frame("c1", "f3", INSIDE), Some(&worker))
        .await;
    clock.advance(chrono::Duration::milliseconds(500));
    app.gql(INGEST, frame("c1", "f4", OUTSIDE), Some(&worker))
        .await;
    clock.advance(chrono::Duration::milliseconds(500));
    app.gql(INGEST, frame("c1", "f5", OUTSIDE), Some(&worker))
        .await;

    let got = events(&mut ws, "e", 3).await;
    let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ZONE_ENTER", "ZONE_DWELL", "ZONE_EXIT"]);
    for e in &got {
        assert_eq!(e["zoneId"], zone);
        assert_eq!(e["trackId"], "t1");
        assert_eq!(e["cameraId"], "c1");
        assert_eq!(e["severity"], "WARNING");
        assert_eq!(e["payload"]["zone"], "right");
    }
    assert_eq!(got[0]["label"], "person");
    assert_eq!(got[1]["dwellSeconds"], 1.5);
    let counts: Vec<Value> = [occupancy.next_json().await, occupancy.next_json().await]
        .iter()
        .map(|m| m["payload"]["data"]["zoneOccupancy"]["count"].clone())
        .collect();
    assert_eq!(counts, [json!(1), json!(0)], "in on ENTER, out on EXIT");
    let batch = overlay.next_json().await;
    assert_eq!(
        batch["payload"]["data"]["detections"],
        json!({"frameId": "f1", "detections": [{"label": "person", "trackId": "t1", "x": 0.6}]})
    );

    // The same frame again is a duplicate and changes nothing.
    let again = app
        .gql(INGEST, frame("c1", "f5", OUTSIDE), Some(&worker))
        .await["ingestDetections"]
        .clone();
    assert_eq!(
        again,
        json!({"seq": null, "duplicate": true, "accepted": 0, "events": 0})
    );
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::detection::Entity::find()
            .count(&app.state.db)
            .await
            .unwrap(),
        5
    );
    // Server-owned attributes are the server's.
    let stored = entity::detection::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let attrs: Value = serde_json::from_str(&stored.attributes).unwrap();
    assert_eq!(attrs["colour"], "red");
    assert!(
        attrs["provenance"]["producedBy"]
            .as_str()
            .unwrap()
            .starts_with("apikey:")
    );

    // The same events through the paged query, resumable by cursor.
    let page = app.gql("{ perceptionEvents(filter: {kinds: [ZONE_ENTER, ZONE_EXIT]}, first: 1) { edges { node { kind } } pageInfo { endCursor hasNextPage } } }", json!({}), Some(&viewer)).await;
    assert_eq!(
        page["perceptionEvents"]["edges"][0]["node"]["kind"],
        "ZONE_ENTER"
    );
    let next = app.gql("query($a: String) { perceptionEvents(filter: {kinds: [ZONE_ENTER, ZONE_EXIT]}, after: $a) { edges { node { kind } } } }",
        json!({"a": page["perceptionEvents"]["pageInfo"]["endCursor"]}), Some(&viewer)).await;
    assert_eq!(
        next["perceptionEvents"]["edges"],
        json!([{"node": {"kind": "ZONE_EXIT"}}])
    );
}
both!(a_track_walking_in_dwelling_and_out_streams_enter_dwell_exit);

async fn ingest_refuses_bad_batches_before_writing_anything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    let (_, _, worker) = app.api_key("integration", Some(vec!["c1"])).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"confidence": 1.5}), "input.detections[0].confidence"),
        (
            json!({"bbox": {"x": 0.1, "y": 0.1, "w": 0.0, "h": 0.1}}),
            "input.detections[0].bbox.w",
        ),
        (
            json!({"bbox": {"x": 1.2, "y": 0.1, "w": 0.1, "h": 0.1}}),
            "input.detections[0].bbox.x",
        ),
        (
            json!({"bbox": {"x": 0.5, "y": 0.5, "w": 0.1, "h": 0.6}}),
            "input.detections[0].bbox.h",
        ),
        (json!({"label": " "}), "input.detections[0].label"),
        (
            json!({"attributes": [1, 2]}),
            "input.detections[0].attributes",
        ),
    ];
    for (patch, field) in cases {
        let mut body = frame("c1", "bad", INSIDE);
        body["i"]["detections"][0]
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let (_, reply) = app.post(INGEST, body, Some(&worker)).await;
        assert_eq!(reply["errors"][0]["extensions"]["field"], field, "{reply}");
    }
    let mut many = frame("c1", "many", INSIDE);
    let one = many["i"]["detections"][0].clone();
    many["i"]["detections"] = Value::Array(vec![one; 1001]);
    let (_, reply) = app.post(INGEST, many, Some(&worker)).await;
    assert_eq!(
        reply["errors"][0]["extensions"]["field"],
        "input.detections"
    );
    let (code, _) = app
        .gql_err(INGEST, frame("c2", "f", INSIDE), Some(&worker))
        .await;
    assert_eq!(code, "FORBIDDEN", "out of the key's scope");
    let (_, viewer) = app.user_with_role("v", "viewer").await;
    let (code, _) = app
        .gql_err(INGEST, frame("c1", "f", INSIDE), Some(&viewer))
        .await;
    assert_eq!(code, "FORBIDDEN", "viewers do not ingest");
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::outbox::Entity::find()
            .count(&app.state.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        entity::detection::Entity::find()
            .count(&app.state.db)
            .await
            .unwrap(),
        0
    );
}
both!(ingest_refuses_bad_batches_before_writing_anything);

async fn a_resumed_subscription_gets_exactly_the_missed_events_then_live_ones_in_scope(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    let mut zone = right_half("c1");
    zone["dwellSeconds"] = json!(0);
    zone["confirmFrames"] = json!(1);
    app.gql(CREATE_ZONE, json!({"i": zone.clone()}), app.admin())
        .await;
    zone["cameraId"] = json!("c2");
    app.gql(CREATE_ZONE, json!({"i": zone}), app.admin()).await;
    let (_, _, worker) = app.api_key("integration", None).await;
    let (_, _, scoped) = app.api_key("viewer", Some(vec!["c1"])).await;
    let subscribe = |after: Value| json!({"id": "r", "type": "subscribe", "payload": {"query": "subscription($a: String) { perceptionEvents(after: $a) { cursor kind cameraId } }", "variables": {"a": after}}});
    let mut n = 0;
    let mut walk = |camera: &'static str, bbox: [f64; 4]| {
        n += 1;
        frame(camera, &format!("{camera}-{n}"), bbox)
    };

    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {scoped}")}),
    )
    .await;
    ws.send(subscribe(Value::Null)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // c2's events never reach a subscriber scoped to c1.
    app.gql(INGEST, walk("c2", INSIDE), Some(&worker)).await;
    app.gql(INGEST, walk("c1", INSIDE), Some(&worker)).await;
    let seen = events(&mut ws, "r", 1).await;
    assert_eq!(seen[0]["kind"], "ZONE_ENTER");
    assert_eq!(seen[0]["cameraId"], "c1");
    let cursor = seen[0]["cursor"].clone();
    drop(ws);

    // Missed while away: an exit and an entry on c1 (and noise on c2).
    app.gql(INGEST, walk("c1", OUTSIDE), Some(&worker)).await;
    app.gql(INGEST, walk("c2", OUTSIDE), Some(&worker)).await;
    app.gql(INGEST, walk("c1", INSIDE), Some(&worker)).await;
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {scoped}")}),
    )
    .await;
    ws.send(subscribe(cursor)).await;
    let replayed = events(&mut ws, "r", 2).await;
    assert_eq!(
        replayed
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ZONE_EXIT", "ZONE_ENTER"]
    );
    // Then live, with no duplicate of the replayed ones.
    app.gql(INGEST, walk("c1", OUTSIDE), Some(&worker)).await;
    let live = events(&mut ws, "r", 1).await;
    assert_eq!(live[0]["kind"], "ZONE_EXIT");
    assert!(live[0]["cursor"] != replayed[0]["cursor"]);
    assert!(
        ws.next_event_within(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing else: no duplicates, no c2"
    );
}
both!(a_resumed_subscription_gets_exactly_the_missed_events_then_live_ones_in_scope);

async fn a_batch_committed_but_not_handed_off_is_replayed_once(backend: Backend) {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    let mut zone = right_half("c1");
    zone["confirmFrames"] = json!(1);
    app.gql(CREATE_ZONE, json!({"i": zone}), app.admin()).await;
    // As if the process died right after the ingest transaction committed.
    orphan_batch(&app, "crashed", "t9", 0.6, chrono::Utc::now()).await;
    assert_eq!(
        heldar::perception::consumers::replay(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        heldar::perception::consumers::replay(&app.state)
            .await
            .unwrap(),
        0,
        "handed off once"
    );
    let enters = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [ZONE_ENTER]}) { edges { node { trackId } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        enters["perceptionEvents"]["edges"],
        json!([{"node": {"trackId": "t9"}}])
    );
    assert_eq!(
        entity::consumer_fanout::Entity::find()
            .count(&app.state.db)
            .await
            .unwrap(),
        1
    );
}
both!(a_batch_committed_but_not_handed_off_is_replayed_once);

async fn a_subscriber_that_falls_behind_the_buffer_is_caught_up_from_the_log_in_order(
    backend: Backend,
) {
    use futures_util::StreamExt;
    use sea_orm::Set;
    // Room for 4 events in memory; the subscriber is not polled while 20 are written.
    let app = TestApp::spawn_with(backend, |c| c.event_buffer = 4).await;
    let mut stream = app.admin_subscription("subscription { perceptionEvents { seq payload } }");
    // Drive it until it has subscribed (it then waits for the first event).
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.next())
            .await
            .is_err()
    );
    for i in 0..20 {
        heldar::events::store::record(
            &app.state,
            entity::event::ActiveModel {
                kind: Set("RETENTION_SWEEP".into()),
                severity: Set(entity::vocab::Severity::Info),
                payload: Set(json!({"test": i}).to_string()),
                at: Set(chrono::Utc::now()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let mut kinds = Vec::new();
    for _ in 0..20 {
        let response = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .unwrap();
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        kinds.push(
            data["perceptionEvents"]["payload"]["test"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(
        kinds,
        (0..20).collect::<Vec<_>>(),
        "every event, in order, none dropped"
    );
}
both!(a_subscriber_that_falls_behind_the_buffer_is_caught_up_from_the_log_in_order);

async fn after_a_restart_the_engine_remembers_who_is_inside(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    let mut zone = right_half("c1");
    zone["confirmFrames"] = json!(1);
    zone["dwellSeconds"] = json!(0);
    app.gql(CREATE_ZONE, json!({"i": zone}), app.admin()).await;
    let (_, _, worker) = app.api_key("integration", None).await;
    assert_eq!(
        app.gql(INGEST, frame("c1", "a", INSIDE), Some(&worker))
            .await["ingestDetections"]["events"],
        1
    );
    // A restart loses the in-memory engine; start-up rebuilds it from the event log.
    *app.state.zones.engine.lock().await = heldar::zones::engine::ZoneEngine::default();
    assert_eq!(
        heldar::zones::consumer::restore_engine(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.gql(INGEST, frame("c1", "b", INSIDE), Some(&worker))
            .await["ingestDetections"]["events"],
        0,
        "no second ENTER"
    );
    assert_eq!(
        app.gql(INGEST, frame("c1", "c", OUTSIDE), Some(&worker))
            .await["ingestDetections"]["events"],
        1,
        "its EXIT"
    );
}
both!(after_a_restart_the_engine_remembers_who_is_inside);

async fn after_a_restart_a_motionless_object_stays_suppressed(backend: Backend) {
    // Laundry on a line: it enters, stands still and is suppressed; a restart must not count
    // it again, nor announce its dwell, until it really moves.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    camera(&app, "c1").await;
    let mut zone = right_half("c1");
    zone["confirmFrames"] = json!(1);
    zone["dwellSeconds"] = json!(150);
    zone["staticSuppression"] = json!(true);
    zone["staticAfterSeconds"] = json!(60);
    app.gql(CREATE_ZONE, json!({"i": zone}), app.admin()).await;
    let (_, _, worker) = app.api_key("integration", None).await;
    async fn occupancy(app: &TestApp) -> Value {
        app.gql(
            "{ zoneOccupancy(cameraId: \"c1\") { count } }",
            json!({}),
            app.admin(),
        )
        .await["zoneOccupancy"][0]["count"]
            .clone()
    }
    async fn ingest(app: &TestApp, worker: &str, name: &str, bbox: [f64; 4]) -> i64 {
        app.gql(INGEST, frame("c1", name, bbox), Some(worker)).await["ingestDetections"]["events"]
            .as_i64()
            .unwrap()
    }
    assert_eq!(ingest(&app, &worker, "f1", INSIDE).await, 1, "ENTER");
    assert_eq!(occupancy(&app).await, 1);
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        ingest(&app, &worker, "f2", INSIDE).await,
        1,
        "ZONE_STATIC_SUPPRESSED"
    );
    assert_eq!(occupancy(&app).await, 0);

    *app.state.zones.engine.lock().await = heldar::zones::engine::ZoneEngine::default();
    heldar::zones::consumer::restore_engine(&app.state)
        .await
        .unwrap();
    assert_eq!(
        occupancy(&app).await,
        0,
        "still suppressed after the restart"
    );
    for i in 0..3 {
        clock.advance(chrono::Duration::seconds(60));
        assert_eq!(
            ingest(&app, &worker, &format!("still{i}"), INSIDE).await,
            0,
            "no ENTER and no DWELL for a suppressed object"
        );
    }
    assert_eq!(occupancy(&app).await, 0);
    // It moves: the suppression lifts and it enters.
    clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        ingest(&app, &worker, "moved", [0.8, 0.6, 0.1, 0.2]).await,
        1
    );
    assert_eq!(occupancy(&app).await, 1);
    let kinds = app
        .gql(
            "{ perceptionEvents(filter: {cameraIds: [\"c1\"]}) { edges { node { kind } } } }",
            json!({}),
            app.admin(),
        )
        .await["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(
        kinds,
        ["ZONE_ENTER", "ZONE_STATIC_SUPPRESSED", "ZONE_ENTER"]
    );
}
both!(after_a_restart_a_motionless_object_stays_suppressed);

async fn a_track_the_zone_cannot_see_for_a_frame_neither_exits_nor_enters_again(backend: Backend) {
    // A person inside whose confidence dips below the zone's floor, or who is labelled
    // something else for a frame, is invisible to the zone for that frame: not absent.
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    let mut zone = right_half("c1");
    zone["confirmFrames"] = json!(1);
    zone["minConfidence"] = json!(0.5);
    app.gql(CREATE_ZONE, json!({"i": zone}), app.admin()).await;
    let (_, _, worker) = app.api_key("integration", None).await;
    let events = |body: Value| {
        let (app, worker) = (&app, &worker);
        async move {
            app.gql(INGEST, body, Some(worker)).await["ingestDetections"]["events"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(events(frame("c1", "f1", INSIDE)).await, 1, "ENTER");
    let mut dim = frame("c1", "f2", INSIDE);
    dim["i"]["detections"][0]["confidence"] = json!(0.3);
    assert_eq!(events(dim).await, 0, "a confidence dip is no EXIT");
    let mut relabelled = frame("c1", "f3", INSIDE);
    relabelled["i"]["detections"][0]["label"] = json!("dog");
    assert_eq!(
        events(relabelled).await,
        0,
        "nor is a frame with another label"
    );
    assert_eq!(
        events(frame("c1", "f4", INSIDE)).await,
        0,
        "and no second ENTER"
    );
    let occupancy = app
        .gql(
            "{ zoneOccupancy(cameraId: \"c1\") { count } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(occupancy["zoneOccupancy"][0]["count"], 1);
    // Really gone from the frame: it exits.
    let mut empty = frame("c1", "f5", INSIDE);
    empty["i"]["detections"] = json!([]);
    assert_eq!(events(empty).await, 1, "EXIT");
}
both!(a_track_the_zone_cannot_see_for_a_frame_neither_exits_nor_enters_again);

async fn a_track_timed_out_by_another_cameras_batch_updates_its_occupancy(backend: Backend) {
    // The worker of c1 stops with a person inside; pruning runs on the next batch of any
    // camera, so c2's batch exits the person from c1, and c1's counts must follow.
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    for c in ["c1", "c2"] {
        camera(&app, c).await;
        let mut zone = right_half(c);
        zone["confirmFrames"] = json!(1);
        app.gql(CREATE_ZONE, json!({"i": zone}), app.admin()).await;
    }
    let (_, _, worker) = app.api_key("integration", None).await;
    app.gql(INGEST, frame("c1", "in", INSIDE), Some(&worker))
        .await;
    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "o", "type": "subscribe", "payload": {"query": "subscription { zoneOccupancy(cameraId: \"c1\") { count } }"}})).await;
    assert_eq!(
        ws.next_json().await["payload"]["data"]["zoneOccupancy"]["count"],
        1
    );
    clock.advance(chrono::Duration::seconds(121));
    let mut other = frame("c2", "elsewhere", OUTSIDE);
    other["i"]["detections"][0]["trackId"] = json!("t9");
    app.gql(INGEST, other, Some(&worker)).await;
    let change = ws
        .next_event_within(Duration::from_secs(5))
        .await
        .expect("c1's count changes when its track times out");
    let WsEvent::Json(change) = change else {
        panic!("{change:?}")
    };
    assert_eq!(
        change["payload"]["data"]["zoneOccupancy"]["count"], 0,
        "{change}"
    );
}
both!(a_track_timed_out_by_another_cameras_batch_updates_its_occupancy);

async fn stored_detections_are_read_newest_first_by_page_within_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    let (_, _, worker) = app.api_key("integration", None).await;
    let base = chrono::Utc::now() - chrono::Duration::minutes(10);
    // Five frames, ingested out of capture order; the third one also has a car.
    for (i, offset) in [0, 4, 2, 1, 3].into_iter().enumerate() {
        let mut detections = vec![
            json!({"label": "person", "confidence": 0.9, "trackId": "t1",
            "bbox": {"x": 0.1 * offset as f64, "y": 0.1, "w": 0.1, "h": 0.1}}),
        ];
        if offset == 2 {
            detections.push(json!({"label": "car", "confidence": 0.7, "bbox": {"x": 0.5, "y": 0.5, "w": 0.2, "h": 0.2}}));
        }
        let body = json!({"i": {"cameraId": "c1", "taskType": "detect", "frameId": format!("f{i}"),
            "capturedAt": (base + chrono::Duration::seconds(offset)).to_rfc3339(), "detections": detections}});
        app.gql(INGEST, body, Some(&worker)).await;
    }
    app.gql(INGEST, frame("c2", "other", INSIDE), Some(&worker))
        .await;
    let query = "query($c: ID!, $from: DateTime, $to: DateTime, $label: String, $first: Int, $after: String, $order: Order) {
        detections(cameraId: $c, from: $from, to: $to, label: $label, first: $first, after: $after, order: $order) {
          totalCount edges { cursor node { id cameraId label confidence x trackId capturedAt batchSeq attributes } }
          pageInfo { hasNextPage endCursor } } }";
    let page = |vars: Value| {
        let app = &app;
        async move { app.gql(query, vars, app.admin()).await["detections"].clone() }
    };
    let all = page(json!({"c": "c1"})).await;
    assert_eq!(all["totalCount"], 6);
    let xs: Vec<f64> = all["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["label"] == "person")
        .map(|e| (e["node"]["x"].as_f64().unwrap() * 10.0).round())
        .collect();
    assert_eq!(xs, [4.0, 3.0, 2.0, 1.0, 0.0], "newest capture first");
    assert_eq!(all["edges"][0]["node"]["cameraId"], "c1");
    assert!(all["edges"][0]["node"]["attributes"]["provenance"].is_object());

    // Two at a time, oldest first, without skipping or repeating one.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let p = page(json!({"c": "c1", "first": 2, "after": after, "order": "OLDEST_FIRST"})).await;
        for e in p["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_owned());
        }
        if p["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = p["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), 6);
    seen.dedup();
    assert_eq!(seen.len(), 6);

    // Inclusive bounds and a label.
    let window = page(
        json!({"c": "c1", "from": (base + chrono::Duration::seconds(1)).to_rfc3339(),
        "to": (base + chrono::Duration::seconds(3)).to_rfc3339()}),
    )
    .await;
    assert_eq!(window["totalCount"], 4, "1 s, 2 s (person and car), 3 s");
    let cars = page(json!({"c": "c1", "label": "car"})).await;
    assert_eq!(cars["totalCount"], 1);
    assert_eq!(cars["edges"][0]["node"]["trackId"], Value::Null);

    let (code, message) = app
        .gql_err(query, json!({"c": "c1", "from": base.to_rfc3339(), "to": (base - chrono::Duration::seconds(1)).to_rfc3339()}), app.admin())
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("to"), "{message}");
    // A caller limited to c2 gets FORBIDDEN for c1 and for a camera that does not exist.
    let (_, _, scoped) = app.api_key("viewer", Some(vec!["c2"])).await;
    for camera in ["c1", "nowhere"] {
        let (code, _) = app
            .gql_err(query, json!({"c": camera}), Some(&scoped))
            .await;
        assert_eq!(code, "FORBIDDEN", "{camera}");
    }
    let own = app.gql(query, json!({"c": "c2"}), Some(&scoped)).await;
    assert_eq!(own["detections"]["totalCount"], 1);
}
both!(stored_detections_are_read_newest_first_by_page_within_scope);

async fn two_servers_on_one_postgres_database_share_their_events(backend: Backend) {
    // SQLite is one process's database: the in-process bus serves it.
    let crate::helpers::Backend::Postgres(admin) = &backend else {
        return;
    };
    use sea_orm::ConnectionTrait;
    let name = format!("heldar_pair_{}", uuid::Uuid::new_v4().simple());
    let conn = sea_orm::Database::connect(admin.as_str()).await.unwrap();
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = crate::helpers::replace_db_name(admin, &name);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server_a, a) = crate::helpers::process::start_server(dir_a.path(), Some(&url));
    let (server_b, b) = crate::helpers::process::start_server(dir_b.path(), Some(&url));
    let http = reqwest::Client::new();
    let token_a = crate::helpers::process::admin_token(&http, &a).await;
    crate::helpers::process::call(&http, &a, Some(&token_a), "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "c1", "name": "c1", "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}})).await;
    let mut zone = right_half("c1");
    zone["confirmFrames"] = json!(1);
    crate::helpers::process::call(&http, &a, Some(&token_a), CREATE_ZONE, json!({"i": zone})).await;
    let key = crate::helpers::process::call(
        &http,
        &a,
        Some(&token_a),
        "mutation { createApiKey(input: {name: \"w\", role: INTEGRATION}) { key } }",
        json!({}),
    )
    .await["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let ws_a = a.replace("http://", "ws://") + "/graphql/ws";
    let mut ws =
        WsClient::connect_acked(&ws_a, json!({"authorization": format!("Bearer {token_a}")})).await;
    ws.send(json!({"id": "x", "type": "subscribe", "payload": {"query": "subscription { perceptionEvents(filter: {kinds: [ZONE_ENTER]}) { kind cameraId trackId } }"}})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Ingested on B, seen on A.
    let worker = crate::helpers::process::call(
        &http,
        &b,
        None,
        "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
        json!({"k": key}),
    )
    .await["exchangeApiKey"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let result =
        crate::helpers::process::call(&http, &b, Some(&worker), INGEST, frame("c1", "f1", INSIDE))
            .await;
    assert_eq!(result["ingestDetections"]["events"], 1);
    let got = events(&mut ws, "x", 1).await;
    assert_eq!(
        got[0],
        json!({"kind": "ZONE_ENTER", "cameraId": "c1", "trackId": "t1"})
    );
    drop((server_a, server_b));
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .ok();
}
both!(two_servers_on_one_postgres_database_share_their_events);

async fn identical_live_subscriptions_share_one_execution_and_a_slow_member_misses_nothing(
    backend: Backend,
) {
    use sea_orm::Set;
    let app = TestApp::spawn_with(backend, |c| c.event_buffer = 16).await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    let (_, _, scoped) = app.api_key("viewer", Some(vec!["c1"])).await;
    let doc = json!({"id": "s", "type": "subscribe", "payload": {"query": "subscription { perceptionEvents(filter: {kinds: [RETENTION_SWEEP]}) { seq cameraId payload } }"}});
    let mut fast = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    let mut slow = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    let mut narrow = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {scoped}")}),
    )
    .await;
    for ws in [&mut fast, &mut slow, &mut narrow] {
        ws.send(doc.clone()).await;
    }
    // The two admins share one execution; the scoped viewer gets its own.
    for _ in 0..100 {
        if app.state.multiplex.groups() == 2 && app.state.ws.operations() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.multiplex.groups(), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Big events, so the unread socket backs up and its member falls behind the group's
    // 16-event buffer.
    let total = 400;
    let filler = "x".repeat(64 * 1024);
    let reader = tokio::spawn(async move {
        let seen = events(&mut fast, "s", total).await;
        seen.iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>()
    });
    let mut stored = Vec::new();
    for i in 0..total {
        let camera = if i % 2 == 0 { "c1" } else { "c2" };
        let row = heldar::events::store::record(
            &app.state,
            entity::event::ActiveModel {
                kind: Set("RETENTION_SWEEP".into()),
                severity: Set(entity::vocab::Severity::Info),
                camera_id: Set(Some(camera.into())),
                payload: Set(json!({"i": i, "filler": filler}).to_string()),
                at: Set(chrono::Utc::now()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        stored.push((row.seq, camera));
    }
    let all: Vec<i64> = stored.iter().map(|s| s.0).collect();
    assert_eq!(
        reader.await.unwrap(),
        all,
        "the reading member gets every event in order"
    );
    let slow_seen = events(&mut slow, "s", total).await;
    assert_eq!(
        slow_seen
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        all,
        "the member that fell behind gets every event once, in order"
    );
    assert!(
        app.state.multiplex.departures() >= 1,
        "the slow member left the group to catch up"
    );
    assert!(
        slow.next_event_within(Duration::from_millis(300))
            .await
            .is_none(),
        "no duplicates"
    );
    let c1: Vec<i64> = stored.iter().filter(|s| s.1 == "c1").map(|s| s.0).collect();
    let narrow_seen = events(&mut narrow, "s", c1.len()).await;
    assert!(narrow_seen.iter().all(|e| e["cameraId"] == "c1"));
    assert_eq!(
        narrow_seen
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        c1
    );
}
both!(identical_live_subscriptions_share_one_execution_and_a_slow_member_misses_nothing);

async fn a_subscription_resumed_from_far_back_replays_the_whole_log_page_by_page(backend: Backend) {
    use sea_orm::{EntityTrait, Set};
    let app = TestApp::spawn(backend).await;
    // More than the live catch-up limit (10,000), written straight to the log.
    let total = 12_000;
    let now = chrono::Utc::now();
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let rows = chunk.iter().map(|i| entity::event::ActiveModel {
            kind: Set("RETENTION_SWEEP".into()),
            severity: Set(entity::vocab::Severity::Info),
            payload: Set(format!("{{\"i\":{i}}}")),
            at: Set(now),
            ..Default::default()
        });
        entity::event::Entity::insert_many(rows)
            .exec(&app.state.db)
            .await
            .unwrap();
    }
    let first = app
        .gql(
            "{ perceptionEvents(first: 1) { edges { cursor node { seq } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let cursor = first["perceptionEvents"]["edges"][0]["cursor"].clone();
    let first_seq = first["perceptionEvents"]["edges"][0]["node"]["seq"]
        .as_i64()
        .unwrap();
    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "r", "type": "subscribe", "payload": {"query": "subscription($a: String) { perceptionEvents(after: $a) { seq } }", "variables": {"a": cursor}}})).await;
    let replayed = events(&mut ws, "r", total - 1).await;
    let seqs: Vec<i64> = replayed
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.first(), Some(&(first_seq + 1)));
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "every event once, in order"
    );
    // Then live.
    let live = heldar::events::store::record(
        &app.state,
        entity::event::ActiveModel {
            kind: Set("RETENTION_SWEEP".into()),
            severity: Set(entity::vocab::Severity::Info),
            payload: Set("{}".into()),
            at: Set(chrono::Utc::now()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        events(&mut ws, "r", 1).await[0]["seq"].as_i64(),
        Some(live.seq)
    );
}
both!(a_subscription_resumed_from_far_back_replays_the_whole_log_page_by_page);

/// A batch for a new track inside the whole-frame zone of `c1`: one ZONE_ENTER once handed off.
fn new_track(i: usize) -> String {
    json!({"query": INGEST, "variables": {"i": {"cameraId": "c1", "taskType": "detect", "frameId": format!("drop-{i}"),
        "capturedAt": chrono::Utc::now().to_rfc3339(),
        "detections": [{"label": "person", "confidence": 0.9, "trackId": format!("t{i}"), "bbox": {"x": 0.4, "y": 0.4, "w": 0.1, "h": 0.1}}]}}})
    .to_string()
}

async fn whole_frame_zone(app: &TestApp) {
    camera(app, "c1").await;
    app.gql(CREATE_ZONE, json!({"i": {"cameraId": "c1", "name": "all", "confirmFrames": 1, "labels": ["person"],
        "points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]}}), app.admin()).await;
}

async fn zone_enters(app: &TestApp) -> i64 {
    app.gql(
        "{ perceptionEvents(filter: {kinds: [ZONE_ENTER]}) { totalCount } }",
        json!({}),
        app.admin(),
    )
    .await["perceptionEvents"]["totalCount"]
        .as_i64()
        .unwrap()
}

async fn a_client_that_hangs_up_does_not_cancel_the_hand_off(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    // The background drain is kept out of the way: the hand-off itself must complete.
    let app = TestApp::spawn_with(backend, |c| c.handoff_drain_secs = 3600).await;
    whole_frame_zone(&app).await;
    for i in 0..40 {
        let body = new_track(i);
        let request = format!(
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
            app.token,
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        // Hang up at once, or a moment later: around the commit and the hand-off.
        tokio::time::sleep(Duration::from_millis((i % 8) as u64 * 3)).await;
        drop(stream);
    }
    use sea_orm::EntityTrait;
    // Settled: every committed batch handed off and its ENTER recorded (counted together, so a
    // request still committing when the first count is taken cannot skew the comparison).
    let (committed, enters) = crate::helpers::eventually(
        Duration::from_secs(10),
        "every committed batch handed off",
        || async {
            let rows = entity::outbox::Entity::find()
                .all(&app.state.db)
                .await
                .unwrap();
            let enters = zone_enters(&app).await;
            let settled = !rows.is_empty()
                && rows.iter().all(|r| r.fanned_out_at.is_some())
                && enters == rows.len() as i64;
            settled.then_some((rows.len() as i64, enters))
        },
    )
    .await;
    assert_eq!(
        enters, committed,
        "each committed batch reached the zone engine"
    );
}
both!(a_client_that_hangs_up_does_not_cancel_the_hand_off);

async fn a_batch_that_missed_its_hand_off_is_drained_while_the_server_runs(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.handoff_drain_secs = 1).await;
    whole_frame_zone(&app).await;
    // A batch committed by an instance that died before handing it off.
    let seq = orphan_batch(
        &app,
        "orphan",
        "orphan",
        0.4,
        chrono::Utc::now() - chrono::Duration::seconds(5),
    )
    .await;
    drained(&app, seq).await;
    assert_eq!(zone_enters(&app).await, 1, "the zone engine had it, once");
}
both!(a_batch_that_missed_its_hand_off_is_drained_while_the_server_runs);

async fn a_batch_whose_consumer_fails_is_stored_and_handed_off_by_the_drain(backend: Backend) {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let app = TestApp::spawn_with(backend, |c| c.handoff_drain_secs = 1).await;
    whole_frame_zone(&app).await;
    // The database refuses zone events for a while: the zone consumer's write fails inside
    // the batch's transaction.
    let allow = refuse_events(&app, "NEW.kind = 'ZONE_ENTER'").await;
    let body: Value = serde_json::from_str(&new_track(1)).unwrap();
    let receipt = app
        .gql(INGEST, body["variables"].clone(), Some(&app.token))
        .await;
    // The batch is valid: it is stored, with no events yet and no fanned-out mark.
    assert_eq!(receipt["ingestDetections"]["duplicate"], json!(false));
    assert_eq!(receipt["ingestDetections"]["accepted"], json!(1));
    assert_eq!(receipt["ingestDetections"]["events"], json!(0));
    let seq = receipt["ingestDetections"]["seq"].as_i64().unwrap();
    let row = entity::outbox::Entity::find_by_id(seq)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.fanned_out_at.is_none(), "not handed off yet");
    assert_eq!(zone_enters(&app).await, 0);
    // Once the database accepts events again, the drain hands the batch to the engine, from
    // which the failed transaction's effects were taken back: the ENTER is recorded once.
    app.state.db.execute_unprepared(&allow).await.unwrap();
    drained(&app, seq).await;
    assert_eq!(zone_enters(&app).await, 1, "the zone engine had it, once");
    // The next batch of the same track is the same visit: no second ENTER.
    let mut again: Value = serde_json::from_str(&new_track(1)).unwrap();
    again["variables"]["i"]["frameId"] = json!("drop-1-again");
    app.gql(INGEST, again["variables"].clone(), Some(&app.token))
        .await;
    assert_eq!(zone_enters(&app).await, 1);
}
both!(a_batch_whose_consumer_fails_is_stored_and_handed_off_by_the_drain);

/// One person (track `t1`) at `x` on camera c1, in frame `frame`.
fn at_x(frame: &str, x: f64) -> Value {
    json!({"i": {"cameraId": "c1", "taskType": "detect", "frameId": frame, "capturedAt": chrono::Utc::now().to_rfc3339(),
        "detections": [{"label": "person", "confidence": 0.9, "trackId": "t1", "bbox": {"x": x, "y": 0.4, "w": 0.1, "h": 0.2}}]}})
}

async fn line_crosses(app: &TestApp) -> Vec<Value> {
    app.gql(
        "{ perceptionEvents(filter: {kinds: [LINE_CROSS]}) { edges { node { trackId } } } }",
        json!({}),
        app.admin(),
    )
    .await["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone()
}

/// A batch whose transaction fails is taken back out of the zone engine, not the engine
/// emptied: what earlier batches taught it (here, which side of a tripwire a track is on)
/// survives, so when the drain hands the batch over again its crossing is still seen.
async fn a_failed_batch_is_taken_back_and_the_engine_keeps_what_it_knew(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn_with(backend, |c| c.handoff_drain_secs = 1).await;
    camera(&app, "c1").await;
    app.gql(
        CREATE_ZONE,
        json!({"i": {"cameraId": "c1", "name": "gate", "kind": "LINE", "confirmFrames": 1,
        "labels": ["person"], "points": [{"x": 0.5, "y": 0.0}, {"x": 0.5, "y": 1.0}]}}),
        app.admin(),
    )
    .await;
    // Left of the line, committed.
    let first = app.gql(INGEST, at_x("f1", 0.2), Some(&app.token)).await;
    assert_eq!(first["ingestDetections"]["events"], json!(0));
    // It crosses, but the database refuses the crossing: the batch is stored without it.
    let allow = refuse_events(&app, "NEW.kind = 'LINE_CROSS'").await;
    let crossing = app.gql(INGEST, at_x("f2", 0.7), Some(&app.token)).await;
    assert_eq!(crossing["ingestDetections"]["events"], json!(0));
    let seq = crossing["ingestDetections"]["seq"].as_i64().unwrap();
    assert!(line_crosses(&app).await.is_empty());
    // The drain hands it over again once events are accepted: the engine still knows the
    // track was on the left, so the crossing is recorded, once.
    app.state.db.execute_unprepared(&allow).await.unwrap();
    drained(&app, seq).await;
    let crosses = line_crosses(&app).await;
    assert_eq!(crosses.len(), 1, "{crosses:?}");
    assert_eq!(crosses[0]["node"]["trackId"], "t1");
    // Staying on the right is no new crossing.
    app.gql(INGEST, at_x("f3", 0.75), Some(&app.token)).await;
    assert_eq!(line_crosses(&app).await.len(), 1);
}
both!(a_failed_batch_is_taken_back_and_the_engine_keeps_what_it_knew);

async fn concurrent_batches_share_commits_and_each_stays_whole(backend: Backend) {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let app = TestApp::spawn_with(backend, |c| c.handoff_drain_secs = 1).await;
    whole_frame_zone(&app).await;
    // The database refuses the zone event of one track: that batch's consumer fails while
    // others may be in the same transaction (SQLite writes queued batches together).
    let allow = refuse_events(&app, "NEW.track_id = 't7'").await;
    // 30 new frames, each with a new track, and a second copy of the first five, all at once.
    // Each track has its own producer, so no batch is evidence that another's track left.
    let calls = (0..35).map(|i| {
        let mut body: Value = serde_json::from_str(&new_track(i % 30)).unwrap();
        body["variables"]["i"]["taskType"] = json!(format!("detect-{}", i % 30));
        let app = &app;
        async move {
            let receipt = app
                .gql(INGEST, body["variables"].clone(), Some(&app.token))
                .await;
            (i % 30, receipt["ingestDetections"].clone())
        }
    });
    let receipts = futures_util::future::join_all(calls).await;
    let mut seqs = std::collections::BTreeSet::new();
    let mut duplicates = 0;
    for (track, receipt) in &receipts {
        if receipt["duplicate"] == json!(true) {
            duplicates += 1;
            assert_eq!(receipt["accepted"], json!(0));
            continue;
        }
        assert_eq!(receipt["accepted"], json!(1), "{receipt}");
        let expected_events = if *track == 7 { 0 } else { 1 };
        assert_eq!(receipt["events"], json!(expected_events), "track {track}");
        assert!(seqs.insert(receipt["seq"].as_i64().unwrap()));
    }
    assert_eq!(duplicates, 5, "one of each repeated frame is a duplicate");
    assert_eq!(seqs.len(), 30);
    let stored = entity::outbox::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 30, "each frame stored once");
    let unmarked: Vec<_> = stored
        .iter()
        .filter(|r| r.fanned_out_at.is_none())
        .collect();
    assert_eq!(
        unmarked.len(),
        1,
        "only the refused batch waits for the drain"
    );
    assert_eq!(zone_enters(&app).await, 29);
    app.state.db.execute_unprepared(&allow).await.unwrap();
    drained(&app, unmarked[0].seq).await;
    assert_eq!(
        zone_enters(&app).await,
        30,
        "the refused batch's ENTER, once"
    );
    // The events are in the log in sequence order, one per track.
    let tracks = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [ZONE_ENTER]}, first: 100) { edges { node { trackId } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let mut seen: Vec<String> = tracks["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["trackId"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30);
}
both!(concurrent_batches_share_commits_and_each_stays_whole);

/// Makes the database refuse inserts into the event log where `condition` (on `NEW`) holds;
/// returns the statement that lifts the refusal.
async fn refuse_events(app: &TestApp, condition: &str) -> String {
    use sea_orm::ConnectionTrait;
    let db = &app.state.db;
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        db.execute_unprepared("CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql")
            .await
            .unwrap();
        db.execute_unprepared(&format!("CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION refuse_event()"))
            .await
            .unwrap();
        "DROP TRIGGER refuse_event ON events".into()
    } else {
        db.execute_unprepared(&format!("CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN {condition} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
            .await
            .unwrap();
        "DROP TRIGGER refuse_event".into()
    }
}

/// Waits until batch `seq` is marked handed to every consumer.
async fn drained(app: &TestApp, seq: i64) {
    use sea_orm::EntityTrait;
    crate::helpers::eventually(Duration::from_secs(10), "drained", || async {
        let row = entity::outbox::Entity::find_by_id(seq)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        row.fanned_out_at.map(|_| ())
    })
    .await;
}

/// Writes a batch of one person at `x` as if committed at `at` by an ingest whose hand-off never
/// ran (the process died); its outbox sequence.
async fn orphan_batch(
    app: &TestApp,
    frame: &str,
    track: &str,
    x: f64,
    at: chrono::DateTime<chrono::Utc>,
) -> i64 {
    use sea_orm::{ActiveModelTrait, Set};
    let row = entity::outbox::ActiveModel {
        camera_id: Set("c1".into()),
        frame_id: Set(frame.into()),
        task_type: Set("detect".into()),
        captured_at: Set(at),
        detection_count: Set(1),
        produced_by: Set("apikey:test".into()),
        created_at: Set(at),
        fanned_out_at: Set(None),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    entity::detection::ActiveModel {
        outbox_seq: Set(row.seq),
        camera_id: Set("c1".into()),
        task_type: Set("detect".into()),
        captured_at: Set(at),
        label: Set("person".into()),
        confidence: Set(0.9),
        x: Set(x),
        y: Set(0.4),
        w: Set(0.1),
        h: Set(0.2),
        track_id: Set(Some(track.into())),
        attributes: Set("{}".into()),
        created_at: Set(at),
        ..Default::default()
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    row.seq
}
