//! Read locks (exports and snapshots reading segments) and evidence holds (durable).
//!
//! A read lock is a reference count on the segment row: overlapping exports each add one and
//! take one away, so one finishing never unprotects another's files. The guard releases on
//! every outcome; if it is dropped without an explicit release (panic, cancellation), it
//! releases from a spawned task. Each lock is also counted for the instance holding it
//! (`segment_read_locks`), so a restarting instance takes back its own and those of instances
//! whose lease lapsed, never a live neighbour's.

use entity::{evidence_hold, segment, segment_read_lock};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::error::AppError;

/// Holds one read lock on each of `ids` until released or dropped.
#[derive(Debug)]
pub struct ReadLock {
    db: DatabaseConnection,
    instance: String,
    ids: Vec<String>,
}

impl ReadLock {
    /// Adds a read lock to each segment that still exists, counted for `instance` too (so the
    /// locks can be taken back if that instance dies); returns the guard (a segment deleted
    /// meanwhile is simply not locked).
    pub async fn acquire(
        db: &DatabaseConnection,
        instance: &str,
        ids: Vec<String>,
    ) -> Result<ReadLock, AppError> {
        if !ids.is_empty() {
            retry_on_deadlock(|| acquire_once(db, instance, &ids)).await?;
        }
        Ok(ReadLock {
            db: db.clone(),
            instance: instance.to_owned(),
            ids,
        })
    }

    /// Releases now.
    pub async fn release(mut self) {
        let ids = std::mem::take(&mut self.ids);
        release(&self.db, &self.instance, ids).await;
    }
}

/// One attempt at [`ReadLock::acquire`], in one transaction.
async fn acquire_once(
    db: &DatabaseConnection,
    instance: &str,
    ids: &[String],
) -> Result<(), AppError> {
    let txn = begin_with_rows_locked(db, ids).await?;
    segment::Entity::update_many()
        .col_expr(
            segment::Column::ReadLocks,
            Expr::col(segment::Column::ReadLocks).add(1),
        )
        .filter(segment::Column::Id.is_in(ids.to_vec()))
        .exec(&txn)
        .await?;
    txn.execute(&count_for_instance(instance, ids)?).await?;
    txn.commit().await?;
    Ok(())
}

/// Begins a transaction holding the row locks of the segments `ids` ([`lock_segment_rows`]).
async fn begin_with_rows_locked(
    db: &DatabaseConnection,
    ids: &[String],
) -> Result<sea_orm::DatabaseTransaction, AppError> {
    let txn = db.begin().await?;
    lock_segment_rows(&txn, segment::Column::Id.is_in(ids.to_vec())).await?;
    Ok(txn)
}

/// Runs `attempt` again (up to three times in all) when PostgreSQL made it a deadlock's
/// victim: the transaction was rolled back whole, so running it again is safe. Row locks are
/// taken in id order ([`lock_segment_rows`]) so this should not happen; the retry is the
/// second line of defence against orders we do not control (foreign-key checks, cascades).
pub(crate) async fn retry_on_deadlock<T, F, Fut>(mut attempt: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(err) if tries < 3 && is_deadlock(&err) => {
                tracing::warn!(error = %err, tries, "segment lock transaction was a deadlock's victim; running it again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

fn is_deadlock(err: &AppError) -> bool {
    // SQLSTATE 40P01; sqlx shows it only in the message.
    let text = format!("{err:?}");
    text.contains("deadlock detected") || text.contains("40P01")
}

/// PostgreSQL: takes the row locks of the segments matching `filter` in id order. Every
/// transaction that updates several segment rows (read locks taken and released, evidence
/// flags refreshed) calls this first, so two of them with overlapping sets queue behind each
/// other instead of each holding a row the other wants (an UPDATE locks rows in scan order,
/// which changes as rows get new versions). SQLite has one writer at a time.
pub async fn lock_segment_rows(
    db: &impl ConnectionTrait,
    filter: sea_orm::sea_query::SimpleExpr,
) -> Result<(), AppError> {
    use sea_orm::{DatabaseBackend, QuerySelect};
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    segment::Entity::find()
        .select_only()
        .column(segment::Column::Id)
        .filter(filter)
        .order_by_asc(segment::Column::Id)
        .lock_exclusive()
        .into_tuple::<String>()
        .all(db)
        .await?;
    Ok(())
}

/// `INSERT INTO segment_read_locks … SELECT` the existing segments of `ids`, adding one to
/// `instance`'s count of each.
fn count_for_instance(
    instance: &str,
    ids: &[String],
) -> Result<sea_orm::sea_query::InsertStatement, AppError> {
    use sea_orm::sea_query::OnConflict;
    let existing = Query::select()
        .column(segment::Column::Id)
        .expr(Expr::val(instance))
        .expr(Expr::val(1))
        .from(segment::Entity)
        .and_where(segment::Column::Id.is_in(ids.to_vec()))
        .to_owned();
    let mut insert = Query::insert();
    insert
        .into_table(segment_read_lock::Entity)
        .columns([
            segment_read_lock::Column::SegmentId,
            segment_read_lock::Column::InstanceId,
            segment_read_lock::Column::Count,
        ])
        .select_from(existing)
        .map_err(AppError::internal)?
        .on_conflict(
            OnConflict::columns([
                segment_read_lock::Column::SegmentId,
                segment_read_lock::Column::InstanceId,
            ])
            .value(
                segment_read_lock::Column::Count,
                Expr::col((segment_read_lock::Entity, segment_read_lock::Column::Count)).add(1),
            )
            .to_owned(),
        );
    Ok(insert.to_owned())
}

impl Drop for ReadLock {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut self.ids);
        if ids.is_empty() {
            return;
        }
        let (db, instance) = (self.db.clone(), self.instance.clone());
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { release(&db, &instance, ids).await });
        }
    }
}

async fn release(db: &DatabaseConnection, instance: &str, ids: Vec<String>) {
    if ids.is_empty() {
        return;
    }
    if let Err(err) = retry_on_deadlock(|| release_once(db, instance, &ids)).await {
        tracing::error!(error = %err, "could not release read locks; recovery takes them back");
    }
}

/// One attempt at [`release`], in one transaction.
async fn release_once(
    db: &DatabaseConnection,
    instance: &str,
    ids: &[String],
) -> Result<(), AppError> {
    let txn = begin_with_rows_locked(db, ids).await?;
    // Only locks this instance still has on its ledger come off the segments: ones taken
    // back by recovery meanwhile (its lease lapsed) are not subtracted twice.
    let held: Vec<String> = segment_read_lock::Entity::update_many()
        .col_expr(
            segment_read_lock::Column::Count,
            Expr::col(segment_read_lock::Column::Count).sub(1),
        )
        .filter(segment_read_lock::Column::SegmentId.is_in(ids.to_vec()))
        .filter(segment_read_lock::Column::InstanceId.eq(instance))
        .filter(segment_read_lock::Column::Count.gt(0))
        .exec_with_returning(&txn)
        .await?
        .into_iter()
        .map(|row| row.segment_id)
        .collect();
    if !held.is_empty() {
        segment::Entity::update_many()
            .col_expr(
                segment::Column::ReadLocks,
                Expr::col(segment::Column::ReadLocks).sub(1),
            )
            .filter(segment::Column::Id.is_in(held))
            .filter(segment::Column::ReadLocks.gt(0))
            .exec(&txn)
            .await?;
    }
    segment_read_lock::Entity::delete_many()
        .filter(segment_read_lock::Column::SegmentId.is_in(ids.to_vec()))
        .filter(segment_read_lock::Column::InstanceId.eq(instance))
        .filter(segment_read_lock::Column::Count.lte(0))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Takes back the read locks of every instance not in `live`: each one's count comes off its
/// segments and its ledger rows go. When no other instance is alive (`alone`), every segment's
/// count is also set to what the live ledger holds, which clears counts left by a crash of a
/// server from before the ledger existed. Returns the segments touched.
pub async fn recover_read_locks(
    db: &DatabaseConnection,
    live: &[String],
    alone: bool,
) -> Result<u64, AppError> {
    let dead = segment_read_lock::Entity::find()
        .filter(segment_read_lock::Column::InstanceId.is_not_in(live.to_vec()))
        .all(db)
        .await?;
    let mut touched = 0;
    for row in &dead {
        // The ledger row is deleted first and only what that delete removed is subtracted, so
        // two instances recovering the same dead one (or its late release) never subtract twice.
        let txn = db.begin().await?;
        // The segment's row before its ledger row, as a release takes them.
        lock_segment_rows(&txn, segment::Column::Id.eq(row.segment_id.clone())).await?;
        let removed: i32 = segment_read_lock::Entity::delete_many()
            .filter(segment_read_lock::Column::SegmentId.eq(row.segment_id.clone()))
            .filter(segment_read_lock::Column::InstanceId.eq(row.instance_id.clone()))
            .exec_with_returning(&txn)
            .await?
            .iter()
            .map(|r| r.count)
            .sum();
        if removed > 0 {
            touched += segment::Entity::update_many()
                .col_expr(
                    segment::Column::ReadLocks,
                    Expr::col(segment::Column::ReadLocks).sub(removed),
                )
                .filter(segment::Column::Id.eq(row.segment_id.clone()))
                .filter(segment::Column::ReadLocks.gte(removed))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        txn.commit().await?;
    }
    if alone {
        // No live ledger rows but ours (none yet at start-up): nothing reads anything.
        let held = Query::select()
            .column(segment_read_lock::Column::SegmentId)
            .from(segment_read_lock::Entity)
            .to_owned();
        touched += segment::Entity::update_many()
            .col_expr(segment::Column::ReadLocks, Expr::value(0))
            .filter(segment::Column::ReadLocks.ne(0))
            .filter(segment::Column::Id.not_in_subquery(held))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(touched)
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
    lock_segment_rows(
        db,
        segment::Column::CameraId
            .eq(camera_id)
            .and(segment::Column::StartMs.lt(end_ms))
            .and(segment::Column::EndMs.gt(start_ms)),
    )
    .await?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
    use tokio::sync::Barrier;

    use super::retry_on_deadlock;

    async fn lock(db: &impl ConnectionTrait, table: &str, id: i32) -> Result<(), sea_orm::DbErr> {
        db.execute_unprepared(&format!(
            "SELECT id FROM {table} WHERE id = {id} FOR UPDATE"
        ))
        .await
        .map(|_| ())
    }

    /// A real PostgreSQL deadlock: the victim's transaction is run again and commits; nothing
    /// else is retried. Needs `HELDAR_TEST_DATABASE_URL` (skipped without it, like the
    /// PostgreSQL half of the integration suite).
    #[tokio::test]
    async fn a_deadlock_victim_runs_again_and_commits() {
        let Ok(url) = std::env::var("HELDAR_TEST_DATABASE_URL") else {
            return;
        };
        let db: DatabaseConnection = Database::connect(&url).await.unwrap();
        let table = format!("deadlock_probe_{}", uuid::Uuid::new_v4().simple());
        db.execute_unprepared(&format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY); INSERT INTO {table} VALUES (1), (2)"
        ))
        .await
        .unwrap();
        let both_hold = Arc::new(Barrier::new(2));
        let attempts = Arc::new(AtomicU32::new(0));
        // B holds row 2 and asks for row 1 once A (holding 1) is seen waiting for 2: A waited
        // first, so A's deadlock check fires first and A is the victim.
        let other = {
            let (db, table, both_hold) = (db.clone(), table.clone(), both_hold.clone());
            tokio::spawn(async move {
                let txn = db.begin().await.unwrap();
                lock(&txn, &table, 2).await.unwrap();
                both_hold.wait().await;
                let waiting = format!(
                    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND query LIKE '%{table} WHERE id = 2%' AND pid <> pg_backend_pid()"
                );
                while db
                    .query_one_raw(sea_orm::Statement::from_string(
                        db.get_database_backend(),
                        waiting.clone(),
                    ))
                    .await
                    .unwrap()
                    .is_none()
                {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                lock(&txn, &table, 1).await.unwrap();
                txn.commit().await.unwrap();
            })
        };
        let result = retry_on_deadlock(|| {
            let (db, table, both_hold, attempts) = (
                db.clone(),
                table.clone(),
                both_hold.clone(),
                attempts.clone(),
            );
            async move {
                let first = attempts.fetch_add(1, Ordering::SeqCst) == 0;
                let txn = db.begin().await?;
                lock(&txn, &table, 1).await?;
                if first {
                    both_hold.wait().await;
                }
                lock(&txn, &table, 2).await?;
                txn.commit().await?;
                Ok::<_, crate::error::AppError>("committed")
            }
        })
        .await;
        other.await.unwrap();
        db.execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .unwrap();
        assert_eq!(result.unwrap(), "committed");
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            2,
            "one deadlock, one retry"
        );

        // Any other error is returned at once.
        let tries = AtomicU32::new(0);
        let refused = retry_on_deadlock(|| {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(crate::error::AppError::Conflict("held".into())) }
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
