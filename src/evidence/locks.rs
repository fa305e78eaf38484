//! Read locks (exports and snapshots reading segments) and evidence holds (durable).
//!
//! A read lock is a reference count on the segment row: overlapping exports each add one and
//! take one away, so one finishing never unprotects another's files. The guard releases on
//! every outcome; if it is dropped without an explicit release (panic, cancellation), it
//! releases from a spawned task. Counts are reset to zero at start-up, before serving, since
//! no reader survives a restart.

use entity::{evidence_hold, segment};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

use crate::error::AppError;

/// Holds one read lock on each of `ids` until released or dropped.
#[derive(Debug)]
pub struct ReadLock {
    db: DatabaseConnection,
    ids: Vec<String>,
}

impl ReadLock {
    /// Adds a read lock to each segment that still exists; returns the guard and the ids locked
    /// (a segment deleted meanwhile is simply not among them).
    pub async fn acquire(db: &DatabaseConnection, ids: Vec<String>) -> Result<ReadLock, AppError> {
        if !ids.is_empty() {
            segment::Entity::update_many()
                .col_expr(
                    segment::Column::ReadLocks,
                    Expr::col(segment::Column::ReadLocks).add(1),
                )
                .filter(segment::Column::Id.is_in(ids.clone()))
                .exec(db)
                .await?;
        }
        Ok(ReadLock {
            db: db.clone(),
            ids,
        })
    }

    /// Releases now.
    pub async fn release(mut self) {
        let ids = std::mem::take(&mut self.ids);
        release(&self.db, ids).await;
    }
}

impl Drop for ReadLock {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut self.ids);
        if ids.is_empty() {
            return;
        }
        let db = self.db.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { release(&db, ids).await });
        }
    }
}

async fn release(db: &DatabaseConnection, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    let result = segment::Entity::update_many()
        .col_expr(
            segment::Column::ReadLocks,
            Expr::col(segment::Column::ReadLocks).sub(1),
        )
        .filter(segment::Column::Id.is_in(ids))
        .filter(segment::Column::ReadLocks.gt(0))
        .exec(db)
        .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "could not release read locks; the next start-up resets them");
    }
}

/// Start-up: no reader survives a restart, so every read lock is dropped.
pub async fn reset_read_locks(db: &impl ConnectionTrait) -> Result<u64, AppError> {
    Ok(segment::Entity::update_many()
        .col_expr(segment::Column::ReadLocks, Expr::value(0))
        .filter(segment::Column::ReadLocks.ne(0))
        .exec(db)
        .await?
        .rows_affected)
}

/// `NOT EXISTS (an active hold of the segment's camera overlapping it)`, for segment queries.
pub fn not_held() -> sea_orm::sea_query::SimpleExpr {
    let holds = Alias::new("evidence_holds");
    let segs = Alias::new("segments");
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(holds.clone())
            .and_where(
                Expr::col((holds.clone(), evidence_hold::Column::CameraId))
                    .equals((segs.clone(), segment::Column::CameraId)),
            )
            .and_where(Expr::col((holds.clone(), evidence_hold::Column::ReleasedAt)).is_null())
            .and_where(
                Expr::col((holds.clone(), evidence_hold::Column::StartMs))
                    .lt(Expr::col((segs.clone(), segment::Column::EndMs))),
            )
            .and_where(
                Expr::col((holds, evidence_hold::Column::EndMs))
                    .gt(Expr::col((segs, segment::Column::StartMs))),
            )
            .to_owned(),
    )
    .not()
}

/// PostgreSQL: serialises, per camera, new holds with retention's deletes until the end of the
/// transaction. A delete re-checks the holds in a subquery, and under READ COMMITTED that
/// subquery cannot see a hold committed after the statement began; with this lock taken first
/// by both, a hold that `lockEvidence` reported is always seen by a later delete. SQLite has one
/// writer at a time, so it needs nothing.
pub async fn lock_camera_holds(db: &impl ConnectionTrait, camera_id: &str) -> Result<(), AppError> {
    use sea_orm::{DatabaseBackend, Statement};
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        // Two-key form: a namespace ("HOLD") and the camera.
        "SELECT pg_advisory_xact_lock(1213156420, hashtext($1))",
        [camera_id.into()],
    ))
    .await?;
    Ok(())
}

/// Sets `evidence_locked` on the camera's segments overlapping `[start, end)` to whether an
/// active hold still covers each (after a hold is placed or released).
pub async fn refresh_evidence_flags(
    db: &impl ConnectionTrait,
    camera_id: &str,
    start_ms: i64,
    end_ms: i64,
) -> Result<(), AppError> {
    let overlapping = || {
        segment::Entity::update_many()
            .filter(segment::Column::CameraId.eq(camera_id))
            .filter(segment::Column::StartMs.lt(end_ms))
            .filter(segment::Column::EndMs.gt(start_ms))
    };
    overlapping()
        .col_expr(segment::Column::EvidenceLocked, Expr::value(true))
        .filter(not_held().not())
        .exec(db)
        .await?;
    overlapping()
        .col_expr(segment::Column::EvidenceLocked, Expr::value(false))
        .filter(not_held())
        .exec(db)
        .await?;
    Ok(())
}

/// Active holds of a camera, oldest first.
pub async fn active_holds(
    db: &impl ConnectionTrait,
    camera_id: &str,
) -> Result<Vec<evidence_hold::Model>, AppError> {
    Ok(evidence_hold::Entity::find()
        .filter(evidence_hold::Column::CameraId.eq(camera_id))
        .filter(evidence_hold::Column::ReleasedAt.is_null())
        .order_by_asc(evidence_hold::Column::CreatedAt)
        .all(db)
        .await?)
}
