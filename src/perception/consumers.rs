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

/// While the server runs: every `HELDAR_HANDOFF_DRAIN_SECS`, batches committed that long ago
/// and still not handed to every consumer (a hand-off that failed or panicked, an instance that
/// died between commit and hand-off) are handed to the consumers that have not had them. The
/// per-consumer claim keeps each at most once.
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
            let handed = async {
                let detections = crate::perception::store::detections_of(&state.db, seq).await?;
                fan_out(
                    &state,
                    &Batch {
                        outbox: row,
                        detections,
                    },
                )
                .await
            };
            match handed.await {
                Ok(_) => tracing::warn!(seq, "handed off a batch that missed its hand-off"),
                Err(err) => tracing::warn!(seq, error = %err, "could not hand off a batch"),
            }
        }
    }
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
