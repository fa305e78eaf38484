//! `perception`: ingest throughput, delivery to 10,000 websocket subscribers, and memory per
//! idle subscription.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::harness::client::{admin_token, gql, worker_token};
use crate::harness::load::memchr_errors;
use crate::harness::server::{ADMIN_PASSWORD, start_server};
use crate::harness::stats::{median, percentile, rss_kib};
use crate::harness::ws::subscriber;
use crate::{BenchError, Options};

pub(crate) const INGEST_DOC: &str =
    "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }";

/// A batch of `n` detections for camera `bench`; track `t0` alternates inside and outside the
/// zone by `flip`.
pub(crate) fn batch(frame: &str, n: usize, flip: bool) -> String {
    batch_for("bench", frame, n, flip)
}

/// [`batch`] for `camera`.
pub(crate) fn batch_for(camera: &str, frame: &str, n: usize, flip: bool) -> String {
    let detections: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let x = if i == 0 {
                if flip { 0.7 } else { 0.1 }
            } else {
                0.05 + 0.08 * (i % 10) as f64
            };
            serde_json::json!({"label": "person", "confidence": 0.9, "trackId": format!("t{i}"),
                "bbox": {"x": x, "y": 0.3, "w": 0.05, "h": 0.2}})
        })
        .collect();
    serde_json::json!({"query": INGEST_DOC, "variables": {"i": {"cameraId": camera, "taskType": "detect", "frameId": frame,
        "capturedAt": chrono::Utc::now().to_rfc3339(), "detections": detections}}}).to_string()
}

/// Posts batches of 10 with unique frame ids until `until`; latencies in µs.
pub(crate) async fn ingest_loop(
    port: u16,
    token: String,
    worker: usize,
    until: Instant,
) -> Result<(Vec<u32>, u64), BenchError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let (mut latencies, mut errors, mut i) = (Vec::new(), 0u64, 0usize);
    while Instant::now() < until {
        i += 1;
        let body = batch(
            &format!("w{worker}-{i}-{}", std::process::id()),
            10,
            i % 2 == 0,
        );
        let request = Request::post("/graphql")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        let bytes = response.into_body().collect().await?.to_bytes();
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        if !ok || memchr_errors(&bytes) {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

pub(crate) async fn perception(options: &Options) -> Result<String, BenchError> {
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        // The limit is checked on every operation (its cost is measured) but set above
        // the load this scenario drives from one credential.
        ("HELDAR_RATE_LIMIT_PER_SEC", "100000000".to_owned()),
        ("HELDAR_RATE_LIMIT_BURST", "100000000".to_owned()),
        // The subscribers below share one token.
        (
            "HELDAR_WS_MAX_SOCKETS_PER_CREDENTIAL",
            (options.subscribers * 2).to_string(),
        ),
    ])?;
    let port = server.port;
    let admin = admin_token(port).await?;
    gql(port, Some(&admin), "mutation { createCamera(input: {id: \"bench\", name: \"bench\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }", serde_json::json!({})).await?;
    gql(port, Some(&admin), "mutation { createZone(input: {cameraId: \"bench\", name: \"right\", confirmFrames: 1, points: [{x: 0.5, y: 0}, {x: 1, y: 0}, {x: 1, y: 1}, {x: 0.5, y: 1}]}) { id } }", serde_json::json!({})).await?;
    let worker = worker_token(port, &admin, "worker").await?;

    // Ingest throughput, batches of 10, 8 and 32 concurrent workers.
    let mut rows = String::new();
    for workers in [8usize, 32] {
        let mut runs = Vec::new();
        for _ in 0..options.rounds {
            let until = Instant::now() + Duration::from_secs(options.seconds);
            let started = Instant::now();
            let tasks: Vec<_> = (0..workers)
                .map(|w| {
                    tokio::spawn(ingest_loop(
                        port,
                        worker.clone(),
                        w + 1000 * runs.len(),
                        until,
                    ))
                })
                .collect();
            let (mut latencies, mut errors) = (Vec::new(), 0);
            for t in tasks {
                let (l, e) = t.await??;
                latencies.extend(l);
                errors += e;
            }
            if errors > 0 {
                return Err(format!("{errors} ingest errors").into());
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort_unstable();
            let pick = |q: f64| {
                latencies
                    .get(((latencies.len() as f64 - 1.0) * q) as usize)
                    .copied()
                    .unwrap_or(0) as f64
                    / 1000.0
            };
            runs.push((
                latencies.len() as f64 * 10.0 / elapsed,
                pick(0.5),
                pick(0.99),
            ));
        }
        let m =
            |f: fn(&(f64, f64, f64)) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        println!(
            "ingest, {workers} workers: {:.0} detections/s, p50 {:.2} ms, p99 {:.2} ms",
            m(|r| r.0),
            m(|r| r.1),
            m(|r| r.2)
        );
        rows.push_str(&format!(
            "| SQLite | {workers} | {:.0} | {:.2} ms | {:.2} ms |\n",
            m(|r| r.0),
            m(|r| r.1),
            m(|r| r.2)
        ));
    }

    // The same ingest as users post it: GraphQL JSON over HTTP from wrk, a separate process.
    let pid = server.child.id();
    let http_rows =
        crate::scenarios::perception_http::http_mode(port, pid, &worker, options).await?;

    // The subscribers: memory per idle subscription, then delivery latency at 100 events/s.
    let delivery = delivery(port, server.child.id(), &admin, &worker, options).await?;
    Ok(format!(
        "A release server on SQLite; one camera with one zone; workers post batches of 10 detections through `ingestDetections` over keep-alive HTTP \
         (unique frame ids, so every batch commits an outbox row, 10 detections and runs the zone engine), {} s per run, median of {} runs.\n\n\
         | backend | workers | detections/s | commit p50 | commit p99 |\n|---|---|---|---|---|\n{rows}\n\
         The same batches posted by `wrk` (Lua body script: a fresh frame id per request), {} s per run, median of {} runs; \
         server CPU is its user + system time over the run divided by the batches committed:\n\n{http_rows}\n{delivery}",
        options.seconds, options.rounds, options.seconds, options.rounds,
    ))
}

/// `options.subscribers` websocket subscribers, 100 per camera (each subscribes to its camera's
/// `perceptionEvents`, as a camera page does), all opened before any event: the server's RSS
/// growth per idle subscription. Then 100 events/s for `options.seconds`, the batches round
/// robin over the cameras (each moves one track across its camera's zone), and the delay from
/// each ingest call's start to each subscriber's receipt of its event.
async fn delivery(
    port: u16,
    pid: u32,
    admin: &str,
    worker: &str,
    options: &Options,
) -> Result<String, BenchError> {
    let subscribers = options.subscribers.max(1);
    let cameras = subscribers.div_ceil(100);
    for c in 0..cameras {
        let id = format!("sub{c}");
        gql(port, Some(admin), &format!("mutation {{ createCamera(input: {{id: \"{id}\", name: \"{id}\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}}) {{ id }} }}"), serde_json::json!({})).await?;
        gql(port, Some(admin), &format!("mutation {{ createZone(input: {{cameraId: \"{id}\", name: \"right\", confirmFrames: 1, points: [{{x: 0.5, y: 0}}, {{x: 1, y: 0}}, {{x: 1, y: 1}}, {{x: 0.5, y: 1}}]}}) {{ id }} }}"), serde_json::json!({})).await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for s in 0..subscribers {
        handles.push(tokio::spawn(subscriber(
            port,
            admin.to_owned(),
            format!("sub{}", s % cameras),
            ready_tx.clone(),
            out_tx.clone(),
            stop_rx.clone(),
        )));
        // Connections opened in waves, as browsers arrive, not one SYN flood.
        if s % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for _ in 0..subscribers {
        ready_rx
            .recv()
            .await
            .ok_or("a subscriber failed to start")?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    let per_subscription = (after.saturating_sub(before)) as f64 * 1024.0 / subscribers as f64;
    println!(
        "RSS {before} KiB -> {after} KiB with {subscribers} idle subscriptions: {:.1} KB each",
        per_subscription / 1000.0
    );
    let mut sent = std::collections::HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let events = 100 * options.seconds as usize;
    let mut calls = Vec::new();
    for i in 0..events {
        ticker.tick().await;
        let frame = format!("lat-{i}");
        let camera = format!("sub{}", i % cameras);
        // Each camera's track crosses its zone on every batch of that camera.
        let body = batch_for(&camera, &frame, 1, (i / cameras).is_multiple_of(2));
        sent.insert(frame, Instant::now());
        let token = worker.to_owned();
        calls.push(tokio::spawn(async move {
            let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            gql(port, Some(&token), INGEST_DOC, value["variables"].clone())
                .await
                .map(|v| v["ingestDetections"]["events"].as_u64().unwrap_or(0))
                .map_err(|e| e.to_string())
        }));
    }
    let (mut produced, mut failed) = (0u64, Vec::new());
    for call in calls {
        match call.await {
            Ok(Ok(n)) => produced += n,
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !failed.is_empty() {
        println!("{} ingest calls failed, first: {}", failed.len(), failed[0]);
    }
    println!("{produced} events produced by {events} batches");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    drop(out_tx);
    for h in handles {
        let _ = h.await;
    }
    let mut latencies = Vec::new();
    while let Ok((frame, at)) = out_rx.try_recv() {
        if let Some(sent_at) = sent.get(&frame) {
            latencies.push(at.saturating_duration_since(*sent_at).as_secs_f64() * 1000.0);
        }
    }
    let delivered = latencies.len();
    let expected = produced as usize * subscribers / cameras;
    let p50 = percentile(&mut latencies, 0.5);
    let p99 = percentile(&mut latencies, 0.99);
    println!(
        "delivery to {subscribers} subscribers: {delivered} messages of {expected} expected, p50 {p50:.1} ms, p99 {p99:.1} ms"
    );
    Ok(format!(
        "{subscribers} websocket subscribers, 100 per camera over {cameras} cameras (each subscribed to its camera's `perceptionEvents`), \
         all clients on the load core; then ingest at 100 events/s for {} s, round robin over the cameras (each batch moves its camera's track across the zone), \
         so {} deliveries a second. Delay from the start of each ingest call to each subscriber's receipt:\n\n\
         | measure | value | target |\n|---|---|---|\n\
         | delivered (events produced × that camera's subscribers; {events} batches, {} failed calls) | {delivered} of {expected} | all |\n\
         | delivery p50 | {p50:.1} ms | |\n\
         | delivery p99 | {p99:.1} ms | ≤ 100 ms |\n\
         | server memory per idle subscription (RSS growth / {subscribers}) | {:.1} KB | ≤ 16 KB |",
        options.seconds,
        100 * subscribers / cameras,
        failed.len(),
        per_subscription / 1000.0,
    ))
}
