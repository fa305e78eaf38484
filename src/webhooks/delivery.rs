//! Delivering the event log to webhooks: one worker per webhook, in sequence order, with a
//! durable cursor; a supervisor that leases webhooks to this instance and restarts a worker when
//! its webhook changes; an HTTP client that follows no redirect and connects only to addresses
//! the policy allows, checked on every connection (so DNS cannot be rebound past it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::{event, webhook, webhook_delivery};
use sea_orm::Set;
use tokio::sync::{Notify, Semaphore, watch};

use crate::error::AppError;
use crate::events::model::{EventKind, NewEvent, Severity};
use crate::state::AppState;
use crate::webhooks::model::{self, AllowList};
use crate::webhooks::sealing::SecretBox;
use crate::webhooks::store::{self, Progress};

/// Events read per query while catching up.
const PAGE: u64 = 100;
/// Flush progress at least this often while delivering.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// ... or after this many attempts.
const FLUSH_AFTER: usize = 200;
/// A delivery lease lasts this long unless renewed.
const LEASE: Duration = Duration::from_secs(30);
/// Bytes of a receiver's answer kept in the delivery log.
const PREFIX_BYTES: usize = 256;

/// The webhook machinery shared by resolvers and the supervisor.
#[derive(Debug)]
pub struct Webhooks {
    /// The HTTP client: no redirects, the address policy, timeouts.
    client: reqwest::Client,
    /// Receivers allowed although not public.
    pub allow: Arc<AllowList>,
    /// Deliveries in flight across all webhooks.
    permits: Arc<Semaphore>,
    /// Wakes the supervisor after a webhook changed.
    pub changed: Notify,
    /// Workers running here, by webhook id.
    workers: tokio::sync::Mutex<HashMap<String, Running>>,
    /// Seals the signing secrets stored in the database and opens them to sign.
    pub sealer: SecretBox,
}

#[derive(Debug)]
struct Running {
    updated_at: DateTime<Utc>,
    /// When its lease was last taken or renewed.
    leased: Instant,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    /// Told to stop and not yet finished: no other worker starts for its webhook meanwhile.
    stopping: bool,
}

impl Running {
    /// Tells the worker to stop; it is forgotten once it has finished.
    fn stop(&mut self) {
        let _ = self.stop.send(true);
        self.stopping = true;
    }
}

/// Resolves host names and keeps only the addresses the policy allows.
#[derive(Debug)]
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow.permits(&host, a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "`{host}` resolves to no address webhooks may reach (loopback, private and link-local need HELDAR_WEBHOOK_ALLOWED_HOSTS)"
                )
                .into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Webhooks {
    /// The machinery for these settings; secrets are sealed with a key derived from
    /// `token_secret`.
    pub fn new(
        allowed: &[String],
        timeout: Duration,
        concurrency: usize,
        token_secret: &[u8],
    ) -> Webhooks {
        let allow = Arc::new(AllowList::parse(allowed));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment (HTTP_PROXY, ALL_PROXY) would resolve and reach the
            // receiver itself, past the address checks of the resolver below.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .dns_resolver(Arc::new(GuardedResolver {
                allow: allow.clone(),
            }))
            .user_agent(concat!("heldar-webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(4)
            .build()
            .unwrap_or_default();
        Webhooks {
            client,
            allow,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            changed: Notify::new(),
            workers: Default::default(),
            sealer: SecretBox::new(token_secret),
        }
    }

    /// Checks that a receiver URL may be targeted now: its literal address, or every address its
    /// name resolves to, is public or allow-listed. Errors name `field`.
    pub async fn check_target(&self, field: &str, url: &url::Url) -> Result<(), AppError> {
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| AppError::bad_input(field, format!("`{host}` does not resolve: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(AppError::bad_input(
                field,
                format!("`{host}` does not resolve"),
            ));
        }
        if let Some(bad) = addrs.iter().find(|a| !self.allow.permits(host, a.ip())) {
            return Err(AppError::bad_input(
                field,
                format!(
                    "`{host}` is {}, which webhooks may not reach unless HELDAR_WEBHOOK_ALLOWED_HOSTS lists it",
                    bad.ip()
                ),
            ));
        }
        Ok(())
    }

    /// Runs `change` (a write to webhook `id`) with this instance's worker of it stopped: the
    /// worker has flushed its progress first, so the change is not overwritten by it, and the
    /// supervisor cannot start another from the row as it was before the change (it waits for
    /// the same lock). A worker stops at once, even in the middle of a delivery.
    pub async fn while_stopped<T>(&self, id: &str, change: impl Future<Output = T>) -> T {
        let mut workers = self.workers.lock().await;
        if let Some(running) = workers.remove(id) {
            let _ = running.stop.send(true);
            let _ = running.handle.await;
        }
        let changed = change.await;
        drop(workers);
        changed
    }
}

/// The supervisor: every couple of seconds, and whenever a webhook changes, leases the enabled
/// webhooks nobody else delivers, starts a worker for each, restarts the worker of a webhook that
/// changed, and stops those of webhooks deleted or disabled.
pub async fn run(state: AppState) {
    loop {
        if let Err(err) = reconcile(&state).await {
            tracing::warn!(error = %err, "webhook supervisor pass failed");
        }
        tokio::select! {
            () = state.webhooks.changed.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Stops every local worker (flushing its progress) and gives up the leases.
pub async fn stop_all(state: &AppState) {
    let running: Vec<Running> = state
        .webhooks
        .workers
        .lock()
        .await
        .drain()
        .map(|(_, r)| r)
        .collect();
    for r in &running {
        let _ = r.stop.send(true);
    }
    for r in running {
        let _ = r.handle.await;
    }
    let me = state.ownership.instance_id().to_owned();
    if let Err(err) = store::release_leases(&state.db, &me).await {
        tracing::warn!(error = %err, "could not release webhook leases");
    }
}

async fn reconcile(state: &AppState) -> Result<(), AppError> {
    // The lock is never held across a wait for a worker: a worker in the middle of a delivery
    // must not hold up lease renewals, nor a webhook's update or deletion. The rows are read
    // under it, so none is read before a change that `while_stopped` makes and used after.
    let mut workers = state.webhooks.workers.lock().await;
    let hooks = store::enabled(&state.db).await?;
    let me = state.ownership.instance_id().to_owned();
    let now = state.clock.now();
    let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    workers.retain(|_, r| !(r.stopping && r.handle.is_finished()));
    // Workers whose webhook is gone, disabled, changed or finished are told to stop; one of a
    // changed webhook is started again once the old one has finished.
    for (id, r) in workers.iter_mut() {
        let current = hooks
            .iter()
            .any(|h| &h.id == id && h.updated_at == r.updated_at);
        if !r.stopping && (r.handle.is_finished() || !current) {
            r.stop();
        }
    }
    for hook in hooks {
        if let Some(running) = workers.get_mut(&hook.id) {
            // Renew a third of the way into the lease, not on every pass: each is a write. A
            // stopping worker keeps the lease until it has finished, so no other instance starts
            // the webhook while it may still deliver; a lease lost stops the worker.
            if running.leased.elapsed() >= LEASE / 3 {
                if store::lease(&state.db, &hook.id, &me, now, until).await? {
                    running.leased = Instant::now();
                } else if !running.stopping {
                    tracing::warn!(webhook = %hook.id, "webhook lease lost; stopping its worker");
                    running.stop();
                }
            }
            continue;
        }
        if !store::lease(&state.db, &hook.id, &me, now, until).await? {
            continue; // another instance delivers it
        }
        let (stop, stopped) = watch::channel(false);
        let updated_at = hook.updated_at;
        let id = hook.id.clone();
        let handle = tokio::spawn(worker(state.clone(), hook, stopped));
        workers.insert(
            id,
            Running {
                updated_at,
                leased: Instant::now(),
                stop,
                handle,
                stopping: false,
            },
        );
    }
    Ok(())
}

/// What one attempt came to.
struct Outcome {
    status: Option<u16>,
    ok: bool,
    error: Option<String>,
    prefix: Option<String>,
    latency: Duration,
}

/// Sends one event to one receiver, signed with every secret in force.
async fn send(
    state: &AppState,
    hook: &webhook::Model,
    url: Option<&url::Url>,
    event: &event::Model,
    now: DateTime<Utc>,
) -> Outcome {
    let started = Instant::now();
    let failed = |error: String| Outcome {
        status: None,
        ok: false,
        error: Some(error),
        prefix: None,
        latency: started.elapsed(),
    };
    let Some(url) = url.cloned() else {
        return failed("the stored URL no longer parses".into());
    };
    // A literal address never reaches the resolver: check it here.
    if let Some(host) = url.host_str()
        && let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>()
        && !state.webhooks.allow.permits(host, ip)
    {
        return failed(format!("{ip} is not an address webhooks may reach"));
    }
    let body = model::body(event);
    let id = format!("evt_{}", event.seq);
    let timestamp = now.timestamp();
    let sealer = &state.webhooks.sealer;
    let Some(secret) = sealer.open(&hook.id, &hook.secret) else {
        return failed(crate::webhooks::sealing::UNREADABLE.into());
    };
    let mut secrets = vec![secret];
    if let Some(previous) = &hook.previous_secret
        && model::previous_in_force(hook.previous_secret_until, now)
    {
        // A previous secret that no longer opens only stops signing.
        secrets.extend(sealer.open(&hook.id, previous));
    }
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signature = model::signature_header(&secrets, &id, timestamp, &body);
    let Ok(_permit) = state.webhooks.permits.acquire().await else {
        return failed("shutting down".into());
    };
    let sent = state
        .webhooks
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(err) => return failed(describe(&err)),
    };
    let status = response.status();
    let mut prefix = Vec::new();
    while prefix.len() < PREFIX_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => prefix.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let ok = status.is_success();
    Outcome {
        status: Some(status.as_u16()),
        ok,
        error: (!ok).then(|| {
            if status.is_redirection() {
                format!("answered {status}; redirects are not followed")
            } else {
                format!("answered {status}")
            }
        }),
        prefix: Some(model::prefix(&prefix, PREFIX_BYTES)),
        latency: started.elapsed(),
    }
}

/// A transport error in a line, with its cause chain.
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

fn log_row(
    hook: &webhook::Model,
    seq: i64,
    attempt: u32,
    outcome: &Outcome,
    at: DateTime<Utc>,
) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        webhook_id: Set(hook.id.clone()),
        event_seq: Set(seq),
        attempt: Set(i32::try_from(attempt).unwrap_or(i32::MAX)),
        status: Set(outcome.status.map(i32::from)),
        ok: Set(outcome.ok),
        latency_ms: Set(i32::try_from(outcome.latency.as_millis()).unwrap_or(i32::MAX)),
        error: Set(outcome.error.clone()),
        response_prefix: Set(outcome.prefix.clone()),
        redelivery: Set(false),
        at: Set(at),
        ..Default::default()
    }
}

/// One webhook's worker: delivers every matching event after the cursor, in order, each until
/// the receiver takes it; saves its progress at most every [`FLUSH_EVERY`] while delivering
/// (so at most that much is delivered again after a crash), before every retry wait, and when
/// told to stop.
async fn worker(state: AppState, hook: webhook::Model, mut stop: watch::Receiver<bool>) {
    let me = state.ownership.instance_id().to_owned();
    let mut progress = Progress {
        cursor: hook.cursor,
        retrying_since: hook.retrying_since,
        failing_since: hook.failing_since,
        deliveries: Vec::new(),
        attempted_flush: false,
    };
    let result = deliver(&state, &hook, &me, &mut progress, &mut stop).await;
    if let Err(err) = result {
        tracing::warn!(webhook = %hook.id, error = %err, "webhook worker stopped on an error; it restarts on the next pass");
    }
    if let Err(err) = store::flush(&state.db, &hook, &me, &mut progress).await {
        tracing::warn!(webhook = %hook.id, error = %err, "could not save webhook progress");
    }
}

/// A webhook worker's context: what it derives from its webhook once.
struct Worker<'a> {
    state: &'a AppState,
    hook: &'a webhook::Model,
    me: &'a str,
    /// The receiver, parsed once.
    url: Option<url::Url>,
    /// What it delivers, parsed once.
    filter: store::Filter,
    retry: Retry,
    last_flush: Instant,
}

/// Where a worker goes next.
enum Next {
    /// It was told to stop, or its webhook changed under it.
    Stop,
    /// Back to the database: the bus had a gap, the credentials changed, or all went quiet.
    Resync,
}

impl Worker<'_> {
    /// Saves the progress when there is some and it is due (or `force`); `false` when the worker
    /// must stop. One write per [`FLUSH_EVERY`], not one per event: every write is a commit the
    /// database syncs.
    async fn save(&mut self, progress: &mut Progress, force: bool) -> Result<bool, AppError> {
        if progress.attempted_flush {
            progress.attempted_flush = false;
            self.last_flush = Instant::now();
        }
        let due =
            progress.deliveries.len() >= FLUSH_AFTER || self.last_flush.elapsed() >= FLUSH_EVERY;
        if progress.deliveries.is_empty() || !(due || force) {
            return Ok(true);
        }
        let kept = store::flush(&self.state.db, self.hook, self.me, progress).await?;
        self.last_flush = Instant::now();
        Ok(kept)
    }

    /// Delivers `e` until it is taken, then saves if due; `false` when the worker must stop.
    async fn one(
        &mut self,
        progress: &mut Progress,
        stop: &mut watch::Receiver<bool>,
        e: &event::Model,
    ) -> Result<bool, AppError> {
        let target = Target {
            hook: self.hook,
            url: self.url.as_ref(),
            me: self.me,
        };
        if !until_taken(self.state, &target, progress, stop, e, &self.retry).await? {
            return Ok(false);
        }
        Ok(self.save(progress, false).await? && !*stop.borrow())
    }

    /// How long to wait for the next event: until unsaved progress is due, else 5 s.
    fn idle_wait(&self, progress: &Progress) -> Duration {
        if progress.deliveries.is_empty() {
            Duration::from_secs(5)
        } else {
            FLUSH_EVERY.saturating_sub(self.last_flush.elapsed())
        }
    }
}

async fn deliver(
    state: &AppState,
    hook: &webhook::Model,
    me: &str,
    progress: &mut Progress,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), AppError> {
    let mut worker = Worker {
        state,
        hook,
        me,
        url: model::parse_url("url", &hook.url).ok(),
        filter: store::Filter::of(hook),
        retry: Retry {
            base: Duration::from_millis(state.config.webhook_backoff_ms.max(1)),
            cap: Duration::from_secs(state.config.webhook_max_backoff_secs.max(1)),
            window: chrono::Duration::seconds(state.config.webhook_retry_window_secs as i64),
        },
        last_flush: Instant::now(),
    };
    let mut bus = state.events.sender.subscribe();
    let mut auth = state.auth_cache.changes();
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        auth.borrow_and_update();
        let Some(scope) = store::owner_scope(&state.db, hook, state.clock.now()).await? else {
            // The owner can no longer read events: deliver nothing, look again later.
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = tokio::time::sleep(Duration::from_secs(30)) => continue,
            }
        };
        // Everything up to `newest` is looked at by the read below.
        let newest = crate::events::store::newest_seq(&state.db).await?;
        let condition = worker.filter.condition(&scope);
        let events =
            crate::events::store::events_after(&state.db, condition, progress.cursor, PAGE).await?;
        let mut horizon = newest;
        for e in &events {
            horizon = horizon.max(e.seq);
            if !worker.one(progress, stop, e).await? {
                return Ok(());
            }
        }
        if events.len() as u64 == PAGE {
            continue; // more stored events wait
        }
        let live = Live {
            bus: &mut bus,
            auth: &mut auth,
            scope: &scope,
        };
        if let Next::Stop = follow(&mut worker, progress, stop, live, horizon).await? {
            return Ok(());
        }
    }
}

/// How long a caught-up worker follows the bus before it reads its owner's scope again.
const RESYNC_EVERY: Duration = Duration::from_secs(5);

/// What a caught-up worker listens to.
struct Live<'a> {
    bus: &'a mut tokio::sync::broadcast::Receiver<event::Model>,
    auth: &'a mut watch::Receiver<u64>,
    scope: &'a crate::auth::principal::CameraScope,
}

/// Caught up: takes events from the bus while each follows on from `horizon` (everything up to
/// it has been looked at) and delivers those the webhook wants, without reading the database.
/// Back to the database on a gap or a lag, when credentials change here (the owner's scope may
/// have), and after 5 s of quiet; the owner's scope is also read every [`RESYNC_EVERY`]
/// however busy the bus is (an owner's key that expired, or a change made by another instance,
/// sends no signal), and a changed one resyncs.
async fn follow(
    worker: &mut Worker<'_>,
    progress: &mut Progress,
    stop: &mut watch::Receiver<bool>,
    live: Live<'_>,
    mut horizon: i64,
) -> Result<Next, AppError> {
    let mut resync = tokio::time::Instant::now() + RESYNC_EVERY;
    loop {
        let wait = worker.idle_wait(progress);
        tokio::select! {
            _ = stop.changed() => return Ok(Next::Stop),
            _ = live.auth.changed() => return Ok(Next::Resync),
            () = tokio::time::sleep_until(resync) => {
                // Only the owner is read again: while it sees what it saw, following the bus
                // goes on from `horizon` (a full resync reads the log from the last delivery).
                let now = worker.state.clock.now();
                let owner = store::owner_scope(&worker.state.db, worker.hook, now).await?;
                if owner.as_ref() != Some(live.scope) {
                    if !progress.deliveries.is_empty() && !worker.save(progress, true).await? {
                        return Ok(Next::Stop);
                    }
                    return Ok(Next::Resync);
                }
                resync = tokio::time::Instant::now() + RESYNC_EVERY;
            }
            received = live.bus.recv() => match received {
                Ok(e) if e.seq <= horizon => {}
                Ok(e) if e.seq == horizon + 1 => {
                    horizon = e.seq;
                    if worker.filter.wants(live.scope, &e)
                        && !worker.one(progress, stop, &e).await?
                    {
                        return Ok(Next::Stop);
                    }
                }
                _ => return Ok(Next::Resync),
            },
            () = tokio::time::sleep(wait) => {
                if progress.deliveries.is_empty() {
                    return Ok(Next::Resync);
                }
                if !worker.save(progress, true).await? {
                    return Ok(Next::Stop);
                }
            }
        }
    }
}

/// Where one webhook's deliveries go.
struct Target<'a> {
    hook: &'a webhook::Model,
    url: Option<&'a url::Url>,
    me: &'a str,
}

/// The retry schedule in force.
struct Retry {
    base: Duration,
    cap: Duration,
    window: chrono::Duration,
}

/// Sends `e` until the receiver takes it, saving progress before each wait; `false` when the
/// worker must stop (told to, or its webhook changed under it).
async fn until_taken(
    state: &AppState,
    target: &Target<'_>,
    progress: &mut Progress,
    stop: &mut watch::Receiver<bool>,
    e: &event::Model,
    retry: &Retry,
) -> Result<bool, AppError> {
    let (hook, me) = (target.hook, target.me);
    let mut attempt = 1u32;
    loop {
        let now = state.clock.now();
        // A worker told to stop does not wait for a slow receiver; the event is sent again by
        // the next worker (receivers deduplicate by `webhook-id`).
        let outcome = tokio::select! {
            outcome = send(state, hook, target.url, e, now) => outcome,
            _ = stop.changed() => return Ok(false),
        };
        progress
            .deliveries
            .push(log_row(hook, e.seq, attempt, &outcome, now));
        crate::telemetry::webhook_delivery(outcome.ok, outcome.latency.as_secs_f64());
        if outcome.ok {
            progress.cursor = e.seq;
            progress.retrying_since = None;
            if progress.failing_since.take().is_some() {
                tracing::info!(webhook = %hook.id, "webhook receiver recovered");
            }
            return Ok(true);
        }
        let since = *progress.retrying_since.get_or_insert(now);
        if progress.failing_since.is_none() && now - since >= retry.window {
            progress.failing_since = Some(now);
            mark_failing(state, hook, since, &outcome).await;
        }
        if !store::flush(&state.db, hook, me, progress).await? {
            return Ok(false);
        }
        progress.attempted_flush = true;
        let wait = model::backoff(attempt, retry.base, retry.cap, rand::random());
        tokio::select! {
            _ = stop.changed() => return Ok(false),
            () = tokio::time::sleep(wait) => {}
        }
        attempt += 1;
    }
}

/// Records that a webhook has failed for longer than the retry window; it keeps retrying at the
/// longest backoff, and clears itself on the next success.
async fn mark_failing(
    state: &AppState,
    hook: &webhook::Model,
    since: DateTime<Utc>,
    outcome: &Outcome,
) {
    tracing::warn!(webhook = %hook.id, "webhook failing: deliveries have failed since {since}");
    let row = NewEvent::new(
        EventKind::WebhookFailing,
        Severity::Warning,
        state.clock.now(),
    )
    .payload(serde_json::json!({
        "webhookId": hook.id,
        "failingSince": since,
        "lastError": outcome.error,
        "lastStatus": outcome.status,
    }));
    if let Err(err) = crate::events::store::record(state, row).await {
        tracing::warn!(error = %err, "could not record the webhook failure event");
    }
}
