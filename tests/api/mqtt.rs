//! MQTT against a real Mosquitto: events on `heldar/<camera>/events`, occupancy retained,
//! Home Assistant discovery retained, availability with a last will, and a broker restart in
//! the middle that loses no event.

use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::helpers::broker::{self, Broker, Subscriber};
use crate::helpers::process::{admin_token, call, fresh_database, start_server_env};
use crate::helpers::{Backend, TestApp};

async fn camera_with_zone(app: &TestApp) -> String {
    app.camera("c1", "Front door").await;
    app.whole_frame_zone("c1", "porch", "INFO").await
}

async fn enter(app: &TestApp, track: &str) {
    app.person_in_frame("c1", &format!("f-{track}"), track)
        .await;
}

async fn events_occupancy_and_discovery_reach_the_broker(backend: Backend) {
    if !broker::available() {
        return;
    }
    let broker = Broker::start().await;
    let url = broker.url();
    let app = TestApp::spawn_with(backend, |c| c.mqtt_url = Some(url)).await;
    let zone = camera_with_zone(&app).await;
    let live = Subscriber::connect(broker.port, None).await;
    // (Discovery is announced on each connection; the restart test below checks it.)
    enter(&app, "t1").await;
    let event = live
        .wait_for("heldar/c1/events", |m| m.json()["kind"] == "ZONE_ENTER")
        .await;
    assert!(!event.retain);
    let body = event.json();
    assert_eq!(body["cameraId"], "c1");
    assert_eq!(body["zoneId"], zone.as_str());
    assert_eq!(body["label"], "person");
    let occupancy_topic = format!("heldar/c1/{zone}/occupancy");
    live.wait_for(&occupancy_topic, |m| m.json()["count"] == 1)
        .await;
    live.wait_for("heldar/c1/availability", |m| m.text() == "online")
        .await;

    // A subscriber arriving later gets the retained state, and no old event.
    let late = Subscriber::connect(broker.port, None).await;
    let occupied = late
        .wait_for(&occupancy_topic, |m| m.json()["count"] == 1)
        .await;
    assert!(occupied.retain);
    assert_eq!(occupied.json()["occupied"], true);
    let online = late.wait_for("heldar/availability", |_| true).await;
    assert!(online.retain);
    assert_eq!(online.text(), "online");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        late.messages()
            .iter()
            .all(|m| !m.topic.ends_with("/events")),
        "events are not retained"
    );
}
both!(events_occupancy_and_discovery_reach_the_broker);

/// A site of 220 cameras announces some 440 retained topics when it connects, more than the
/// client's queue holds at once: they go out through the window and events still flow. While
/// connected, discovery follows a zone added, and a deleted zone's retained topics are cleared.
async fn hundreds_of_cameras_are_announced_and_discovery_follows_changes(backend: Backend) {
    if !broker::available() {
        return;
    }
    let mut broker = Broker::start().await;
    let url = broker.url();
    let app = TestApp::spawn_with(backend, |c| c.mqtt_url = Some(url)).await;
    // The cameras appear while the broker is away, so the reconnect announces them all at once.
    broker.down();
    for n in 0..220 {
        app.camera(&format!("cam{n}"), &format!("Camera {n}")).await;
    }
    let zone = camera_with_zone(&app).await;
    broker.up().await;
    let live = Subscriber::connect(broker.port, None).await;
    live.wait_for_within(
        "homeassistant/sensor/heldar_cam219_last_event/config",
        Duration::from_secs(40),
        |m| m.retain || !m.payload.is_empty(),
    )
    .await;
    let porch = format!("homeassistant/binary_sensor/heldar_{zone}/config");
    live.wait_for(&porch, |m| !m.payload.is_empty()).await;
    enter(&app, "t1").await;
    live.wait_for("heldar/c1/events", |m| m.json()["kind"] == "ZONE_ENTER")
        .await;

    // Connected: a new zone is announced, a deleted one cleared (an empty retained message).
    let side = app.whole_frame_zone("cam7", "side", "INFO").await;
    let side_config = format!("homeassistant/binary_sensor/heldar_{side}/config");
    let announced = live.wait_for(&side_config, |m| !m.payload.is_empty()).await;
    assert_eq!(
        announced.json()["device"]["identifiers"],
        json!(["heldar_cam7"])
    );
    app.gql(
        "mutation($id: ID!) { deleteZone(id: $id) }",
        json!({"id": side}),
        app.admin(),
    )
    .await;
    live.wait_for(&side_config, |m| m.payload.is_empty()).await;
    live.wait_for(&format!("heldar/cam7/{side}/occupancy"), |m| {
        m.payload.is_empty()
    })
    .await;
    // A late subscriber gets the porch's config, retained, and nothing for the deleted zone.
    let late = Subscriber::connect(broker.port, None).await;
    late.wait_for(&porch, |m| m.retain).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        late.messages().iter().all(|m| m.topic != side_config),
        "the deleted zone's discovery is gone"
    );
}
both!(hundreds_of_cameras_are_announced_and_discovery_follows_changes);

async fn a_broker_restart_loses_no_event_and_discovery_and_the_last_will_work(backend: Backend) {
    if !broker::available() {
        return;
    }
    let mut broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database(&backend).await;
    let url = broker.url();
    let env = [("HELDAR_MQTT_URL", url.as_str())];
    let (mut server, addr, _) = start_server_env(dir.path(), database.as_deref(), &env);
    let http = reqwest::Client::new();
    let token = admin_token(&http, &addr).await;
    let sweep = "mutation { runRetention { deletedSegments } }";
    call(
        &http,
        &addr,
        Some(&token),
        "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        json!({"i": {"id": "c1", "name": "Front door", "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}}),
    )
    .await;
    let zone = call(
        &http,
        &addr,
        Some(&token),
        "mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }",
        json!({"i": {"cameraId": "c1", "name": "porch",
            "points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]}}),
    )
    .await["createZone"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A subscriber with a persistent session: the broker keeps its messages across the restart.
    let subscriber = Subscriber::connect(broker.port, Some("heldar-test-persistent")).await;
    call(&http, &addr, Some(&token), sweep, json!({})).await;
    subscriber
        .wait_for("heldar/events", |m| m.json()["kind"] == "RETENTION_SWEEP")
        .await;
    drop(subscriber);

    // The broker goes away; three events happen meanwhile; it comes back.
    broker.down();
    for _ in 0..3 {
        call(&http, &addr, Some(&token), sweep, json!({})).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.up().await;
    let subscriber = Subscriber::connect(broker.port, Some("heldar-test-persistent")).await;
    let stored = call(
        &http,
        &addr,
        Some(&token),
        "{ perceptionEvents(filter: {kinds: [RETENTION_SWEEP]}) { edges { node { seq } } } }",
        json!({}),
    )
    .await;
    let want: Vec<i64> = stored["perceptionEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(want.len(), 4);
    let mut got = Vec::new();
    for _ in 0..300 {
        got = subscriber
            .messages()
            .iter()
            .filter(|m| m.topic == "heldar/events")
            .map(|m| m.json()["seq"].as_i64().unwrap())
            .collect();
        got.sort_unstable();
        got.dedup();
        if want[1..].iter().all(|s| got.contains(s)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        want[1..].iter().all(|s| got.contains(s)),
        "events during the outage arrive after it: want {want:?}, got {got:?}"
    );

    // Discovery (retained, published on every connection): the zone as an occupancy sensor of
    // the camera's device.
    let fresh = Subscriber::connect(broker.port, None).await;
    let config = fresh
        .wait_for(
            &format!("homeassistant/binary_sensor/heldar_{zone}/config"),
            |_| true,
        )
        .await;
    assert!(config.retain);
    let config = config.json();
    assert_eq!(config["device_class"], "occupancy");
    assert_eq!(config["state_topic"], format!("heldar/c1/{zone}/occupancy"));
    assert_eq!(config["device"]["identifiers"], json!(["heldar_c1"]));
    assert_eq!(config["device"]["name"], "Front door");
    let camera = fresh
        .wait_for("homeassistant/sensor/heldar_c1_last_event/config", |_| true)
        .await;
    assert_eq!(camera.json()["state_topic"], "heldar/c1/events");

    // The server dies without a goodbye: its last will says offline.
    fresh
        .wait_for("heldar/availability", |m| m.text() == "online")
        .await;
    server.kill().unwrap();
    fresh
        .wait_for("heldar/availability", |m| m.text() == "offline")
        .await;
}
both!(a_broker_restart_loses_no_event_and_discovery_and_the_last_will_work);

/// An `mqtts://` broker with its own certificate authority: with that CA the events arrive
/// over TLS; a server that does not trust it, or that reaches it by a name its certificate does
/// not carry, publishes nothing there; a CA file that holds no certificate, or one given with a
/// plain `mqtt://` URL, stops the server at start, naming the setting.
async fn a_tls_broker_is_reached_through_its_own_ca(backend: Backend) {
    if !broker::available() {
        return;
    }
    let broker = Broker::start_tls().await;
    let url = format!("mqtts://localhost:{}", broker.tls_port.unwrap());
    let (tls_url, ca) = (url.clone(), broker.ca_file());
    let app = TestApp::spawn_with(backend.clone(), |c| {
        c.mqtt_url = Some(tls_url);
        c.mqtt_ca_file = Some(ca);
    })
    .await;
    camera_with_zone(&app).await;
    let live = Subscriber::connect(broker.port, None).await;
    enter(&app, "t1").await;
    live.wait_for("heldar/c1/events", |m| m.json()["kind"] == "ZONE_ENTER")
        .await;

    // The Mozilla roots do not include the test CA; the certificate names localhost only. Either
    // way the certificate is refused (the same server and broker as above, but for that one
    // setting, publish at once: availability and discovery on connecting).
    for (host, trusted) in [("localhost", false), ("127.0.0.1", true)] {
        let refused = Broker::start_tls().await;
        let url = format!("mqtts://{host}:{}", refused.tls_port.unwrap());
        let ca = trusted.then(|| refused.ca_file());
        let other = TestApp::spawn_with(backend.clone(), |c| {
            c.mqtt_url = Some(url);
            c.mqtt_ca_file = ca;
        })
        .await;
        let watching = Subscriber::connect(refused.port, None).await;
        camera_with_zone(&other).await;
        enter(&other, "t1").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            watching.messages().is_empty(),
            "nothing reaches {host} over TLS: {:?}",
            watching.messages()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let mut config = heldar::config::Config::for_tests(dir.path());
    config.mqtt_url = Some(format!("mqtts://localhost:{}", broker.tls_port.unwrap()));
    config.mqtt_ca_file = Some(empty);
    let refused = config.validate().unwrap_err().to_string();
    assert!(
        refused.contains("HELDAR_MQTT_CA_FILE") && refused.contains("holds no certificate"),
        "{refused}"
    );
    config.mqtt_url = Some(broker.url());
    config.mqtt_ca_file = Some(broker.ca_file());
    let refused = config.validate().unwrap_err().to_string();
    assert!(
        refused.contains("HELDAR_MQTT_CA_FILE") && refused.contains("no TLS"),
        "{refused}"
    );
}
both!(a_tls_broker_is_reached_through_its_own_ca);
