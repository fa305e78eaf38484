//! Application state shared by the HTTP layer, resolvers and background workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::auth::cache::AuthCache;
use crate::auth::password::Hasher;
use crate::auth::token::TokenKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::evidence::jobs::MediaJobs;
use crate::footage::graphql::CoverageChange;
use crate::footage::recorder::Recorders;

/// Cheap to clone: everything is behind `Arc`s or is itself a handle.
#[derive(Clone, Debug)]
pub struct AppState {
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
    /// The camera recorders.
    pub recorders: Arc<Recorders>,
    /// Footage changes, for `coverageChanged`.
    pub footage_events: tokio::sync::broadcast::Sender<CoverageChange>,
    /// Media jobs: permits, the export queue, signed links, the retention lock.
    pub media: Arc<MediaJobs>,
    /// The event bus, the zone engine and the ingest consumers.
    pub perception: Arc<crate::perception::Perception>,
    /// AI workers: samplers and frame tickets.
    pub ai: Arc<crate::perception::Ai>,
    /// Shared executions of identical live subscriptions.
    pub multiplex: Arc<crate::graphql::multiplex::Multiplexer>,
}

/// Open websockets and running websocket operations of this application.
#[derive(Debug, Default)]
pub struct WsStats {
    connections: AtomicI64,
    operations: AtomicI64,
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
