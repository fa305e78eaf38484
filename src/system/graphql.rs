//! `serverInfo` and `serverClock`.

use std::time::Duration;

use async_graphql::{Context, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::error::AppError;
use crate::graphql::ContextExt;

/// Facts about the running server.
#[derive(SimpleObject)]
pub struct ServerInfo {
    /// Version of the heldar binary.
    pub version: String,
    /// When this process started serving.
    pub started_at: DateTime<Utc>,
    /// The server's current time, to measure clock skew against.
    pub now: DateTime<Utc>,
    /// Database backend in use: `sqlite` or `postgres`.
    pub database: String,
}

/// One tick of the server clock.
#[derive(SimpleObject)]
pub struct ServerClockTick {
    /// 1 for the first tick of the subscription, then 2, 3, …
    pub seq: i32,
    /// The server's time at this tick.
    pub at: DateTime<Utc>,
}

/// Queries about the server.
#[derive(Default)]
pub struct SystemQuery;

#[Object]
impl SystemQuery {
    /// Version, start time, clock and database backend of the server.
    async fn server_info(&self, ctx: &Context<'_>) -> Result<ServerInfo, AppError> {
        ctx.principal()?;
        let state = ctx.state()?;
        let database = match state.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgres",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            _ => "other",
        };
        Ok(ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: state.started_at,
            now: state.clock.now(),
            database: database.to_owned(),
        })
    }
}

/// Subscriptions about the server.
#[derive(Default)]
pub struct SystemSubscription;

#[Subscription]
impl SystemSubscription {
    /// Ticks of the server clock, so a live timeline can draw "now" in the server's time.
    async fn server_clock(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Milliseconds between ticks (10..=60000).",
            default_with = "Some(1000)"
        )]
        every_ms: Option<i32>,
        #[graphql(desc = "Stop after this many ticks; unbounded when omitted.")] limit: Option<i32>,
    ) -> Result<impl Stream<Item = ServerClockTick> + use<>, AppError> {
        let every_ms = every_ms.unwrap_or(1000);
        ctx.principal()?;
        let state = ctx.state()?.clone();
        if !(10..=60_000).contains(&every_ms) {
            return Err(AppError::bad_input(
                "everyMs",
                "must be between 10 and 60000",
            ));
        }
        if let Some(limit) = limit
            && limit < 1
        {
            return Err(AppError::bad_input("limit", "must be at least 1"));
        }
        let period = Duration::from_millis(every_ms as u64);
        let limit = limit.map(|l| l as usize).unwrap_or(usize::MAX);
        let ticks = futures_util::stream::unfold(
            (0i32, tokio::time::interval(period)),
            move |(seq, mut interval)| {
                let clock = state.clock.clone();
                async move {
                    interval.tick().await;
                    let seq = seq + 1;
                    Some((
                        ServerClockTick {
                            seq,
                            at: clock.now(),
                        },
                        (seq, interval),
                    ))
                }
            },
        );
        Ok(futures_util::StreamExt::take(ticks, limit))
    }
}
