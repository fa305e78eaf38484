//! The review queue over GraphQL: items newest first with each caller's reviewed state, a
//! summary per local day, marking, and a subscription to items as they open and grow.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Duration, Utc};
use entity::{review_item, review_mark};
use futures_util::{Stream, StreamExt};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::principal::{CameraScope, Capability, Principal};
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::paging::{Counted, KeyPart, Keyset, Order, PageArgs, encode_cursor, paged};
use crate::review::model::{self, ReviewSeverity};
use crate::review::store;
use crate::state::AppState;

/// Zone events on one camera grouped into one thing to look at: it opens on its first event and
/// grows while events keep coming within the quiet gap (`HELDAR_REVIEW_GAP_SECS`).
#[derive(SimpleObject, Clone)]
pub struct ReviewItem {
    /// The item's id (`rev_…`); ids sort by when items opened.
    pub id: ID,
    /// The camera.
    pub camera_id: ID,
    /// ALERT when any event came from a WARNING or CRITICAL zone, else DETECTION.
    pub severity: ReviewSeverity,
    /// The first event's time.
    pub started_at: DateTime<Utc>,
    /// The last event's time so far.
    pub ended_at: DateTime<Utc>,
    /// Whether it may still grow (its last event is within the quiet gap of now).
    pub active: bool,
    /// Object labels seen, sorted.
    pub labels: Vec<String>,
    /// Zones involved, sorted.
    pub zone_ids: Vec<ID>,
    /// The moment to show as its picture (pass it to a snapshot or thumbnail): the first event of its severity.
    pub thumbnail_at: DateTime<Utc>,
    /// Events grouped into it.
    pub event_count: i32,
    /// Whether you (this user or API key) marked it reviewed.
    pub reviewed: bool,
    /// Cursor just before its first event: `perceptionEvents(after:)` with it lists the item's events.
    pub events_after: String,
    /// Cursor of its last event.
    pub last_event_cursor: String,
}

impl ReviewItem {
    fn from_row(m: review_item::Model, reviewed: bool, now: DateTime<Utc>, gap: Duration) -> Self {
        let active = model::active(&m, now, gap);
        let list = |v: &serde_json::Value| -> Vec<String> {
            serde_json::from_value(v.clone()).unwrap_or_default()
        };
        ReviewItem {
            id: ID(m.id),
            camera_id: ID(m.camera_id),
            severity: ReviewSeverity::parse(&m.severity),
            started_at: m.started_at,
            ended_at: m.ended_at,
            active,
            labels: list(&m.labels),
            zone_ids: list(&m.zone_ids).into_iter().map(ID).collect(),
            thumbnail_at: m.thumbnail_at,
            event_count: m.event_count,
            reviewed,
            events_after: encode_cursor(&(m.first_seq - 1).to_string()),
            last_event_cursor: encode_cursor(&m.last_seq.to_string()),
        }
    }
}

/// Which review items to return; every given condition must hold.
#[derive(InputObject, Default, Clone)]
pub struct ReviewItemFilter {
    /// Only these cameras (each must be in your scope).
    pub camera_ids: Option<Vec<ID>>,
    /// Only this severity.
    pub severity: Option<ReviewSeverity>,
    /// Only items you have (true) or have not (false) reviewed.
    pub reviewed: Option<bool>,
    /// Only items that started at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only items that started before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Review counts of one camera on one local day.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct ReviewDay {
    /// The day in the asked time zone (`YYYY-MM-DD`).
    pub date: String,
    /// The camera.
    pub camera_id: ID,
    /// Alerts that started that day.
    pub alerts: i32,
    /// Detections that started that day.
    pub detections: i32,
    /// Alerts you have not reviewed.
    pub unreviewed_alerts: i32,
    /// Detections you have not reviewed.
    pub unreviewed_detections: i32,
}

/// Review counts over a range, for calendars and badges.
#[derive(SimpleObject)]
pub struct ReviewSummary {
    /// One row per camera and local day with any item, by day then camera.
    pub days: Vec<ReviewDay>,
    /// Alerts in the range.
    pub alerts: i32,
    /// Detections in the range.
    pub detections: i32,
    /// Alerts you have not reviewed.
    pub unreviewed_alerts: i32,
    /// Detections you have not reviewed.
    pub unreviewed_detections: i32,
}

fn gap(state: &AppState) -> Duration {
    Duration::seconds(i64::try_from(state.config.review_gap_secs).unwrap_or(30))
}

/// The filter's cameras: no repeats, each in the caller's scope.
fn check_cameras(ctx: &Context<'_>, filter: &ReviewItemFilter) -> Result<(), AppError> {
    if let Some(ids) = &filter.camera_ids {
        crate::graphql::input::distinct("filter.cameraIds", ids)?;
        for id in ids {
            ctx.require_camera(Capability::EventsRead, id.as_str())?;
        }
    }
    Ok(())
}

/// The filter as a condition, within the caller's scope; cameras named must be in scope.
fn condition(
    ctx: &Context<'_>,
    principal: &Principal,
    filter: &ReviewItemFilter,
) -> Result<Condition, AppError> {
    let mut c = Condition::all();
    if let CameraScope::Cameras(ids) = &principal.scope {
        c = c.add(review_item::Column::CameraId.is_in(ids.clone()));
    }
    check_cameras(ctx, filter)?;
    if let Some(ids) = &filter.camera_ids {
        c = c.add(review_item::Column::CameraId.is_in(ids.iter().map(|i| i.to_string())));
    }
    if let Some(severity) = filter.severity {
        c = c.add(review_item::Column::Severity.eq(severity.as_str()));
    }
    if let Some(reviewed) = filter.reviewed {
        let mine = Query::select()
            .column(review_mark::Column::ItemId)
            .from(review_mark::Entity)
            .and_where(review_mark::Column::HolderId.eq(principal.id.clone()))
            .to_owned();
        c = c.add(if reviewed {
            review_item::Column::Id.in_subquery(mine)
        } else {
            review_item::Column::Id.not_in_subquery(mine)
        });
    }
    if let Some(from) = filter.from {
        c = c.add(review_item::Column::StartedAt.gte(from));
    }
    if let Some(to) = filter.to {
        c = c.add(review_item::Column::StartedAt.lt(to));
    }
    Ok(c)
}

/// Review queries.
#[derive(Default)]
pub struct ReviewQuery;

#[Object]
impl ReviewQuery {
    /// The review queue, newest first (by when each item opened), within your scope.
    #[graphql(complexity = "crate::graphql::cost::page(first, None, child_complexity)")]
    async fn review_items(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the items must all meet (omit for every item in scope).")]
        filter: Option<ReviewItemFilter>,
        #[graphql(desc = "At most this many (1 to 500, default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (an edge's `cursor`).")] after: Option<String>,
    ) -> Result<Counted<ReviewItem>, AppError> {
        let principal = ctx.require(Capability::EventsRead)?;
        let state = ctx.state()?;
        let filter = filter.unwrap_or_default();
        let query = review_item::Entity::find().filter(condition(ctx, principal, &filter)?);
        let keyset = Keyset {
            parts: vec![KeyPart::Text(review_item::Column::Id)],
            order: Order::NewestFirst,
            key_of: |row: &review_item::Model| row.id.clone(),
        };
        let (now, gap) = (state.clock.now(), gap(state));
        let args = PageArgs::new(first, after, None, None);
        let mut page = paged(&state.db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(ReviewItem::from_row(row, false, now, gap))
        })
        .await?;
        let ids: Vec<String> = page.edges.iter().map(|e| e.node.id.to_string()).collect();
        let reviewed = store::reviewed_of(&state.db, &ids, &principal.id).await?;
        for edge in &mut page.edges {
            edge.node.reviewed = reviewed.contains(edge.node.id.as_str());
        }
        Ok(page)
    }

    /// Counts per camera and local day of the items that started in `[from, to)` (at most 366
    /// days), with how many you have not reviewed.
    async fn review_summary(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the range (inclusive).")] from: DateTime<Utc>,
        #[graphql(desc = "End of the range (exclusive).")] to: DateTime<Utc>,
        #[graphql(
            desc = "IANA time zone the days are counted in, e.g. `Europe/Oslo`.",
            default_with = "Some(\"UTC\".to_owned())"
        )]
        time_zone: Option<String>,
        #[graphql(desc = "Only these cameras (each in your scope).")] camera_ids: Option<Vec<ID>>,
    ) -> Result<ReviewSummary, AppError> {
        let time_zone = time_zone.unwrap_or_else(|| "UTC".to_owned());
        let principal = ctx.require(Capability::EventsRead)?;
        let state = ctx.state()?;
        let tz = crate::footage::model::parse_time_zone("timeZone", &time_zone)?;
        if to <= from {
            return Err(AppError::bad_input("to", "must be after `from`"));
        }
        if let Some(ids) = &camera_ids {
            crate::graphql::input::distinct("cameraIds", ids)?;
        }
        if to - from > Duration::days(366) {
            return Err(AppError::bad_input(
                "to",
                "the range may span at most 366 days",
            ));
        }
        let filter = ReviewItemFilter {
            camera_ids,
            from: Some(from),
            to: Some(to),
            ..Default::default()
        };
        let rows = store::summary_rows(
            &state.db,
            condition(ctx, principal, &filter)?,
            &principal.id,
        )
        .await?;
        let mut days: std::collections::BTreeMap<(String, String), ReviewDay> =
            std::collections::BTreeMap::new();
        for (camera, severity, at, reviewed) in rows {
            let date = at.with_timezone(&tz).date_naive().to_string();
            let day = days
                .entry((date.clone(), camera.clone()))
                .or_insert_with(|| ReviewDay {
                    date,
                    camera_id: ID(camera),
                    alerts: 0,
                    detections: 0,
                    unreviewed_alerts: 0,
                    unreviewed_detections: 0,
                });
            match ReviewSeverity::parse(&severity) {
                ReviewSeverity::Alert => {
                    day.alerts += 1;
                    day.unreviewed_alerts += i32::from(!reviewed);
                }
                ReviewSeverity::Detection => {
                    day.detections += 1;
                    day.unreviewed_detections += i32::from(!reviewed);
                }
            }
        }
        let days: Vec<ReviewDay> = days.into_values().collect();
        let sum = |f: fn(&ReviewDay) -> i32| days.iter().map(f).sum();
        Ok(ReviewSummary {
            alerts: sum(|d| d.alerts),
            detections: sum(|d| d.detections),
            unreviewed_alerts: sum(|d| d.unreviewed_alerts),
            unreviewed_detections: sum(|d| d.unreviewed_detections),
            days,
        })
    }
}

/// Loads the named items, each in the caller's scope: a caller limited to some cameras gets the
/// same FORBIDDEN for a missing item and for one of another camera; others get NOT_FOUND for a
/// missing one.
async fn scoped_items(
    state: &AppState,
    principal: &Principal,
    ids: &[ID],
) -> Result<Vec<review_item::Model>, AppError> {
    crate::graphql::input::distinct("ids", ids)?;
    crate::graphql::input::in_range("ids", ids.len() as i64, 1, 500)?;
    let wanted: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let found = store::by_ids(&state.db, &wanted).await?;
    for (i, id) in wanted.iter().enumerate() {
        let visible = found
            .iter()
            .any(|m| &m.id == id && principal.scope.allows(&m.camera_id));
        if !visible {
            return Err(match principal.scope {
                CameraScope::All => AppError::NotFound(format!("ids[{i}]: no review item `{id}`")),
                CameraScope::Cameras(_) => AppError::Forbidden(format!(
                    "ids[{i}]: not a review item of the cameras this credential is limited to"
                )),
            });
        }
    }
    Ok(found)
}

async fn set_reviewed(
    ctx: &Context<'_>,
    ids: Vec<ID>,
    reviewed: bool,
) -> Result<Vec<ReviewItem>, AppError> {
    let principal = ctx.require(Capability::EventsRead)?;
    let state = ctx.state()?;
    let items = scoped_items(state, principal, &ids).await?;
    let now = state.clock.now();
    let wanted: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    store::mark(&state.db, &wanted, &principal.id, reviewed, now).await?;
    let gap = gap(state);
    let mut out: Vec<ReviewItem> = items
        .into_iter()
        .map(|m| ReviewItem::from_row(m, reviewed, now, gap))
        .collect();
    out.sort_by_key(|item| wanted.iter().position(|w| w == item.id.as_str()));
    Ok(out)
}

/// Review mutations.
#[derive(Default)]
pub struct ReviewMutation;

#[Object]
impl ReviewMutation {
    /// Marks items reviewed for you (other users still see them unreviewed); returns them.
    async fn mark_reviewed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The items (1 to 500, no repeats), each in your scope.")] ids: Vec<ID>,
    ) -> Result<Vec<ReviewItem>, AppError> {
        set_reviewed(ctx, ids, true).await
    }

    /// Marks items unreviewed for you again; returns them.
    async fn mark_unreviewed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The items (1 to 500, no repeats), each in your scope.")] ids: Vec<ID>,
    ) -> Result<Vec<ReviewItem>, AppError> {
        set_reviewed(ctx, ids, false).await
    }
}

/// Review subscriptions.
#[derive(Default)]
pub struct ReviewSubscription;

#[Subscription]
impl ReviewSubscription {
    /// Review items as they open and each time they grow (the same id again, with its new end,
    /// counts and severity), within your scope.
    async fn review_items(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only items matching this (`reviewed` and the time range are ignored here)."
        )]
        filter: Option<ReviewItemFilter>,
    ) -> Result<impl Stream<Item = ReviewItem> + use<>, AppError> {
        let principal = ctx.require(Capability::EventsRead)?.clone();
        let state = ctx.state()?.clone();
        let filter = filter.unwrap_or_default();
        check_cameras(ctx, &filter)?;
        let updates =
            tokio_stream::wrappers::BroadcastStream::new(state.review_updates.subscribe());
        // The newest event folded into any item: a subscriber that falls behind the broadcast
        // is caught up from the table with every item that changed after what it last saw.
        let newest: Option<i64> = review_item::Entity::find()
            .select_only()
            .column_as(review_item::Column::LastSeq.max(), "newest")
            .into_tuple()
            .one(&state.db)
            .await?
            .flatten();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(newest.unwrap_or(0)));
        Ok(updates
            .then(move |update| {
                let (state, principal, filter, seen) =
                    (state.clone(), principal.clone(), filter.clone(), seen.clone());
                async move {
                    let rows = match update {
                        Ok(m) => vec![m],
                        Err(lagged) => {
                            tracing::warn!(error = %lagged, "a reviewItems subscriber fell behind; catching up from the table");
                            let after = seen.load(std::sync::atomic::Ordering::Relaxed);
                            review_item::Entity::find()
                                .filter(review_item::Column::LastSeq.gt(after))
                                .order_by_asc(review_item::Column::LastSeq)
                                .limit(CATCH_UP_ITEMS)
                                .all(&state.db)
                                .await
                                .unwrap_or_default()
                        }
                    };
                    let mut out = Vec::with_capacity(rows.len());
                    for m in rows {
                        seen.fetch_max(m.last_seq, std::sync::atomic::Ordering::Relaxed);
                        let wanted = principal.scope.allows(&m.camera_id)
                            && filter
                                .camera_ids
                                .as_ref()
                                .is_none_or(|ids| ids.iter().any(|i| i.as_str() == m.camera_id))
                            && filter
                                .severity
                                .is_none_or(|s| s == ReviewSeverity::parse(&m.severity));
                        if !wanted {
                            continue;
                        }
                        let reviewed = store::reviewed_of(
                            &state.db,
                            std::slice::from_ref(&m.id),
                            &principal.id,
                        )
                        .await
                        .map(|set| set.contains(&m.id))
                        .unwrap_or(false);
                        out.push(ReviewItem::from_row(
                            m,
                            reviewed,
                            state.clock.now(),
                            gap(&state),
                        ));
                    }
                    out
                }
            })
            .flat_map(futures_util::stream::iter))
    }
}

/// Items a lagging `reviewItems` subscriber is sent at most when it is caught up.
const CATCH_UP_ITEMS: u64 = 1000;
