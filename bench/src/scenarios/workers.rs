//! `workers`: the frame sampler's decode cost, frame pulls with tickets, and capture-to-event
//! latency with the reference worker.

use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::harness::client::{admin_token, api_key, exchange, gql};
use crate::harness::server::{ADMIN_PASSWORD, start_server};
use crate::harness::stats::{percentile, process_cpu_seconds};
use crate::harness::ws::subscribe_ws;
use crate::{BenchError, Options};

/// Runs ffmpeg with `args` for `seconds`; returns the CPU seconds it used.
pub(crate) async fn ffmpeg_cpu(args: &[String], seconds: u64) -> Result<f64, BenchError> {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("ffmpeg exited at once")?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = process_cpu_seconds(pid);
    child.kill().await?;
    Ok(cpu)
}

/// The worker contract: sampler CPU per granted frame, frame-pull latency, and the latency from
/// a frame's capture to the zone event it causes reaching a subscriber, with the reference worker.
pub(crate) async fn workers(options: &Options) -> Result<String, BenchError> {
    let dir = std::env::temp_dir().join(format!("heldar-bench-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // 1. Sampler cost over a 1280×720 25 fps H.264 file, as a camera's stream would be.
    let source = dir.join("source.mp4");
    let made = tokio::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25",
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&source)
        .status()
        .await?;
    if !made.success() {
        return Err("ffmpeg could not make the test stream".into());
    }
    let url = format!("file://{}", source.display());
    let run_for = options.seconds.max(5);
    let mut decode_only = heldar::fleet::ffmpeg::input_args(&url);
    decode_only.splice(0..0, ["-nostdin", "-loglevel", "error"].map(String::from));
    decode_only.extend(["-an", "-f", "null", "-"].map(String::from));
    let baseline = ffmpeg_cpu(&decode_only, run_for).await? / run_for as f64;
    println!(
        "decoding 1280x720 at 25 fps alone: {:.1}% of a core",
        baseline * 100.0
    );
    let mut sampler_rows = String::new();
    for width in [640, 1280] {
        for fps in [1.0, 5.0, 10.0] {
            let out = dir.join(format!("latest_{width}_{fps}.jpg"));
            let args = heldar::fleet::ffmpeg::sample_args(
                &url,
                heldar::fleet::ffmpeg::Pictures::Copied,
                fps,
                width,
                &out,
            );
            let cpu = ffmpeg_cpu(&args, run_for).await? / run_for as f64;
            let extra = (cpu - baseline).max(0.0);
            println!(
                "sampler {width} px at {fps} fps: {:.1}% of a core ({:.1} ms per frame above decoding)",
                cpu * 100.0,
                extra * 1000.0 / fps
            );
            sampler_rows.push_str(&format!(
                "| {width} | {fps} | {:.1} % | {:.1} ms |\n",
                cpu * 100.0,
                extra * 1000.0 / fps
            ));
        }
    }

    // 2 and 3: a server with the demo scene, a motion task and a zone; the reference worker.
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("HELDAR_ALLOW_LOCAL_SOURCES", "true".to_owned()),
        ("HELDAR_INGEST_PROVENANCE", "enforce".to_owned()),
        ("HELDAR_RATE_LIMIT_PER_SEC", "100000000".to_owned()),
        ("HELDAR_RATE_LIMIT_BURST", "100000000".to_owned()),
    ])?;
    let port = server.port;
    let admin = admin_token(port).await?;
    let scene = heldar::demo::DEMO_SOURCE.replace("horizontal=0.005", "horizontal=0.02");
    gql(port, Some(&admin), "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        serde_json::json!({"i": {"id": "demo", "name": "demo", "streamUrl": scene, "recordEnabled": false}})).await?;
    gql(port, Some(&admin), "mutation { createZone(input: {cameraId: \"demo\", name: \"middle\", confirmFrames: 1, points: [{x: 0.35, y: 0}, {x: 0.65, y: 0}, {x: 0.65, y: 1}, {x: 0.35, y: 1}]}) { id } }", serde_json::json!({})).await?;
    gql(port, Some(&admin), "mutation { createAiTask(input: {cameraId: \"demo\", taskType: \"motion\", fps: 5, width: 640}) { id } }", serde_json::json!({})).await?;
    let key = api_key(port, &admin, "worker").await?;
    let token = exchange(port, &key).await?;
    let lease = gql(port, Some(&token), "mutation { leaseAiTasks(input: {workerId: \"bench-pull\", ttlSeconds: 120}) { leaseId tasks { frameUrl } } }", serde_json::json!({})).await?;
    let frame_url = lease["leaseAiTasks"]["tasks"][0]["frameUrl"]
        .as_str()
        .ok_or("no task leased")?
        .to_owned();
    let lease_id = lease["leaseAiTasks"]["leaseId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Frame pulls over one keep-alive connection, with the ticket.
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let waited = Instant::now();
    let mut pulls = Vec::new();
    let mut bytes = 0usize;
    while pulls.len() < 500 {
        let request = Request::get(frame_url.as_str())
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let ticketed = response.headers().contains_key("x-frame-ticket");
        let body = response.into_body().collect().await?.to_bytes();
        if status == 404 {
            if waited.elapsed() > Duration::from_secs(20) {
                return Err("the sampler produced no frame in 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if !status.is_success() || !ticketed {
            return Err(format!("frame pull answered {status} (ticket: {ticketed})").into());
        }
        bytes = body.len();
        pulls.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let pull_p50 = percentile(&mut pulls, 0.5);
    let pull_p99 = percentile(&mut pulls, 0.99);
    println!("frame pull with ticket ({bytes} bytes): p50 {pull_p50:.2} ms, p99 {pull_p99:.2} ms");
    gql(
        port,
        Some(&token),
        "mutation($l: String!) { releaseAiLease(leaseId: $l) }",
        serde_json::json!({"l": lease_id}),
    )
    .await?;

    // Capture to subscriber: the worker runs here; a subscriber watches the zone's events.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = subscribe_ws(
        port,
        &admin,
        "subscription { perceptionEvents(filter: {kinds: [\"ZONE_ENTER\", \"ZONE_EXIT\"]}) { kind payload } }",
    )
    .await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(heldar::worker::run(
        heldar::worker::WorkerOptions {
            server: format!("http://127.0.0.1:{port}"),
            api_key: key,
            worker_id: "bench-worker".into(),
            task_types: vec!["motion".into()],
            lease_seconds: 60,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let watch = Duration::from_secs(options.seconds.max(30));
    let until = tokio::time::Instant::now() + watch;
    let mut latencies = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, ws.next()).await {
        let received = chrono::Utc::now().timestamp_millis();
        let Message::Text(text) = message else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(text.as_str())?;
        if value["type"] == "ping" {
            ws.send(Message::text(r#"{"type":"pong"}"#)).await?;
            continue;
        }
        let event = &value["payload"]["data"]["perceptionEvents"];
        let captured = event["payload"]["frameId"]
            .as_str()
            .and_then(|f| f.rsplit(':').next())
            .and_then(|ms| ms.parse::<i64>().ok());
        if let (Some(kind), Some(captured)) = (event["kind"].as_str(), captured) {
            *kinds.entry(kind.to_owned()).or_default() += 1;
            latencies.push((received - captured) as f64);
        }
    }
    let _ = stop_tx.send(());
    let _ = worker.await;
    let events = latencies.len();
    if events == 0 {
        return Err("the worker produced no zone event".into());
    }
    let e2e_p50 = percentile(&mut latencies, 0.5);
    let e2e_max = latencies.iter().copied().fold(0.0, f64::max);
    println!(
        "capture to subscriber over {events} zone events {kinds:?}: p50 {e2e_p50:.0} ms, max {e2e_max:.0} ms"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "**Sampler cost.** The sampler's own ffmpeg command (`sampler::ffmpeg_args`) over a 1280×720, 25 fps H.264 stream \
         (a file played in real time, as a camera delivers it), {run_for} s per row, CPU from `/proc`. Decoding that stream \
         alone costs {:.1} % of a core: it is paid once per sampler whatever rate is granted.\n\n\
         | width | granted fps | CPU (of one core) | CPU per granted frame above decoding |\n|---|---|---|---|\n{sampler_rows}\n\
         **Frame pull.** 500 pulls of the demo camera's latest 640-px frame ({bytes} bytes) over one keep-alive connection by the \
         lease holder, each answered with a fresh ticket: p50 {pull_p50:.2} ms, p99 {pull_p99:.2} ms.\n\n\
         **Capture to subscriber.** The demo scene (the box crossing every 5 s), a motion task at 5 fps and 640 px, a zone across \
         the middle, the reference worker (`heldar::worker::run`, in the load generator) and one websocket subscriber, for {} s. \
         Latency is the subscriber's receive time minus the frame's capture time (from the event's frame id): {events} zone events \
         ({kinds:?}), p50 {e2e_p50:.0} ms, max {e2e_max:.0} ms. It includes waiting for the worker's next pull (up to 200 ms at 5 fps).",
        baseline * 100.0,
        watch.as_secs(),
    ))
}
