//! GraphQL subscriptions over Server-Sent Events (graphql-sse, distinct connections): followed
//! with `curl -N` and with an EventSource-style client, resumed exactly with `Last-Event-ID`,
//! filtered by the credential's scope, and ended when the credential is revoked.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::both;
use crate::helpers::sse::SseClient;
use crate::helpers::{Backend, TestApp};

const SWEEPS: &str =
    "subscription { perceptionEvents(filter: {kinds: [RETENTION_SWEEP]}) { cursor seq kind } }";

async fn sweep(app: &TestApp) {
    app.gql(
        "mutation { runRetention { deletedSegments } }",
        json!({}),
        app.admin(),
    )
    .await;
}

/// Nothing more arrives on `stream` for 300 ms.
async fn quiet(stream: &mut SseClient) -> bool {
    stream
        .next_within(Duration::from_millis(300))
        .await
        .is_none()
}

async fn curl_follows_events_and_each_carries_its_cursor_as_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"query": SWEEPS}).to_string();
    let mut curl = tokio::process::Command::new("curl")
        .args(["-N", "-s", "-X", "POST"])
        .arg(format!("{}/graphql/stream", app.addr))
        .args(["-H", &format!("Authorization: Bearer {}", app.token)])
        .args(["-H", "Accept: text/event-stream"])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data", &body])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl runs");
    let mut lines = BufReader::new(curl.stdout.take().unwrap()).lines();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sweep(&app).await;
    sweep(&app).await;
    let mut got = Vec::new();
    let mut id = None;
    let mut event = String::new();
    while got.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("curl printed an event in time")
            .unwrap()
            .expect("the stream stays open");
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            assert_eq!(event, "next");
            let data: serde_json::Value = serde_json::from_str(v).unwrap();
            let e = data["data"]["perceptionEvents"].clone();
            assert_eq!(e["kind"], "RETENTION_SWEEP");
            assert_eq!(
                id.as_deref(),
                e["cursor"].as_str(),
                "id: is the event's cursor"
            );
            got.push(e);
        }
    }
    assert!(got[0]["seq"].as_i64() < got[1]["seq"].as_i64());
}
both!(curl_follows_events_and_each_carries_its_cursor_as_id);

async fn a_reconnect_with_last_event_id_resumes_with_no_gap_and_no_duplicate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut first = SseClient::post(&app.addr, &app.token, SWEEPS, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sweep(&app).await;
    sweep(&app).await;
    let a = first.next().await.json()["data"]["perceptionEvents"]["seq"].clone();
    let b = first.next().await.json()["data"]["perceptionEvents"]["seq"].clone();
    let last = first.last_id.clone().unwrap();
    drop(first);
    // Three events while disconnected.
    for _ in 0..3 {
        sweep(&app).await;
    }
    // An EventSource-style GET reconnect, with the last id seen.
    let mut again = SseClient::get(&app.addr, &app.token, SWEEPS, Some(&last)).await;
    let mut seqs = vec![a.as_i64().unwrap(), b.as_i64().unwrap()];
    for _ in 0..3 {
        let e = again.next().await;
        assert_eq!(e.event, "next");
        seqs.push(
            e.json()["data"]["perceptionEvents"]["seq"]
                .as_i64()
                .unwrap(),
        );
    }
    // Then live again.
    sweep(&app).await;
    seqs.push(
        again.next().await.json()["data"]["perceptionEvents"]["seq"]
            .as_i64()
            .unwrap(),
    );
    assert!(quiet(&mut again).await, "nothing more");
    let stored = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [RETENTION_SWEEP]}) { edges { node { seq } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let all: Vec<i64> = stored["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs, all,
        "every event once, in order, across the reconnect"
    );
}
both!(a_reconnect_with_last_event_id_resumes_with_no_gap_and_no_duplicate);

/// An EventSource reconnects with its first URL, `after` included, and `Last-Event-ID`: it
/// resumes after the later of the two, not again from `after`.
async fn a_reconnect_resumes_after_its_last_event_id_not_its_first_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..4 {
        sweep(&app).await;
    }
    let stored = app
        .gql(
            "{ perceptionEvents(filter: {kinds: [RETENTION_SWEEP]}) { edges { cursor node { seq } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let edges = stored["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 4);
    let from_first = format!(
        "subscription {{ perceptionEvents(after: \"{}\", filter: {{kinds: [RETENTION_SWEEP]}}) {{ seq }} }}",
        edges[0]["cursor"].as_str().unwrap()
    );
    let last_seen = edges[2]["cursor"].as_str().unwrap();
    let mut again = SseClient::get(&app.addr, &app.token, &from_first, Some(last_seen)).await;
    let first = again.next().await.json()["data"]["perceptionEvents"]["seq"].clone();
    assert_eq!(
        first, edges[3]["node"]["seq"],
        "the event after Last-Event-ID"
    );
    assert!(quiet(&mut again).await, "nothing more");
    // Without Last-Event-ID, `after` holds.
    let mut fresh = SseClient::get(&app.addr, &app.token, &from_first, None).await;
    let first = fresh.next().await.json()["data"]["perceptionEvents"]["seq"].clone();
    assert_eq!(first, edges[1]["node"]["seq"]);
}
both!(a_reconnect_resumes_after_its_last_event_id_not_its_first_cursor);

async fn a_scoped_token_sees_only_its_cameras_and_a_revoked_one_is_cut_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for id in ["c1", "c2"] {
        app.camera(id, id).await;
        app.whole_frame_zone(id, "all", "INFO").await;
    }
    let (key_id, _, scoped) = app.api_key("viewer", Some(vec!["c1"])).await;
    let mut stream = SseClient::post(
        &app.addr,
        &scoped,
        "subscription { perceptionEvents(filter: {kinds: [ZONE_ENTER]}) { cameraId trackId } }",
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (camera, track) in [("c2", "x"), ("c1", "a"), ("c2", "y"), ("c1", "b")] {
        app.person_in_frame(camera, &format!("{camera}{track}"), track)
            .await;
    }
    for track in ["a", "b"] {
        let e = stream.next().await.json();
        assert_eq!(
            e["data"]["perceptionEvents"],
            json!({"cameraId": "c1", "trackId": track})
        );
    }
    // Asking for another camera outright is refused inside the stream.
    let mut refused = SseClient::post(
        &app.addr,
        &scoped,
        "subscription { perceptionEvents(filter: {cameraIds: [\"c2\"]}) { cameraId } }",
        None,
    )
    .await;
    let e = refused.next().await;
    assert_eq!(e.json()["errors"][0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(refused.next().await.event, "complete");

    // Revoking the key ends the stream with UNAUTHENTICATED.
    app.gql(
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({"id": key_id}),
        app.admin(),
    )
    .await;
    let e = stream.next().await;
    assert_eq!(e.event, "next");
    assert_eq!(
        e.json()["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    assert_eq!(stream.next().await.event, "complete");
    assert!(
        stream.next_within(Duration::from_secs(2)).await.is_none(),
        "closed"
    );
    // And the revoked token cannot open a new one.
    let status = app
        .http
        .post(format!("{}/graphql/stream", app.addr))
        .bearer_auth(&scoped)
        .header("accept", "text/event-stream")
        .json(&json!({"query": SWEEPS}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
}
both!(a_scoped_token_sees_only_its_cameras_and_a_revoked_one_is_cut_off);

/// On PostgreSQL another instance may revoke a credential, which this one hears nothing of: its
/// SSE streams and websockets check again every auth cache lifetime and end all the same.
async fn a_revocation_made_by_another_instance_ends_streams_and_sockets(backend: Backend) {
    if !matches!(backend, Backend::Postgres(_)) {
        return;
    }
    let app = TestApp::spawn_with(backend, |c| c.auth_cache_ms = 1000).await;
    let (key_id, _, token) = app.api_key("viewer", None).await;
    let mut stream = SseClient::post(&app.addr, &token, SWEEPS, None).await;
    let mut socket = crate::helpers::WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {token}")}),
    )
    .await;
    socket
        .send(json!({"id": "1", "type": "subscribe", "payload": {"query": SWEEPS}}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sweep(&app).await;
    assert_eq!(stream.next().await.event, "next");

    // Another instance revokes the key: a write to the shared database, no signal here.
    use sea_orm::ConnectionTrait;
    let revoked = app
        .state
        .db
        .execute_unprepared(&format!(
            "UPDATE api_keys SET revoked_at = NOW() WHERE id = '{key_id}'"
        ))
        .await
        .unwrap();
    assert_eq!(revoked.rows_affected(), 1);
    let e = stream
        .next_within(Duration::from_secs(5))
        .await
        .expect("the stream ends within the cache lifetime");
    assert_eq!(
        e.json()["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED",
        "{}",
        e.data
    );
    assert_eq!(stream.next().await.event, "complete");
    tokio::time::timeout(Duration::from_secs(5), socket.expect_close(4403))
        .await
        .expect("the socket closes within the cache lifetime");
}
both!(a_revocation_made_by_another_instance_ends_streams_and_sockets);

async fn requests_that_cannot_run_are_answered_the_graphql_sse_way(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = format!("{}/graphql/stream", app.addr);
    // No credential: 401; no Accept: 406.
    let anonymous = app
        .http
        .post(&url)
        .header("accept", "text/event-stream")
        .json(&json!({"query": SWEEPS}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let plain = app
        .http
        .post(&url)
        .bearer_auth(&app.token)
        .json(&json!({"query": SWEEPS}))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 406);
    // A document that does not validate: a `next` with the errors, then `complete`.
    let mut invalid =
        SseClient::post(&app.addr, &app.token, "subscription { noSuchField }", None).await;
    let e = invalid.next().await;
    assert_eq!(e.event, "next");
    assert_eq!(
        e.json()["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    assert_eq!(invalid.next().await.event, "complete");
    // A query streams its one result and completes.
    let mut query = SseClient::get(&app.addr, &app.token, "{ serverInfo { version } }", None).await;
    assert!(query.next().await.json()["data"]["serverInfo"]["version"].is_string());
    assert_eq!(query.next().await.event, "complete");
    // A mutation over GET is refused.
    let status = app
        .http
        .get(&url)
        .query(&[("query", "mutation { runRetention { deletedSegments } }")])
        .bearer_auth(&app.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 405);
}
both!(requests_that_cannot_run_are_answered_the_graphql_sse_way);
