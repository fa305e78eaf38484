//! The review queue: zone events grouped per camera within the quiet gap, ALERT from a WARNING
//! zone, counts per local day in a time zone, reviewed state per user, scope, and the live
//! subscription.

use std::sync::Arc;
use std::time::Duration;

use heldar::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::{Backend, TestApp, WsClient};

const ITEMS: &str = "query($f: ReviewItemFilter) { reviewItems(filter: $f) { totalCount edges { node { id cameraId severity labels zoneIds eventCount reviewed startedAt thumbnailAt active } } } }";
const SUMMARY: &str = "query($tz: String!) { reviewSummary(from: \"2026-11-29T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", timeZone: $tz) { alerts detections unreviewedAlerts unreviewedDetections days { date cameraId alerts detections unreviewedAlerts unreviewedDetections } } }";

async fn zone(app: &TestApp, camera: &str, name: &str, x0: f64, severity: &str) -> String {
    app.gql(
        "mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }",
        json!({"i": {"cameraId": camera, "name": name, "confirmFrames": 1, "severity": severity,
            "points": [{"x": x0, "y": 0.0}, {"x": x0 + 0.5, "y": 0.0}, {"x": x0 + 0.5, "y": 1.0}, {"x": x0, "y": 1.0}]}}),
        app.admin(),
    )
    .await["createZone"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A track at `x` (0.1: the INFO zone on the left; 0.6: the WARNING zone on the right).
async fn seen(app: &TestApp, camera: &str, frame: &str, track: &str, label: &str, x: f64) {
    app.gql(
        "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }",
        json!({"i": {"cameraId": camera, "taskType": "detect", "frameId": frame,
            "capturedAt": "2026-11-29T23:58:00Z",
            "detections": [{"label": label, "confidence": 0.9, "trackId": track, "bbox": {"x": x, "y": 0.4, "w": 0.1, "h": 0.1}}]}}),
        app.admin(),
    )
    .await;
}

fn nodes(page: &Value) -> Vec<Value> {
    page["reviewItems"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn events_are_grouped_into_items_reviewed_per_user_and_counted_per_local_day(
    backend: Backend,
) {
    let start: chrono::DateTime<chrono::Utc> = "2026-11-29T23:58:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    for camera in ["c1", "c2"] {
        app.gql(
            "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
            json!({"i": {"id": camera, "name": camera, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}}),
            app.admin(),
        )
        .await;
    }
    let info = zone(&app, "c1", "drive", 0.0, "INFO").await;
    let warn = zone(&app, "c1", "door", 0.5, "WARNING").await;
    zone(&app, "c2", "yard", 0.0, "INFO").await;
    let (_, viewer_a) = app.user_with_role("anna", "viewer").await;
    let (_, viewer_b) = app.user_with_role("bo", "viewer").await;

    // Live: the subscription hears items open and grow.
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {viewer_a}")}),
    )
    .await;
    ws.send(json!({"id": "r", "type": "subscribe", "payload": {"query": "subscription { reviewItems(filter: {cameraIds: [\"c1\"]}) { id severity eventCount } }"}})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 23:58:00 a person in the INFO zone opens an item; 10 s later one at the door (WARNING)
    // joins it and makes it an alert.
    seen(&app, "c1", "f1", "t1", "person", 0.1).await;
    let opened = loop {
        let m = ws.next_json().await;
        if m["type"] == "next" {
            break m["payload"]["data"]["reviewItems"].clone();
        }
    };
    assert_eq!(opened["severity"], "DETECTION", "it opens as a detection");
    clock.advance(chrono::Duration::seconds(10));
    seen(&app, "c1", "f2", "t2", "person", 0.6).await;
    // Two minutes later (past the 30 s gap, and past midnight UTC): a car opens a second item.
    clock.advance(chrono::Duration::seconds(120));
    seen(&app, "c1", "f3", "t3", "car", 0.1).await;
    seen(&app, "c2", "g1", "u1", "person", 0.1).await;

    let items = crate::helpers::eventually(Duration::from_secs(10), "three items", || async {
        let page = app.gql(ITEMS, json!({}), Some(&viewer_a)).await;
        Some(nodes(&page)).filter(|n| n.len() == 3)
    })
    .await;
    // Newest first: c2's, then c1's car, then c1's alert.
    assert_eq!(items[0]["cameraId"], "c2", "{items:#?}");
    let (car, alert) = (&items[1], &items[2]);
    assert_eq!(car["severity"], "DETECTION");
    assert_eq!(car["labels"], json!(["car"]));
    assert_eq!(alert["severity"], "ALERT");
    assert_eq!(alert["labels"], json!(["person"]));
    let mut zones = vec![info.clone(), warn.clone()];
    zones.sort();
    assert_eq!(alert["zoneIds"], json!(zones));
    assert!(alert["eventCount"].as_i64().unwrap() >= 2);
    let time = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(time(&alert["startedAt"]), start);
    assert_eq!(
        time(&alert["thumbnailAt"]),
        start + chrono::Duration::seconds(10),
        "the first alerting event"
    );
    assert_eq!(alert["active"], false);
    assert_eq!(car["active"], true);
    let alert_id = alert["id"].as_str().unwrap().to_owned();

    // The subscriber then saw it grow into an alert (and the car's item open).
    let mut updates = Vec::new();
    while updates.len() < 2 {
        let m = ws.next_json().await;
        if m["type"] == "next" {
            updates.push(m["payload"]["data"]["reviewItems"].clone());
        }
    }
    assert_eq!(opened["id"], alert_id.as_str());
    assert!(
        updates
            .iter()
            .any(|u| u["id"] == alert_id.as_str() && u["severity"] == "ALERT"),
        "{updates:?}"
    );

    // Anna reviews the alert; Bo still has it to do.
    let marked = app
        .gql(
            "mutation($ids: [ID!]!) { markReviewed(ids: $ids) { id reviewed } }",
            json!({"ids": [alert_id]}),
            Some(&viewer_a),
        )
        .await;
    assert_eq!(
        marked["markReviewed"],
        json!([{"id": alert_id, "reviewed": true}])
    );
    let anna = nodes(
        &app.gql(ITEMS, json!({"f": {"reviewed": false}}), Some(&viewer_a))
            .await,
    );
    assert_eq!(anna.len(), 2);
    assert!(anna.iter().all(|n| n["id"] != alert_id.as_str()));
    let bo = nodes(
        &app.gql(ITEMS, json!({"f": {"severity": "ALERT"}}), Some(&viewer_b))
            .await,
    );
    assert_eq!(bo.len(), 1);
    assert_eq!(bo[0]["reviewed"], false);

    // Counted per local day: in UTC the alert is on the 29th; in Oslo (UTC+1) on the 30th.
    let utc = app
        .gql(SUMMARY, json!({"tz": "UTC"}), Some(&viewer_a))
        .await["reviewSummary"]
        .clone();
    assert_eq!(
        utc["days"],
        json!([
            {"date": "2026-11-29", "cameraId": "c1", "alerts": 1, "detections": 0, "unreviewedAlerts": 0, "unreviewedDetections": 0},
            {"date": "2026-11-30", "cameraId": "c1", "alerts": 0, "detections": 1, "unreviewedAlerts": 0, "unreviewedDetections": 1},
            {"date": "2026-11-30", "cameraId": "c2", "alerts": 0, "detections": 1, "unreviewedAlerts": 0, "unreviewedDetections": 1},
        ])
    );
    assert_eq!(
        (
            utc["alerts"].clone(),
            utc["detections"].clone(),
            utc["unreviewedAlerts"].clone()
        ),
        (json!(1), json!(2), json!(0))
    );
    let oslo = app
        .gql(SUMMARY, json!({"tz": "Europe/Oslo"}), Some(&viewer_b))
        .await["reviewSummary"]
        .clone();
    assert_eq!(
        oslo["days"],
        json!([
            {"date": "2026-11-30", "cameraId": "c1", "alerts": 1, "detections": 1, "unreviewedAlerts": 1, "unreviewedDetections": 1},
            {"date": "2026-11-30", "cameraId": "c2", "alerts": 0, "detections": 1, "unreviewedAlerts": 0, "unreviewedDetections": 1},
        ])
    );
    let (_, body) = app
        .post(SUMMARY, json!({"tz": "Mars/Olympus"}), Some(&viewer_a))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "timeZone");

    // Unmark; and a credential scoped to c2 sees only c2's item, and not the alert.
    let unmarked = app
        .gql(
            "mutation($ids: [ID!]!) { markUnreviewed(ids: $ids) { reviewed } }",
            json!({"ids": [alert_id]}),
            Some(&viewer_a),
        )
        .await;
    assert_eq!(unmarked["markUnreviewed"], json!([{"reviewed": false}]));
    let (_, _, scoped) = app.api_key("viewer", Some(vec!["c2"])).await;
    let mine = nodes(&app.gql(ITEMS, json!({}), Some(&scoped)).await);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["cameraId"], "c2");
    for id in [alert_id.as_str(), "rev_missing"] {
        let (code, _) = app
            .gql_err(
                "mutation($ids: [ID!]!) { markReviewed(ids: $ids) { id } }",
                json!({"ids": [id]}),
                Some(&scoped),
            )
            .await;
        assert_eq!(
            code, "FORBIDDEN",
            "the same answer for someone else's and a missing item"
        );
    }
    let (code, _) = app
        .gql_err(
            "mutation($ids: [ID!]!) { markReviewed(ids: $ids) { id } }",
            json!({"ids": ["rev_missing"]}),
            app.admin(),
        )
        .await;
    assert_eq!(
        code, "NOT_FOUND",
        "an unlimited caller learns it is missing"
    );
    let (_, body) = app
        .post(
            "{ reviewSummary(from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\", cameraIds: [\"c2\", \"c2\"]) { alerts } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["field"], "cameraIds[1]",
        "{body}"
    );
    let (code, _) = app
        .gql_err(ITEMS, json!({"f": {"cameraIds": ["c1"]}}), Some(&scoped))
        .await;
    assert_eq!(code, "FORBIDDEN");
}
both!(events_are_grouped_into_items_reviewed_per_user_and_counted_per_local_day);

/// Two servers sharing one PostgreSQL database group events in turn; subscribers on either
/// hear of every item, whichever server grouped it.
async fn review_items_reach_subscribers_on_every_instance(backend: Backend) {
    use crate::helpers::process::{admin_token, call, fresh_database, start_server_env};
    if !matches!(backend, Backend::Postgres(_)) {
        return;
    }
    let database = fresh_database(&backend).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_a, addr_a, _) = start_server_env(dir_a.path(), database.as_deref(), &[]);
    let (_b, addr_b, _) = start_server_env(dir_b.path(), database.as_deref(), &[]);
    let http = reqwest::Client::new();
    let token_a = admin_token(&http, &addr_a).await;
    let token_b = admin_token(&http, &addr_b).await;
    call(
        &http,
        &addr_a,
        Some(&token_a),
        "mutation { createCamera(input: {id: \"c1\", name: \"c1\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }",
        json!({}),
    )
    .await;
    call(
        &http,
        &addr_a,
        Some(&token_a),
        "mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }",
        json!({"i": {"cameraId": "c1", "name": "all", "confirmFrames": 1, "labels": ["person"], "severity": "INFO",
            "points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]}}),
    )
    .await;
    let subscribe = json!({"id": "r", "type": "subscribe", "payload": {"query": "subscription { reviewItems { id eventCount } }"}});
    let mut sockets = Vec::new();
    for (addr, token) in [(&addr_a, &token_a), (&addr_b, &token_b)] {
        let url = format!("{}/graphql/ws", addr.replace("http://", "ws://"));
        let mut ws =
            WsClient::connect_acked(&url, json!({"authorization": format!("Bearer {token}")}))
                .await;
        ws.send(subscribe.clone()).await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (n, addr, token) in [(1, &addr_a, &token_a), (2, &addr_b, &token_b)] {
        call(
            &http,
            addr,
            Some(token),
            "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }",
            json!({"i": {"cameraId": "c1", "taskType": "detect", "frameId": format!("f{n}"),
                "capturedAt": chrono::Utc::now().to_rfc3339(),
                "detections": [{"label": "person", "confidence": 0.9, "trackId": format!("t{n}"), "bbox": {"x": 0.4, "y": 0.4, "w": 0.1, "h": 0.1}}]}}),
        )
        .await;
    }
    for (name, ws) in ["A", "B"].into_iter().zip(&mut sockets) {
        // The two entries grow one item (within the quiet gap): every subscriber hears it reach
        // two events, whichever server grouped which.
        loop {
            let m = tokio::time::timeout(Duration::from_secs(15), ws.next_json())
                .await
                .unwrap_or_else(|_| panic!("server {name}'s subscriber heard of the item"));
            if m["type"] == "next" && m["payload"]["data"]["reviewItems"]["eventCount"] == 2 {
                break;
            }
        }
    }
}
both!(review_items_reach_subscribers_on_every_instance);

async fn a_subscriber_that_falls_behind_is_caught_up_with_every_item(backend: Backend) {
    use futures_util::StreamExt;
    // Room for 16 updates in memory; the subscriber is not polled while 24 items open.
    let app = TestApp::spawn_with(backend, |c| c.event_buffer = 4).await;
    let mut stream = app.admin_subscription("subscription { reviewItems { id cameraId } }");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.next())
            .await
            .is_err(),
        "nothing to send yet"
    );
    for n in 0..24 {
        let camera = format!("cam{n:02}");
        app.gql(
            "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
            json!({"i": {"id": camera, "name": camera, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}}),
            app.admin(),
        )
        .await;
        zone(&app, &camera, "left", 0.0, "WARNING").await;
        seen(&app, &camera, "f1", "t1", "person", 0.1).await;
    }
    let mut cameras = std::collections::BTreeSet::new();
    while cameras.len() < 24 {
        let Ok(Some(response)) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await
        else {
            break;
        };
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        cameras.insert(data["reviewItems"]["cameraId"].as_str().unwrap().to_owned());
    }
    assert_eq!(cameras.len(), 24, "every item, none dropped: {cameras:?}");
}
both!(a_subscriber_that_falls_behind_is_caught_up_with_every_item);
