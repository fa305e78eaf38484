//! Application state shared by the HTTP layer, resolvers and background workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::ai::Ai;
use crate::auth::cache::AuthCache;
use crate::auth::password::Hasher;
use crate::auth::token::TokenKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::events::bus::EventBus;
use crate::evidence::exports::MediaJobs;
use crate::fleet::ownership::Ownership;
use crate::footage::model::CoverageChange;
use crate::footage::recorder::Recorders;
use crate::graphql::multiplex::Multiplexer;
use crate::perception::Perception;
use crate::zones::Zones;

/// Cheap to clone: one reference count (it is cloned for every request, and cloning each
/// field's own `Arc` cost about 7 % of a GraphQL request's CPU). Its fields are [`Shared`]'s.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every part of the server shares.
#[derive(Debug)]
pub struct Shared {
    /// Database pool.
    pub db: DatabaseConnection,
    /// Settings in force.
    pub config: Arc<Config>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// When this process started serving.
    pub started_at: DateTime<Utc>,
    /// Live websocket counters.
    pub ws: Arc<WsStats>,
    /// Access-token signing and verification.
    pub tokens: Arc<TokenKeys>,
    /// Password hashing on the blocking pool.
    pub hasher: Hasher,
    /// Resolved principals, invalidated by every credential change.
    pub auth_cache: Arc<AuthCache>,
    /// Operations per credential (or client address), checked once a document validated.
    pub rate_limit: Arc<crate::auth::throttle::Buckets<String>>,
    /// Failed sign-ins per client address and per username, checked before any hashing.
    pub login_throttle: Arc<crate::auth::throttle::LoginThrottle>,
    /// This instance's id and its camera claims.
    pub ownership: Arc<Ownership>,
    /// The camera recorders.
    pub recorders: Arc<Recorders>,
    /// Footage changes, for `coverageChanged`.
    pub footage_events: tokio::sync::broadcast::Sender<CoverageChange>,
    /// Held by a retention sweep and by each indexer pass, so a file between its row's delete
    /// and its unlink never looks like a new recording.
    pub sweep_lock: Arc<tokio::sync::Mutex<()>>,
    /// Media jobs: permits, the export queue and its updates, signed links.
    pub media: Arc<MediaJobs>,
    /// The event log's bus.
    pub events: Arc<EventBus>,
    /// The zone engine, occupancy and zone copies.
    pub zones: Arc<Zones>,
    /// Ingest: live batches, consumers, the SQLite write gate.
    pub perception: Arc<Perception>,
    /// AI workers: samplers and frame tickets.
    pub ai: Arc<Ai>,
    /// Shared executions of identical live subscriptions.
    pub multiplex: Arc<Multiplexer>,
    /// Webhook delivery: the client, the address policy, the running workers.
    pub webhooks: Arc<crate::webhooks::delivery::Webhooks>,
    /// Review items as they open and grow, for `reviewItems` subscribers.
    pub review_updates: tokio::sync::broadcast::Sender<entity::review_item::Model>,
    /// Watching footage: playback leases and live relays.
    pub watch: Arc<crate::playback::Watch>,
    /// The one reader of camera status rows for `cameraStatus` subscribers.
    pub camera_status: Arc<crate::cameras::status::StatusFeed>,
    /// What each HTTP or RTSP camera stream carries, as its recorder last found, and which
    /// refused our login lately.
    pub streams: Arc<crate::fleet::ffmpeg::KnownStreams>,
}

impl AppState {
    /// The one constructor: everything the server, the maintenance commands and the tests
    /// share, from settings, an open (migrated) database, a clock and the token secret.
    pub fn new(
        config: Config,
        db: DatabaseConnection,
        clock: Arc<dyn Clock>,
        secret: &[u8],
    ) -> AppState {
        let buffer = config.event_buffer as usize;
        AppState(Arc::new(Shared {
            db,
            started_at: clock.now(),
            clock,
            ws: Default::default(),
            tokens: Arc::new(TokenKeys::new(secret)),
            hasher: Hasher::default(),
            auth_cache: Arc::new(AuthCache::new(Duration::from_millis(config.auth_cache_ms))),
            rate_limit: Arc::new(crate::auth::throttle::Buckets::new(
                crate::auth::throttle::Rate {
                    burst: config.rate_limit_burst,
                    refill: Duration::from_secs_f64(
                        1.0 / f64::from(config.rate_limit_per_sec.max(1)),
                    ),
                },
            )),
            login_throttle: Arc::new(crate::auth::throttle::LoginThrottle::new(
                crate::auth::throttle::Rate {
                    burst: config.login_address_burst,
                    refill: Duration::from_secs(config.login_address_refill_secs),
                },
                crate::auth::throttle::Rate {
                    burst: config.login_username_burst,
                    refill: Duration::from_secs(config.login_username_refill_secs),
                },
            )),
            ownership: Arc::new(crate::fleet::ownership::Ownership::for_data_dir(
                &config.data_dir,
            )),
            recorders: Default::default(),
            footage_events: tokio::sync::broadcast::channel(1024).0,
            sweep_lock: Default::default(),
            media: Arc::new(MediaJobs::new(config.media_jobs as usize, secret)),
            events: Arc::new(EventBus::new(buffer)),
            zones: Default::default(),
            perception: Default::default(),
            ai: Arc::new(Ai::new(secret)),
            multiplex: Arc::new(Multiplexer::new(buffer)),
            webhooks: Arc::new(crate::webhooks::delivery::Webhooks::new(
                &config.webhook_allowed_hosts,
                Duration::from_secs(config.webhook_timeout_secs),
                config.webhook_concurrency as usize,
                secret,
            )),
            review_updates: tokio::sync::broadcast::channel(buffer.max(16)).0,
            watch: Default::default(),
            camera_status: Default::default(),
            streams: Default::default(),
            config: Arc::new(config),
        }))
    }
}

/// Open websockets and running websocket operations of this application.
#[derive(Debug, Default)]
pub struct WsStats {
    connections: AtomicI64,
    operations: AtomicI64,
    /// Acknowledged sockets per credential holder (user or API key).
    holders: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl WsStats {
    /// Open websockets.
    pub fn connections(&self) -> i64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Running operations (subscriptions and in-flight queries) on websockets.
    pub fn operations(&self) -> i64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// Counts a websocket until the guard drops.
    pub fn connection(self: &Arc<Self>) -> CountGuard {
        CountGuard::new(self.clone(), |s| &s.connections)
    }

    /// Counts an operation until the guard drops (its task ended or was aborted).
    pub fn operation(self: &Arc<Self>) -> CountGuard {
        CountGuard::new(self.clone(), |s| &s.operations)
    }

    /// Counts a socket of `holder` until the guard drops; `None` if it already has `max`.
    pub fn hold(self: &Arc<Self>, holder: &str, max: usize) -> Option<HolderGuard> {
        let mut holders = self.holders.lock().ok()?;
        let open = holders.entry(holder.to_owned()).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(HolderGuard {
            stats: self.clone(),
            holder: holder.to_owned(),
        })
    }
}

/// One socket of a credential holder, counted until dropped.
#[derive(Debug)]
pub struct HolderGuard {
    stats: Arc<WsStats>,
    holder: String,
}

impl Drop for HolderGuard {
    fn drop(&mut self) {
        if let Ok(mut holders) = self.stats.holders.lock()
            && let Some(open) = holders.get_mut(&self.holder)
        {
            *open = open.saturating_sub(1);
            if *open == 0 {
                holders.remove(&self.holder);
            }
        }
    }
}

/// Decrements its counter when dropped.
pub struct CountGuard {
    stats: Arc<WsStats>,
    field: fn(&WsStats) -> &AtomicI64,
}

impl CountGuard {
    fn new(stats: Arc<WsStats>, field: fn(&WsStats) -> &AtomicI64) -> Self {
        field(&stats).fetch_add(1, Ordering::Relaxed);
        CountGuard { stats, field }
    }
}

impl Drop for CountGuard {
    fn drop(&mut self) {
        (self.field)(&self.stats).fetch_sub(1, Ordering::Relaxed);
    }
}
