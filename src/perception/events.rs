//! The event log over GraphQL: `perceptionEvents` as a paged query and as a subscription that
//! replays from a cursor and then goes live, with no gap and no duplicate across the switch.

use std::collections::VecDeque;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::event;
use futures_util::{Stream, stream};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::broadcast;

use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::evidence::retention::Severity;
use crate::graphql::ContextExt;
use crate::graphql::multiplex::{ResumeAfter, SeqProbe};
use crate::graphql::paging::{connection, decode_cursor, encode_cursor, page_size};

/// Events a live subscriber may fall behind before it is told to resubscribe from its cursor.
pub const MAX_CATCH_UP: u64 = 10_000;
/// Events read at a time while a resumed subscription replays the log.
const REPLAY_PAGE: u64 = 500;

/// One event of the log.
#[derive(SimpleObject, Clone)]
pub struct PerceptionEvent {
    /// Cursor: the event's sequence number (pass it as `after` to resume).
    pub cursor: String,
    /// Monotonic sequence.
    pub seq: i64,
    /// `ZONE_ENTER`, `ZONE_EXIT`, `ZONE_DWELL`, `LINE_CROSS`, `ZONE_STATIC_SUPPRESSED`, `RETENTION_SWEEP`, ….
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// Camera.
    pub camera_id: Option<ID>,
    /// Zone.
    pub zone_id: Option<ID>,
    /// Track.
    pub track_id: Option<String>,
    /// Object label.
    pub label: Option<String>,
    /// Seconds inside (dwell).
    pub dwell_seconds: Option<f64>,
    /// `AB` or `BA` (line crossings).
    pub direction: Option<String>,
    /// Details.
    pub payload: Json<serde_json::Value>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

impl From<event::Model> for PerceptionEvent {
    fn from(m: event::Model) -> Self {
        PerceptionEvent {
            cursor: encode_cursor(&m.seq.to_string()),
            seq: m.seq,
            kind: m.kind,
            severity: Severity::parse(&m.severity),
            camera_id: m.camera_id.map(ID),
            zone_id: m.zone_id.map(ID),
            track_id: m.track_id,
            label: m.label,
            dwell_seconds: m.dwell_seconds,
            direction: m.direction,
            payload: Json(serde_json::from_str(&m.payload).unwrap_or_default()),
            occurred_at: m.at,
        }
    }
}

/// Which events.
#[derive(InputObject, Default, Clone)]
pub struct PerceptionEventFilter {
    /// Only these cameras.
    pub camera_ids: Option<Vec<ID>>,
    /// Only these zones.
    pub zone_ids: Option<Vec<ID>>,
    /// Only these kinds.
    pub kinds: Option<Vec<String>>,
    /// Only these labels.
    pub labels: Option<Vec<String>>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
}

/// A filter resolved against the caller's scope, usable on rows and in queries.
#[derive(Clone)]
struct Matcher {
    filter: PerceptionEventFilter,
    scope: CameraScope,
}

fn rank(s: Severity) -> u8 {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

impl Matcher {
    fn matches(&self, e: &event::Model) -> bool {
        let f = &self.filter;
        let scoped = match &self.scope {
            CameraScope::All => true,
            CameraScope::Cameras(ids) => e.camera_id.as_ref().is_some_and(|c| ids.contains(c)),
        };
        let any = |list: &Option<Vec<ID>>, v: &Option<String>| {
            list.as_ref().is_none_or(|l| {
                v.as_ref()
                    .is_some_and(|v| l.iter().any(|x| x.as_str() == v))
            })
        };
        scoped
            && any(&f.camera_ids, &e.camera_id)
            && any(&f.zone_ids, &e.zone_id)
            && f.kinds.as_ref().is_none_or(|k| k.contains(&e.kind))
            && f.labels
                .as_ref()
                .is_none_or(|l| e.label.as_ref().is_some_and(|x| l.contains(x)))
            && f.min_severity
                .is_none_or(|m| rank(Severity::parse(&e.severity)) >= rank(m))
            && f.from.is_none_or(|t| e.at >= t)
            && f.to.is_none_or(|t| e.at < t)
    }

    fn condition(&self) -> Condition {
        let f = &self.filter;
        let mut c = Condition::all();
        if let CameraScope::Cameras(ids) = &self.scope {
            c = c.add(event::Column::CameraId.is_in(ids.clone()));
        }
        if let Some(ids) = &f.camera_ids {
            c = c.add(event::Column::CameraId.is_in(ids.iter().map(|i| i.to_string())));
        }
        if let Some(ids) = &f.zone_ids {
            c = c.add(event::Column::ZoneId.is_in(ids.iter().map(|i| i.to_string())));
        }
        if let Some(kinds) = &f.kinds {
            c = c.add(event::Column::Kind.is_in(kinds.clone()));
        }
        if let Some(labels) = &f.labels {
            c = c.add(event::Column::Label.is_in(labels.clone()));
        }
        if let Some(min) = f.min_severity {
            let allowed: Vec<&str> = [Severity::Info, Severity::Warning, Severity::Critical]
                .into_iter()
                .filter(|s| rank(*s) >= rank(min))
                .map(Severity::as_str)
                .collect();
            c = c.add(event::Column::Severity.is_in(allowed));
        }
        if let Some(t) = f.from {
            c = c.add(event::Column::At.gte(t));
        }
        if let Some(t) = f.to {
            c = c.add(event::Column::At.lt(t));
        }
        c
    }

    async fn after(
        &self,
        db: &DatabaseConnection,
        seq: i64,
        limit: u64,
    ) -> Result<Vec<event::Model>, AppError> {
        Ok(event::Entity::find()
            .filter(self.condition())
            .filter(event::Column::Seq.gt(seq))
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(db)
            .await?)
    }
}

fn cursor_seq(after: &str) -> Result<i64, AppError> {
    decode_cursor(after)?
        .parse()
        .map_err(|_| AppError::bad_input("after", "not a cursor this server issued"))
}

/// Event queries.
#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The event log, oldest first after the cursor, filtered and limited to the cameras in scope.
    async fn perception_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events.")] filter: Option<PerceptionEventFilter>,
        #[graphql(desc = "Page size, 1 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last event seen.")] after: Option<String>,
    ) -> Result<Connection<String, PerceptionEvent>, AppError> {
        let principal = ctx.require(Capability::EventsRead)?;
        let limit = page_size(first)?;
        let seq = after.as_deref().map(cursor_seq).transpose()?.unwrap_or(0);
        let matcher = Matcher {
            filter: filter.unwrap_or_default(),
            scope: principal.scope.clone(),
        };
        let rows = matcher.after(&ctx.state()?.db, seq, limit + 1).await?;
        connection(
            rows,
            limit,
            after.is_some(),
            |r| r.seq.to_string(),
            |r| Ok::<_, AppError>(PerceptionEvent::from(r)),
        )
    }
}

/// Where a subscription is.
struct Feed {
    db: DatabaseConnection,
    matcher: Matcher,
    receiver: broadcast::Receiver<event::Model>,
    pending: VecDeque<event::Model>,
    last: i64,
    failed: bool,
    /// Where a shared execution learns the sequence of each item.
    probe: Option<SeqProbe>,
    /// Still replaying the stored log after a cursor (page by page, however far back).
    replaying: bool,
}

impl Feed {
    /// Reads everything after `last` from the database into `pending`; an error when that is
    /// more than [`MAX_CATCH_UP`] events.
    async fn catch_up(&mut self) -> Result<(), AppError> {
        let rows = self
            .matcher
            .after(&self.db, self.last, MAX_CATCH_UP + 1)
            .await?;
        if rows.len() as u64 > MAX_CATCH_UP {
            return Err(AppError::Unavailable(format!(
                "this subscription fell more than {MAX_CATCH_UP} events behind; resubscribe with `after` set to the last cursor you received"
            )));
        }
        self.pending.extend(rows);
        Ok(())
    }

    /// Moves past `e` and tells the probe.
    fn yield_event(
        mut self,
        e: event::Model,
    ) -> Option<(Result<PerceptionEvent, async_graphql::Error>, Feed)> {
        self.last = e.seq;
        if let Some(probe) = &self.probe {
            probe.set(e.seq);
        }
        Some((Ok(e.into()), self))
    }

    async fn next(mut self) -> Option<(Result<PerceptionEvent, async_graphql::Error>, Feed)> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(e) = self.pending.pop_front() {
                if e.seq > self.last {
                    return self.yield_event(e);
                }
                continue;
            }
            if self.replaying {
                match self.matcher.after(&self.db, self.last, REPLAY_PAGE).await {
                    Ok(rows) => {
                        self.replaying = rows.len() as u64 == REPLAY_PAGE;
                        self.pending.extend(rows);
                        continue;
                    }
                    Err(err) => {
                        self.failed = true;
                        return Some((Err(err.into()), self));
                    }
                }
            }
            match self.receiver.recv().await {
                Ok(e) => {
                    if e.seq <= self.last || !self.matcher.matches(&e) {
                        continue;
                    }
                    // Events are inserted and broadcast one at a time in sequence order
                    // (`record`), so a live event never overtakes an earlier one.
                    return self.yield_event(e);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(err) = self.catch_up().await {
                        self.failed = true;
                        return Some((Err(err.into()), self));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Event subscriptions.
#[derive(Default)]
pub struct EventsSubscription;

#[Subscription]
impl EventsSubscription {
    /// Events as they happen. With `after`, every stored event after that cursor comes first, then live ones, with no gap and no duplicate; a subscriber that falls behind is caught up from the log.
    async fn perception_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which events.")] filter: Option<PerceptionEventFilter>,
        #[graphql(desc = "Resume after this cursor.")] after: Option<String>,
    ) -> Result<impl Stream<Item = Result<PerceptionEvent, async_graphql::Error>> + use<>, AppError>
    {
        let principal = ctx.require(Capability::EventsRead)?;
        let state = ctx.state()?;
        if let Some(ids) = filter.as_ref().and_then(|f| f.camera_ids.as_ref()) {
            for id in ids {
                ctx.require_camera(Capability::EventsRead, id)?;
            }
        }
        // Subscribe before reading the log, so nothing falls between the two.
        let receiver = state.perception.events.subscribe();
        let mut feed = Feed {
            db: state.db.clone(),
            matcher: Matcher {
                filter: filter.unwrap_or_default(),
                scope: principal.scope.clone(),
            },
            receiver,
            pending: VecDeque::new(),
            last: 0,
            failed: false,
            probe: ctx.data_opt::<SeqProbe>().cloned(),
            replaying: false,
        };
        // A shared execution's member continuing alone resumes where it was. A resumed
        // subscription replays the log page by page, however far back its cursor is.
        let resume = ctx.data_opt::<ResumeAfter>().map(|r| r.0);
        match (after.as_deref(), resume) {
            (Some(cursor), _) => {
                feed.last = cursor_seq(cursor)?;
                feed.replaying = true;
            }
            (None, Some(seq)) => {
                feed.last = seq;
                feed.replaying = true;
            }
            (None, None) => {
                // Live only: start after the newest stored event.
                feed.last = newest_seq(&state.db).await?;
                if let Some(probe) = &feed.probe {
                    probe.set_start(feed.last);
                }
            }
        }
        Ok(stream::unfold(feed, Feed::next))
    }
}

/// Advisory lock key serialising event inserts across instances on PostgreSQL.
const EVENT_LOCK: i64 = 0x4845_4c44_4556; // "HELDEV"

/// Appends an event and makes sure subscribers get it in sequence order.
///
/// On SQLite (one process) the insert and the in-process broadcast happen under one lock. On
/// PostgreSQL several instances may share the database: the insert takes a transaction-scoped
/// advisory lock, so sequence order is commit order across instances, and `NOTIFY`s the
/// sequence; every instance's listener ([`listen`]) reads the new rows and broadcasts them, so
/// an event ingested on one instance reaches subscribers on all of them.
pub async fn record(
    state: &crate::state::AppState,
    row: event::ActiveModel,
) -> Result<event::Model, AppError> {
    use sea_orm::{
        ActiveModelTrait, ConnectionTrait, DatabaseBackend, Statement, TransactionTrait,
    };
    let _in_order = state.perception.write.lock().await;
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        let txn = state.db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [EVENT_LOCK.into()],
        ))
        .await?;
        let stored = row.insert(&txn).await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify('heldar_events', $1)",
            [stored.seq.to_string().into()],
        ))
        .await?;
        txn.commit().await?;
        return Ok(stored);
    }
    let stored = row.insert(&state.db).await?;
    let _ = state.perception.events.send(stored.clone());
    Ok(stored)
}

/// The newest stored sequence (0 when empty); where a new listener starts.
pub async fn newest_seq(db: &DatabaseConnection) -> Result<i64, AppError> {
    Ok(event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .order_by_desc(event::Column::Seq)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

/// PostgreSQL: broadcasts every new event row after `last`, whichever instance wrote it, in
/// sequence order. On each notification, and at least every 5 s (a reconnect can drop
/// notifications silently), it reads every row after the last one sent, so a missed
/// notification delays an event but never loses it. Returns at once on SQLite. Start it with
/// the sequence read before serving, so no event falls between start-up and the listener.
pub async fn listen(state: crate::state::AppState, mut last: i64) {
    use sea_orm::DatabaseBackend;
    if state.db.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    loop {
        let pool = state.db.get_postgres_connection_pool();
        if pool.is_closed() {
            return; // shutting down
        }
        let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "event listener cannot connect; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(err) = listener.listen("heldar_events").await {
            tracing::warn!(error = %err, "cannot LISTEN for events; retrying");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        loop {
            // Everything newer than what was sent, in pages.
            loop {
                match event::Entity::find()
                    .filter(event::Column::Seq.gt(last))
                    .order_by_asc(event::Column::Seq)
                    .limit(1000)
                    .all(&state.db)
                    .await
                {
                    Ok(rows) => {
                        let full = rows.len() == 1000;
                        for row in rows {
                            last = row.seq;
                            let _ = state.perception.events.send(row);
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(_) if pool.is_closed() => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "event listener could not read new events");
                        break;
                    }
                }
            }
            match tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(_)) if pool.is_closed() => return,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}
