//! The event log over GraphQL: `perceptionEvents` as a paged query and as a subscription that
//! replays from a cursor and then goes live, with no gap and no duplicate across the switch.

use std::collections::VecDeque;

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::event;
use futures_util::{Stream, stream};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::broadcast;

use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::events::model::{CrossingDirection, EventKind, Severity};
use crate::events::store::{events_after, newest_seq};
use crate::graphql::ContextExt;
use crate::graphql::multiplex::{ResumeAfter, SeqProbe};
use crate::graphql::paging::{
    Counted, KeyPart, Keyset, Order, PageArgs, decode_cursor, encode_cursor, paged,
};
use crate::graphql::scalars::Long;

/// Events a live subscriber may fall behind before it is told to resubscribe from its cursor.
pub const MAX_CATCH_UP: u64 = 10_000;
/// Events read at a time while a resumed subscription replays the log.
const REPLAY_PAGE: u64 = 500;

/// One event of the log.
#[derive(SimpleObject, Clone)]
pub struct PerceptionEvent {
    /// The event's id (`evt_<seq>`), for `node(id:)`.
    #[graphql(owned)]
    pub id: ID,
    /// Cursor: the event's sequence number (pass it as `after` to resume).
    pub cursor: String,
    /// Position in the event log, increasing with each event; `cursor` encodes it.
    pub seq: Long,
    /// What happened.
    pub kind: EventKind,
    /// How serious: zone events take their zone's severity (static suppression is always INFO); other kinds set their own.
    pub severity: Severity,
    /// Id of the camera concerned; null for server-wide events such as RETENTION_SWEEP.
    pub camera_id: Option<ID>,
    /// Id of the zone on zone and line events; null otherwise. The zone may have been deleted since.
    pub zone_id: Option<ID>,
    /// The worker's track id on zone and line events; null otherwise.
    pub track_id: Option<String>,
    /// Label of the tracked object (e.g. `person`) on zone and line events; null otherwise, empty on an exit after the track timed out.
    pub label: Option<String>,
    /// Seconds the track had been inside when a ZONE_DWELL event fired; null for other kinds.
    pub dwell_seconds: Option<f64>,
    /// Which way the line was crossed (LINE_CROSS); null for other kinds.
    pub direction: Option<CrossingDirection>,
    /// Kind-specific details as a JSON object (`{}` when none); zone and line events carry `zone` (its name), `frameId` and `outboxSeq`.
    pub payload: Json<serde_json::Value>,
    /// When it happened, by the server's clock; for zone and line events, when the batch was processed, not the frame's capture time.
    pub occurred_at: DateTime<Utc>,
}

impl From<event::Model> for PerceptionEvent {
    fn from(m: event::Model) -> Self {
        PerceptionEvent {
            id: ID(format!("evt_{}", m.seq)),
            cursor: encode_cursor(&m.seq.to_string()),
            seq: Long(m.seq),
            kind: EventKind::of_stored(&m.kind),
            severity: m.severity,
            camera_id: m.camera_id.map(ID),
            zone_id: m.zone_id.map(ID),
            track_id: m.track_id,
            label: m.label,
            dwell_seconds: m.dwell_seconds,
            direction: m.direction.as_deref().and_then(CrossingDirection::parse),
            payload: Json(serde_json::from_str(&m.payload).unwrap_or_default()),
            occurred_at: m.at,
        }
    }
}

/// Which events to return: every given condition must hold; a list matches any of its values.
#[derive(InputObject, Default, Clone)]
pub struct PerceptionEventFilter {
    /// Only events of these cameras; events without a camera are then left out.
    pub camera_ids: Option<Vec<ID>>,
    /// Only events of these zones.
    pub zone_ids: Option<Vec<ID>>,
    /// Only these kinds.
    pub kinds: Option<Vec<EventKind>>,
    /// Only events whose object label is one of these, e.g. `person`.
    pub labels: Option<Vec<String>>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Only events that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events that occurred before this time.
    pub to: Option<DateTime<Utc>>,
}

impl PerceptionEventFilter {
    /// Refuses lists that repeat an id.
    fn check(&self) -> Result<(), AppError> {
        if let Some(ids) = &self.camera_ids {
            crate::graphql::input::distinct("filter.cameraIds", ids)?;
        }
        if let Some(ids) = &self.zone_ids {
            crate::graphql::input::distinct("filter.zoneIds", ids)?;
        }
        Ok(())
    }
}

/// A filter resolved against the caller's scope, usable on rows and in queries.
#[derive(Clone)]
struct Matcher {
    filter: PerceptionEventFilter,
    scope: CameraScope,
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
            && f.kinds
                .as_ref()
                .is_none_or(|k| k.contains(&EventKind::of_stored(&e.kind)))
            && f.labels
                .as_ref()
                .is_none_or(|l| e.label.as_ref().is_some_and(|x| l.contains(x)))
            && f.min_severity.is_none_or(|m| e.severity >= m)
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
            let named = kinds
                .iter()
                .filter(|k| **k != EventKind::Other)
                .map(|k| k.as_str());
            let mut any = Condition::any().add(event::Column::Kind.is_in(named));
            if kinds.contains(&EventKind::Other) {
                // Kinds this version does not know: none of the known names.
                let known = EventKind::ALL.iter().map(|k| k.as_str());
                any = any.add(event::Column::Kind.is_not_in(known));
            }
            c = c.add(any);
        }
        if let Some(labels) = &f.labels {
            c = c.add(event::Column::Label.is_in(labels.clone()));
        }
        if let Some(min) = f.min_severity {
            c = c.add(event::Column::Severity.is_in(crate::events::model::at_least(min)));
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
        events_after(db, self.condition(), seq, limit).await
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
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a GraphQL argument; Relay paging alone adds four"
    )]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn perception_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the events must all meet (omit for every event in scope).")]
        filter: Option<PerceptionEventFilter>,
        #[graphql(
            desc = "OLDEST_FIRST (the default, the order subscriptions replay in) or NEWEST_FIRST.",
            default_with = "Some(Order::OldestFirst)"
        )]
        order: Option<Order>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<PerceptionEvent>, AppError> {
        let order = order.unwrap_or(Order::OldestFirst);
        let principal = ctx.require(Capability::EventsRead)?;
        if let Some(filter) = &filter {
            filter.check()?;
        }
        let matcher = Matcher {
            filter: filter.unwrap_or_default(),
            scope: principal.scope.clone(),
        };
        let query = event::Entity::find().filter(matcher.condition());
        let keyset = Keyset {
            parts: vec![KeyPart::Int(event::Column::Seq)],
            order,
            key_of: |row: &event::Model| row.seq.to_string(),
        };
        let args = PageArgs::new(first, after, last, before);
        paged(&ctx.state()?.db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(PerceptionEvent::from(row))
        })
        .await
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
        let lag = (chrono::Utc::now() - e.at).num_milliseconds() as f64 / 1000.0;
        crate::telemetry::event_delivered(lag);
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
        #[graphql(desc = "Conditions the events must all meet (omit for every event in scope).")]
        filter: Option<PerceptionEventFilter>,
        #[graphql(desc = "Resume after this cursor.")] after: Option<String>,
    ) -> Result<impl Stream<Item = Result<PerceptionEvent, async_graphql::Error>> + use<>, AppError>
    {
        let principal = ctx.require(Capability::EventsRead)?;
        if let Some(filter) = &filter {
            filter.check()?;
        }
        let state = ctx.state()?;
        if let Some(ids) = filter.as_ref().and_then(|f| f.camera_ids.as_ref()) {
            for id in ids {
                ctx.require_camera(Capability::EventsRead, id)?;
            }
        }
        // Subscribe before reading the log, so nothing falls between the two.
        let receiver = state.events.sender.subscribe();
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
        // The later of the two wins: an SSE client reconnecting with `Last-Event-ID` sends its
        // first request (and its `after`) again.
        let resume = ctx.data_opt::<ResumeAfter>().map(|r| r.0);
        let after = after.as_deref().map(cursor_seq).transpose()?;
        match after.into_iter().chain(resume).max() {
            Some(seq) => {
                feed.last = seq;
                feed.replaying = true;
            }
            None => {
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
