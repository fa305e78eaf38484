//! Storing events: append in sequence order (and hand each to the bus), read after a sequence.

use entity::{event, stream_cursor};
use sea_orm::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use crate::error::AppError;
use crate::state::AppState;

/// Advisory lock key serialising event inserts across instances on PostgreSQL.
const EVENT_LOCK: i64 = 0x4845_4c44_4556; // "HELDEV"

/// Appends an event and makes sure subscribers get it in sequence order.
///
/// On SQLite (one process) the insert and the in-process broadcast happen under one lock. On
/// PostgreSQL several instances may share the database: the insert takes a transaction-scoped
/// advisory lock, so sequence order is commit order across instances, and `NOTIFY`s the
/// sequence; every instance's listener ([`listen`](crate::events::bus::listen)) reads the new rows and broadcasts them, so
/// an event ingested on one instance reaches subscribers on all of them.
pub async fn record(
    state: &AppState,
    row: impl Into<event::ActiveModel>,
) -> Result<event::Model, AppError> {
    let _in_order = state.events.write.lock().await;
    let txn = state.db.begin().await?;
    let stored = record_in(&txn, vec![row.into()]).await?;
    txn.commit().await?;
    publish(state, stored.clone());
    stored
        .into_iter()
        .next()
        .ok_or_else(|| AppError::internal("the event was not stored"))
}

/// Appends `rows` inside `txn`, another write's transaction, so they commit (or vanish) with
/// it; returns them stored, in sequence order.
///
/// On SQLite the caller holds [`EventBus::write`](crate::events::bus::EventBus) from before
/// `txn` began until it has passed the stored rows to [`publish`] after the commit. On
/// PostgreSQL the advisory lock is taken here and held to the end of `txn`, and the commit
/// notifies every instance's listener.
pub async fn record_in(
    txn: &DatabaseTransaction,
    rows: Vec<event::ActiveModel>,
) -> Result<Vec<event::Model>, AppError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    for row in &rows {
        if let sea_orm::ActiveValue::Set(kind) = &row.kind {
            crate::telemetry::event_recorded(kind);
        }
    }
    let postgres = txn.get_database_backend() == DatabaseBackend::Postgres;
    if postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [EVENT_LOCK.into()],
        ))
        .await?;
    }
    let mut stored = event::Entity::insert_many(rows)
        .exec_with_returning(txn)
        .await?;
    stored.sort_by_key(|e| e.seq);
    if postgres && let Some(last) = stored.last() {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_notify('heldar_events', $1)",
            [last.seq.to_string().into()],
        ))
        .await?;
    }
    Ok(stored)
}

/// After the commit of a [`record_in`] transaction: SQLite hands the rows to this instance's
/// bus (PostgreSQL's listener does that for every instance).
pub fn publish(state: &AppState, stored: Vec<event::Model>) {
    if state.db.get_database_backend() == DatabaseBackend::Postgres {
        return;
    }
    for row in stored {
        let _ = state.events.sender.send(row);
    }
}

/// The newest stored sequence (0 when empty); where a new listener starts.
pub async fn newest_seq(db: &impl ConnectionTrait) -> Result<i64, AppError> {
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

/// Events matching `condition` after sequence `seq`, oldest first, at most `limit`.
pub async fn events_after(
    db: &impl ConnectionTrait,
    condition: Condition,
    seq: i64,
    limit: u64,
) -> Result<Vec<event::Model>, AppError> {
    Ok(event::Entity::find()
        .filter(condition)
        .filter(event::Column::Seq.gt(seq))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// Where a named reader of the event log stands (0 when it has not started).
pub async fn reader_cursor(db: &impl ConnectionTrait, name: &str) -> Result<i64, AppError> {
    if let Some(cursor) = stream_cursor::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
    {
        return Ok(cursor.seq);
    }
    // The first time only: a write.
    stream_cursor::Entity::insert(stream_cursor::ActiveModel {
        name: Set(name.to_owned()),
        seq: Set(0),
    })
    .on_conflict(
        OnConflict::column(stream_cursor::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(stream_cursor::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .map_or(0, |c| c.seq))
}

/// Moves a reader from `from` to `to` only if it is still at `from`; whether it moved.
pub async fn advance_reader(
    db: &impl ConnectionTrait,
    name: &str,
    from: i64,
    to: i64,
) -> Result<bool, AppError> {
    let moved = stream_cursor::Entity::update_many()
        .col_expr(stream_cursor::Column::Seq, Expr::value(to))
        .filter(stream_cursor::Column::Name.eq(name))
        .filter(stream_cursor::Column::Seq.eq(from))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}
