//! The worker contract over GraphQL: AI tasks (`createAiTask`, `updateAiTask`, `deleteAiTask`,
//! `aiTasks`), leases (`leaseAiTasks`, `releaseAiLease`; the sharing rule is in
//! [`crate::ai::leases`]) and the samplers' states (`aiSamplers`).

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{ai_lease, ai_task};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};

use crate::ai::leases::{self, LeaseRequest, holder};
use crate::ai::sampler::SamplerState;
use crate::ai::tasks::{StreamProfile, config, fps, frame_url, priority, width};
use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::input::text;
use crate::ids::new_id;

/// Work for AI workers on one camera.
#[derive(SimpleObject, Clone)]
pub struct AiTask {
    /// Stable task id (`ait_…`).
    #[graphql(owned)]
    pub id: ID,
    /// Id of the camera whose frames the task works on.
    pub camera_id: ID,
    /// Kind of work (`motion`, `detect`, …), chosen by whoever runs the workers.
    pub task_type: String,
    /// Stream the frames come from.
    pub stream_profile: StreamProfile,
    /// Frames a second wanted.
    pub fps: f64,
    /// Frame width wanted, in pixels.
    pub width: i32,
    /// Served first when the frame budget is short (higher first).
    pub priority: i32,
    /// Settings for the worker.
    pub config: Json<Value>,
    /// Whether workers should run it.
    pub enabled: bool,
    /// When the task was created.
    pub created_at: DateTime<Utc>,
    /// When the task was created or last changed by `updateAiTask`.
    pub updated_at: DateTime<Utc>,
}

impl From<ai_task::Model> for AiTask {
    fn from(m: ai_task::Model) -> Self {
        AiTask {
            id: ID(m.id),
            camera_id: ID(m.camera_id),
            task_type: m.task_type,
            stream_profile: m.stream_profile,
            fps: m.fps,
            width: m.width,
            priority: m.priority,
            config: Json(serde_json::from_str(&m.config).unwrap_or_else(|_| json!({}))),
            enabled: m.enabled,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A new AI task for workers on one camera; omitted fields take the defaults shown.
#[derive(InputObject)]
pub struct CreateAiTaskInput {
    /// Id of the camera whose frames the task works on.
    pub camera_id: ID,
    /// Kind of work, 1 to 64 characters.
    pub task_type: String,
    /// Stream profile the frames come from (default SUB).
    pub stream_profile: Option<StreamProfile>,
    /// Frames a second, 0.1 to 30 (default 5).
    pub fps: Option<f64>,
    /// Width in pixels, 160 to 3840 (default 1280).
    pub width: Option<i32>,
    /// -100 to 100 (default 0); higher is served first when the budget is short.
    pub priority: Option<i32>,
    /// A JSON object of up to 16 KB for the worker (default {}).
    pub config: Option<Json<Value>>,
    /// Whether workers should run it (default true).
    pub enabled: Option<bool>,
}

/// Changes to a task; absent fields stay.
#[derive(InputObject)]
pub struct UpdateAiTaskInput {
    /// Id of the task to change (`ait_…`).
    pub id: ID,
    /// Frames a second, 0.1 to 30.
    pub fps: Option<f64>,
    /// Width in pixels, 160 to 3840.
    pub width: Option<i32>,
    /// New priority, -100 to 100; higher is served first when the frame budget is short.
    pub priority: Option<i32>,
    /// A JSON object of up to 16 KB.
    pub config: Option<Json<Value>>,
    /// Whether workers should run it.
    pub enabled: Option<bool>,
}

/// What a worker asks for.
#[derive(InputObject)]
pub struct LeaseAiTasksInput {
    /// The worker's own id, stable across restarts (1 to 128 characters).
    pub worker_id: String,
    /// Only these task types (default: all).
    pub task_types: Option<Vec<String>>,
    /// At most this many tasks, 1 to 512 (default 16).
    pub max_tasks: Option<i32>,
    /// Lease length; clamped to 15..300 seconds (default 60). Call again before it ends to renew.
    pub ttl_seconds: Option<i32>,
}

/// A leased task and where its frames are.
#[derive(SimpleObject)]
pub struct LeasedTask {
    /// The leased task and its settings.
    pub task: AiTask,
    /// Pull the latest frame here (GET with the bearer token); the response carries the frame ticket.
    pub frame_url: String,
}

/// What a worker holds after `leaseAiTasks`.
#[derive(SimpleObject)]
pub struct AiLease {
    /// Id of this worker's lease; pass it to `releaseAiLease`.
    pub lease_id: Option<String>,
    /// The worker id from the request, trimmed.
    pub worker_id: String,
    /// When the leases lapse unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Lease length granted, in seconds: the requested `ttlSeconds` clamped to 15..300 (default 60).
    pub ttl_seconds: i32,
    /// Live workers of this credential sharing its tasks (this one included).
    pub workers: i32,
    /// The tasks now held.
    pub tasks: Vec<LeasedTask>,
}

/// A frame sampler's plan and state.
#[derive(SimpleObject)]
pub struct AiSampler {
    /// Id of the camera this sampler reads.
    pub camera_id: ID,
    /// Stream profile this sampler reads; one sampler runs per camera and profile.
    pub stream_profile: StreamProfile,
    /// `connecting`, `sampling`, `offline`, `error` or `shed` (no budget left).
    pub state: SamplerState,
    /// Rate the most demanding task asks for.
    pub requested_fps: f64,
    /// Width the most demanding task asks for.
    pub requested_width: i32,
    /// Rate granted by the frame budget (0 when shed).
    pub fps: f64,
    /// Width granted (0 when shed).
    pub width: i32,
    /// Restarts since it was planned.
    pub restarts: i32,
    /// The sampler's last failure: why ffmpeg could not start, or its exit status, run time and last stderr line; null if none yet.
    pub last_error: Option<String>,
}

async fn find_task(
    ctx: &Context<'_>,
    cap: Capability,
    id: &str,
) -> Result<ai_task::Model, AppError> {
    let principal = ctx.require(cap)?;
    let found = ai_task::Entity::find_by_id(id.to_owned())
        .one(&ctx.state()?.db)
        .await?;
    match found {
        Some(t) if principal.scope.allows(&t.camera_id) => Ok(t),
        _ if principal.scope != CameraScope::All => Err(AppError::Forbidden(
            "credential is not scoped to the camera of this task".into(),
        )),
        _ => Err(AppError::NotFound(format!("AI task `{id}` not found"))),
    }
}

/// AI task queries.
#[derive(Default)]
pub struct AiQuery;

#[Object]
impl AiQuery {
    /// AI tasks on the cameras in scope, oldest first.
    async fn ai_tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the tasks of this camera (omit for every camera in scope).")]
        camera_id: Option<ID>,
    ) -> Result<Vec<AiTask>, AppError> {
        let principal = ctx.require(Capability::AiTasks)?;
        let mut query = ai_task::Entity::find();
        if let Some(id) = &camera_id {
            ctx.require_camera(Capability::AiTasks, id)?;
            query = query.filter(ai_task::Column::CameraId.eq(id.as_str()));
        }
        if let CameraScope::Cameras(ids) = &principal.scope {
            query = query.filter(ai_task::Column::CameraId.is_in(ids.clone()));
        }
        Ok(query
            .order_by_asc(ai_task::Column::CreatedAt)
            .order_by_asc(ai_task::Column::Id)
            .all(&ctx.state()?.db)
            .await?
            .into_iter()
            .map(AiTask::from)
            .collect())
    }

    /// The frame samplers of the cameras in scope: requested and granted rate and width, and state.
    async fn ai_samplers(&self, ctx: &Context<'_>) -> Result<Vec<AiSampler>, AppError> {
        let principal = ctx.require(Capability::AiTasks)?;
        Ok(ctx
            .state()?
            .ai
            .samplers
            .statuses()
            .into_iter()
            .filter(|s| principal.scope.allows(&s.camera_id))
            .map(|s| AiSampler {
                camera_id: ID(s.camera_id),
                stream_profile: s.stream_profile,
                state: s.state,
                requested_fps: s.requested_fps,
                requested_width: s.requested_width,
                fps: s.fps,
                width: s.width,
                restarts: s.restarts as i32,
                last_error: s.last_error,
            })
            .collect())
    }
}

/// AI task and lease mutations.
#[derive(Default)]
pub struct AiMutation;

#[Object]
impl AiMutation {
    /// Creates a task; an identical one (camera, task type, profile) is returned as it is.
    async fn create_ai_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's camera, type and settings.")] input: CreateAiTaskInput,
    ) -> Result<AiTask, AppError> {
        find_camera(ctx, Capability::RegistryManage, &input.camera_id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        let task_type = text("input.taskType", &input.task_type, 64)?;
        let profile = input.stream_profile.unwrap_or(StreamProfile::Sub);
        let fps = fps("input.fps", input.fps.unwrap_or(5.0))?;
        let width = width("input.width", input.width.unwrap_or(1280))?;
        let priority = priority("input.priority", input.priority.unwrap_or(0))?;
        let config = config(
            "input.config",
            &input.config.map(|c| c.0).unwrap_or_else(|| json!({})),
        )?;
        let existing = || async {
            ai_task::Entity::find()
                .filter(ai_task::Column::CameraId.eq(input.camera_id.as_str()))
                .filter(ai_task::Column::TaskType.eq(task_type.clone()))
                .filter(ai_task::Column::StreamProfile.eq(profile))
                .one(&state.db)
                .await
        };
        if let Some(found) = existing().await? {
            return Ok(found.into());
        }
        let now = state.clock.now();
        let inserted = ai_task::ActiveModel {
            id: Set(new_id("ait")),
            camera_id: Set(input.camera_id.to_string()),
            task_type: Set(task_type.clone()),
            stream_profile: Set(profile),
            fps: Set(fps),
            width: Set(width),
            priority: Set(priority),
            config: Set(config),
            enabled: Set(input.enabled.unwrap_or(true)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&state.db)
        .await;
        let created = match inserted {
            Ok(created) => created,
            // Two creators racing: the unique index decides and the winner's row is returned.
            Err(err) => match AppError::from(err) {
                AppError::Conflict(_) => {
                    return existing()
                        .await?
                        .map(AiTask::from)
                        .ok_or_else(|| AppError::internal("the conflicting AI task vanished"));
                }
                other => return Err(other),
            },
        };
        let mut entry = Entry::new("create_ai_task", "ai_task", &created.id).detail(
            json!({"taskType": created.task_type, "profile": created.stream_profile.as_str()}),
        );
        entry.camera_id = Some(&created.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        crate::fleet::ownership::reconcile_all(state).await;
        Ok(created.into())
    }

    /// Changes a task's rate, width, priority, settings or enabled flag.
    async fn update_ai_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task's id and the fields to change; omitted ones stay as they are.")]
        input: UpdateAiTaskInput,
    ) -> Result<AiTask, AppError> {
        let current = find_task(ctx, Capability::RegistryManage, &input.id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        let mut row = current.into_active_model();
        if let Some(v) = input.fps {
            row.fps = Set(fps("input.fps", v)?);
        }
        if let Some(v) = input.width {
            row.width = Set(width("input.width", v)?);
        }
        if let Some(v) = input.priority {
            row.priority = Set(priority("input.priority", v)?);
        }
        if let Some(v) = &input.config {
            row.config = Set(config("input.config", &v.0)?);
        }
        if let Some(v) = input.enabled {
            row.enabled = Set(v);
        }
        let now = state.clock.now();
        row.updated_at = Set(now);
        let updated = row.update(&state.db).await?;
        let mut entry = Entry::new("update_ai_task", "ai_task", &updated.id);
        entry.camera_id = Some(&updated.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        crate::fleet::ownership::reconcile_all(state).await;
        Ok(updated.into())
    }

    /// Deletes a task; its leases go with it.
    async fn delete_ai_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the task to delete (`ait_…`).")] id: ID,
    ) -> Result<bool, AppError> {
        let current = find_task(ctx, Capability::RegistryManage, &id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        ai_lease::Entity::delete_many()
            .filter(ai_lease::Column::TaskId.eq(current.id.clone()))
            .exec(&state.db)
            .await?;
        ai_task::Entity::delete_by_id(current.id.clone())
            .exec(&state.db)
            .await?;
        let now = state.clock.now();
        let mut entry = Entry::new("delete_ai_task", "ai_task", &current.id);
        entry.camera_id = Some(&current.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        crate::fleet::ownership::reconcile_all(state).await;
        Ok(true)
    }

    /// Acquires or renews this worker's share of the enabled tasks on the cameras in scope (recomputed on every call).
    async fn lease_ai_tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Who asks, for what.")] input: LeaseAiTasksInput,
    ) -> Result<AiLease, AppError> {
        let principal = ctx.require(Capability::AiTasks)?;
        let state = ctx.state()?;
        let worker_id = text("input.workerId", &input.worker_id, 128)?;
        let task_types = match &input.task_types {
            Some(types) => Some(
                types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| text(&format!("input.taskTypes[{i}]"), t, 64))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let max_tasks = input.max_tasks.unwrap_or(16);
        if !(1..=512).contains(&max_tasks) {
            return Err(AppError::bad_input(
                "input.maxTasks",
                "must be between 1 and 512",
            ));
        }
        let request = LeaseRequest {
            worker_id,
            task_types,
            max_tasks: max_tasks as usize,
            ttl_seconds: input.ttl_seconds.unwrap_or(60).clamp(15, 300),
        };
        let granted = leases::lease(&state.db, principal, &request, state.clock.now()).await?;
        let tasks: Vec<LeasedTask> = granted
            .tasks
            .into_iter()
            .map(|task| LeasedTask {
                frame_url: frame_url(&task),
                task: task.into(),
            })
            .collect();
        Ok(AiLease {
            lease_id: (!tasks.is_empty()).then_some(granted.lease_id),
            worker_id: request.worker_id,
            expires_at: granted.expires_at,
            ttl_seconds: request.ttl_seconds,
            workers: granted.workers as i32,
            tasks,
        })
    }

    /// Frees every task of a lease at once (only its holder can); returns how many were freed.
    async fn release_ai_lease(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lease id `leaseAiTasks` returned.")] lease_id: String,
    ) -> Result<i32, AppError> {
        let principal = ctx.require(Capability::AiTasks)?;
        let state = ctx.state()?;
        let released = leases::release(&state.db, &holder(principal), &lease_id).await?;
        Ok(released as i32)
    }
}
