//! Stored batches: the outbox row and its detections, the hand-off claims of batches handed
//! off late, and the batches still waiting for theirs.

use chrono::{DateTime, Utc};
use entity::{consumer_fanout, detection, outbox};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use crate::error::AppError;
use crate::perception::consumers::Batch;
use crate::perception::model::ValidBatch;

/// Who vouches for a batch: the credential that posted it and, with a frame ticket, its task.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// `apikey:<id>` or `user:<id>`.
    pub produced_by: String,
    /// The task of a verified frame ticket.
    pub ticket_task: Option<String>,
}

/// Inserts the outbox row and the detections (call inside a transaction). `handed_off`: the
/// same transaction hands the batch to every consumer, so it is marked fanned out as it is
/// written. `None` when the camera already has this frame id: nothing was written.
pub async fn insert_batch(
    txn: &impl ConnectionTrait,
    batch: &ValidBatch,
    provenance: &Provenance,
    now: DateTime<Utc>,
    handed_off: bool,
) -> Result<Option<Batch>, AppError> {
    let input = batch.get();
    let inserted = outbox::Entity::insert(outbox::ActiveModel {
        camera_id: Set(input.camera_id.clone()),
        frame_id: Set(input.frame_id.clone()),
        task_type: Set(input.task_type.clone()),
        captured_at: Set(input.captured_at),
        detection_count: Set(input.detections.len() as i32),
        produced_by: Set(provenance.produced_by.clone()),
        created_at: Set(now),
        fanned_out_at: Set(handed_off.then_some(now)),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([outbox::Column::CameraId, outbox::Column::FrameId])
    .exec_with_returning(txn)
    .await;
    let row = match inserted {
        Ok(sea_orm::TryInsertResult::Inserted(row)) => row,
        // The frame is already stored: PostgreSQL reports the conflict, SQLite an empty
        // RETURNING.
        Ok(_) | Err(sea_orm::DbErr::RecordNotFound(_)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let detections: Vec<detection::ActiveModel> = input
        .detections
        .iter()
        .map(|d| {
            let mut attrs = d.attributes.clone().unwrap_or_else(|| json!({}));
            attrs["provenance"] = json!({
                "producedBy": provenance.produced_by,
                "ticket": if provenance.ticket_task.is_some() { "verified" } else { "none" },
                "task": provenance.ticket_task,
            });
            detection::ActiveModel {
                outbox_seq: Set(row.seq),
                camera_id: Set(row.camera_id.clone()),
                task_type: Set(input.task_type.clone()),
                captured_at: Set(input.captured_at),
                label: Set(d.label.clone()),
                confidence: Set(d.confidence),
                x: Set(d.bbox.x),
                y: Set(d.bbox.y),
                w: Set(d.bbox.w),
                h: Set(d.bbox.h),
                track_id: Set(d.track_id.clone()),
                attributes: Set(attrs.to_string()),
                created_at: Set(now),
                ..Default::default()
            }
        })
        .collect();
    // The stored rows come back from the insert itself (RETURNING), not a second read.
    let mut stored = if detections.is_empty() {
        Vec::new()
    } else {
        detection::Entity::insert_many(detections)
            .exec_with_returning(txn)
            .await?
    };
    stored.sort_by_key(|d| d.id);
    Ok(Some(Batch {
        outbox: row,
        detections: stored,
    }))
}

/// Claims the hand-off of batch `seq` to `consumer`; true for the one caller that gets it.
pub async fn claim_handoff(
    db: &impl ConnectionTrait,
    consumer: &str,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let claimed = consumer_fanout::Entity::insert(consumer_fanout::ActiveModel {
        consumer: Set(consumer.into()),
        outbox_seq: Set(seq),
        fanned_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            consumer_fanout::Column::Consumer,
            consumer_fanout::Column::OutboxSeq,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(claimed == 1)
}

/// Marks batch `seq` as handed to every consumer.
pub async fn mark_fanned_out(
    db: &impl ConnectionTrait,
    seq: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::FannedOutAt, Expr::value(now))
        .filter(outbox::Column::Seq.eq(seq))
        .exec(db)
        .await?;
    Ok(())
}

/// Batches not yet handed to every consumer, oldest first.
pub async fn not_fanned_out(db: &impl ConnectionTrait) -> Result<Vec<outbox::Model>, AppError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::FannedOutAt.is_null())
        .order_by_asc(outbox::Column::Seq)
        .all(db)
        .await?)
}

/// Batches committed before `before` and still not handed to every consumer, oldest first.
pub async fn stale_not_fanned_out(
    db: &impl ConnectionTrait,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<outbox::Model>, AppError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::FannedOutAt.is_null())
        .filter(outbox::Column::CreatedAt.lt(before))
        .order_by_asc(outbox::Column::Seq)
        .limit(1000)
        .all(db)
        .await?)
}

/// The detections of batch `seq`, in insertion order.
pub async fn detections_of(
    db: &impl ConnectionTrait,
    seq: i64,
) -> Result<Vec<detection::Model>, AppError> {
    Ok(detection::Entity::find()
        .filter(detection::Column::OutboxSeq.eq(seq))
        .order_by_asc(detection::Column::Id)
        .all(db)
        .await?)
}
