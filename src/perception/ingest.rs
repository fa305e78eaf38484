//! Ingesting one batch: provenance, then one transaction for the outbox row, its detections
//! and the consumers' work on them, then live overlays and events. On SQLite, batches that
//! queue while one is written share the next commit.

use chrono::{DateTime, Utc};
use entity::camera;
use sea_orm::{DatabaseBackend, TransactionTrait};
use tokio::sync::oneshot;

use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::perception::consumers::{Batch, HandOff, hand_off_in, writer_locks};
use crate::perception::live::DetectionBatch;
use crate::perception::model::ValidBatch;
use crate::perception::store::Provenance;
use crate::state::AppState;

/// What ingest did with a batch.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    /// The batch's outbox sequence (none for a duplicate).
    pub seq: Option<i64>,
    /// The camera already had this frame id: nothing was written.
    pub duplicate: bool,
    /// Detections stored.
    pub accepted: usize,
    /// Zone events the batch produced.
    pub events: usize,
    /// A valid frame ticket vouched for the batch.
    pub ticketed: bool,
}

/// Stores a valid batch for `principal` (already checked for `ai:ingest` on `camera`) and
/// hands it on.
pub async fn ingest(
    state: &AppState,
    principal: &Principal,
    camera: &camera::Model,
    batch: ValidBatch,
    frame_ticket: Option<&str>,
) -> Result<Receipt, AppError> {
    let now = state.clock.now();
    let provenance =
        crate::perception::provenance::bind(state, principal, camera, &batch, frame_ticket, now)
            .await?;
    let ticketed = provenance.ticket_task.is_some();
    // The writes, the commit and the publishing after it run on their own task: a client that
    // goes away cancels its request, never a database call half done (a cancelled BEGIN or
    // COMMIT can leave a pooled connection inside a transaction) nor what follows the commit.
    let written = tokio::spawn({
        let state = state.clone();
        async move { write(&state, batch, provenance, now).await }
    });
    let Some((stored, events)) = written.await.map_err(AppError::internal)?? else {
        crate::telemetry::batch_ingested(true, 0);
        return Ok(Receipt {
            seq: None,
            duplicate: true,
            accepted: 0,
            events: 0,
            ticketed,
        });
    };
    Ok(Receipt {
        seq: Some(stored.outbox.seq),
        duplicate: false,
        accepted: stored.detections.len(),
        events,
        ticketed,
    })
}

/// What writing a batch gave: the stored batch and the events it produced, `None` for a
/// duplicate.
type Written = Result<Option<(Batch, usize)>, AppError>;

/// A batch waiting for SQLite's one writer, and where its outcome goes.
pub struct Job {
    batch: ValidBatch,
    provenance: Provenance,
    now: DateTime<Utc>,
    done: oneshot::Sender<Written>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("camera_id", &self.batch.get().camera_id)
            .field("frame_id", &self.batch.get().frame_id)
            .finish_non_exhaustive()
    }
}

/// At most this many queued batches are written by one transaction.
const GROUP_MAX: usize = 64;

/// Writes a batch. PostgreSQL: its own transaction, concurrently with others. SQLite has one
/// writer and a commit costs an `fsync`: the batch queues, and whoever holds the writer's
/// locks writes the batches queued so far (up to [`GROUP_MAX`]) in one transaction (group
/// commit), then answers each. Each batch is still all or nothing: if any write of the group fails, the group is
/// rolled back and its batches are written one by one.
async fn write(
    state: &AppState,
    batch: ValidBatch,
    provenance: Provenance,
    now: DateTime<Utc>,
) -> Written {
    if state.db.get_database_backend() != DatabaseBackend::Sqlite {
        return store_and_hand_off(state, &batch, &provenance, now).await;
    }
    let (done, mut outcome) = oneshot::channel();
    queue(state).push(Job {
        batch,
        provenance,
        now,
        done,
    });
    loop {
        // An earlier writer may answer while this one waits for the locks: then it need not
        // take them at all (and hold up other writers of the event log).
        let locks = tokio::select! {
            biased;
            written = &mut outcome => {
                return written
                    .unwrap_or_else(|_| Err(AppError::internal("a batch's writer went away")));
            }
            locks = writer_locks(state) => locks,
        };
        // Either an earlier writer took this batch and answered, or it is still queued.
        if let Some(written) = answered(&mut outcome) {
            return written;
        }
        let jobs: Vec<Job> = {
            let mut queued = queue(state);
            let n = queued.len().min(GROUP_MAX);
            queued.drain(..n).collect()
        };
        write_group(state, jobs).await;
        drop(locks);
        // Usually this batch was in the group just written: no need to queue for the locks
        // again to learn it.
        if let Some(written) = answered(&mut outcome) {
            return written;
        }
    }
}

/// The batch's outcome, if a writer has given it.
fn answered(outcome: &mut oneshot::Receiver<Written>) -> Option<Written> {
    match outcome.try_recv() {
        Ok(written) => Some(written),
        Err(oneshot::error::TryRecvError::Closed) => {
            Some(Err(AppError::internal("a batch's writer went away")))
        }
        Err(oneshot::error::TryRecvError::Empty) => None,
    }
}

fn queue(state: &AppState) -> std::sync::MutexGuard<'_, Vec<Job>> {
    state
        .perception
        .ingest_queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes `jobs` in one transaction and answers each (the caller holds the writer's locks).
async fn write_group(state: &AppState, jobs: Vec<Job>) {
    if jobs.len() == 1 {
        return write_each(state, jobs).await;
    }
    let txn = match state.db.begin().await {
        Ok(txn) => txn,
        Err(_) => return write_each(state, jobs).await,
    };
    let mut written = Vec::with_capacity(jobs.len());
    let mut failed = false;
    for job in &jobs {
        let step = async {
            let stored = crate::perception::store::insert_batch(
                &txn,
                &job.batch,
                &job.provenance,
                job.now,
                true,
            )
            .await?;
            Ok::<_, AppError>(match stored {
                Some(stored) => {
                    let handoff = hand_off_in(state, &txn, &stored, false).await?;
                    Some((stored, handoff))
                }
                None => None,
            })
        }
        .await;
        match step {
            Ok(step) => written.push(step),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if failed {
        let _ = txn.rollback().await;
        // Undo what the consumers did in memory, newest first, then write the batches one by
        // one: each gets its own outcome.
        for (_, handoff) in written.into_iter().flatten().rev() {
            handoff.abandoned(state).await;
        }
        return write_each(state, jobs).await;
    }
    if txn.commit().await.is_err() {
        // Maybe committed after all: the consumers reload from the database, and writing the
        // batches again finds those that were stored (duplicates) or stores them.
        let handoffs = written.into_iter().flatten().map(|(_, h)| h).collect();
        crate::perception::consumers::commit_failed(state, handoffs).await;
        return write_each(state, jobs).await;
    }
    for (job, step) in jobs.into_iter().zip(written) {
        let outcome = match step {
            Some((stored, handoff)) => {
                let events = published(state, &stored, Some(handoff)).await;
                Some((stored, events))
            }
            None => None,
        };
        let _ = job.done.send(Ok(outcome));
    }
}

/// Writes each job in its own transaction and answers it.
async fn write_each(state: &AppState, jobs: Vec<Job>) {
    for job in jobs {
        let written = store_and_hand_off(state, &job.batch, &job.provenance, job.now).await;
        let _ = job.done.send(written);
    }
}

/// After the commit: metrics, the live overlay, then what the consumers did; the events.
async fn published(state: &AppState, stored: &Batch, handoff: Option<HandOff<'_>>) -> usize {
    crate::telemetry::batch_ingested(false, stored.detections.len());
    // On SQLite live overlays see the batch before the events it caused (published just
    // below); on PostgreSQL the events reach the bus through the listener and may come first.
    let _ = state.perception.batches.send(DetectionBatch::from(stored));
    let events = handoff.as_ref().map_or(0, HandOff::produced);
    if let Some(handoff) = handoff {
        handoff.committed(state).await;
    }
    events
}

/// One transaction for the batch, its detections and what the consumers make of them (on
/// SQLite the caller holds the writer's locks); `None` for a duplicate. A consumer that fails
/// leaves the batch stored alone, for the drain.
async fn store_and_hand_off(
    state: &AppState,
    batch: &ValidBatch,
    provenance: &Provenance,
    now: DateTime<Utc>,
) -> Written {
    // With the consumers in the transaction; if one fails (logged by the hand-off), the batch
    // is valid all the same: stored alone, without the fanned-out mark, for the drain.
    for with_consumers in [true, false] {
        let txn = state.db.begin().await?;
        let Some(stored) =
            crate::perception::store::insert_batch(&txn, batch, provenance, now, with_consumers)
                .await?
        else {
            txn.rollback().await?;
            return Ok(None);
        };
        let handoff = if with_consumers {
            match hand_off_in(state, &txn, &stored, false).await {
                Ok(handoff) => Some(handoff),
                Err(_) => {
                    txn.rollback().await?;
                    continue;
                }
            }
        } else {
            None
        };
        if let Err(err) = txn.commit().await {
            crate::perception::consumers::commit_failed(state, handoff.into_iter().collect()).await;
            return Err(err.into());
        }
        let events = published(state, &stored, handoff).await;
        return Ok(Some((stored, events)));
    }
    Err(AppError::internal(
        "the batch was neither stored nor refused",
    ))
}

impl From<&Batch> for DetectionBatch {
    fn from(batch: &Batch) -> Self {
        let row = &batch.outbox;
        DetectionBatch {
            camera_id: async_graphql::ID(row.camera_id.clone()),
            seq: crate::graphql::scalars::Long(row.seq),
            frame_id: row.frame_id.clone(),
            task_type: row.task_type.clone(),
            captured_at: row.captured_at,
            detections: batch
                .detections
                .iter()
                .map(|d| crate::perception::live::LiveDetection {
                    label: d.label.clone(),
                    confidence: d.confidence,
                    x: d.x,
                    y: d.y,
                    w: d.w,
                    h: d.h,
                    track_id: d.track_id.clone(),
                })
                .collect(),
        }
    }
}
