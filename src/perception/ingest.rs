//! Ingesting one batch: provenance, then one transaction for the outbox row, its detections
//! and the consumers' work on them (one commit per batch), then live overlays and events.

use entity::camera;
use sea_orm::TransactionTrait;

use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::perception::consumers::{Batch, HandOff, hand_off_in, writer_locks};
use crate::perception::live::DetectionBatch;
use crate::perception::model::ValidBatch;
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
        async move { store_and_hand_off(&state, &batch, &provenance, now).await }
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

/// One transaction for the batch, its detections and what the consumers make of them; `None`
/// for a duplicate. A consumer that fails leaves the batch stored alone, for the drain.
async fn store_and_hand_off(
    state: &AppState,
    batch: &ValidBatch,
    provenance: &crate::perception::store::Provenance,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(Batch, usize)>, AppError> {
    let _locks = writer_locks(state).await;
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
            if let Some(handoff) = handoff {
                handoff.abandoned(state).await;
            }
            return Err(err.into());
        }
        crate::telemetry::batch_ingested(false, stored.detections.len());
        // Live overlays see the batch before the events it caused.
        let _ = state.perception.batches.send(DetectionBatch::from(&stored));
        let events = handoff.as_ref().map_or(0, HandOff::produced);
        if let Some(handoff) = handoff {
            handoff.committed(state).await;
        }
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
