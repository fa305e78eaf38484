//! The camera registry through the API.

use serde_json::{Value, json};

use crate::both;
use crate::helpers::Backend;
use crate::helpers::{TestApp, first_error};

const CREATE: &str = "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id name streamUrl hasPassword enabled recordEnabled segmentSeconds retentionHours storageQuotaBytes } }";
const UPDATE: &str = "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id name streamUrl hasPassword segmentSeconds storageQuotaBytes } }";

async fn create(app: &TestApp, input: Value) -> Value {
    app.gql(CREATE, json!({"i": input}), app.admin()).await["createCamera"].clone()
}

async fn a_camera_is_created_with_defaults_and_its_password_is_never_shown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let camera = create(
        &app,
        json!({"name": " Front Door ", "streamUrl": "rtsp://admin:s3cret@10.0.0.5:554/stream1"}),
    )
    .await;
    assert_eq!(
        camera,
        json!({
            "id": "front_door", "name": "Front Door", "streamUrl": "rtsp://admin:***@10.0.0.5:554/stream1",
            "hasPassword": true, "enabled": true, "recordEnabled": true, "segmentSeconds": 60,
            "retentionHours": 24, "storageQuotaBytes": null
        })
    );
    let listed = app
        .gql(
            "{ cameras { edges { node { id streamUrl } } } camera(id: \"front_door\") { name } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert!(!listed.to_string().contains("s3cret"));
    assert_eq!(listed["camera"]["name"], "Front Door");
    let audit = app.gql(r#"{ auditLog(filter: {cameraId: "front_door"}) { edges { node { action detail } } } }"#, json!({}), app.admin()).await;
    assert_eq!(
        audit["auditLog"]["edges"][0]["node"]["action"],
        "create_camera"
    );
    assert!(
        !audit.to_string().contains("s3cret"),
        "no secret in the audit log"
    );
}
both!(a_camera_is_created_with_defaults_and_its_password_is_never_shown);

async fn bad_camera_input_is_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({"name": "", "streamUrl": "rtsp://h/s"}), "input.name"),
        (
            json!({"name": "a", "streamUrl": "ftp://h/s"}),
            "input.streamUrl",
        ),
        (
            json!({"name": "a", "streamUrl": "file:///etc/passwd"}),
            "input.streamUrl",
        ),
        (
            json!({"name": "a", "streamUrl": "lavfi:testsrc"}),
            "input.streamUrl",
        ),
        (
            json!({"name": "a", "streamUrl": "rtsp://h/s", "segmentSeconds": 1}),
            "input.segmentSeconds",
        ),
        (
            json!({"name": "a", "streamUrl": "rtsp://h/s", "segmentSeconds": 3601}),
            "input.segmentSeconds",
        ),
        (
            json!({"name": "a", "streamUrl": "rtsp://h/s", "retentionHours": 0}),
            "input.retentionHours",
        ),
        (
            json!({"name": "a", "streamUrl": "rtsp://h/s", "storageQuotaBytes": 0}),
            "input.storageQuotaBytes",
        ),
    ];
    for (input, field) in cases {
        let (_, body) = app.post(CREATE, json!({"i": input}), app.admin()).await;
        assert_eq!(first_error(&body).0, "BAD_USER_INPUT", "{input}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{input}");
    }
    let cameras = app
        .gql(
            "{ cameras { edges { node { id } } } }",
            json!({}),
            app.admin(),
        )
        .await;
    assert_eq!(
        cameras["cameras"]["edges"],
        json!([]),
        "nothing was written"
    );
}
both!(bad_camera_input_is_refused_naming_the_field);

async fn local_sources_need_the_setting(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.allow_local_sources = true).await;
    let camera = create(
        &app,
        json!({"name": "Demo", "streamUrl": "lavfi:testsrc2=size=320x240:rate=10"}),
    )
    .await;
    assert_eq!(camera["id"], "demo");
}
both!(local_sources_need_the_setting);

async fn duplicate_names_and_ids_conflict_and_name_the_existing_camera(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(&app, json!({"name": "Gate", "streamUrl": "rtsp://h/1"})).await;
    let (code, message) = app
        .gql_err(
            CREATE,
            json!({"i": {"name": "Gate", "streamUrl": "rtsp://h/2", "id": "gate_2"}}),
            app.admin(),
        )
        .await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("CONFLICT", "camera `gate` is already named `Gate`")
    );
    let (code, _) = app
        .gql_err(
            CREATE,
            json!({"i": {"name": "GATE!", "streamUrl": "rtsp://h/2"}}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "CONFLICT", "same slug");
}
both!(duplicate_names_and_ids_conflict_and_name_the_existing_camera);

async fn the_mask_never_carries_the_stored_password_to_another_address(backend: Backend) {
    use sea_orm::EntityTrait;
    let app = TestApp::spawn(backend).await;
    create(
        &app,
        json!({"name": "Gate", "streamUrl": "rtsp://u:s3cret@cam.local:554/a"}),
    )
    .await;
    let stored = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            entity::camera::Entity::find_by_id("gate".to_owned())
                .one(&db)
                .await
                .unwrap()
                .unwrap()
                .stream_url
        }
    };
    for elsewhere in [
        "rtsp://u:***@attacker.example/a",
        "rtsp://u:***@cam.local:8554/a",
        "rtsps://u:***@cam.local/a",
    ] {
        let (code, message) = app
            .gql_err(
                UPDATE,
                json!({"i": {"id": "gate", "streamUrl": elsewhere}}),
                app.admin(),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{elsewhere}");
        assert!(message.contains("input.streamUrl"), "{message}");
        assert_eq!(
            stored(&app).await,
            "rtsp://u:s3cret@cam.local:554/a",
            "nothing changed"
        );
    }
    // The same address (default port spelled out or not) keeps it; a new address with its
    // own password is fine.
    app.gql(
        UPDATE,
        json!({"i": {"id": "gate", "streamUrl": "rtsp://u:***@cam.local/b"}}),
        app.admin(),
    )
    .await;
    assert_eq!(stored(&app).await, "rtsp://u:s3cret@cam.local/b");
    app.gql(
        UPDATE,
        json!({"i": {"id": "gate", "streamUrl": "rtsp://u:other@new.local/b"}}),
        app.admin(),
    )
    .await;
    assert_eq!(stored(&app).await, "rtsp://u:other@new.local/b");
}
both!(the_mask_never_carries_the_stored_password_to_another_address);

async fn updating_keeps_the_password_behind_the_mask_and_the_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    create(
        &app,
        json!({"name": "Yard", "streamUrl": "rtsp://u:pw@cam/a"}),
    )
    .await;
    let updated = app
        .gql(UPDATE, json!({"i": {"id": "yard", "name": "Back Yard", "streamUrl": "rtsp://u:***@cam/b", "segmentSeconds": 10, "storageQuotaBytes": 1000}}), app.admin())
        .await["updateCamera"]
        .clone();
    assert_eq!(
        updated,
        json!({"id": "yard", "name": "Back Yard", "streamUrl": "rtsp://u:***@cam/b", "hasPassword": true, "segmentSeconds": 10, "storageQuotaBytes": 1000})
    );
    let lifted = app
        .gql(
            UPDATE,
            json!({"i": {"id": "yard", "storageQuotaBytes": null, "streamUrl": "rtsp://cam/c"}}),
            app.admin(),
        )
        .await["updateCamera"]
        .clone();
    assert_eq!(lifted["storageQuotaBytes"], Value::Null);
    assert_eq!(lifted["hasPassword"], false);
    let (code, _) = app
        .gql_err(
            UPDATE,
            json!({"i": {"id": "nope", "name": "x"}}),
            app.admin(),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    assert_eq!(
        app.gql(
            "mutation { deleteCamera(id: \"yard\") }",
            json!({}),
            app.admin()
        )
        .await["deleteCamera"],
        true
    );
    assert_eq!(
        app.gql_err("{ camera(id: \"yard\") { id } }", json!({}), app.admin())
            .await
            .0,
        "NOT_FOUND"
    );
}
both!(updating_keeps_the_password_behind_the_mask_and_the_id);

async fn a_camera_limited_caller_sees_only_its_cameras_and_the_same_refusal_for_the_rest(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    create(&app, json!({"name": "One", "streamUrl": "rtsp://h/1"})).await;
    create(&app, json!({"name": "Two", "streamUrl": "rtsp://h/2"})).await;
    let (_, _, token) = app.api_key("manager", Some(vec!["one"])).await;
    let list = app
        .gql(
            "{ cameras { edges { node { id } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(list["cameras"]["edges"], json!([{"node": {"id": "one"}}]));
    let doc = "query($id: ID!) { camera(id: $id) { id } }";
    let (code_other, message_other) = app.gql_err(doc, json!({"id": "two"}), Some(&token)).await;
    let (code_missing, message_missing) =
        app.gql_err(doc, json!({"id": "ghost"}), Some(&token)).await;
    assert_eq!(
        (code_other.as_str(), code_missing.as_str()),
        ("FORBIDDEN", "FORBIDDEN")
    );
    assert_eq!(
        message_other.replace("two", "<id>"),
        message_missing.replace("ghost", "<id>")
    );
    let (code, _) = app
        .gql_err(
            UPDATE,
            json!({"i": {"id": "two", "name": "x"}}),
            Some(&token),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    app.gql(
        UPDATE,
        json!({"i": {"id": "one", "name": "Uno"}}),
        Some(&token),
    )
    .await;
    let (code, _) = app
        .gql_err(
            CREATE,
            json!({"i": {"name": "Three", "streamUrl": "rtsp://h/3"}}),
            Some(&token),
        )
        .await;
    assert_eq!(code, "FORBIDDEN", "a new camera is outside the scope");
}
both!(a_camera_limited_caller_sees_only_its_cameras_and_the_same_refusal_for_the_rest);

/// Whether an ffmpeg writes under `dir/recordings/<camera>`.
fn records_in(dir: &std::path::Path, camera: &str) -> bool {
    let pattern = format!("^ffmpeg .*{}/recordings/{camera}", dir.display());
    !std::process::Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap()
        .stdout
        .is_empty()
}

async fn two_servers_on_one_postgres_record_each_camera_once_and_hand_it_over_on_shutdown(
    backend: Backend,
) {
    // SQLite is one process's database: one instance owns every camera.
    let crate::helpers::Backend::Postgres(admin) = &backend else {
        return;
    };
    if !crate::helpers::ffmpeg_ready() {
        return;
    }
    use sea_orm::ConnectionTrait;
    use std::time::{Duration, Instant};
    let name = format!("heldar_own_{}", uuid::Uuid::new_v4().simple());
    let conn = sea_orm::Database::connect(admin.as_str()).await.unwrap();
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = crate::helpers::replace_db_name(admin, &name);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server_a, a, log_a) =
        crate::helpers::process::start_server_logged(dir_a.path(), Some(&url));
    let (server_b, _b) = crate::helpers::process::start_server(dir_b.path(), Some(&url));
    let http = reqwest::Client::new();
    let token = crate::helpers::process::admin_token(&http, &a).await;
    crate::helpers::process::call(
        &http,
        &a,
        Some(&token),
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "c1", "name": "c1", "streamUrl": "lavfi:testsrc2=size=160x120:rate=5"}}),
    )
    .await;

    // One of them owns it: usually A, which created it, but B's claim pass (every 10 s) may
    // take a camera in the moment between its insert and A's claim. The other leaves it alone.
    let started = Instant::now();
    let a_owns = loop {
        match (
            records_in(dir_a.path(), "c1"),
            records_in(dir_b.path(), "c1"),
        ) {
            (true, _) => break true,
            (false, true) => break false,
            _ => {}
        }
        assert!(
            // Generous: a loaded CI machine (browsers, encoders) can take a while to start it.
            started.elapsed() < Duration::from_secs(40),
            "nobody started recording c1; A's log:\n{}",
            log_a.lock().map(|l| l.join("\n")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (owner_dir, other_dir, owner) = if a_owns {
        (dir_a.path(), dir_b.path(), &server_a)
    } else {
        (dir_b.path(), dir_a.path(), &server_b)
    };
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(records_in(owner_dir, "c1"));
    assert!(
        !records_in(other_dir, "c1"),
        "c1 is recorded once, not by both servers"
    );

    // The owner shuts down cleanly: it gives c1 up, and the other takes it on its next renewal.
    std::process::Command::new("kill")
        .args(["-TERM", &owner.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while !records_in(other_dir, "c1") {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the other server never took c1 over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!records_in(owner_dir, "c1"));
    drop((server_a, server_b));
    conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .ok();
}
both!(two_servers_on_one_postgres_record_each_camera_once_and_hand_it_over_on_shutdown);

/// `cameraStatus` sends each camera's state at once, then its changes; a scoped caller sees
/// only its cameras and is refused others by name.
async fn camera_status_streams_each_state_then_its_changes(backend: Backend) {
    use crate::helpers::ws::WsClient;
    use std::time::Duration;
    let app = TestApp::spawn(backend).await;
    app.camera("gate", "Gate").await;
    app.camera("yard", "Yard").await;
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {}", app.admin().unwrap())}),
    )
    .await;
    ws.send(json!({"id": "s", "type": "subscribe", "payload": {"query": "subscription { cameraStatus { cameraId status { state } } }"}})).await;
    let mut first = Vec::new();
    for _ in 0..2 {
        let m = ws.next_json().await;
        first.push(m["payload"]["data"]["cameraStatus"].clone());
    }
    first.sort_by_key(|c| c["cameraId"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        first,
        vec![
            json!({"cameraId": "gate", "status": {"state": "DISABLED"}}),
            json!({"cameraId": "yard", "status": {"state": "DISABLED"}}),
        ],
        "both cameras now (created with recording off)"
    );
    // Unchanged cameras are not sent again.
    assert!(
        ws.next_event_within(Duration::from_millis(2500))
            .await
            .is_none()
    );
    app.gql(
        "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id } }",
        json!({"i": {"id": "gate", "recordEnabled": true}}),
        app.admin(),
    )
    .await;
    let change = tokio::time::timeout(Duration::from_secs(10), ws.next_json())
        .await
        .expect("the change arrives within a poll or two");
    let change = &change["payload"]["data"]["cameraStatus"];
    assert_eq!(change["cameraId"], "gate", "{change}");
    assert_ne!(change["status"]["state"], "DISABLED", "{change}");

    let (_, _, scoped) = app.api_key("viewer", Some(vec!["yard"])).await;
    let mut mine = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {scoped}")}),
    )
    .await;
    mine.send(json!({"id": "m", "type": "subscribe", "payload": {"query": "subscription { cameraStatus { cameraId } }"}})).await;
    assert_eq!(
        mine.next_json().await["payload"]["data"]["cameraStatus"]["cameraId"],
        "yard"
    );
    assert!(
        mine.next_event_within(Duration::from_millis(2500))
            .await
            .is_none(),
        "the gate is out of scope"
    );
    mine.send(json!({"id": "x", "type": "subscribe", "payload": {"query": "subscription { cameraStatus(cameraIds: [\"gate\"]) { cameraId } }"}})).await;
    let refused = mine.next_json().await;
    let error = &refused["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{refused}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("gate"),
        "{refused}"
    );
}
both!(camera_status_streams_each_state_then_its_changes);

/// Forty `cameraStatus` subscriptions (a wall of consoles) share one read of the status rows
/// per interval instead of each reading them every two seconds; each still gets every camera
/// at once and then the change.
async fn camera_status_subscribers_share_one_reader(backend: Backend) {
    use crate::helpers::ws::WsClient;
    use std::time::{Duration, Instant};
    let app = TestApp::spawn(backend).await;
    app.camera("gate", "Gate").await;
    app.camera("yard", "Yard").await;
    let started = Instant::now();
    let reads_before = app.state.camera_status.reads();
    let mut ws = WsClient::connect_acked(
        &app.ws_url(),
        json!({"authorization": format!("Bearer {}", app.admin().unwrap())}),
    )
    .await;
    const SUBSCRIBERS: usize = 40;
    for n in 0..SUBSCRIBERS {
        ws.send(json!({"id": format!("s{n}"), "type": "subscribe", "payload": {"query": "subscription { cameraStatus { cameraId status { state } } }"}})).await;
    }
    let mut first: std::collections::HashMap<String, Vec<String>> = Default::default();
    for _ in 0..SUBSCRIBERS * 2 {
        let m = ws.next_json().await;
        let id = m["id"].as_str().unwrap().to_owned();
        let camera = m["payload"]["data"]["cameraStatus"]["cameraId"]
            .as_str()
            .unwrap();
        first.entry(id).or_default().push(camera.to_owned());
    }
    assert_eq!(first.len(), SUBSCRIBERS, "every subscription answered");
    for cameras in first.values_mut() {
        cameras.sort();
        assert_eq!(cameras, &["gate", "yard"]);
    }
    app.gql(
        "mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id } }",
        json!({"i": {"id": "gate", "recordEnabled": true}}),
        app.admin(),
    )
    .await;
    let mut changed = std::collections::HashSet::new();
    while changed.len() < SUBSCRIBERS {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next_json())
            .await
            .expect("every subscription gets the change within a poll or two");
        assert_eq!(
            m["payload"]["data"]["cameraStatus"]["cameraId"], "gate",
            "{m}"
        );
        changed.insert(m["id"].as_str().unwrap().to_owned());
    }
    let reads = (app.state.camera_status.reads() - reads_before) as f64;
    // One read per two-second interval (and the first at once); reading per subscriber made
    // it forty per interval.
    let intervals = started.elapsed().as_secs_f64() / 2.0;
    assert!(
        reads >= 1.0 && reads <= intervals + 2.0,
        "{reads} reads in {intervals:.1} intervals for {SUBSCRIBERS} subscribers"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("heldar_camera_status_reads_total "),
        "the reads are counted for operators too"
    );
}
both!(camera_status_subscribers_share_one_reader);
