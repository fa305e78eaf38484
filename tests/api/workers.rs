//! The worker contract end to end: AI tasks, leases and their sharing, frame pulls with
//! tickets, ticketed ingest and its abuse cases, the samplers, and the reference worker
//! driving a zone with real ffmpeg.

use std::sync::Arc;
use std::time::Duration;

use heldar::clock::ManualClock;
use serde_json::{Value, json};

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, WsClient};

const CREATE_TASK: &str = "mutation($i: CreateAiTaskInput!) { createAiTask(input: $i) { id cameraId taskType streamProfile fps width enabled } }";
const LEASE: &str = "mutation($i: LeaseAiTasksInput!) { leaseAiTasks(input: $i) { leaseId ttlSeconds workers tasks { frameUrl task { id cameraId } } } }";
const RELEASE: &str = "mutation($l: String!) { releaseAiLease(leaseId: $l) }";
const INGEST: &str = "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { seq duplicate accepted ticketed } }";

async fn camera(app: &TestApp, id: &str) {
    app.gql("mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": id, "name": id, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}}), app.admin()).await;
}

/// An integration key named `name` (optionally scoped); returns its access token.
async fn worker_key(app: &TestApp, name: &str, cameras: Option<Vec<&str>>) -> String {
    let data = app
        .gql(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }",
            json!({"i": {"name": name, "role": "INTEGRATION", "cameraIds": cameras}}),
            app.admin(),
        )
        .await;
    app.exchange(data["createApiKey"]["key"].as_str().unwrap())
        .await
}

async fn lease(app: &TestApp, token: &str, worker: &str, ttl: Option<i32>) -> Value {
    app.gql(
        LEASE,
        json!({"i": {"workerId": worker, "ttlSeconds": ttl}}),
        Some(token),
    )
    .await["leaseAiTasks"]
        .clone()
}

fn task_ids(lease: &Value) -> Vec<String> {
    let mut ids: Vec<String> = lease["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"]["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn tasks_are_validated_and_idempotent_and_leases_are_exclusive_shared_and_released(
    backend: Backend,
) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    for (input, field) in [
        (json!({"cameraId": "c1", "taskType": " "}), "input.taskType"),
        (
            json!({"cameraId": "c1", "taskType": "motion", "fps": 0.0}),
            "input.fps",
        ),
        (
            json!({"cameraId": "c1", "taskType": "motion", "width": 100}),
            "input.width",
        ),
        (
            json!({"cameraId": "c1", "taskType": "motion", "config": [1]}),
            "input.config",
        ),
    ] {
        let (code, message) = app
            .gql_err(CREATE_TASK, json!({"i": input}), app.admin())
            .await;
        assert_eq!(code, "BAD_USER_INPUT");
        assert!(message.contains(field), "{message} names {field}");
    }
    let t1 = app
        .gql(
            CREATE_TASK,
            json!({"i": {"cameraId": "c1", "taskType": "motion", "fps": 2.0, "width": 640}}),
            app.admin(),
        )
        .await["createAiTask"]
        .clone();
    let again = app
        .gql(
            CREATE_TASK,
            json!({"i": {"cameraId": "c1", "taskType": "motion", "fps": 9.0}}),
            app.admin(),
        )
        .await["createAiTask"]
        .clone();
    assert_eq!(again, t1, "an identical task is returned as it is");
    assert_eq!(t1["streamProfile"], "SUB");
    let t2 = app
        .gql(
            CREATE_TASK,
            json!({"i": {"cameraId": "c2", "taskType": "motion"}}),
            app.admin(),
        )
        .await["createAiTask"]
        .clone();
    let all = [
        t1["id"].as_str().unwrap().to_owned(),
        t2["id"].as_str().unwrap().to_owned(),
    ];
    let mut all_sorted = all.to_vec();
    all_sorted.sort();

    let a = worker_key(&app, "fleet-a", None).await;
    let b = worker_key(&app, "fleet-b", None).await;
    let c2_only = worker_key(&app, "fleet-c2", Some(vec!["c2"])).await;

    // One worker of A takes everything; B gets nothing while A holds it.
    let a1 = lease(&app, &a, "w1", Some(5)).await;
    assert_eq!(a1["ttlSeconds"], 15, "clamped up to 15 s");
    assert_eq!(task_ids(&a1), all_sorted);
    assert!(task_ids(&lease(&app, &b, "x1", Some(1000)).await).is_empty());
    // Renewing keeps the tasks and the lease id.
    let renewed = lease(&app, &a, "w1", Some(60)).await;
    assert_eq!(task_ids(&renewed), all_sorted);
    assert_eq!(renewed["leaseId"], a1["leaseId"]);
    // B cannot release A's lease.
    assert_eq!(
        app.gql(RELEASE, json!({"l": a1["leaseId"]}), Some(&b))
            .await["releaseAiLease"],
        0
    );

    // A second worker of A: the tasks are split between the two, disjointly.
    let w2 = lease(&app, &a, "w2", Some(60)).await;
    assert_eq!(w2["workers"], 2);
    assert!(task_ids(&w2).is_empty(), "w1 still holds its old share");
    let w1 = lease(&app, &a, "w1", Some(60)).await; // w1 lets go of w2's share
    let w2 = lease(&app, &a, "w2", Some(60)).await;
    assert_eq!(task_ids(&w1).len(), 1);
    assert_eq!(task_ids(&w2).len(), 1);
    assert_ne!(task_ids(&w1), task_ids(&w2));

    // A scoped credential only ever sees its cameras' tasks (after A's leases lapse).
    clock.advance(chrono::Duration::seconds(61));
    let scoped = lease(&app, &c2_only, "s1", None).await;
    assert_eq!(scoped["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(scoped["tasks"][0]["task"]["cameraId"], "c2");
    // A lapsed lease is claimable: B takes c1's task now.
    let b1 = lease(&app, &b, "x1", None).await;
    assert_eq!(task_ids(&b1), vec![all[0].clone()]);
    // The holder's release frees at once.
    assert_eq!(
        app.gql(RELEASE, json!({"l": b1["leaseId"]}), Some(&b))
            .await["releaseAiLease"],
        1
    );
    // …and a worker that released no longer counts in its key's sharing: x2 gets the whole
    // share at once (x1 called a moment ago).
    assert_eq!(lease(&app, &b, "x2", None).await["workers"], 1);
    app.gql(
        RELEASE,
        json!({"l": lease(&app, &b, "x2", None).await["leaseId"]}),
        Some(&b),
    )
    .await;
    assert_eq!(
        task_ids(&lease(&app, &a, "w1", None).await),
        vec![all[0].clone()],
        "c1's task; c2's is the scoped key's"
    );

    // A disabled task is leased to no one.
    app.gql(
        "mutation($id: ID!) { updateAiTask(input: {id: $id, enabled: false}) { enabled } }",
        json!({"id": all[0]}),
        app.admin(),
    )
    .await;
    clock.advance(chrono::Duration::seconds(120));
    assert_eq!(
        task_ids(&lease(&app, &b, "x1", None).await),
        vec![all[1].clone()],
        "only the enabled one"
    );
    // A viewer may read tasks but not create them.
    let (_, viewer) = app.user_with_role("vera", "viewer").await;
    assert_eq!(
        app.gql("{ aiTasks { id } }", json!({}), Some(&viewer))
            .await["aiTasks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let refused = app
        .gql_err(
            CREATE_TASK,
            json!({"i": {"cameraId": "c1", "taskType": "x"}}),
            Some(&viewer),
        )
        .await;
    assert_eq!(refused.0, "FORBIDDEN");
}
both!(tasks_are_validated_and_idempotent_and_leases_are_exclusive_shared_and_released);

async fn a_flood_of_lease_calls_never_gives_a_task_two_holders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for c in ["c1", "c2", "c3"] {
        camera(&app, c).await;
        app.gql(
            CREATE_TASK,
            json!({"i": {"cameraId": c, "taskType": "motion"}}),
            app.admin(),
        )
        .await;
    }
    let fleets = [
        worker_key(&app, "fleet-a", None).await,
        worker_key(&app, "fleet-b", None).await,
    ];
    let mut calls = Vec::new();
    for round in 0..10 {
        for (f, token) in fleets.iter().enumerate() {
            let (http, url, token) = (
                app.http.clone(),
                format!("{}/graphql", app.addr),
                token.clone(),
            );
            calls.push(tokio::spawn(async move {
                let body = json!({"query": LEASE, "variables": {"i": {"workerId": format!("w{}", round % 3), "ttlSeconds": 60}}});
                let reply: Value = http.post(url).bearer_auth(token).json(&body).send().await.unwrap().json().await.unwrap();
                (f, reply)
            }));
        }
    }
    for call in calls {
        let (_, reply) = call.await.unwrap();
        assert!(reply["errors"].is_null(), "{reply}");
    }
    // Now each task has exactly one holder: the union of every worker's renewal is the set
    // of tasks, with no task in two answers.
    let mut held = Vec::new();
    for (f, token) in fleets.iter().enumerate() {
        for w in ["w0", "w1", "w2"] {
            for id in task_ids(&lease(&app, token, w, Some(60)).await) {
                held.push((id, f, w));
            }
        }
    }
    let mut ids: Vec<&String> = held.iter().map(|h| &h.0).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a task held twice: {held:?}");
}
both!(a_flood_of_lease_calls_never_gives_a_task_two_holders);

/// Puts a frame where the sampler would, as if captured now.
fn fake_frame(app: &TestApp, camera: &str) {
    let path = app
        .data_dir
        .join("frames")
        .join(camera)
        .join("latest_sub.jpg");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"\xff\xd8 a frame \xff\xd9").unwrap();
}

async fn pull(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{url}", app.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn frame_tickets_vouch_for_batches_and_every_abuse_is_refused(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |c| {
        c.ingest_provenance = heldar::config::Provenance::Enforce
    })
    .await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    let task = app
        .gql(
            CREATE_TASK,
            json!({"i": {"cameraId": "c1", "taskType": "motion"}}),
            app.admin(),
        )
        .await["createAiTask"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = worker_key(&app, "fleet-a", None).await;
    let b = worker_key(&app, "fleet-b", None).await;
    let c2_only = worker_key(&app, "fleet-c2", Some(vec!["c2"])).await;
    let held = lease(&app, &a, "w1", Some(300)).await;
    let url = held["tasks"][0]["frameUrl"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/media/frames/c1/sub.jpg?task={task}"));

    // No frame yet: a clear 404.
    assert_eq!(pull(&app, &a, &url).await.status(), 404);
    fake_frame(&app, "c1");
    // Without the task, or by someone without the lease: the frame, but no ticket.
    let plain = pull(&app, &a, "/media/frames/c1/sub.jpg").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-type").unwrap(), "image/jpeg");
    assert!(header(&plain, "x-frame-ticket").is_none());
    assert!(header(&pull(&app, &b, &url).await, "x-frame-ticket").is_none());
    assert_eq!(
        pull(&app, &c2_only, &url).await.status(),
        403,
        "another camera's frame"
    );
    assert_eq!(
        app.http
            .get(format!("{}{url}", app.addr))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let framed = pull(&app, &a, &url).await;
    let ticket = header(&framed, "x-frame-ticket").expect("the lease holder gets a ticket");
    let frame_id = header(&framed, "x-frame-id").unwrap();
    let captured = header(&framed, "x-frame-captured-at").unwrap();
    assert!(frame_id.starts_with(&format!("t:{task}:")));
    let batch = |camera: &str, task_type: &str, frame: &str, ticket: Option<&str>| {
        json!({"i": {
        "cameraId": camera, "taskType": task_type, "frameId": frame, "capturedAt": captured, "frameTicket": ticket,
        "detections": [{"label": "motion", "confidence": 0.9, "bbox": {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}, "trackId": "m1"}]}})
    };
    let refused = |reply: (String, String)| reply;

    // Enforce: no ticket, no batch.
    let (code, message) = refused(
        app.gql_err(INGEST, batch("c1", "motion", "free-1", None), Some(&a))
            .await,
    );
    assert_eq!(code, "UNAUTHENTICATED");
    assert!(message.contains("input.frameTicket"), "{message}");
    // Another credential's use of the ticket, a forged one, a malformed one.
    assert_eq!(
        refused(
            app.gql_err(
                INGEST,
                batch("c1", "motion", &frame_id, Some(&ticket)),
                Some(&b)
            )
            .await
        )
        .0,
        "UNAUTHENTICATED"
    );
    let forged = ticket.replacen(&frame_id.rsplit(':').next().unwrap().to_owned(), "1", 1);
    assert_eq!(
        refused(
            app.gql_err(
                INGEST,
                batch("c1", "motion", &frame_id, Some(&forged)),
                Some(&a)
            )
            .await
        )
        .0,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        refused(
            app.gql_err(
                INGEST,
                batch("c1", "motion", &frame_id, Some("f1.nope")),
                Some(&a)
            )
            .await
        )
        .0,
        "UNAUTHENTICATED"
    );
    // A body that contradicts its ticket.
    for (body, field) in [
        (
            batch("c2", "motion", &frame_id, Some(&ticket)),
            "input.cameraId",
        ),
        (
            batch("c1", "detect", &frame_id, Some(&ticket)),
            "input.taskType",
        ),
        (
            batch("c1", "motion", "my-own-id", Some(&ticket)),
            "input.frameId",
        ),
    ] {
        let (code, message) = refused(app.gql_err(INGEST, body, Some(&a)).await);
        assert_eq!(code, "CONFLICT");
        assert!(message.contains(field), "{message} names {field}");
    }
    // The real thing: accepted once, ticketed; a repeat is a duplicate.
    let receipt = app
        .gql(
            INGEST,
            batch("c1", "motion", &frame_id, Some(&ticket)),
            Some(&a),
        )
        .await["ingestDetections"]
        .clone();
    assert_eq!(receipt["ticketed"], true);
    assert_eq!(receipt["accepted"], 1);
    let again = app
        .gql(
            INGEST,
            batch("c1", "motion", &frame_id, Some(&ticket)),
            Some(&a),
        )
        .await["ingestDetections"]
        .clone();
    assert_eq!(again["duplicate"], true);
    use sea_orm::EntityTrait;
    let stored = entity::detection::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let attrs: Value = serde_json::from_str(&stored.attributes).unwrap();
    assert_eq!(attrs["provenance"]["ticket"], "verified");
    assert_eq!(attrs["provenance"]["task"], task.as_str());

    // A task disabled after the ticket was issued.
    let fresh = header(&pull(&app, &a, &url).await, "x-frame-ticket").unwrap();
    app.gql(
        "mutation($id: ID!) { updateAiTask(input: {id: $id, enabled: false}) { enabled } }",
        json!({"id": task}),
        app.admin(),
    )
    .await;
    assert_eq!(
        refused(
            app.gql_err(
                INGEST,
                batch("c1", "motion", &frame_id, Some(&fresh)),
                Some(&a)
            )
            .await
        )
        .0,
        "FORBIDDEN"
    );
    assert_eq!(
        pull(&app, &a, &url).await.status(),
        404,
        "no sampler runs: the old frame is not served"
    );
    app.gql(
        "mutation($id: ID!) { updateAiTask(input: {id: $id, enabled: true}) { enabled } }",
        json!({"id": task}),
        app.admin(),
    )
    .await;
    // An expired ticket (the lease itself is still live).
    clock.advance(chrono::Duration::seconds(200));
    let (code, message) = refused(
        app.gql_err(
            INGEST,
            batch("c1", "motion", &frame_id, Some(&fresh)),
            Some(&a),
        )
        .await,
    );
    assert_eq!(code, "UNAUTHENTICATED");
    assert!(message.contains("expired"), "{message}");
    // A worker that never renews: its lease lapses and its tickets stop working.
    clock.advance(chrono::Duration::seconds(200));
    let stale = app
        .gql_err(
            INGEST,
            batch("c1", "motion", &frame_id, Some(&ticket)),
            Some(&a),
        )
        .await;
    assert_eq!(refused(stale).0, "UNAUTHENTICATED");
}
both!(frame_tickets_vouch_for_batches_and_every_abuse_is_refused);

async fn under_warn_an_unticketed_batch_is_accepted_flagged_and_reported_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.ingest_provenance = heldar::config::Provenance::Warn
    })
    .await;
    camera(&app, "c1").await;
    let a = worker_key(&app, "fleet-a", None).await;
    let unticketed =
        "{ perceptionEvents(filter: {kinds: [INGEST_UNTICKETED]}) { edges { node { kind } } } }";
    // A refused batch leaves no trace, not even the warning (nor does it use up its hour).
    let reserved = json!({"i": {"cameraId": "c1", "taskType": "motion", "frameId": "t:ait_x:0", "capturedAt": chrono::Utc::now().to_rfc3339(), "detections": []}});
    assert_eq!(
        app.gql_err(INGEST, reserved, Some(&a)).await.0,
        "BAD_USER_INPUT"
    );
    let none = app.gql(unticketed, json!({}), app.admin()).await;
    assert_eq!(none["perceptionEvents"]["edges"], json!([]));
    for n in 0..3 {
        let body = json!({"i": {"cameraId": "c1", "taskType": "motion", "frameId": format!("f{n}"), "capturedAt": chrono::Utc::now().to_rfc3339(), "detections": []}});
        let receipt = app.gql(INGEST, body, Some(&a)).await["ingestDetections"].clone();
        assert_eq!(receipt["ticketed"], false);
        assert_eq!(receipt["duplicate"], false);
    }
    let reserved = json!({"i": {"cameraId": "c1", "taskType": "motion", "frameId": "t:ait_x:1", "capturedAt": chrono::Utc::now().to_rfc3339(), "detections": []}});
    let (code, message) = app.gql_err(INGEST, reserved, Some(&a)).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("input.frameId"), "{message}");
    let events = app.gql("{ perceptionEvents(filter: {kinds: [INGEST_UNTICKETED]}) { edges { node { kind severity cameraId } } } }", json!({}), app.admin()).await;
    assert_eq!(
        events["perceptionEvents"]["edges"],
        json!([{"node": {"kind": "INGEST_UNTICKETED", "severity": "WARNING", "cameraId": "c1"}}])
    );
}
both!(under_warn_an_unticketed_batch_is_accepted_flagged_and_reported_once);

async fn the_reference_worker_follows_the_demo_box_through_a_zone_with_real_ffmpeg(
    backend: Backend,
) {
    if !crate::helpers::ffmpeg_ready() {
        eprintln!("skipped: ffmpeg is not installed (scripts/test installs it)");
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.allow_local_sources = true;
        c.ingest_provenance = heldar::config::Provenance::Enforce;
    })
    .await;
    // The demo scene, sliding faster: one pass every 10 s.
    let source = heldar::demo::DEMO_SOURCE.replace("horizontal=0.005", "horizontal=0.01");
    app.gql(
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "demo", "name": "demo", "streamUrl": source, "recordEnabled": false}}),
        app.admin(),
    )
    .await;
    app.gql("mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }",
        json!({"i": {"cameraId": "demo", "name": "middle", "confirmFrames": 1, "points": [{"x": 0.35, "y": 0.0}, {"x": 0.65, "y": 0.0}, {"x": 0.65, "y": 1.0}, {"x": 0.35, "y": 1.0}]}}), app.admin()).await;
    app.gql(
        CREATE_TASK,
        json!({"i": {"cameraId": "demo", "taskType": "motion", "fps": 4.0, "width": 320}}),
        app.admin(),
    )
    .await;
    let key = app
        .gql(
            "mutation { createApiKey(input: {name: \"worker\", role: INTEGRATION}) { key } }",
            json!({}),
            app.admin(),
        )
        .await["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut ws = WsClient::connect_acked(&app.ws_url(), app.ws_auth()).await;
    ws.send(json!({"id": "z", "type": "subscribe", "payload": {"query": "subscription { perceptionEvents(filter: {kinds: [ZONE_ENTER, ZONE_EXIT]}) { kind label trackId cameraId } }"}})).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(heldar::worker::run(
        heldar::worker::WorkerOptions {
            server: app.addr.clone(),
            api_key: key,
            worker_id: "test-worker".into(),
            task_types: vec!["motion".into()],
            lease_seconds: 30,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut kinds = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while kinds.len() < 2 && tokio::time::Instant::now() < deadline {
        if let Some(crate::helpers::WsEvent::Json(m)) =
            ws.next_event_within(Duration::from_secs(5)).await
            && m["type"] == "next"
        {
            let e = &m["payload"]["data"]["perceptionEvents"];
            assert_eq!(e["label"], "motion");
            assert_eq!(e["cameraId"], "demo");
            kinds.push(e["kind"].as_str().unwrap().to_owned());
        }
    }
    let samplers = app
        .gql(
            "{ aiSamplers { cameraId state fps width } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        samplers["aiSamplers"],
        json!([{"cameraId": "demo", "state": "SAMPLING", "fps": 4.0, "width": 320}])
    );
    assert_eq!(
        kinds,
        ["ZONE_ENTER", "ZONE_EXIT"],
        "the box walked in and out"
    );
    let _ = stop_tx.send(());
    worker.await.unwrap().unwrap();
    // The worker released its lease on the way out: another can take the task at once.
    let other = worker_key(&app, "other", None).await;
    assert_eq!(
        lease(&app, &other, "o1", None).await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
both!(the_reference_worker_follows_the_demo_box_through_a_zone_with_real_ffmpeg);

async fn the_frame_budget_goes_by_priority_and_samplers_report_their_state(backend: Backend) {
    if !crate::helpers::ffmpeg_ready() {
        eprintln!("skipped: ffmpeg is not installed (scripts/test installs it)");
        return;
    }
    let app = TestApp::spawn_with(backend, |c| {
        c.ai_max_total_fps = 1.0;
        c.ai_max_decoders = 1;
    })
    .await;
    camera(&app, "c1").await;
    camera(&app, "c2").await;
    app.gql(
        CREATE_TASK,
        json!({"i": {"cameraId": "c1", "taskType": "motion", "fps": 5.0, "width": 1280}}),
        app.admin(),
    )
    .await;
    let t2 = app
        .gql(
            CREATE_TASK,
            json!({"i": {"cameraId": "c2", "taskType": "motion", "fps": 5.0, "width": 1280}}),
            app.admin(),
        )
        .await["createAiTask"]["id"]
        .clone();
    const SAMPLERS: &str =
        "{ aiSamplers { cameraId state requestedFps fps width restarts lastError } }";
    // One decoder: c1 (first by id at equal priority) gets the whole budget, c2 is shed;
    // c1's camera is unreachable, so its sampler goes offline and retries with backoff.
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = app.gql(SAMPLERS, json!({}), app.admin()).await["aiSamplers"].clone();
        if seen[0]["state"] == "OFFLINE" && seen[0]["restarts"].as_i64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen[0]["cameraId"], "c1");
    assert_eq!(seen[0]["state"], "OFFLINE", "{seen}");
    assert_eq!(
        (
            seen[0]["fps"].as_f64(),
            seen[0]["width"].as_i64(),
            seen[0]["requestedFps"].as_f64()
        ),
        (Some(1.0), Some(1280), Some(5.0))
    );
    assert!(
        seen[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("ffmpeg exited"),
        "{seen}"
    );
    assert_eq!(
        seen[1],
        json!({"cameraId": "c2", "state": "SHED", "requestedFps": 5.0, "fps": 0.0, "width": 0, "restarts": 0, "lastError": null})
    );
    // Priority moves the budget.
    app.gql(
        "mutation($id: ID!) { updateAiTask(input: {id: $id, priority: 10}) { priority } }",
        json!({"id": t2}),
        app.admin(),
    )
    .await;
    let seen = app.gql(SAMPLERS, json!({}), app.admin()).await["aiSamplers"].clone();
    assert_eq!(seen[0]["state"], "SHED", "{seen}");
    assert_eq!(seen[1]["fps"], 1.0, "{seen}");
    // A scoped key sees only its cameras' samplers.
    let c2_only = worker_key(&app, "fleet-c2", Some(vec!["c2"])).await;
    let scoped = app.gql(SAMPLERS, json!({}), Some(&c2_only)).await["aiSamplers"].clone();
    assert_eq!(scoped.as_array().unwrap().len(), 1);
    assert_eq!(scoped[0]["cameraId"], "c2");
}
both!(the_frame_budget_goes_by_priority_and_samplers_report_their_state);

async fn workers_share_only_with_workers_asking_for_the_same_types_and_stay_live_for_their_lease(
    backend: Backend,
) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_full(backend, clock.clone(), |_| {}).await;
    for c in ["c1", "c2"] {
        camera(&app, c).await;
        for t in ["motion", "detect"] {
            app.gql(
                CREATE_TASK,
                json!({"i": {"cameraId": c, "taskType": t}}),
                app.admin(),
            )
            .await;
        }
    }
    let key = worker_key(&app, "fleet", None).await;
    let typed = |worker: &'static str, types: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            app.gql(
                LEASE,
                json!({"i": {"workerId": worker, "taskTypes": [types], "ttlSeconds": 300}}),
                Some(&key),
            )
            .await["leaseAiTasks"]
                .clone()
        }
    };
    // A motion worker and a detect worker of one key each get all of their own type.
    let m = typed("m1", "motion").await;
    let d = typed("d1", "detect").await;
    assert_eq!(
        (m["workers"].as_i64(), m["tasks"].as_array().unwrap().len()),
        (Some(1), 2)
    );
    assert_eq!(
        (d["workers"].as_i64(), d["tasks"].as_array().unwrap().len()),
        (Some(1), 2)
    );
    // A second motion worker shares with m1 only.
    assert_eq!(typed("m2", "motion").await["workers"], 2);
    // With 300 s leases, a worker renewing after 90 s is still in the sharing.
    clock.advance(chrono::Duration::seconds(90));
    let m1 = typed("m1", "motion").await;
    assert_eq!(m1["workers"], 2, "m2 is live for its lease's length");
    assert_eq!(
        m1["tasks"].as_array().unwrap().len(),
        1,
        "m1 keeps its half"
    );
}
both!(workers_share_only_with_workers_asking_for_the_same_types_and_stay_live_for_their_lease);
