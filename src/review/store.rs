//! Stored review items: the grouper's pass over the event log (one transaction per page of
//! events, guarded by its cursor so two instances never group the same events), marks per
//! credential holder, and the reads behind the queries.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{event, review_item, review_mark};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use crate::error::AppError;
use crate::events::store::{advance_reader, reader_cursor};
use crate::review::model;

/// The grouper's name in `stream_cursors`.
const CURSOR: &str = "review";

/// One pass: groups up to `page` zone events after the cursor into review items (committed
/// with the cursor); whether a full page was read (more may wait), or another instance moved
/// the cursor first.
pub async fn group(
    db: &sea_orm::DatabaseConnection,
    gap: Duration,
    page: u64,
) -> Result<bool, AppError> {
    let from = reader_cursor(db, CURSOR).await?;
    let kinds = model::KINDS.map(|k| k.as_str());
    let condition = Condition::all()
        .add(event::Column::Kind.is_in(kinds))
        .add(event::Column::CameraId.is_not_null());
    let events = crate::events::store::events_after(db, condition, from, page).await?;
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(false);
    };
    let txn = db.begin().await?;
    // The cursor first: a second instance waits here, then finds it moved and gives up.
    if !advance_reader(&txn, CURSOR, from, last).await? {
        txn.rollback().await?;
        return Ok(true);
    }
    let mut current: HashMap<String, String> = HashMap::new();
    let mut touched: HashMap<String, review_item::Model> = HashMap::new();
    let mut fresh: HashSet<String> = HashSet::new();
    let mut order: Vec<String> = Vec::new();
    for e in &events {
        let Some(camera) = e.camera_id.clone() else {
            continue;
        };
        if !current.contains_key(&camera)
            && let Some(latest) = review_item::Entity::find()
                .filter(review_item::Column::CameraId.eq(camera.clone()))
                .order_by_desc(review_item::Column::EndedAt)
                .limit(1)
                .one(&txn)
                .await?
        {
            current.insert(camera.clone(), latest.id.clone());
            touched.entry(latest.id.clone()).or_insert(latest);
        }
        let joined = current
            .get(&camera)
            .and_then(|id| touched.get_mut(id))
            .filter(|item| model::joins(item, e, gap));
        let id = match joined {
            Some(item) => {
                model::absorb(item, e);
                item.id.clone()
            }
            None if !model::opens(e) => continue,
            None => {
                // Sorts by when the item opened, then by its first event.
                let id = format!("rev_{:013}_{:012}", e.at.timestamp_millis().max(0), e.seq);
                touched.insert(id.clone(), model::open(id.clone(), camera.clone(), e));
                fresh.insert(id.clone());
                current.insert(camera, id.clone());
                id
            }
        };
        if !order.contains(&id) {
            order.push(id);
        }
    }
    for id in order {
        let Some(item) = touched.remove(&id) else {
            continue;
        };
        if fresh.contains(&id) {
            review_item::Entity::insert(item.clone().into_active_model())
                .exec_without_returning(&txn)
                .await?;
        } else {
            item.clone()
                .into_active_model()
                .reset_all()
                .update(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(events.len() as u64 == page)
}

/// Items grouped from events after `seen`, up to the grouping cursor, whichever instance
/// grouped them (each holds its newest event's sequence); with the cursor, for the next call.
/// The cursor and the items it covers are committed together, so none is missed.
pub async fn grouped_since(
    db: &sea_orm::DatabaseConnection,
    seen: i64,
) -> Result<(Vec<review_item::Model>, i64), AppError> {
    let to = reader_cursor(db, CURSOR).await?;
    if to <= seen {
        return Ok((Vec::new(), seen));
    }
    let items = review_item::Entity::find()
        .filter(review_item::Column::LastSeq.gt(seen))
        .filter(review_item::Column::LastSeq.lte(to))
        .order_by_asc(review_item::Column::LastSeq)
        .all(db)
        .await?;
    Ok((items, to))
}

/// Where grouping stands: items up to here exist.
pub async fn grouped_to(db: &sea_orm::DatabaseConnection) -> Result<i64, AppError> {
    reader_cursor(db, CURSOR).await
}

/// Marks (or unmarks) items as reviewed by `holder`.
pub async fn mark(
    db: &impl ConnectionTrait,
    ids: &[String],
    holder: &str,
    reviewed: bool,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if reviewed {
        let rows = ids.iter().map(|id| review_mark::ActiveModel {
            item_id: Set(id.clone()),
            holder_id: Set(holder.to_owned()),
            reviewed_at: Set(now),
        });
        review_mark::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([review_mark::Column::ItemId, review_mark::Column::HolderId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    } else {
        review_mark::Entity::delete_many()
            .filter(review_mark::Column::ItemId.is_in(ids.to_vec()))
            .filter(review_mark::Column::HolderId.eq(holder))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Which of `ids` `holder` has reviewed.
pub async fn reviewed_of(
    db: &impl ConnectionTrait,
    ids: &[String],
    holder: &str,
) -> Result<HashSet<String>, AppError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(review_mark::Entity::find()
        .select_only()
        .column(review_mark::Column::ItemId)
        .filter(review_mark::Column::ItemId.is_in(ids.to_vec()))
        .filter(review_mark::Column::HolderId.eq(holder))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Items by id.
pub async fn by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<review_item::Model>, AppError> {
    Ok(review_item::Entity::find()
        .filter(review_item::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}

/// `(camera, severity, started_at, reviewed by holder)` of the items that started in
/// `[from, to)` on cameras matching `condition`.
pub async fn summary_rows(
    db: &impl ConnectionTrait,
    condition: Condition,
    holder: &str,
) -> Result<Vec<(String, String, DateTime<Utc>, bool)>, AppError> {
    let rows: Vec<(String, String, String, DateTime<Utc>)> = review_item::Entity::find()
        .select_only()
        .column(review_item::Column::Id)
        .column(review_item::Column::CameraId)
        .column(review_item::Column::Severity)
        .column(review_item::Column::StartedAt)
        .filter(condition)
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let mut reviewed = HashSet::new();
    for chunk in ids.chunks(500) {
        reviewed.extend(reviewed_of(db, chunk, holder).await?);
    }
    Ok(rows
        .into_iter()
        .map(|(id, camera, severity, at)| {
            let seen = reviewed.contains(&id);
            (camera, severity, at, seen)
        })
        .collect())
}
