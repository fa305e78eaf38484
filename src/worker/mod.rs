//! `heldar worker`: the reference AI worker, a client of the public contract only (see
//! WORKERS.md). It exchanges its API key for an access token (and again before that expires),
//! leases its share of the tasks, pulls each task's latest frame with the lease's ticket, finds
//! the moving object ([`motion`]), keeps its track id across frames, and posts the detections
//! with the ticket. Every frame is posted, empty ones too, so exits and track timeouts happen.

pub mod motion;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

/// How the worker is started.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// `http://host:port` of the server.
    pub server: String,
    /// The `hak_…` key (role integration, or any role with ai:tasks, ai:frames, ai:ingest).
    pub api_key: String,
    /// This worker's id, stable across restarts.
    pub worker_id: String,
    /// Task types to take (empty: all).
    pub task_types: Vec<String>,
    /// Lease length asked for.
    pub lease_seconds: i32,
}

/// A failure talking to the server.
pub type WorkerError = Box<dyn std::error::Error + Send + Sync>;

/// A bare HTTP/1 client for `http://` servers.
#[derive(Clone)]
struct Client {
    host: String,
    port: u16,
}

struct Reply {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Client {
    fn new(server: &str) -> Result<Client, WorkerError> {
        let url = url::Url::parse(server)?;
        if url.scheme() != "http" {
            return Err(
                "the reference worker speaks plain http:// (put a TLS proxy in front for https)"
                    .into(),
            );
        }
        Ok(Client {
            host: url
                .host_str()
                .ok_or("the server URL has no host")?
                .to_owned(),
            port: url.port_or_known_default().unwrap_or(80),
        })
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Reply, WorkerError> {
        // A stalled server must not stall the loop (renewals, shutdown).
        tokio::time::timeout(REQUEST_TIMEOUT, self.send_now(request))
            .await
            .map_err(|_| format!("no answer in {} s", REQUEST_TIMEOUT.as_secs()))?
    }

    async fn send_now(&self, request: Request<Full<Bytes>>) -> Result<Reply, WorkerError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn graphql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Result<Value, WorkerError> {
        let mut request = Request::post("/graphql")
            .header("host", &self.host)
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = json!({"query": query, "variables": variables}).to_string();
        let reply = self
            .send(request.body(Full::new(Bytes::from(body)))?)
            .await?;
        let value: Value = serde_json::from_slice(&reply.body)?;
        if let Some(errors) = value["errors"].as_array()
            && !errors.is_empty()
        {
            let e = &errors[0];
            return Err(format!(
                "{} ({})",
                e["message"].as_str().unwrap_or("error"),
                e["extensions"]["code"].as_str().unwrap_or("?")
            )
            .into());
        }
        Ok(value["data"].clone())
    }

    async fn get(&self, token: &str, path: &str) -> Result<Reply, WorkerError> {
        let request = Request::get(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        self.send(request).await
    }
}

/// Longest wait for one HTTP exchange with the server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const EXCHANGE: &str =
    "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken expiresAt } }";
const LEASE: &str = "mutation($i: LeaseAiTasksInput!) { leaseAiTasks(input: $i) { leaseId ttlSeconds tasks { frameUrl task { id cameraId taskType fps } } } }";
const RELEASE: &str = "mutation($l: String!) { releaseAiLease(leaseId: $l) }";
const INGEST: &str = "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { accepted duplicate ticketed events } }";

/// A leased task as the worker tracks it.
struct Work {
    camera_id: String,
    task_type: String,
    frame_url: String,
    interval: Duration,
    due: Instant,
    last_captured: Option<String>,
    detector: motion::Detector,
}

/// Where the worker's loop stands: its token, its lease and the tasks it holds.
struct Session {
    token: String,
    token_renew: Instant,
    lease_id: Option<String>,
    lease_renew: Instant,
    work: HashMap<String, Work>,
    backoff: Duration,
}

impl Session {
    /// Exchanges the API key for a token, renewed at two thirds of its lifetime. A refused key
    /// will not get better: an error. Anything else (the server restarting, a timeout) is
    /// retried with backoff.
    async fn refresh_token(
        &mut self,
        client: &Client,
        options: &WorkerOptions,
        now: Instant,
    ) -> Result<(), WorkerError> {
        match client
            .graphql(None, EXCHANGE, json!({"k": options.api_key}))
            .await
        {
            Ok(data) => {
                self.token = data["exchangeApiKey"]["accessToken"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let expires = data["exchangeApiKey"]["expiresAt"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| (t.timestamp() - chrono::Utc::now().timestamp()).max(10))
                    .unwrap_or(60);
                self.token_renew = now + Duration::from_secs((expires as u64 * 2 / 3).max(5));
                self.backoff = Duration::from_secs(1);
                tracing::info!(expires_in = expires, "worker has an access token");
            }
            Err(err) if err.to_string().contains("(UNAUTHENTICATED)") => return Err(err),
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?self.backoff, "cannot exchange the API key; retrying");
                self.token_renew = now + self.backoff;
                self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
            }
        }
        Ok(())
    }

    /// Renews the lease (at a third of what the server granted) and follows its tasks.
    async fn renew_lease(&mut self, client: &Client, options: &WorkerOptions, now: Instant) {
        let types = (!options.task_types.is_empty()).then(|| options.task_types.clone());
        let input = json!({"i": {"workerId": options.worker_id, "taskTypes": types, "ttlSeconds": options.lease_seconds}});
        match client.graphql(Some(&self.token), LEASE, input).await {
            Ok(data) => {
                let lease = &data["leaseAiTasks"];
                self.lease_id = lease["leaseId"].as_str().map(str::to_owned);
                // The server clamps the request: renew at a third of what it granted.
                let granted = lease["ttlSeconds"]
                    .as_u64()
                    .unwrap_or(options.lease_seconds.max(15) as u64);
                self.lease_renew = now + Duration::from_secs((granted / 3).max(5));
                self.follow(lease, now);
            }
            Err(err) => {
                tracing::warn!(error = %err, "lease call failed; retrying");
                self.lease_renew = now + Duration::from_secs(5);
                if err.to_string().contains("(UNAUTHENTICATED)") {
                    self.token_renew = now; // the token was revoked or expired early
                }
            }
        }
    }

    /// Holds exactly the lease's tasks, keeping the state of those it held already (the task
    /// may have changed since: rate, profile).
    fn follow(&mut self, lease: &serde_json::Value, now: Instant) {
        let before = self.work.len();
        let mut held = HashMap::new();
        for t in lease["tasks"].as_array().into_iter().flatten() {
            let id = t["task"]["id"].as_str().unwrap_or_default().to_owned();
            let fps = t["task"]["fps"].as_f64().unwrap_or(1.0).clamp(0.1, 30.0);
            let mut entry = self.work.remove(&id).unwrap_or_else(|| Work {
                camera_id: t["task"]["cameraId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                task_type: t["task"]["taskType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                frame_url: t["frameUrl"].as_str().unwrap_or_default().to_owned(),
                interval: Duration::from_secs_f64(1.0 / fps),
                due: now,
                last_captured: None,
                detector: motion::Detector::default(),
            });
            entry.interval = Duration::from_secs_f64(1.0 / fps);
            if let Some(url) = t["frameUrl"].as_str() {
                entry.frame_url = url.to_owned();
            }
            held.insert(id, entry);
        }
        let (dropped, kept) = (self.work.len(), before - self.work.len());
        if dropped > 0 || held.len() > kept {
            tracing::info!(tasks = held.len(), "worker's lease changed");
        }
        self.work = held;
    }

    /// Pulls, detects and posts every task whose frame is due.
    async fn step_due(&mut self, client: &Client) {
        for (task_id, w) in self.work.iter_mut() {
            if Instant::now() < w.due {
                continue;
            }
            w.due = Instant::now() + w.interval;
            if let Err(err) = step(client, &self.token, task_id, w).await {
                tracing::warn!(task = %task_id, error = %err, "frame step failed");
            }
        }
    }

    /// When the loop next has something to do.
    fn next_due(&self) -> Instant {
        self.work
            .values()
            .map(|w| w.due)
            .chain([self.lease_renew, self.token_renew])
            .min()
            .unwrap_or(self.lease_renew)
    }
}

/// Runs until `stop` resolves; then releases the lease.
pub async fn run(
    options: WorkerOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), WorkerError> {
    let client = Client::new(&options.server)?;
    let mut stop = std::pin::pin!(stop);
    let mut session = Session {
        token: String::new(),
        token_renew: Instant::now(),
        lease_id: None,
        lease_renew: Instant::now(),
        work: HashMap::new(),
        backoff: Duration::from_secs(1),
    };
    loop {
        let now = Instant::now();
        if now >= session.token_renew {
            session.refresh_token(&client, &options, now).await?;
        }
        if session.token.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep_until(session.token_renew.into()) => continue,
                _ = &mut stop => return Ok(()),
            }
        }
        if now >= session.lease_renew {
            session.renew_lease(&client, &options, now).await;
        }
        session.step_due(&client).await;
        tokio::select! {
            _ = tokio::time::sleep_until(session.next_due().into()) => {}
            _ = &mut stop => break,
        }
    }
    if let Some(id) = session.lease_id {
        let _ = client
            .graphql(Some(&session.token), RELEASE, json!({"l": id}))
            .await;
        tracing::info!("worker released its lease");
    }
    Ok(())
}

/// One frame of one task: pull, detect, post.
async fn step(
    client: &Client,
    token: &str,
    task_id: &str,
    w: &mut Work,
) -> Result<(), WorkerError> {
    let reply = client.get(token, &w.frame_url).await?;
    if reply.status == 404 {
        return Ok(()); // no frame yet
    }
    if reply.status != 200 {
        return Err(format!("frame pull answered {}", reply.status).into());
    }
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let captured = header("x-frame-captured-at").ok_or("frame without x-frame-captured-at")?;
    if w.last_captured.as_deref() == Some(captured.as_str()) {
        return Ok(()); // the same frame again
    }
    w.last_captured = Some(captured.clone());
    let image = motion::decode(&reply.body)?;
    let found = w.detector.detect(&image);
    let ticket = header("x-frame-ticket");
    let frame_id = header("x-frame-id").unwrap_or_else(|| format!("{task_id}-{captured}"));
    let detections: Vec<Value> = found
        .iter()
        .map(|f| {
            json!({"label": "motion", "confidence": f.confidence, "trackId": f.track_id,
                   "bbox": {"x": f.x, "y": f.y, "w": f.w, "h": f.h}})
        })
        .collect();
    let data = client
        .graphql(
            Some(token),
            INGEST,
            json!({"i": {"cameraId": w.camera_id, "taskType": w.task_type, "frameId": frame_id,
                   "capturedAt": captured, "frameTicket": ticket, "detections": detections}}),
        )
        .await?;
    tracing::debug!(task = task_id, receipt = %data["ingestDetections"], "posted a frame");
    Ok(())
}
