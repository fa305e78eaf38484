//! The HTTP load loop: keep-alive connections posting one body as fast as they can, with
//! every response checked, latencies kept, and throughput counted.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::BenchError;
use crate::Options;

/// Figures of one load run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Run {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) errors: u64,
    /// Responses received.
    pub(crate) requests: u64,
}

pub(crate) async fn connection_loop(
    port: u16,
    path: &'static str,
    body: Bytes,
    token: Option<String>,
    until: Instant,
) -> Result<(Vec<u32>, u64), BenchError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut latencies = Vec::with_capacity(100_000);
    let mut errors = 0u64;
    while Instant::now() < until {
        let mut request = Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json");
        if let Some(token) = &token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body.clone()))?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        // Validate bodies: a fast stream of errors is not throughput.
        if !status.is_success() || memchr_errors(&bytes) {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

pub(crate) fn memchr_errors(body: &[u8]) -> bool {
    body.windows(9).any(|w| w == b"\"errors\":")
}

pub(crate) async fn load(
    port: u16,
    path: &'static str,
    body: &str,
    token: Option<String>,
    options: &Options,
) -> Result<Run, BenchError> {
    // Warm up briefly so connection set-up and lazy initialisation are not measured.
    let warm = Instant::now() + Duration::from_millis(500);
    connection_loop(
        port,
        path,
        Bytes::from(body.to_owned()),
        token.clone(),
        warm,
    )
    .await?;
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        tasks.push(tokio::spawn(connection_loop(
            port,
            path,
            Bytes::from(body.to_owned()),
            token.clone(),
            until,
        )));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await??;
        latencies.extend(l);
        errors += e;
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
    Ok(Run {
        rps: latencies.len() as f64 / elapsed,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        errors,
        requests: latencies.len() as u64,
    })
}
