//! Attacks that worked against the first wave, each tried again through the public API.

use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::helpers::process::{call, fresh_database, start_server_logged};
use crate::helpers::{Backend, TestApp, WsClient, WsEvent, eventually, ffmpeg_ready};

/// A camera whose URL carries a password, at an address where nothing answers: ffmpeg prints
/// the whole URL when it fails. The password shows nowhere a client or an operator can read.
async fn camera_passwords_never_leave_the_database(backend: Backend) {
    if !ffmpeg_ready() {
        return;
    }
    const SECRET: &str = "hunter2-s%40cret";
    const DECODED: &str = "hunter2-s@cret";
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(&backend).await;
    let (_server, addr, log) = start_server_logged(dir.path(), database_url.as_deref());
    let http = reqwest::Client::new();
    let login =
        "mutation($p: String!) { login(username: \"admin\", password: $p) { accessToken } }";
    let token = call(
        &http,
        &addr,
        None,
        login,
        json!({"p": crate::helpers::ADMIN_PASSWORD}),
    )
    .await["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let gql = |query: &'static str| {
        let (http, addr, token) = (http.clone(), addr.clone(), token.clone());
        async move { call(&http, &addr, Some(&token), query, json!({})).await }
    };
    call(
        &http,
        &addr,
        Some(&token),
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { streamUrl } }",
        json!({"i": {"id": "door", "name": "Door", "recordEnabled": true,
            "streamUrl": format!("rtsp://viewer:{SECRET}@127.0.0.1:9/live")}}),
    )
    .await;
    gql("mutation { createAiTask(input: {cameraId: \"door\", taskType: \"motion\", fps: 2.0, width: 320}) { id } }").await;

    let (status, samplers) =
        eventually(Duration::from_secs(60), "both ffmpegs to fail", || async {
            let status = gql("{ camera(id: \"door\") { status { lastError } } }").await;
            let samplers = gql("{ aiSamplers { cameraId lastError } }").await;
            (status["camera"]["status"]["lastError"].is_string()
                && samplers["aiSamplers"][0]["lastError"].is_string())
            .then_some((status, samplers))
        })
        .await;
    let recorder_error = status["camera"]["status"]["lastError"].as_str().unwrap();
    assert!(
        recorder_error.contains("rtsp://viewer:***@127.0.0.1:9/live"),
        "ffmpeg's message is kept, the password masked: {recorder_error}"
    );
    let events = gql(
        "{ perceptionEvents(filter: {cameraIds: [\"door\"]}) { edges { node { kind payload } } } }",
    )
    .await;
    let log = log.lock().unwrap().join("\n");
    assert!(
        log.contains("viewer:***@"),
        "the log shows ffmpeg's failure"
    );
    for (place, text) in [
        ("camera status", status.to_string()),
        ("aiSamplers", samplers.to_string()),
        ("events", events.to_string()),
        ("server log", log),
    ] {
        assert!(
            !text.contains(SECRET) && !text.contains(DECODED) && !text.contains("hunter2"),
            "{place} shows the password: {text}"
        );
    }
}
both!(camera_passwords_never_leave_the_database);

/// Every way a credential stops being what it was closes its open sockets with 4403 within a
/// second (signed media links: `evidence::a_signed_link_dies_with_its_credential`).
async fn revocation_closes_open_sockets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let subscribe = json!({"id": "e", "type": "subscribe", "payload": {"query": "subscription { perceptionEvents { kind } }"}});
    let cases = [
        ("deleted", "mutation($id: ID!) { deleteUser(id: $id) }"),
        (
            "deactivated",
            "mutation($id: ID!) { updateUser(input: {id: $id, active: false}) { id } }",
        ),
        (
            "demoted",
            "mutation($id: ID!) { updateUser(input: {id: $id, role: VIEWER}) { id } }",
        ),
        (
            "rescoped",
            "mutation($id: ID!) { updateUser(input: {id: $id, cameraIds: [\"elsewhere\"]}) { id } }",
        ),
        ("logged out", "mutation { logout }"),
        (
            "key revoked",
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        ),
    ];
    for (n, (case, mutation)) in cases.into_iter().enumerate() {
        let (id, token) = if case == "key revoked" {
            let (id, _, token) = app.api_key("viewer", None).await;
            (id, token)
        } else {
            app.user_with_role(&format!("u{n}"), "manager").await
        };
        let mut ws = WsClient::connect_acked(
            &app.ws_url(),
            json!({"authorization": format!("Bearer {token}")}),
        )
        .await;
        ws.send(subscribe.clone()).await;
        // The socket is live: a ping is answered, so the subscription is in place.
        ws.send(json!({"type": "ping"})).await;
        assert_eq!(ws.next_json().await["type"], "pong", "{case}");
        let by = if case == "logged out" {
            Some(token.as_str())
        } else {
            app.admin()
        };
        app.gql(mutation, json!({"id": id}), by).await;
        match ws.next_event_within(Duration::from_secs(1)).await {
            Some(WsEvent::Closed(code, _)) => assert_eq!(code, Some(4403), "{case}"),
            other => panic!("{case}: the socket stayed open ({other:?})"),
        }
    }
}
both!(revocation_closes_open_sockets);
