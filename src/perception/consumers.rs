//! Consumers of ingested batches and the hand-off to them: each consumer gets each batch at
//! most once (a claim row per consumer and batch); batches a crash left half handed off are
//! replayed at start-up.

use entity::{detection, outbox};

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

/// Something that reacts to ingested batches. Each runs at most once per batch.
#[async_trait::async_trait]
pub trait DetectionConsumer: Send + Sync + std::fmt::Debug {
    /// Stable name (the hand-off key).
    fn name(&self) -> &'static str;
    /// Handles one batch; returns how many events it produced.
    async fn handle(&self, state: &AppState, batch: &Batch) -> Result<usize, AppError>;
}

/// Hands a batch to every consumer that has not had it, then marks it fanned out.
pub async fn fan_out(state: &AppState, batch: &Batch) -> Result<usize, AppError> {
    let mut produced = 0;
    for consumer in &state.perception.consumers {
        let claimed = crate::perception::store::claim_handoff(
            &state.db,
            consumer.name(),
            batch.outbox.seq,
            state.clock.now(),
        )
        .await?;
        if claimed {
            match consumer.handle(state, batch).await {
                Ok(n) => produced += n,
                Err(err) => {
                    tracing::error!(consumer = consumer.name(), seq = batch.outbox.seq, error = %err, "detection consumer failed");
                }
            }
        }
    }
    crate::perception::store::mark_fanned_out(&state.db, batch.outbox.seq, state.clock.now())
        .await?;
    Ok(produced)
}

/// Start-up: batches committed but not fully handed off (a crash between commit and fan-out)
/// are handed to the consumers that have not had them, in order.
pub async fn replay(state: &AppState) -> Result<usize, AppError> {
    let pending = crate::perception::store::not_fanned_out(&state.db).await?;
    let count = pending.len();
    for row in pending {
        let detections = crate::perception::store::detections_of(&state.db, row.seq).await?;
        fan_out(
            state,
            &Batch {
                outbox: row,
                detections,
            },
        )
        .await?;
    }
    if count > 0 {
        tracing::warn!(
            batches = count,
            "replayed detection batches a restart interrupted"
        );
    }
    Ok(count)
}
