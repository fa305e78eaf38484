//! `integrations`: webhook delivery rate to one local receiver, ingest-to-receipt delay at
//! 100 events/s across 10 webhooks with ingest throughput beside it, MQTT publish delay through
//! a real Mosquitto, and server memory per idle SSE subscriber.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::harness::client::{admin_token, gql, worker_token};
use crate::harness::server::{ADMIN_PASSWORD, start_server};
use crate::harness::stats::{median, percentile, rss_kib};
use crate::scenarios::perception::{INGEST_DOC, batch, ingest_loop};
use crate::{BenchError, Options};

/// What the receiver got: (path, frame id of the event, when).
type Log = Arc<Mutex<Vec<(String, String, Instant)>>>;

/// An HTTP receiver answering 204 to everything, recording each delivery.
async fn receiver() -> Result<(u16, Log), BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let log: Log = Arc::default();
    let sink = log.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: Bytes| {
        let sink = sink.clone();
        async move {
            let at = Instant::now();
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let frame = value["data"]["payload"]["frameId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Ok(mut log) = sink.lock() {
                log.push((uri.path().to_owned(), frame, at));
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((port, log))
}

fn logged(log: &Log) -> usize {
    log.lock().map(|l| l.len()).unwrap_or(0)
}

async fn create_webhook(
    port: u16,
    admin: &str,
    url: &str,
    from_now: bool,
) -> Result<(), BenchError> {
    gql(
        port,
        Some(admin),
        "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }",
        serde_json::json!({"i": {"url": url, "fromNow": from_now}}),
    )
    .await?;
    Ok(())
}

/// Ingest with `workers` connections for `seconds`: detections/s.
async fn ingest_rate(
    port: u16,
    token: &str,
    workers: usize,
    seconds: u64,
    tag: usize,
) -> Result<f64, BenchError> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(ingest_loop(port, token.to_owned(), w + 1000 * tag, until)))
        .collect();
    let mut batches = 0usize;
    for t in tasks {
        let (latencies, errors) = t.await??;
        if errors > 0 {
            return Err(format!("{errors} ingest errors").into());
        }
        batches += latencies.len();
    }
    Ok(batches as f64 * 10.0 / started.elapsed().as_secs_f64())
}

/// Posts one batch that moves the tracked object across the zone every 10 ms for `seconds`;
/// when each frame was sent.
async fn paced_events(port: u16, token: &str, seconds: u64, tag: &str) -> HashMap<String, Instant> {
    let mut sent = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut calls = Vec::new();
    for i in 0..(100 * seconds as usize) {
        ticker.tick().await;
        let frame = format!("{tag}-{i}");
        let body = batch(&frame, 1, i % 2 == 0);
        sent.insert(frame, Instant::now());
        let token = token.to_owned();
        calls.push(tokio::spawn(async move {
            let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            gql(port, Some(&token), INGEST_DOC, value["variables"].clone())
                .await
                .ok()
        }));
    }
    for call in calls {
        let _ = call.await;
    }
    sent
}

fn delays(sent: &HashMap<String, Instant>, got: &[(String, Instant)]) -> (f64, f64, usize) {
    let mut ms: Vec<f64> = got
        .iter()
        .filter_map(|(frame, at)| {
            sent.get(frame)
                .map(|s| at.saturating_duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect();
    let n = ms.len();
    (percentile(&mut ms, 0.5), percentile(&mut ms, 0.99), n)
}

#[expect(
    clippy::too_many_lines,
    reason = "one scenario, four measurements in sequence"
)]
pub(crate) async fn integrations(options: &Options) -> Result<String, BenchError> {
    let mqtt_port = 1883;
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("HELDAR_RATE_LIMIT_PER_SEC", "100000000".to_owned()),
        ("HELDAR_RATE_LIMIT_BURST", "100000000".to_owned()),
        ("HELDAR_WS_MAX_SOCKETS_PER_CREDENTIAL", "2000".to_owned()),
        ("HELDAR_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1".to_owned()),
        ("HELDAR_WEBHOOK_CONCURRENCY", "16".to_owned()),
        ("HELDAR_MQTT_URL", format!("mqtt://127.0.0.1:{mqtt_port}")),
    ])?;
    let port = server.port;
    let admin = admin_token(port).await?;
    gql(port, Some(&admin), "mutation { createCamera(input: {id: \"bench\", name: \"bench\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }", serde_json::json!({})).await?;
    gql(port, Some(&admin), "mutation { createZone(input: {cameraId: \"bench\", name: \"right\", confirmFrames: 1, points: [{x: 0.5, y: 0}, {x: 1, y: 0}, {x: 1, y: 1}, {x: 0.5, y: 1}]}) { id } }", serde_json::json!({})).await?;
    let worker = worker_token(port, &admin, "worker").await?;
    let (rport, log) = receiver().await?;

    // 1. Ingest alone, then a backlog of events replayed to one webhook.
    let mut alone = Vec::new();
    for round in 0..options.rounds {
        alone.push(ingest_rate(port, &worker, 8, options.seconds, round).await?);
    }
    let ingest_alone = median(&mut alone);
    let backlog = gql(
        port,
        Some(&admin),
        "{ perceptionEvents(first: 1, order: NEWEST_FIRST) { totalCount } }",
        serde_json::json!({}),
    )
    .await?["perceptionEvents"]["totalCount"]
        .as_u64()
        .unwrap_or(0) as usize;
    let started = Instant::now();
    create_webhook(
        port,
        &admin,
        &format!("http://127.0.0.1:{rport}/backlog"),
        false,
    )
    .await?;
    while logged(&log) < backlog && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replay_rate = logged(&log) as f64 / started.elapsed().as_secs_f64();
    println!(
        "webhook replay: {} of {backlog} events in {:.2} s: {replay_rate:.0} deliveries/s",
        logged(&log),
        started.elapsed().as_secs_f64()
    );

    // 2. Ten more webhooks on new events; ingest beside them; then 100 events/s paced.
    for i in 0..10 {
        create_webhook(
            port,
            &admin,
            &format!("http://127.0.0.1:{rport}/h{i}"),
            true,
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut beside = Vec::new();
    for round in 0..options.rounds {
        beside.push(ingest_rate(port, &worker, 8, options.seconds, 100 + round).await?);
    }
    let ingest_beside = median(&mut beside);
    println!("ingest: {ingest_alone:.0} detections/s alone, {ingest_beside:.0} with 11 webhooks");
    // Let the webhooks drain what that ingest made before the paced run.
    let mut settled = 0;
    for _ in 0..600 {
        let now = logged(&log);
        if now == settled {
            break;
        }
        settled = now;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // MQTT subscriber on the bench camera's events.
    let mut mqtt_options = MqttOptions::new(
        format!("bench-{}", std::process::id()),
        "127.0.0.1",
        mqtt_port,
    );
    mqtt_options.set_keep_alive(Duration::from_secs(10));
    let (mqtt, mut eventloop) = AsyncClient::new(mqtt_options, 100);
    mqtt.subscribe("heldar/bench/events", QoS::AtLeastOnce)
        .await?;
    let mqtt_log: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let sink = mqtt_log.clone();
    let mqtt_task = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = Instant::now();
                    let v: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    if let (Some(frame), Ok(mut log)) =
                        (v["payload"]["frameId"].as_str(), sink.lock())
                    {
                        log.push((frame.to_owned(), at));
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mark = logged(&log);
    let sent = paced_events(port, &worker, options.seconds, "paced").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    mqtt_task.abort();
    let hooks: Vec<(String, Instant)> = log
        .lock()
        .map(|l| {
            l[mark..]
                .iter()
                .filter(|(p, _, _)| p.starts_with("/h"))
                .map(|(_, f, a)| (f.clone(), *a))
                .collect()
        })
        .unwrap_or_default();
    let (hook_p50, hook_p99, hook_n) = delays(&sent, &hooks);
    let mqtt_got = mqtt_log.lock().map(|l| l.clone()).unwrap_or_default();
    let (mqtt_p50, mqtt_p99, mqtt_n) = delays(&sent, &mqtt_got);
    println!(
        "webhooks: {hook_n} deliveries, ingest call to receipt p50 {hook_p50:.1} ms, p99 {hook_p99:.1} ms"
    );
    println!(
        "mqtt: {mqtt_n} messages, ingest call to receipt p50 {mqtt_p50:.1} ms, p99 {mqtt_p99:.1} ms"
    );

    // 4. Memory per idle SSE subscriber.
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let streams = 1000;
    let mut held = Vec::new();
    for _ in 0..streams {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let body = serde_json::json!({"query": "subscription { perceptionEvents(filter: {cameraIds: [\"bench\"]}) { seq } }"}).to_string();
        let request = hyper::Request::post("/graphql/stream")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .header("authorization", format!("Bearer {admin}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        if response.status() != 200 {
            return Err(format!("SSE stream refused: {}", response.status()).into());
        }
        held.push((sender, response));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    let per_stream = after.saturating_sub(before) as f64 * 1024.0 / streams as f64 / 1000.0;
    println!(
        "RSS {before} KiB -> {after} KiB with {streams} idle SSE streams: {per_stream:.1} KB each"
    );
    drop(held);

    Ok(format!(
        "A release server on SQLite, one camera with one zone, the load on the other core. \
         Webhooks go to one HTTP receiver in the load process (answers 204); MQTT goes to the machine's Mosquitto (127.0.0.1:{mqtt_port}) \
         with a subscriber in the load process. {} s per run, median of {} runs.\n\n\
         | measure | value | target |\n|---|---|---|\n\
         | webhook deliveries/s, one webhook replaying a backlog of {backlog} events | {replay_rate:.0} | ≥ 1,000 |\n\
         | ingest, 8 workers × batches of 10, no webhooks | {ingest_alone:.0} detections/s | |\n\
         | the same with 11 webhooks and MQTT following every event | {ingest_beside:.0} detections/s | unchanged, ≥ 10,000 |\n\
         | ingest call to webhook receipt at 100 events/s across 10 webhooks, p50 ({hook_n} deliveries) | {hook_p50:.1} ms | |\n\
         | the same, p99 | {hook_p99:.1} ms | ≤ 100 ms |\n\
         | ingest call to MQTT receipt, p50 ({mqtt_n} messages) | {mqtt_p50:.1} ms | |\n\
         | the same, p99 | {mqtt_p99:.1} ms | ≤ 50 ms |\n\
         | server memory per idle SSE subscriber (RSS growth / {streams}) | {per_stream:.1} KB | ≤ 64 KB |",
        options.seconds, options.rounds,
    ))
}
