//! The perception scenario's HTTP mode: `ingestDetections` posted as ordinary GraphQL JSON by
//! `wrk` (a separate load tool process, on the load core), 8 and 32 connections, batches of 10
//! detections with unique frame ids; detections/s, latency, and the server's CPU per batch. The
//! raw axum route (`POST /bench/echo`) is driven by the same tool for scale.

use std::path::Path;

use crate::harness::stats::{median, process_cpu_seconds};
use crate::{BenchError, Options};

/// wrk's script for ingest (bench/lua/ingest.lua, shared with bench/profile-ingest).
const SCRIPT: &str = include_str!("../../lua/ingest.lua");

/// wrk's script for the raw route.
const RAW_SCRIPT: &str = include_str!("../../lua/raw.lua");

/// What both scripts end with: the result line.
const DONE: &str = include_str!("../../lua/done.lua");

/// One wrk run; its JSON line.
async fn wrk(
    port: u16,
    path: &str,
    script: &Path,
    connections: usize,
    seconds: u64,
    args: &[&str],
) -> Result<serde_json::Value, BenchError> {
    let output = tokio::process::Command::new("wrk")
        .args(["-t", "1", "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--timeout", "5s", "-s"])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .arg("--")
        .args(args)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with('{'))
        .ok_or_else(|| format!("wrk printed no result: {stdout}"))?;
    let result: serde_json::Value = serde_json::from_str(line)?;
    if result["non2xx"].as_u64() != Some(0) || result["socket"].as_u64() != Some(0) {
        return Err(format!("wrk saw errors: {result}").into());
    }
    Ok(result)
}

/// The table rows of the HTTP mode (or why it was skipped).
pub(crate) async fn http_mode(
    port: u16,
    pid: u32,
    token: &str,
    options: &Options,
) -> Result<String, BenchError> {
    let present = tokio::process::Command::new("wrk")
        .arg("--version")
        .output()
        .await
        .is_ok();
    if !present {
        return Ok("HTTP mode skipped: `wrk` is missing (`apt-get install wrk`).\n".to_owned());
    }
    let dir = std::env::temp_dir().join(format!("heldar-bench-wrk-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (ingest, raw) = (dir.join("ingest.lua"), dir.join("raw.lua"));
    std::fs::write(&ingest, format!("{SCRIPT}{DONE}"))?;
    std::fs::write(&raw, format!("{RAW_SCRIPT}{DONE}"))?;
    let mut rows = String::from(
        "| load (wrk, 1 thread) | connections | detections/s (batches/s) | p50 | p99 | server CPU per batch | raw route, same tool |\n|---|---|---|---|---|---|---|\n",
    );
    for connections in [8usize, 32] {
        let mut runs = Vec::new();
        for round in 0..options.rounds {
            let run = format!("h{connections}r{round}p{}", std::process::id());
            let cpu = process_cpu_seconds(pid);
            let r = wrk(
                port,
                "/graphql",
                &ingest,
                connections,
                options.seconds,
                &[token, &run],
            )
            .await?;
            let cpu = process_cpu_seconds(pid) - cpu;
            let batches = r["requests"].as_f64().unwrap_or(0.0);
            let rate = batches / r["seconds"].as_f64().unwrap_or(1.0);
            let raw_run = wrk(port, "/bench/echo", &raw, connections, options.seconds, &[]).await?;
            let raw_rate = raw_run["requests"].as_f64().unwrap_or(0.0)
                / raw_run["seconds"].as_f64().unwrap_or(1.0);
            runs.push([
                rate * 10.0,
                rate,
                r["p50"].as_f64().unwrap_or(f64::NAN) / 1000.0,
                r["p99"].as_f64().unwrap_or(f64::NAN) / 1000.0,
                cpu * 1000.0 / batches.max(1.0),
                raw_rate,
            ]);
            println!(
                "wrk ingest, {connections} connections: {:.0} detections/s, p50 {:.2} ms, p99 {:.2} ms, {:.3} ms CPU per batch; raw route {raw_rate:.0} rps",
                rate * 10.0,
                r["p50"].as_f64().unwrap_or(0.0) / 1000.0,
                r["p99"].as_f64().unwrap_or(0.0) / 1000.0,
                cpu * 1000.0 / batches.max(1.0),
            );
        }
        let m = |i: usize| median(&mut runs.iter().map(|r| r[i]).collect::<Vec<_>>());
        rows.push_str(&format!(
            "| GraphQL JSON over HTTP/1.1 keep-alive | {connections} | {:.0} ({:.0}) | {:.2} ms | {:.2} ms | {:.3} ms | {:.0} requests/s |\n",
            m(0),
            m(1),
            m(2),
            m(3),
            m(4),
            m(5)
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
