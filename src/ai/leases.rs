//! Task leases. A task is leased to one (credential, worker) at a time. The workers of one
//! credential that ask for the same task types share its tasks: task *i* of the candidates
//! (sorted by id) belongs to live worker *i mod n*, and a worker drops the leases that are no
//! longer its share, so a new worker gets work on the next call of the others. A lapsed lease
//! is claimable by anyone entitled to the task; expiry is a predicate of the claim
//! ([`crate::db::claim`]), not a reaper.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use entity::{ai_lease, ai_task, ai_worker, camera};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::principal::{CameraScope, Principal, PrincipalKind};
use crate::db::{Claim, claim};
use crate::error::AppError;
use crate::ids::new_id;

/// A worker counts in the sharing for its lease length after each call, and at least this long.
pub const LIVE_WORKER_SECS: i64 = 60;
/// Worker rows older than this are deleted.
const FORGET_WORKER_SECS: i64 = 600;

/// The credential a lease, ticket or batch belongs to: `apikey:<id>` or `user:<id>`.
pub fn holder(principal: &Principal) -> String {
    format!(
        "{}:{}",
        match principal.kind {
            PrincipalKind::ApiKey => "apikey",
            PrincipalKind::User => "user",
        },
        principal.id
    )
}

/// What a worker asks for.
#[derive(Debug, Clone)]
pub struct LeaseRequest {
    /// The worker's own id (checked: 1 to 128 characters).
    pub worker_id: String,
    /// Only these task types (none: all).
    pub task_types: Option<Vec<String>>,
    /// At most this many tasks.
    pub max_tasks: usize,
    /// Lease length in seconds (already clamped).
    pub ttl_seconds: i32,
}

/// What a worker holds after a lease call.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The worker's lease id (the same across renewals).
    pub lease_id: String,
    /// When the leases lapse unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Live workers sharing the credential's tasks, this one included.
    pub workers: usize,
    /// The tasks now held.
    pub tasks: Vec<ai_task::Model>,
}

/// Worker `me` of `workers`'s share of `candidates`: every `workers`-th, at most `max`.
pub fn share_of<T>(candidates: Vec<T>, me: usize, workers: usize, max: usize) -> Vec<T> {
    let workers = workers.max(1);
    candidates
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % workers == me)
        .map(|(_, t)| t)
        .take(max)
        .collect()
}

/// Acquires or renews `request.worker_id`'s share of the enabled tasks on enabled cameras in
/// `principal`'s scope.
pub async fn lease(
    db: &impl ConnectionTrait,
    principal: &Principal,
    request: &LeaseRequest,
    now: DateTime<Utc>,
) -> Result<Granted, AppError> {
    let holder = holder(principal);
    let expires = now + Duration::seconds(i64::from(request.ttl_seconds));
    let live = heartbeat(db, &holder, request, now).await?;
    let me = live
        .iter()
        .position(|w| *w == request.worker_id)
        .unwrap_or(0);
    let candidates = candidates(db, &principal.scope, request.task_types.as_deref()).await?;
    let share = share_of(candidates, me, live.len(), request.max_tasks);
    let lease_id = let_go_outside(db, &holder, &request.worker_id, &share).await?;
    let mut tasks = Vec::new();
    for task in share {
        let won = claim_task(
            db,
            &task,
            &lease_id,
            &holder,
            &request.worker_id,
            now,
            expires,
        )
        .await?;
        if won == Claim::Won {
            tasks.push(task);
        }
    }
    Ok(Granted {
        lease_id,
        expires_at: expires,
        workers: live.len().max(1),
        tasks,
    })
}

/// Records that the worker is alive and returns the live workers sharing with it (same
/// credential, same task types), sorted. A worker stays live for as long as its leases last
/// (at least a minute), so one renewing at a third of a long lease never drops out between
/// calls.
async fn heartbeat(
    db: &impl ConnectionTrait,
    holder: &str,
    request: &LeaseRequest,
    now: DateTime<Utc>,
) -> Result<Vec<String>, AppError> {
    let mut types_key = request.task_types.clone().unwrap_or_default();
    types_key.sort();
    types_key.dedup();
    let types_key = serde_json::to_string(&types_key).unwrap_or_default();
    let live_until = now + Duration::seconds(i64::from(request.ttl_seconds).max(LIVE_WORKER_SECS));
    ai_worker::Entity::insert(ai_worker::ActiveModel {
        holder: Set(holder.to_owned()),
        worker_id: Set(request.worker_id.clone()),
        task_types: Set(types_key.clone()),
        last_seen: Set(now),
        live_until: Set(live_until),
    })
    .on_conflict(
        OnConflict::columns([ai_worker::Column::Holder, ai_worker::Column::WorkerId])
            .update_columns([
                ai_worker::Column::TaskTypes,
                ai_worker::Column::LastSeen,
                ai_worker::Column::LiveUntil,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    // Forget long-gone workers.
    ai_worker::Entity::delete_many()
        .filter(ai_worker::Column::LastSeen.lt(now - Duration::seconds(FORGET_WORKER_SECS)))
        .exec(db)
        .await?;
    Ok(ai_worker::Entity::find()
        .filter(ai_worker::Column::Holder.eq(holder))
        .filter(ai_worker::Column::TaskTypes.eq(types_key))
        .filter(ai_worker::Column::LiveUntil.gte(now))
        .order_by_asc(ai_worker::Column::WorkerId)
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.worker_id)
        .collect())
}

/// Enabled tasks (of `task_types`, if given) on enabled cameras in `scope`, sorted by id.
async fn candidates(
    db: &impl ConnectionTrait,
    scope: &CameraScope,
    task_types: Option<&[String]>,
) -> Result<Vec<ai_task::Model>, AppError> {
    let cameras: HashSet<String> = camera::Entity::find()
        .filter(camera::Column::Enabled.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .filter(|id| scope.allows(id))
        .collect();
    let mut query = ai_task::Entity::find().filter(ai_task::Column::Enabled.eq(true));
    if let Some(types) = task_types {
        query = query.filter(ai_task::Column::TaskType.is_in(types.to_vec()));
    }
    Ok(query
        .order_by_asc(ai_task::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter(|t| cameras.contains(&t.camera_id))
        .collect())
}

/// Lets go of the worker's leases outside its share (another worker joined, the scope
/// narrowed, a task was disabled), so their new owner can claim them now. Returns the
/// worker's lease id (a new one if it holds nothing).
async fn let_go_outside(
    db: &impl ConnectionTrait,
    holder: &str,
    worker_id: &str,
    share: &[ai_task::Model],
) -> Result<String, AppError> {
    let mine = ai_lease::Entity::find()
        .filter(ai_lease::Column::Holder.eq(holder))
        .filter(ai_lease::Column::WorkerId.eq(worker_id))
        .all(db)
        .await?;
    let lease_id = mine
        .first()
        .map(|l| l.lease_id.clone())
        .unwrap_or_else(|| new_id("ail"));
    let dropped: Vec<String> = mine
        .iter()
        .filter(|l| !share.iter().any(|t| t.id == l.task_id))
        .map(|l| l.task_id.clone())
        .collect();
    if !dropped.is_empty() {
        ai_lease::Entity::delete_many()
            .filter(ai_lease::Column::TaskId.is_in(dropped))
            .filter(ai_lease::Column::Holder.eq(holder))
            .filter(ai_lease::Column::WorkerId.eq(worker_id))
            .exec(db)
            .await?;
    }
    Ok(lease_id)
}

/// Claims one task for the worker: a new lease, a renewal of its own (which keeps its
/// acquisition time), or the take-over of a lapsed one. A task deleted meanwhile is `Gone`.
async fn claim_task(
    db: &impl ConnectionTrait,
    task: &ai_task::Model,
    lease_id: &str,
    holder: &str,
    worker_id: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<Claim, AppError> {
    let row = ai_lease::ActiveModel {
        task_id: Set(task.id.clone()),
        lease_id: Set(lease_id.to_owned()),
        holder: Set(holder.to_owned()),
        worker_id: Set(worker_id.to_owned()),
        camera_id: Set(task.camera_id.clone()),
        acquired_at: Set(now),
        renewed_at: Set(now),
        expires_at: Set(expires),
    };
    let mine = Condition::all()
        .add(ai_lease::Column::Holder.eq(holder))
        .add(ai_lease::Column::WorkerId.eq(worker_id));
    let acquired =
        Expr::case(mine.clone(), Expr::col(ai_lease::Column::AcquiredAt)).finally(Expr::value(now));
    claim::<ai_lease::Entity>(
        db,
        Some((row, ai_lease::Column::TaskId)),
        Condition::all().add(ai_lease::Column::TaskId.eq(task.id.clone())),
        Condition::any()
            .add(mine)
            .add(ai_lease::Column::ExpiresAt.lt(now)),
        vec![
            (ai_lease::Column::AcquiredAt, acquired.into()),
            (ai_lease::Column::LeaseId, Expr::value(lease_id.to_owned())),
            (ai_lease::Column::Holder, Expr::value(holder.to_owned())),
            (
                ai_lease::Column::WorkerId,
                Expr::value(worker_id.to_owned()),
            ),
            (
                ai_lease::Column::CameraId,
                Expr::value(task.camera_id.clone()),
            ),
            (ai_lease::Column::RenewedAt, Expr::value(now)),
            (ai_lease::Column::ExpiresAt, Expr::value(expires)),
        ],
    )
    .await
}

/// The live lease `holder` has on `task_id` at `now`, if any.
pub async fn held_lease(
    db: &impl ConnectionTrait,
    holder: &str,
    task_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ai_lease::Model>, AppError> {
    Ok(ai_lease::Entity::find_by_id(task_id.to_owned())
        .filter(ai_lease::Column::Holder.eq(holder))
        .filter(ai_lease::Column::ExpiresAt.gte(now))
        .one(db)
        .await?)
}

/// Frees every task of `holder`'s lease `lease_id`; returns how many were freed. A worker that
/// releases is leaving: it leaves the sharing at once, so its share goes to the others on their
/// next call, not after it stops counting as live.
pub async fn release(
    db: &impl ConnectionTrait,
    holder: &str,
    lease_id: &str,
) -> Result<u64, AppError> {
    let leaving: Vec<String> = ai_lease::Entity::find()
        .filter(ai_lease::Column::LeaseId.eq(lease_id))
        .filter(ai_lease::Column::Holder.eq(holder))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.worker_id)
        .collect();
    let released = ai_lease::Entity::delete_many()
        .filter(ai_lease::Column::LeaseId.eq(lease_id))
        .filter(ai_lease::Column::Holder.eq(holder))
        .exec(db)
        .await?
        .rows_affected;
    if !leaving.is_empty() {
        ai_worker::Entity::delete_many()
            .filter(ai_worker::Column::Holder.eq(holder))
            .filter(ai_worker::Column::WorkerId.is_in(leaving))
            .exec(db)
            .await?;
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_tasks_round_robin_up_to_their_maximum() {
        let tasks: Vec<u32> = (0..7).collect();
        assert_eq!(share_of(tasks.clone(), 0, 2, 16), vec![0, 2, 4, 6]);
        assert_eq!(share_of(tasks.clone(), 1, 2, 16), vec![1, 3, 5]);
        assert_eq!(share_of(tasks.clone(), 0, 1, 3), vec![0, 1, 2]);
        assert_eq!(
            share_of(tasks, 0, 0, 16).len(),
            7,
            "no live worker counts as one"
        );
    }
}
