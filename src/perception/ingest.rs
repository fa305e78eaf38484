//! Ingesting one batch: provenance, one transaction for the outbox row and its detections,
//! then live overlays and the hand-off to the consumers.

use entity::camera;
use sea_orm::{DatabaseBackend, TransactionTrait};

use crate::auth::principal::Principal;
use crate::error::AppError;
use crate::perception::consumers::{Batch, fan_out};
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
    // The writes, the commit and the hand-off run on their own task: a client that goes away
    // cancels its request, never a database call half done (a cancelled BEGIN or COMMIT can
    // leave a pooled connection inside a transaction) nor the hand-off after the commit.
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

/// One transaction for the batch, then the hand-off; `None` for a duplicate.
async fn store_and_hand_off(
    state: &AppState,
    batch: &ValidBatch,
    provenance: &crate::perception::store::Provenance,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(Batch, usize)>, AppError> {
    // SQLite has one writer: queue here, in order, rather than in its busy handler, which
    // sleeps in growing steps and turns contention into tail latency. The gate is held through
    // the hand-off, so batches are handed off in commit order.
    let _gate = match state.db.get_database_backend() {
        DatabaseBackend::Sqlite => Some(state.perception.ingest_gate.lock().await),
        _ => None,
    };
    let txn = state.db.begin().await?;
    let Some(stored) = crate::perception::store::insert_batch(&txn, batch, provenance, now).await?
    else {
        txn.rollback().await?;
        return Ok(None);
    };
    txn.commit().await?;
    crate::telemetry::batch_ingested(false, stored.detections.len());
    let _ = state.perception.batches.send(DetectionBatch::from(&stored));
    let events = fan_out(state, &stored).await?;
    Ok(Some((stored, events)))
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
