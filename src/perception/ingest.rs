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
    // SQLite has one writer: queue here, in order, rather than in its busy handler, which
    // sleeps in growing steps and turns contention into tail latency.
    let _gate = match state.db.get_database_backend() {
        DatabaseBackend::Sqlite => Some(state.perception.ingest_gate.clone().lock_owned().await),
        _ => None,
    };
    let txn = state.db.begin().await?;
    let Some(stored) =
        crate::perception::store::insert_batch(&txn, &batch, &provenance, now).await?
    else {
        txn.rollback().await?;
        crate::telemetry::batch_ingested(true, 0);
        return Ok(Receipt {
            seq: None,
            duplicate: true,
            accepted: 0,
            events: 0,
            ticketed,
        });
    };
    // The commit and the hand-off run on their own task (keeping the gate, so batches are
    // handed off in commit order): a client that goes away once the batch is written cancels
    // the request, never the commit or the hand-off after it.
    let committed = tokio::spawn({
        let state = state.clone();
        async move {
            let _gate = _gate;
            txn.commit().await?;
            crate::telemetry::batch_ingested(false, stored.detections.len());
            let _ = state.perception.batches.send(DetectionBatch::from(&stored));
            let events = fan_out(&state, &stored).await?;
            Ok::<_, AppError>((stored, events))
        }
    });
    let (stored, events) = committed.await.map_err(AppError::internal)??;
    Ok(Receipt {
        seq: Some(stored.outbox.seq),
        duplicate: false,
        accepted: stored.detections.len(),
        events,
        ticketed,
    })
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
