//! Attacks that worked against the first wave, each tried again through the public API.

use std::time::Duration;

use serde_json::{Value, json};

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
    let token = crate::helpers::process::admin_token(&http, &addr).await;
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

/// A GraphQL call from the local address `from` (127.0.0.x are all this machine): the
/// server sees another client address.
async fn post_from(addr: &str, from: &str, body: Value) -> Value {
    reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().ok())
        .build()
        .unwrap()
        .post(format!("{addr}/graphql"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn login_body(username: &str, password: &str) -> Value {
    json!({"query": crate::helpers::LOGIN, "variables": {"u": username, "p": password}})
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<Value> {
    app.gql(
        "query($a: String!) { auditLog(filter: {action: $a}, first: 500) { edges { node { actorName targetId detail } } } }",
        json!({"a": action}),
        app.admin(),
    )
    .await["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Anonymous sign-ins cannot multiply writes or hashing: one sign-in field per request and
/// none in a batch, stored input truncated, failures throttled per address before hashing
/// (and before the account lockout, so one address cannot lock the admin out).
async fn anonymous_sign_ins_cannot_amplify_writes_or_burn_cores(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = "x".repeat(1800);
    let aliases: String = (0..50)
        .map(|i| format!("a{i}: login(username: $u, password: $p) {{ accessToken }} "))
        .collect();
    let (status, body) = app
        .post_body(
            json!({"query": format!("mutation($u: String!, $p: String!) {{ {aliases} }}"), "variables": {"u": long, "p": "guess"}}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("one sign-in")
    );
    let batch = json!([login_body("admin", "guess-1"), {"query": "{ __typename }"}]);
    let (_, body) = app.post_body(batch, None).await;
    assert_eq!(
        body[0]["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    assert_eq!(body[1]["data"]["__typename"], "Query");
    assert!(
        audit_rows(&app, "login_failed").await.is_empty(),
        "nothing ran, nothing written"
    );
    // Sign-ins hidden below fragments nested past what the server follows are refused too.
    let mut nested = String::from("mutation($u: String!, $p: String!) { ...F0 }");
    for i in 0..20 {
        nested.push_str(&format!(" fragment F{i} on Mutation {{ ...F{} }}", i + 1));
    }
    nested.push_str(" fragment F20 on Mutation { a: login(username: $u, password: $p) { accessToken } b: login(username: $u, password: $p) { accessToken } }");
    let (_, body) = app
        .post(&nested, json!({"u": "admin", "p": "guess"}), None)
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    // And nothing signs in over a websocket (no address to throttle, no request to count).
    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "l", "type": "subscribe", "payload": {"query": "mutation { login(username: \"admin\", password: \"guess\") { accessToken } }"}})).await;
    let refused = ws.next_json().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "BAD_REQUEST",
        "{refused}"
    );
    assert!(
        audit_rows(&app, "login_failed").await.is_empty(),
        "nothing ran, nothing written"
    );

    // One failure with a long name is stored cut short.
    let body = post_from(&app.addr, "127.0.0.1", login_body(&long, "guess")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let rows = audit_rows(&app, "login_failed").await;
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["actorName"].as_str().unwrap().chars().count() <= 129,
        "{rows:?}"
    );
    assert!(rows[0]["targetId"].as_str().unwrap().chars().count() <= 129);

    // Two more failures spend the address's burst of three; the fourth is refused before any
    // hashing, even with the right password, and the admin is not locked.
    for _ in 0..2 {
        let body = post_from(&app.addr, "127.0.0.1", login_body("admin", "guess")).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }
    let refused = post_from(
        &app.addr,
        "127.0.0.1",
        login_body("admin", crate::helpers::ADMIN_PASSWORD),
    )
    .await;
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{refused}");
    let retry = error["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((1..=300).contains(&retry), "{refused}");
    assert_eq!(
        audit_rows(&app, "login_failed").await.len(),
        3,
        "a throttled attempt writes nothing"
    );
    let admin = app
        .gql(
            "{ users { edges { node { username failedLoginCount lockedUntil } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    let admin = &admin["users"]["edges"][0]["node"];
    assert_eq!(
        (
            admin["username"].as_str(),
            admin["failedLoginCount"].as_i64()
        ),
        (Some("admin"), Some(2))
    );
    assert!(admin["lockedUntil"].is_null());
    // Another address is not throttled, and the right password clears the count.
    let other = post_from(
        &app.addr,
        "127.0.0.2",
        login_body("admin", crate::helpers::ADMIN_PASSWORD),
    )
    .await;
    assert!(other["data"]["login"]["accessToken"].is_string(), "{other}");
}
both!(anonymous_sign_ins_cannot_amplify_writes_or_burn_cores);

/// Guesses already in flight cannot outrun the lockout: each takes one of the allowed
/// failures before its password is checked, so at most that many are ever checked.
async fn concurrent_guesses_cannot_outrun_the_lockout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.login_address_burst = 100;
        c.login_username_burst = 100;
    })
    .await;
    app.user_with_role("carol", "viewer").await;
    let mut guesses: Vec<String> = (0..29).map(|i| format!("wrong-{i}")).collect();
    guesses.push(crate::helpers::USER_PASSWORD.to_owned());
    let attempts = guesses
        .iter()
        .map(|p| app.post_body(login_body("carol", p), None));
    let answers = futures_util::future::join_all(attempts).await;
    let signed_in = answers
        .iter()
        .filter(|(_, b)| b["data"]["login"].is_object())
        .count();
    let checked = audit_rows(&app, "login_failed").await.len() + signed_in;
    // The right password, when it got one of the five, starts a fresh count of five.
    let allowed = if signed_in == 0 { 5 } else { 10 };
    assert!(
        checked <= allowed,
        "{checked} guesses were checked; the lockout allows {allowed}"
    );
    assert_eq!(
        audit_rows(&app, "login_refused_locked").await.len(),
        30 - checked
    );
    if signed_in == 0 {
        // Locked: even the right password is refused now.
        let (code, _) = app
            .gql_err(
                crate::helpers::LOGIN,
                json!({"u": "carol", "p": crate::helpers::USER_PASSWORD}),
                None,
            )
            .await;
        assert_eq!(code, "UNAUTHENTICATED");
    }
}
both!(concurrent_guesses_cannot_outrun_the_lockout);

/// Many addresses can still lock the admin out; the host recovers it with
/// `heldar user unlock admin` while the server runs.
async fn a_locked_out_admin_is_unlocked_from_the_host(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(&backend).await;
    let (_server, addr) =
        crate::helpers::process::start_server(dir.path(), database_url.as_deref());
    for (from, tries) in [("127.0.0.2", 3), ("127.0.0.3", 2)] {
        for _ in 0..tries {
            let body = post_from(&addr, from, login_body("admin", "guess")).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{body}"
            );
        }
    }
    let right = login_body("admin", crate::helpers::ADMIN_PASSWORD);
    let locked = post_from(&addr, "127.0.0.4", right.clone()).await;
    assert_eq!(
        locked["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{locked}"
    );

    let mut unlock = std::process::Command::new(env!("CARGO_BIN_EXE_heldar"));
    unlock
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HELDAR_DATA_DIR", dir.path())
        .args(["user", "unlock", "admin"]);
    if let Some(url) = &database_url {
        unlock.env("HELDAR_DATABASE_URL", url);
    }
    let output = unlock.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("unlocked user admin"));
    let signed_in = post_from(&addr, "127.0.0.4", right).await;
    assert!(
        signed_in["data"]["login"]["accessToken"].is_string(),
        "{signed_in}"
    );
}
both!(a_locked_out_admin_is_unlocked_from_the_host);

/// A viewer's request is priced by what it would produce: ten aliases of a ten-year daily
/// timeline over 64 cameras are refused before anything runs, repeated ids are refused,
/// an answer over the size limit is not sent, and each credential has a rate.
async fn one_request_cannot_exhaust_memory(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.max_response_bytes = 65_536;
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 40;
    })
    .await;
    let (_, viewer) = app.user_with_role("watcher", "viewer").await;
    let ids: Vec<String> = (0..64).map(|i| format!("cam{i}")).collect();
    let aliases: String = (0..10)
        .map(|i| format!("t{i}: footageTimeline(cameraIds: $ids, from: \"2016-01-01T00:00:00Z\", to: \"2025-12-31T00:00:00Z\", bucket: DAY) {{ cameraId buckets {{ start end coveredSeconds }} }} "))
        .collect();
    let started = std::time::Instant::now();
    let (code, message) = app
        .gql_err(
            &format!("query($ids: [ID!]!) {{ {aliases} }}"),
            json!({"ids": ids}),
            Some(&viewer),
        )
        .await;
    assert_eq!(code, "QUERY_TOO_COMPLEX", "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused before running"
    );

    let one = "query($ids: [ID!]!) { footageTimeline(cameraIds: $ids, from: \"2025-01-01T00:00:00Z\", to: \"2025-01-02T00:00:00Z\", bucket: HOUR) { cameraId } }";
    let (status, body) = app
        .post(one, json!({"ids": ["cam0", "cam0"]}), Some(&viewer))
        .await;
    assert_eq!(status, 200);
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert_eq!(error["extensions"]["field"], "cameraIds[1]", "{body}");

    // 3,000 aliases cost 6,000 (allowed) but answer ~90 KB, over the 64 KB limit.
    let wide: String = (0..3000)
        .map(|i| format!("v{i}: serverInfo {{ version }} "))
        .collect();
    let (status, body) = app
        .post(&format!("{{ {wide} }}"), json!({}), Some(&viewer))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE",
        "{}",
        &body.to_string()[..200.min(body.to_string().len())]
    );
    assert!(body["data"].is_null());

    // The viewer's bucket (40, one a second) runs dry; the admin's does not.
    let mut limited = None;
    for _ in 0..60 {
        let (_, body) = app
            .post("{ serverInfo { version } }", json!({}), Some(&viewer))
            .await;
        if body["errors"][0]["extensions"]["code"] == "RATE_LIMITED" {
            limited = Some(body);
            break;
        }
    }
    let (_, last) = app
        .post("{ serverInfo { version } }", json!({}), Some(&viewer))
        .await;
    let limited = limited.unwrap_or_else(|| panic!("the viewer is rate limited: {last}"));
    let retry = limited["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=2).contains(&retry), "{limited}");
    let (_, admin) = app
        .post("{ serverInfo { version } }", json!({}), app.admin())
        .await;
    assert!(
        admin["data"]["serverInfo"]["version"].is_string(),
        "{admin}"
    );
    // Over a websocket the answer is capped the same way.
    let mut admin_ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    admin_ws
        .send(
            // A small document with a large answer: the schema with every description.
            json!({"id": "w", "type": "subscribe", "payload": {"query": "{ __schema { types { name description fields { name description type { name kind ofType { name kind ofType { name kind } } } args { name description type { name kind ofType { name kind } } } } inputFields { name description type { name kind ofType { name kind } } } enumValues { name description } } } }"}}),
        )
        .await;
    let answer = admin_ws.next_json().await;
    assert_eq!(
        answer["type"],
        "error",
        "{}",
        &answer.to_string()[..200.min(answer.to_string().len())]
    );
    assert_eq!(
        answer["payload"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    // Signing in again gives a new session, not a new budget.
    let again = app.login("watcher", crate::helpers::USER_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .post("{ serverInfo { version } }", json!({}), Some(&again))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    // Over a websocket the same budget applies: the subscription is refused with `error`.
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {viewer}")}),
    )
    .await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": "subscription { perceptionEvents { kind } }"}})).await;
    let answer = ws.next_json().await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(
        answer["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{answer}"
    );
}
both!(one_request_cannot_exhaust_memory);

/// The data directory is the server's alone (`0700`, the SQLite file `0600`: camera passwords
/// are in it), and a client that trickles a request body is cut off with `408`.
async fn the_data_dir_is_private_and_slow_requests_time_out(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sqlite = matches!(backend, Backend::Sqlite);
    let app = TestApp::spawn_with(backend, |c| c.request_timeout_secs = 1).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&app.data_dir), 0o700);
    if sqlite {
        assert_eq!(mode(&app.data_dir.join("heldar.db")), 0o600);
    }

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: heldar\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":")
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered within the timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}
both!(the_data_dir_is_private_and_slow_requests_time_out);

/// An acknowledged hold is on disk: SQLite syncs every commit (`synchronous = FULL`) unless
/// the operator trades that for speed. PostgreSQL is durable by its own defaults.
async fn acknowledged_writes_are_synced_to_disk(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    if !matches!(backend, Backend::Sqlite) {
        return;
    }
    for (setting, expected) in [("full", 2), ("normal", 1)] {
        let app =
            TestApp::spawn_with(backend.clone(), |c| c.sqlite_synchronous = setting.into()).await;
        // Every pooled connection has it, not just the first.
        let mut seen = Vec::new();
        for _ in 0..4 {
            let row = app
                .state
                .db
                .query_one_raw(Statement::from_string(
                    sea_orm::DbBackend::Sqlite,
                    "PRAGMA synchronous",
                ))
                .await
                .unwrap()
                .unwrap();
            seen.push(row.try_get_by_index::<i32>(0).unwrap());
        }
        assert!(seen.iter().all(|s| *s == expected), "{setting}: {seen:?}");
    }
}
both!(acknowledged_writes_are_synced_to_disk);

/// Tables that grew forever are pruned in retention's last phase: detections with their
/// batches once handed on, and ended sessions with their refresh tokens.
async fn retention_prunes_detections_and_ended_sessions(backend: Backend) {
    use heldar::clock::ManualClock;
    let clock = std::sync::Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    app.gql(
        "mutation { createCamera(input: {id: \"p\", name: \"p\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }",
        json!({}),
        app.admin(),
    )
    .await;
    let (_, _, worker) = app.api_key("integration", Some(vec!["p"])).await;
    let batch = json!({"i": {"cameraId": "p", "taskType": "detect", "frameId": "f1", "capturedAt": clock.now_dt().to_rfc3339(),
        "detections": [{"label": "person", "confidence": 0.9, "bbox": {"x": 0.1, "y": 0.1, "w": 0.1, "h": 0.1}}]}});
    app.gql(
        "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { seq } }",
        batch,
        Some(&worker),
    )
    .await;
    let (_, leaver) = app.user_with_role("leaver", "viewer").await;
    app.gql("mutation { logout }", json!({}), Some(&leaver))
        .await;
    // Batches are handed to the consumers in the background.
    tokio::time::sleep(Duration::from_millis(500)).await;

    clock.advance(chrono::Duration::days(31));
    let admin = app.login("admin", crate::helpers::ADMIN_PASSWORD).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = app
        .gql(
            "mutation { runRetention { prunedRows pruned { table rows } } }",
            json!({}),
            Some(&admin),
        )
        .await["runRetention"]
        .clone();
    let rows = |table: &str| {
        report["pruned"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["table"] == table)
            .map_or(0, |p| p["rows"].as_i64().unwrap())
    };
    assert_eq!(rows("detection"), 1, "{report}");
    assert_eq!(rows("outbox"), 1, "{report}");
    assert!(
        rows("session") >= 2,
        "the leaver's (logged out) and the admin's first (idle past its end): {report}"
    );
    assert!(rows("refresh_token") >= 1, "{report}");
    let total: i64 = report["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rows"].as_i64().unwrap())
        .sum();
    assert_eq!(report["prunedRows"].as_i64(), Some(total));
    // The admin's live session is kept: the new token still works.
    app.gql("{ me { id } }", json!({}), Some(&admin)).await;
}
both!(retention_prunes_detections_and_ended_sessions);

/// A socket runs a bounded number of operations, and a credential holds a bounded number of
/// sockets; closing one frees its place.
async fn websockets_are_capped_per_socket_and_per_credential(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.ws_max_operations = 3;
        c.ws_max_sockets_per_credential = 2;
    })
    .await;
    let (_, viewer) = app.user_with_role("many", "viewer").await;
    let auth = json!({"authorization": format!("Bearer {viewer}")});
    let subscribe = |id: &str| json!({"id": id, "type": "subscribe", "payload": {"query": "subscription { perceptionEvents { kind } }"}});
    let mut first = WsClient::connect_acked(&app.ws_url(), auth.clone()).await;
    for id in ["a", "b", "c", "d"] {
        first.send(subscribe(id)).await;
    }
    let refused = first.next_json().await;
    assert_eq!(
        (refused["type"].as_str(), refused["id"].as_str()),
        (Some("error"), Some("d")),
        "{refused}"
    );
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_OPERATIONS"
    );
    // Completing one makes room.
    first.send(json!({"id": "a", "type": "complete"})).await;
    first.send(subscribe("e")).await;
    first.send(json!({"type": "ping"})).await;
    assert_eq!(first.next_json().await["type"], "pong", "no error for `e`");

    let _second = WsClient::connect_acked(&app.ws_url(), auth.clone()).await;
    let mut third = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
    third
        .send(json!({"type": "connection_init", "payload": auth.clone()}))
        .await;
    match third.next_event_within(Duration::from_secs(2)).await {
        Some(WsEvent::Closed(code, _)) => assert_eq!(code, Some(1008)),
        other => panic!("a third socket was accepted: {other:?}"),
    }
    drop(first);
    // The server notices the first socket is gone, and the place is free again.
    let mut accepted = false;
    for _ in 0..20 {
        let mut retry = WsClient::connect(&app.ws_url(), Some("graphql-transport-ws")).await;
        retry
            .send(json!({"type": "connection_init", "payload": auth.clone()}))
            .await;
        if let Some(WsEvent::Json(m)) = retry.next_event_within(Duration::from_secs(2)).await
            && m["type"] == "connection_ack"
        {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "a closed socket gives its place back");
}
both!(websockets_are_capped_per_socket_and_per_credential);

/// `deleteCamera` and `lockEvidence` at the same moment: exactly one wins, so no hold is ever
/// left active over a camera (and footage) that was deleted.
async fn delete_camera_and_lock_evidence_race_with_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rounds = 12;
    for i in 0..rounds {
        app.gql(
            "mutation($id: String!) { createCamera(input: {id: $id, name: $id, streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }",
            json!({"id": format!("race{i}")}),
            app.admin(),
        )
        .await;
    }
    let from = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let to = chrono::Utc::now().to_rfc3339();
    let pairs = (0..rounds).map(|i| {
        let id = format!("race{i}");
        let lock = app.post(
            "mutation($i: LockEvidenceInput!) { lockEvidence(input: $i) { id } }",
            json!({"i": {"cameraId": id, "from": from, "to": to}}),
            app.admin(),
        );
        let delete = app.post(
            "mutation($id: ID!) { deleteCamera(id: $id) }",
            json!({"id": id}),
            app.admin(),
        );
        async move { futures_util::join!(lock, delete) }
    });
    for ((_, lock), (_, delete)) in futures_util::future::join_all(pairs).await {
        let locked = lock["data"]["lockEvidence"]["id"].is_string();
        let deleted = delete["data"]["deleteCamera"] == true;
        assert!(locked != deleted, "exactly one wins: {lock} / {delete}");
        if locked {
            assert_eq!(
                delete["errors"][0]["extensions"]["code"], "CONFLICT",
                "{delete}"
            );
        } else {
            assert_eq!(
                lock["errors"][0]["extensions"]["code"], "NOT_FOUND",
                "{lock}"
            );
        }
    }
}
both!(delete_camera_and_lock_evidence_race_with_one_winner);

/// Several instances on one PostgreSQL: an instance starting up leaves a live neighbour's read
/// locks alone, and takes them back once that neighbour is gone (its lease lapsed).
async fn a_starting_instance_leaves_live_neighbours_locks_alone(backend: Backend) {
    use sea_orm::EntityTrait;
    if !matches!(backend, Backend::Postgres(_)) || !ffmpeg_ready() {
        return;
    }
    let first = TestApp::spawn_with(backend.clone(), |c| c.index_settle_ms = 0).await;
    let shared = first.state.config.database_url.clone();
    let join = |c: &mut heldar::config::Config| {
        c.database_url = shared.clone();
        c.index_settle_ms = 0;
        c.index_interval_ms = 600_000;
    };
    let neighbour = TestApp::spawn_with(backend.clone(), join).await;
    neighbour
        .gql(
            "mutation { createCamera(input: {id: \"shared\", name: \"s\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false, segmentSeconds: 2}) { id } }",
            json!({}),
            neighbour.admin(),
        )
        .await;
    let base = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() - 600, 0).unwrap();
    crate::helpers::write_run(
        &neighbour.data_dir.join("recordings").join("shared"),
        base,
        2,
        2,
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    heldar::footage::indexer::index_once(&neighbour.state)
        .await
        .unwrap();
    let segment = entity::segment::Entity::find()
        .one(&neighbour.state.db)
        .await
        .unwrap()
        .unwrap();
    // The neighbour reads the segment (an export in progress), then another instance starts.
    let lock = heldar::evidence::locks::ReadLock::acquire(
        &neighbour.state.db,
        neighbour.state.ownership.instance_id(),
        vec![segment.id.clone()],
    )
    .await
    .unwrap();
    let read_locks = || async {
        entity::segment::Entity::find_by_id(segment.id.clone())
            .one(&first.state.db)
            .await
            .unwrap()
            .unwrap()
            .read_locks
    };
    let restarted = TestApp::spawn_with(backend.clone(), join).await;
    assert_eq!(
        read_locks().await,
        1,
        "a starting instance leaves a live neighbour's lock"
    );
    // The neighbour dies holding it: once its lease lapses, the lock is taken back.
    std::mem::forget(lock);
    let later = chrono::Utc::now() + chrono::Duration::seconds(31);
    heldar::evidence::exports::recover_lapsed(&restarted.state, later)
        .await
        .unwrap();
    assert_eq!(
        read_locks().await,
        0,
        "a lapsed instance's lock is taken back"
    );
}
both!(a_starting_instance_leaves_live_neighbours_locks_alone);
