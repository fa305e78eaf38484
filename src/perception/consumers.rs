//! Consumers of ingested batches and the hand-off to them. A new batch is handed to every
//! consumer inside the transaction that writes it, so the batch and what the consumers wrote
//! about it commit together: a batch that is stored has been handed off. When a consumer
//! fails, the batch is stored alone with no fanned-out mark; the drain (while the server runs)
//! and the replay (at start-up) hand it off later, each consumer's claim row written in the
//! same transaction as its work, so a consumer has each batch exactly once once its
//! transaction commits, and at least once whatever fails in between.

use entity::{detection, outbox};
use sea_orm::{DatabaseBackend, DatabaseTransaction, TransactionTrait};

use crate::error::AppError;
use crate::state::AppState;

/// A stored batch handed to consumers.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The outbox row.
    pub outbox: outbox::Model,
    /// Its detections.
    pub detections: Vec<detection::Model>,
}

/// Something that reacts to ingested batches, inside the batch's transaction.
#[async_trait::async_trait]
pub trait DetectionConsumer: Send + Sync + std::fmt::Debug {
    /// Stable name (the hand-off key).
    fn name(&self) -> &'static str;
    /// Handles one batch, writing through `txn`; returns what it keeps until `txn` ends. On
    /// error the transaction is rolled back, so the consumer undoes its in-memory effects
    /// before returning the error.
    async fn handle<'a>(
        &'a self,
        state: &'a AppState,
        txn: &DatabaseTransaction,
        batch: &Batch,
    ) -> Result<Box<dyn Outcome + 'a>, AppError>;
    /// A COMMIT failed, so it may or may not have happened: reload whatever the consumer keeps
    /// in memory from what the database holds. Nothing by default.
    async fn resync(&self, _state: &AppState) {}
}

/// What a consumer did with a batch, held until the batch's transaction ends (a consumer may
/// keep a lock in it, so that the order of its effects is the order of the commits).
#[async_trait::async_trait]
pub trait Outcome: Send {
    /// Events it produced.
    fn produced(&self) -> usize;
    /// The transaction committed: publish what was written.
    async fn committed(self: Box<Self>, state: &AppState);
    /// The transaction did not commit: undo what was done in memory.
    async fn abandoned(self: Box<Self>, state: &AppState);
}

/// The consumers' work on one batch, pending its transaction's end.
pub struct HandOff<'a> {
    outcomes: Vec<Box<dyn Outcome + 'a>>,
}

impl HandOff<'_> {
    /// Events the consumers produced.
    pub fn produced(&self) -> usize {
        self.outcomes.iter().map(|o| o.produced()).sum()
    }

    /// After the commit.
    pub async fn committed(self, state: &AppState) {
        for outcome in self.outcomes {
            outcome.committed(state).await;
        }
    }

    /// After a rollback.
    pub async fn abandoned(self, state: &AppState) {
        for outcome in self.outcomes.into_iter().rev() {
            outcome.abandoned(state).await;
        }
    }
}

/// After a COMMIT that failed (it may have happened all the same): what the consumers did is
/// undone in memory (`handoffs` newest last), then each reloads its state from the database.
pub async fn commit_failed(state: &AppState, handoffs: Vec<HandOff<'_>>) {
    for handoff in handoffs.into_iter().rev() {
        handoff.abandoned(state).await;
    }
    for consumer in &state.perception.consumers {
        consumer.resync(state).await;
    }
}

/// Runs the consumers on `batch` inside `txn`. With `claim` (a batch committed earlier: the
/// drain or the replay), each consumer first claims the batch in `txn` and is skipped if it
/// already had it; a new batch, inserted in `txn` itself, cannot have been had by anyone. On
/// error, what earlier consumers did in memory is undone and `txn` must be rolled back.
pub async fn hand_off_in<'a>(
    state: &'a AppState,
    txn: &DatabaseTransaction,
    batch: &Batch,
    claim: bool,
) -> Result<HandOff<'a>, AppError> {
    let mut handoff = HandOff {
        outcomes: Vec::new(),
    };
    for consumer in &state.perception.consumers {
        let result = async {
            if claim
                && !crate::perception::store::claim_handoff(
                    txn,
                    consumer.name(),
                    batch.outbox.seq,
                    state.clock.now(),
                )
                .await?
            {
                return Ok(None);
            }
            consumer.handle(state, txn, batch).await.map(Some)
        }
        .await;
        match result {
            Ok(Some(outcome)) => handoff.outcomes.push(outcome),
            Ok(None) => {}
            Err(err) => {
                tracing::error!(consumer = consumer.name(), seq = batch.outbox.seq, error = %err, "detection consumer failed");
                handoff.abandoned(state).await;
                return Err(err);
            }
        }
    }
    Ok(handoff)
}

/// The locks a writer of batches takes before its transaction, in this order: on SQLite, the
/// ingest gate (one writer: queue here, in order, rather than in SQLite's busy handler, which
/// sleeps in growing steps) and the event log's write lock (events are published after the
/// commit, in sequence order). PostgreSQL needs neither: rows lock themselves and the event
/// log's order is an advisory lock inside the transaction.
pub async fn writer_locks(
    state: &AppState,
) -> Option<(
    tokio::sync::MutexGuard<'_, ()>,
    tokio::sync::MutexGuard<'_, ()>,
)> {
    match state.db.get_database_backend() {
        DatabaseBackend::Sqlite => Some((
            state.perception.ingest_gate.lock().await,
            state.events.write.lock().await,
        )),
        _ => None,
    }
}

/// Hands a committed batch that missed its hand-off to the consumers that have not had it, in
/// one transaction with their claims and the fanned-out mark; the events produced.
pub async fn hand_off_committed(state: &AppState, batch: &Batch) -> Result<usize, AppError> {
    let _locks = writer_locks(state).await;
    let txn = state.db.begin().await?;
    let handoff = match hand_off_in(state, &txn, batch, true).await {
        Ok(handoff) => handoff,
        Err(err) => {
            txn.rollback().await?;
            return Err(err);
        }
    };
    let finished = async {
        crate::perception::store::mark_fanned_out(&txn, batch.outbox.seq, state.clock.now())
            .await?;
        txn.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    let produced = handoff.produced();
    match finished {
        Ok(()) => {
            handoff.committed(state).await;
            Ok(produced)
        }
        Err(err) => {
            commit_failed(state, vec![handoff]).await;
            Err(err)
        }
    }
}

/// While the server runs: every `HELDAR_HANDOFF_DRAIN_SECS`, batches committed that long ago
/// and still not handed to every consumer (a consumer that failed, an instance that died) are
/// handed to the consumers that have not had them.
pub async fn drain(state: AppState) {
    let every = std::time::Duration::from_secs(state.config.handoff_drain_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        let before = state.clock.now() - chrono::Duration::from_std(every).unwrap_or_default();
        let stale = match crate::perception::store::stale_not_fanned_out(&state.db, before).await {
            Ok(stale) => stale,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for batches to hand off");
                continue;
            }
        };
        for row in stale {
            let seq = row.seq;
            match hand_off_stored(&state, row).await {
                Ok(_) => tracing::warn!(seq, "handed off a batch that missed its hand-off"),
                Err(err) => tracing::warn!(seq, error = %err, "could not hand off a batch"),
            }
        }
    }
}

/// Reads a stored batch's detections and hands it off.
async fn hand_off_stored(state: &AppState, row: outbox::Model) -> Result<usize, AppError> {
    let detections = crate::perception::store::detections_of(&state.db, row.seq).await?;
    hand_off_committed(
        state,
        &Batch {
            outbox: row,
            detections,
        },
    )
    .await
}

/// Start-up: batches committed but not fully handed off are handed to the consumers that have
/// not had them, in order.
pub async fn replay(state: &AppState) -> Result<usize, AppError> {
    let pending = crate::perception::store::not_fanned_out(&state.db).await?;
    let count = pending.len();
    for row in pending {
        hand_off_stored(state, row).await?;
    }
    if count > 0 {
        tracing::warn!(
            batches = count,
            "replayed detection batches a restart interrupted"
        );
    }
    Ok(count)
}
