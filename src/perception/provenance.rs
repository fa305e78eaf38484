//! Where a batch's provenance stands. With a frame ticket, the ticket must be this
//! credential's, for a task it still leases, enabled, on this camera, and the body must agree
//! with it (the frame id comes from the ticket, so no one can pre-claim another's frames);
//! without one, the `HELDAR_INGEST_PROVENANCE` mode decides. Errors come in the reference's
//! order: UNAUTHENTICATED (the ticket itself), FORBIDDEN (what changed since), then CONFLICT
//! naming the field the body contradicts.

use chrono::{DateTime, Utc};
use entity::{ai_task, camera};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::ai::tickets::Ticket;
use crate::auth::principal::Principal;
use crate::config::Provenance as Mode;
use crate::error::AppError;
use crate::events::model::{EventKind, NewEvent, Severity};
use crate::perception::model::ValidBatch;
use crate::perception::store::Provenance;
use crate::state::AppState;

/// Checks a batch's frame ticket (or its absence) for `principal` posting on `camera`.
pub async fn bind(
    state: &AppState,
    principal: &Principal,
    camera: &camera::Model,
    batch: &ValidBatch,
    frame_ticket: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Provenance, AppError> {
    let holder = crate::ai::leases::holder(principal);
    let ticket_task = match frame_ticket {
        None => {
            unticketed(state, &holder, camera, batch).await?;
            None
        }
        Some(token) => {
            let (ticket, task) = verified_task(state, &holder, camera, token, now).await?;
            agrees(
                state, principal, &holder, camera, batch, &ticket, &task, now,
            )
            .await?;
            Some(task.id)
        }
    };
    Ok(Provenance {
        produced_by: holder,
        ticket_task,
    })
}

fn unauthenticated(why: &str) -> AppError {
    AppError::Unauthenticated(format!("input.frameTicket: {why}"))
}

/// A batch without a ticket: refused under `enforce`, flagged under `warn`; never with a `t:`
/// frame id, which only tickets derive.
async fn unticketed(
    state: &AppState,
    holder: &str,
    camera: &camera::Model,
    batch: &ValidBatch,
) -> Result<(), AppError> {
    if state.config.ingest_provenance == Mode::Enforce {
        return Err(AppError::Unauthenticated(
            "input.frameTicket: this server requires a frame ticket (HELDAR_INGEST_PROVENANCE=enforce); lease the task, pull the frame with `?task=`, and post its `x-frame-ticket`".into(),
        ));
    }
    // Refused before the warning is written: a refused batch leaves no trace.
    if batch.get().frame_id.starts_with("t:") {
        return Err(AppError::bad_input(
            "input.frameId",
            "the `t:` prefix is reserved for ticketed frames",
        ));
    }
    if state.config.ingest_provenance == Mode::Warn {
        warn_unticketed(state, holder, &camera.id).await;
    }
    Ok(())
}

/// The ticket, checked by its MAC, and its task.
async fn verified_task(
    state: &AppState,
    holder: &str,
    camera: &camera::Model,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(Ticket, ai_task::Model), AppError> {
    let ticket = crate::ai::tickets::parse(token).map_err(unauthenticated)?;
    // The MAC is checked before anything is looked up, so a made-up ticket learns nothing
    // (not even whether its task exists). A genuine ticket for another camera than the body's
    // is a contradiction, reported below.
    let keys = &state.ai.tickets;
    let epoch = now.timestamp();
    let for_body = keys.verify(&ticket, holder, &camera.id, epoch);
    let task = ai_task::Entity::find_by_id(ticket.task_id.clone())
        .one(&state.db)
        .await?;
    let task = match (for_body, task) {
        (Ok(()), Some(task)) => task,
        (Err(why), Some(task)) if task.camera_id != camera.id => {
            keys.verify(&ticket, holder, &task.camera_id, epoch)
                .map_err(|_| unauthenticated(why))?;
            task
        }
        (Err(why), _) => return Err(unauthenticated(why)),
        (Ok(()), None) => return Err(unauthenticated("its task no longer exists")),
    };
    Ok((ticket, task))
}

/// The ticket's task is still leased, enabled and in scope, and the body says what the
/// ticket says.
#[expect(
    clippy::too_many_arguments,
    reason = "each is a distinct fact the check compares"
)]
async fn agrees(
    state: &AppState,
    principal: &Principal,
    holder: &str,
    camera: &camera::Model,
    batch: &ValidBatch,
    ticket: &Ticket,
    task: &ai_task::Model,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let input = batch.get();
    if crate::ai::leases::held_lease(&state.db, holder, &task.id, now)
        .await?
        .is_none()
    {
        return Err(unauthenticated(
            "this credential holds no live lease on the ticket's task; renew with `leaseAiTasks`",
        ));
    }
    if !task.enabled {
        return Err(AppError::Forbidden(format!(
            "input.frameTicket: task `{}` was disabled after the ticket was issued",
            task.id
        )));
    }
    if !principal.scope.allows(&task.camera_id) {
        return Err(AppError::Forbidden(
            "input.frameTicket: credential is no longer scoped to the ticket's camera".into(),
        ));
    }
    if task.camera_id != camera.id {
        return Err(AppError::Conflict(format!(
            "input.cameraId: the ticket is for camera `{}`",
            task.camera_id
        )));
    }
    if !camera.enabled {
        return Err(AppError::Forbidden(format!(
            "input.frameTicket: camera `{}` was disabled after the ticket was issued",
            camera.id
        )));
    }
    if task.task_type != input.task_type {
        return Err(AppError::Conflict(format!(
            "input.taskType: the ticket is for task type `{}`",
            task.task_type
        )));
    }
    if input.frame_id != ticket.frame_id() {
        return Err(AppError::Conflict(format!(
            "input.frameId: the ticket is for frame `{}` (the pull's x-frame-id)",
            ticket.frame_id()
        )));
    }
    if input.captured_at.timestamp_millis() != ticket.captured_ms {
        return Err(AppError::Conflict(
            "input.capturedAt: it differs from the ticket's capture time (the pull's x-frame-captured-at)".into(),
        ));
    }
    Ok(())
}

/// Under `warn`, one `INGEST_UNTICKETED` event per credential an hour.
async fn warn_unticketed(state: &AppState, holder: &str, camera_id: &str) {
    let due = {
        let Ok(mut warned) = state.ai.unticketed_warnings.lock() else {
            return;
        };
        let due = warned
            .get(holder)
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(3600));
        if due {
            warned.insert(holder.to_owned(), std::time::Instant::now());
        }
        due
    };
    if !due {
        return;
    }
    let event = NewEvent::new(
        EventKind::IngestUnticketed,
        Severity::Warning,
        state.clock.now(),
    )
    .camera(camera_id)
    .payload(json!({"credential": holder, "hint": "workers should post the frame ticket of each pull; set HELDAR_INGEST_PROVENANCE=enforce to require it"}));
    if let Err(err) = crate::events::store::record(state, event).await {
        tracing::warn!(error = %err, "could not log an unticketed-ingest warning");
    }
}
