//! Webhooks against a real HTTP receiver: Standard Webhooks signatures (and both during a
//! rotation), order, the owner's scope, retries with growing waits, the failing mark, the
//! address policy, a slow receiver that does not slow ingest, and a restart in the middle of a
//! receiver outage that loses and duplicates nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::helpers::Backend;
use crate::helpers::TestApp;
use crate::helpers::process::{
    admin_token, call, fresh_database, start_server_env, stop_gracefully,
};
use crate::helpers::receiver::{Answer, Receiver, verifies};

const CREATE: &str = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url state ownerId kinds cameraIds } } }";
const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(webhookId: $id, first: 50) { totalCount edges { node { eventId attempt status ok latencyMs error responsePrefix } } } }";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqr";

async fn camera_with_zone(app: &TestApp, id: &str) {
    app.camera(id, id).await;
    app.whole_frame_zone(id, "all", "WARNING").await;
}

/// One frame with a new track inside the zone: its ZONE_ENTER (and the exit of the track before).
async fn enter(app: &TestApp, camera: &str, track: &str) {
    let events = app
        .person_in_frame(camera, &format!("{camera}-{track}"), track)
        .await;
    assert!(events >= 1, "{events}");
}

/// Signs in to the server process at `addr` as the admin and creates a webhook of retention
/// sweeps to `url`; the admin's token.
async fn sweep_webhook(http: &reqwest::Client, addr: &str, url: &str) -> String {
    let token = admin_token(http, addr).await;
    call(
        http,
        addr,
        Some(&token),
        CREATE,
        json!({"i": {"url": url, "kinds": ["RETENTION_SWEEP"]}}),
    )
    .await;
    token
}

fn allow_loopback(app_config: &mut heldar::config::Config) {
    app_config.webhook_allowed_hosts = vec!["127.0.0.1".into()];
}

async fn deliveries_are_signed_in_order_and_see_only_the_owners_cameras(backend: Backend) {
    let app = TestApp::spawn_with(backend, allow_loopback).await;
    camera_with_zone(&app, "c1").await;
    camera_with_zone(&app, "c2").await;
    let receiver = Receiver::start().await;
    let (_, _, manager) = app.api_key("manager", Some(vec!["c1"])).await;
    let (code, _) = app
        .gql_err(
            CREATE,
            json!({"i": {"url": receiver.url, "cameraIds": ["c2"]}}),
            Some(&manager),
        )
        .await;
    assert_eq!(code, "FORBIDDEN", "a camera outside the manager's scope");
    let created = app
        .gql(
            CREATE,
            json!({"i": {"url": receiver.url, "kinds": ["ZONE_ENTER"], "secret": SECRET}}),
            Some(&manager),
        )
        .await["createWebhook"]
        .clone();
    assert_eq!(created["secret"], SECRET);
    assert_eq!(created["webhook"]["state"], "ACTIVE");
    assert_eq!(created["webhook"]["kinds"], json!(["ZONE_ENTER"]));
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();

    for track in ["t1", "t2", "t3"] {
        enter(&app, "c1", track).await;
        enter(&app, "c2", track).await;
    }
    let got = receiver.wait_accepted(3, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got().len(), 3, "c2 is outside the owner's scope");
    let mut last = 0;
    for r in &got {
        assert!(verifies(SECRET, r), "signature of {}", r.id);
        let body = r.json();
        assert_eq!(body["type"], "event.ZONE_ENTER");
        assert_eq!(body["data"]["cameraId"], "c1");
        let seq = body["data"]["seq"].as_i64().unwrap();
        assert_eq!(r.id, format!("evt_{seq}"));
        assert!(seq > last, "in sequence order");
        last = seq;
        let age = chrono::Utc::now().timestamp() - r.timestamp;
        assert!((0..60).contains(&age), "timestamp is now: {age}");
    }
    let log =
        crate::helpers::eventually(Duration::from_secs(5), "three attempts logged", || async {
            let log = app.gql(DELIVERIES, json!({"id": id}), Some(&manager)).await;
            (log["webhookDeliveries"]["totalCount"] == 3).then_some(log)
        })
        .await;
    for edge in log["webhookDeliveries"]["edges"].as_array().unwrap() {
        let d = &edge["node"];
        assert_eq!(
            (d["ok"].clone(), d["status"].clone(), d["attempt"].clone()),
            (json!(true), json!(200), json!(1))
        );
        assert_eq!(d["responsePrefix"], "answer 200");
    }
    // Another manager neither lists it nor reads its log; the admin sees it.
    let (_, _, other) = app.api_key("manager", None).await;
    let listed = app
        .gql("{ webhooks { id } }", json!({}), Some(&other))
        .await;
    assert_eq!(listed["webhooks"], json!([]));
    let (code, _) = app
        .gql_err(DELIVERIES, json!({"id": id}), Some(&other))
        .await;
    assert_eq!(code, "NOT_FOUND");
    let listed = app
        .gql("{ webhooks { id ownerId } }", json!({}), app.admin())
        .await;
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());

    // Rotation with an overlap: both secrets sign; without one, only the new.
    let rotate = "mutation($id: ID!, $o: Int!) { rotateWebhookSecret(id: $id, overlapSeconds: $o) { secret webhook { previousSecretUntil } } }";
    let rotated = app
        .gql(rotate, json!({"id": id, "o": 60}), Some(&manager))
        .await["rotateWebhookSecret"]
        .clone();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != SECRET);
    assert!(rotated["webhook"]["previousSecretUntil"].is_string());
    enter(&app, "c1", "t4").await;
    let got = receiver.wait_accepted(4, Duration::from_secs(20)).await;
    assert!(verifies(SECRET, &got[3]) && verifies(&new_secret, &got[3]));
    let newest = app
        .gql(rotate, json!({"id": id, "o": 0}), Some(&manager))
        .await["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    enter(&app, "c1", "t5").await;
    let got = receiver.wait_accepted(5, Duration::from_secs(20)).await;
    assert!(verifies(&newest, &got[4]) && !verifies(&new_secret, &got[4]));
    assert_eq!(receiver.got().len(), 5, "nothing was delivered twice");
}
both!(deliveries_are_signed_in_order_and_see_only_the_owners_cameras);

/// An owner's key revoked with no signal to this instance (another instance's write to the
/// shared database, or a key reaching its expiry) stops the deliveries within seconds, even
/// while events keep the worker busy.
async fn a_busy_webhook_stops_when_its_owner_is_revoked_elsewhere(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = TestApp::spawn_with(backend, allow_loopback).await;
    camera_with_zone(&app, "c1").await;
    let receiver = Receiver::start().await;
    let (key_id, _, manager) = app.api_key("manager", None).await;
    app.gql(
        CREATE,
        json!({"i": {"url": receiver.url, "kinds": ["ZONE_ENTER"]}}),
        Some(&manager),
    )
    .await;
    let busy = |from: usize, until: Instant| {
        let app = &app;
        async move {
            let mut n = from;
            while Instant::now() < until {
                enter(app, "c1", &format!("t{n}")).await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            n
        }
    };
    let n = busy(0, Instant::now() + Duration::from_secs(1)).await;
    receiver.wait_accepted(1, Duration::from_secs(10)).await;

    entity::api_key::Entity::update_many()
        .col_expr(
            entity::api_key::Column::RevokedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(entity::api_key::Column::Id.eq(key_id))
        .exec(&app.state.db)
        .await
        .unwrap();
    // Events every 250 ms for 7 s: the worker reads the owner again within 5 s.
    let n = busy(n, Instant::now() + Duration::from_secs(7)).await;
    let delivered = receiver.got().len();
    busy(n, Instant::now() + Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.got().len(),
        delivered,
        "nothing delivered once the owner's key is revoked"
    );
}
both!(a_busy_webhook_stops_when_its_owner_is_revoked_elsewhere);

/// A proxy named in the server's environment is not used for deliveries: it would resolve and
/// reach the receiver itself, past the address checks.
async fn a_proxy_in_the_environment_is_not_used_for_deliveries(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&backend).await;
    let receiver = Receiver::start().await;
    let proxy = Receiver::start().await;
    let proxy_url = url::Url::parse(&proxy.url)
        .unwrap()
        .origin()
        .ascii_serialization();
    let env = [
        ("HELDAR_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ("HTTP_PROXY", proxy_url.as_str()),
        ("http_proxy", proxy_url.as_str()),
        ("ALL_PROXY", proxy_url.as_str()),
    ];
    let http = reqwest::Client::new();
    let (_server, addr, _) = start_server_env(dir.path(), database.as_deref(), &env);
    let token = sweep_webhook(&http, &addr, &receiver.url).await;
    let sweep = "mutation { runRetention { deletedSegments } }";
    call(&http, &addr, Some(&token), sweep, json!({})).await;
    receiver.wait_accepted(1, Duration::from_secs(20)).await;
    assert!(proxy.got().is_empty(), "nothing went through the proxy");
}
both!(a_proxy_in_the_environment_is_not_used_for_deliveries);

async fn a_failing_receiver_gets_growing_retries_and_is_marked_failing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        allow_loopback(c);
        c.webhook_backoff_ms = 200;
        c.webhook_max_backoff_secs = 10;
        c.webhook_retry_window_secs = 1;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script(vec![
        Answer::Redirect("http://127.0.0.1:1/elsewhere".into()),
        Answer::Status(500),
        Answer::Status(500),
        Answer::Status(503),
        Answer::Status(500),
    ]);
    let id = app
        .gql(
            CREATE,
            json!({"i": {"url": receiver.url, "kinds": ["RETENTION_SWEEP"]}}),
            app.admin(),
        )
        .await["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        "mutation { runRetention { deletedSegments } }",
        json!({}),
        app.admin(),
    )
    .await;
    let state = |app: &TestApp, id: String| {
        let app_http = app.http.clone();
        let addr = app.addr.clone();
        let token = app.token.clone();
        async move {
            call(
                &app_http,
                &addr,
                Some(&token),
                "{ webhooks { id state failingSince } }",
                json!({}),
            )
            .await["webhooks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["id"] == id.as_str())
                .cloned()
                .unwrap()
        }
    };
    crate::helpers::eventually(Duration::from_secs(10), "retrying", || async {
        (state(&app, id.clone()).await["state"] == "RETRYING").then_some(())
    })
    .await;
    receiver.wait_accepted(1, Duration::from_secs(30)).await;
    let got = receiver.got();
    assert_eq!(got.len(), 6, "five refusals, then the delivery");
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "the same event each time"
    );
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    for pair in gaps.windows(2) {
        assert!(
            pair[1] + Duration::from_millis(40) >= pair[0],
            "waits never shrink: {gaps:?}"
        );
    }
    assert!(gaps[4] >= gaps[0] * 4, "waits grow: {gaps:?}");
    // The log is saved within 200 ms of the delivery.
    let nodes: Vec<Value> =
        crate::helpers::eventually(Duration::from_secs(5), "six attempts logged", || async {
            let log = app.gql(DELIVERIES, json!({"id": id}), app.admin()).await;
            let nodes: Vec<Value> = log["webhookDeliveries"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .collect();
            (nodes.len() == 6).then_some(nodes)
        })
        .await;
    let attempts: Vec<(i64, i64, bool)> = nodes
        .iter()
        .map(|n| {
            (
                n["attempt"].as_i64().unwrap(),
                n["status"].as_i64().unwrap(),
                n["ok"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (6, 200, true),
            (5, 500, false),
            (4, 503, false),
            (3, 500, false),
            (2, 500, false),
            (1, 302, false)
        ],
        "newest first"
    );
    assert!(
        nodes[5]["error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{}",
        nodes[5]
    );
    // It failed for longer than the 1 s window: an event says so; the success cleared it.
    let failing = app
        .gql("{ perceptionEvents(filter: {kinds: [WEBHOOK_FAILING]}) { edges { node { severity payload } } } }", json!({}), app.admin())
        .await;
    let node = &failing["perceptionEvents"]["edges"][0]["node"];
    assert_eq!(node["payload"]["webhookId"], id.as_str(), "{failing}");
    assert_eq!(node["severity"], "WARNING");
    crate::helpers::eventually(Duration::from_secs(10), "active again", || async {
        let w = state(&app, id.clone()).await;
        (w["state"] == "ACTIVE" && w["failingSince"].is_null()).then_some(())
    })
    .await;
}
both!(a_failing_receiver_gets_growing_retries_and_is_marked_failing);

async fn private_receivers_are_refused_without_the_allow_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (url, field) in [
        ("http://127.0.0.1:9/hook", "input.url"),
        ("http://localhost:9/hook", "input.url"),
        ("http://169.254.169.254/latest/meta-data", "input.url"),
        ("http://10.1.2.3/hook", "input.url"),
        ("http://[::1]:9/hook", "input.url"),
        ("http://[::ffff:127.0.0.1]:9/hook", "input.url"),
        ("ftp://example.com/hook", "input.url"),
        ("https://user:pw@example.com/hook", "input.url"),
    ] {
        let (_, body) = app
            .post(CREATE, json!({"i": {"url": url}}), app.admin())
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{url}: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{url}");
    }
    let (_, body) = app
        .post(
            CREATE,
            json!({"i": {"url": "http://127.0.0.1:9/hook", "secret": "not-a-secret"}}),
            app.admin(),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.secret");
    let (_, body) = app
        .post(
            CREATE,
            json!({"i": {"url": "http://127.0.0.1:9/hook", "kinds": []}}),
            app.admin(),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.kinds");
    let listed = app.gql("{ webhooks { id } }", json!({}), app.admin()).await;
    assert_eq!(listed["webhooks"], json!([]), "nothing was created");
}
both!(private_receivers_are_refused_without_the_allow_list);

async fn a_slow_receiver_does_not_slow_ingest(backend: Backend) {
    let app = TestApp::spawn_with(backend, allow_loopback).await;
    camera_with_zone(&app, "c1").await;
    let receiver = Receiver::start().await;
    receiver.fallback(Answer::Slow(Duration::from_secs(4)));
    app.gql(
        CREATE,
        json!({"i": {"url": receiver.url, "kinds": ["ZONE_ENTER"]}}),
        app.admin(),
    )
    .await;
    enter(&app, "c1", "warm").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The receiver is now holding the first delivery for 4 s; ingest goes on meanwhile.
    let started = Instant::now();
    for i in 0..20 {
        enter(&app, "c1", &format!("t{i}")).await;
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "20 batches took {took:?} behind a receiver that answers in 4 s"
    );
    assert!(
        receiver.got().is_empty(),
        "the first delivery is still being answered"
    );
}
both!(a_slow_receiver_does_not_slow_ingest);

/// A receiver that hangs does not hold up a change to its webhook: the worker stuck in the
/// delivery stops at once, the update answers in well under the delivery timeout, and the
/// event goes to the new receiver.
async fn a_hanging_receiver_does_not_hold_up_a_change_to_its_webhook(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        allow_loopback(c);
        c.webhook_timeout_secs = 60;
    })
    .await;
    let hanging = Receiver::start().await;
    hanging.fallback(Answer::Slow(Duration::from_secs(120)));
    let created = app
        .gql(
            CREATE,
            json!({"i": {"url": hanging.url, "kinds": ["RETENTION_SWEEP"]}}),
            app.admin(),
        )
        .await;
    let id = created["createWebhook"]["webhook"]["id"].clone();
    app.gql(
        "mutation { runRetention { deletedSegments } }",
        json!({}),
        app.admin(),
    )
    .await;
    let held =
        crate::helpers::eventually(Duration::from_secs(10), "the delivery hanging", || async {
            hanging.arrivals().first().cloned()
        })
        .await;

    let answering = Receiver::start().await;
    let started = Instant::now();
    app.gql(
        "mutation($id: ID!, $i: UpdateWebhookInput!) { updateWebhook(id: $id, input: $i) { id } }",
        json!({"id": id, "i": {"url": answering.url}}),
        app.admin(),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the update waited {:?} for the hanging delivery",
        started.elapsed()
    );
    let got = answering.wait_accepted(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].json()["type"], "event.RETENTION_SWEEP");
    assert_eq!(got[0].id, held, "the same event, the same id");
}
both!(a_hanging_receiver_does_not_hold_up_a_change_to_its_webhook);

async fn a_restart_during_a_receiver_outage_loses_and_duplicates_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&backend).await;
    let receiver = Receiver::start().await;
    let env = [
        ("HELDAR_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ("HELDAR_WEBHOOK_BACKOFF_MS", "50"),
        ("HELDAR_WEBHOOK_MAX_BACKOFF_SECS", "1"),
    ];
    let http = reqwest::Client::new();
    let sweep = "mutation { runRetention { deletedSegments } }";
    let (mut server, addr, _) = start_server_env(dir.path(), database.as_deref(), &env);
    let token = sweep_webhook(&http, &addr, &receiver.url).await;
    for _ in 0..3 {
        call(&http, &addr, Some(&token), sweep, json!({})).await;
    }
    receiver.wait_accepted(3, Duration::from_secs(20)).await;
    // The receiver goes down (503s); three more events wait.
    receiver.fallback(Answer::Status(503));
    for _ in 0..3 {
        call(&http, &addr, Some(&token), sweep, json!({})).await;
    }
    crate::helpers::eventually(
        Duration::from_secs(10),
        "retries during the outage",
        || async { (receiver.got().len() >= 5).then_some(()) },
    )
    .await;
    stop_gracefully(&mut server);
    drop(server);
    // The receiver comes back; a new server process picks up where the old one stopped.
    receiver.fallback(Answer::Status(204));
    let (_server, addr, _) = start_server_env(dir.path(), database.as_deref(), &env);
    let token = admin_token(&http, &addr).await;
    for _ in 0..2 {
        call(&http, &addr, Some(&token), sweep, json!({})).await;
    }
    let accepted = receiver.wait_accepted(8, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let accepted_ids: Vec<String> = receiver.accepted().into_iter().map(|r| r.id).collect();
    assert_eq!(
        accepted_ids.len(),
        8,
        "no acknowledged event came twice: {accepted_ids:?}"
    );
    let seqs: Vec<i64> = accepted
        .iter()
        .map(|r| r.json()["data"]["seq"].as_i64().unwrap())
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(seqs, sorted, "in order, each once");
    let stored = call(
        &http,
        &addr,
        Some(&token),
        "{ perceptionEvents(filter: {kinds: [RETENTION_SWEEP]}, first: 50) { edges { node { seq } } } }",
        json!({}),
    )
    .await;
    let all: Vec<i64> = stored["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, all, "every event was delivered");
}
both!(a_restart_during_a_receiver_outage_loses_and_duplicates_nothing);

/// Stores `secret` as webhook `id`'s signing secret, as an older server or another key would
/// have, and makes the delivery worker pick the row up again.
async fn store_secret(app: &TestApp, id: &str, secret: String) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    entity::webhook::Entity::update_many()
        .col_expr(entity::webhook::Column::Secret, Expr::value(secret))
        .col_expr(
            entity::webhook::Column::UpdatedAt,
            Expr::value(chrono::Utc::now()),
        )
        .filter(entity::webhook::Column::Id.eq(id))
        .exec(&app.state.db)
        .await
        .unwrap();
    app.state.webhooks.changed.notify_one();
}

/// The signing secret as stored.
async fn stored_secret(app: &TestApp, id: &str) -> String {
    use sea_orm::EntityTrait;
    entity::webhook::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .secret
}

/// Signing secrets are sealed in the database (a copy of it signs nothing) and still sign every
/// delivery; a secret stored in the clear by an older server is sealed at start-up; one sealed
/// under another token secret fails its deliveries with a reason until it is rotated.
async fn signing_secrets_are_sealed_at_rest(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        allow_loopback(c);
        c.webhook_backoff_ms = 200;
        c.webhook_max_backoff_secs = 1;
    })
    .await;
    let receiver = Receiver::start().await;
    let created = app
        .gql(
            CREATE,
            json!({"i": {"url": receiver.url, "kinds": ["RETENTION_SWEEP"], "secret": SECRET}}),
            app.admin(),
        )
        .await["createWebhook"]
        .clone();
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    let key = SECRET.trim_start_matches("whsec_");
    let stored = stored_secret(&app, &id).await;
    assert!(
        stored.starts_with("sealed1:") && !stored.contains(key),
        "{stored}"
    );
    let sweep = || async {
        app.gql(
            "mutation { runRetention { deletedSegments } }",
            json!({}),
            app.admin(),
        )
        .await;
    };
    sweep().await;
    let got = receiver.wait_accepted(1, Duration::from_secs(20)).await;
    assert!(
        verifies(SECRET, &got[0]),
        "signed with the secret it was given"
    );

    // A row from before sealing holds the secret in the clear: start-up seals it.
    store_secret(&app, &id, SECRET.to_owned()).await;
    let sealed = heldar::webhooks::sealing::seal_stored(&app.state)
        .await
        .unwrap();
    assert_eq!(sealed, 1);
    let stored = stored_secret(&app, &id).await;
    assert!(
        stored.starts_with("sealed1:") && !stored.contains(key),
        "{stored}"
    );
    assert_eq!(
        heldar::webhooks::sealing::seal_stored(&app.state)
            .await
            .unwrap(),
        0,
        "nothing is sealed twice"
    );
    store_secret(&app, &id, stored).await;
    sweep().await;
    // (A worker restarted by the changed row may deliver the first event again: at least once.)
    let first = got[0].id.clone();
    let second = arrival(&receiver, |r| r.id != first).await;
    assert!(verifies(SECRET, &second));

    // Sealed under another token secret (the server's was changed): deliveries fail and say
    // what to do; a rotated secret delivers the event.
    let other = heldar::webhooks::sealing::SecretBox::new(b"another token secret, 32 bytes long");
    store_secret(&app, &id, other.seal(&id, SECRET)).await;
    sweep().await;
    let failed =
        crate::helpers::eventually(Duration::from_secs(20), "a failed attempt", || async {
            let log = app.gql(DELIVERIES, json!({"id": id}), app.admin()).await;
            log["webhookDeliveries"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .find(|n| n["ok"] == false)
        })
        .await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("set a new one with rotateWebhookSecret"),
        "{failed}"
    );
    let sent = receiver.got();
    assert!(
        sent.iter()
            .all(|r| verifies(SECRET, r) && (r.id == first || r.id == second.id)),
        "nothing else was sent"
    );
    const NEW: &str = "whsec_c2Vjb25kIHNlY3JldCBvZiB0d2VudHktZm91ciBieXRlcw==";
    let rotated = app
        .gql(
            "mutation($id: ID!, $s: String) { rotateWebhookSecret(id: $id, secret: $s, overlapSeconds: 0) { secret } }",
            json!({"id": id, "s": NEW}),
            app.admin(),
        )
        .await;
    assert_eq!(rotated["rotateWebhookSecret"]["secret"], NEW);
    let third = arrival(&receiver, |r| r.id != first && r.id != second.id).await;
    assert!(verifies(NEW, &third), "signed with the rotated secret");
}

/// The first delivery the receiver accepted that `wanted` picks, waiting up to 20 s.
async fn arrival(
    receiver: &Receiver,
    wanted: impl Fn(&crate::helpers::receiver::Received) -> bool,
) -> crate::helpers::receiver::Received {
    crate::helpers::eventually(Duration::from_secs(20), "a delivery", || async {
        receiver.accepted().into_iter().find(|r| wanted(r))
    })
    .await
}
both!(signing_secrets_are_sealed_at_rest);
