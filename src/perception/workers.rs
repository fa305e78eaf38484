//! The worker contract over GraphQL: AI tasks (`createAiTask`, `updateAiTask`, `deleteAiTask`,
//! `aiTasks`), leases (`leaseAiTasks`, `releaseAiLease`) and the samplers' states
//! (`aiSamplers`).
//!
//! A task is leased to one (credential, worker) at a time. The workers of one credential share
//! its tasks: task *i* of the candidates (sorted by id) belongs to live worker *i mod n*, and a
//! worker drops the leases that are no longer its share, so a new worker gets work on the
//! next call of the others. A lapsed lease is claimable by anyone entitled to the task; expiry
//! is a predicate of the claim, not a reaper.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{ai_lease, ai_task, ai_worker, camera};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{CameraScope, Capability, Principal, PrincipalKind};
use crate::auth::token::new_id;
use crate::cameras::graphql::find_camera;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::input::{in_range, text};
use crate::state::AppState;

/// A worker counts in the sharing for its lease length after each call, and at least this long.
pub const LIVE_WORKER_SECS: i64 = 60;
/// Worker rows older than this are deleted.
const FORGET_WORKER_SECS: i64 = 600;

/// The credential a lease, ticket or batch belongs to: `apikey:<id>` or `user:<id>`.
pub fn holder(principal: &Principal) -> String {
    format!(
        "{}:{}",
        match principal.kind {
            PrincipalKind::ApiKey => "apikey",
            PrincipalKind::User => "user",
        },
        principal.id
    )
}

/// Which of a camera's streams a task reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum StreamProfile {
    /// The lighter sub-stream (default).
    Sub,
    /// The main stream.
    Main,
}

impl StreamProfile {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamProfile::Sub => "sub",
            StreamProfile::Main => "main",
        }
    }

    fn parse(s: &str) -> StreamProfile {
        if s == "main" {
            StreamProfile::Main
        } else {
            StreamProfile::Sub
        }
    }
}

/// Work for AI workers on one camera.
#[derive(SimpleObject, Clone)]
pub struct AiTask {
    /// `ait_…`.
    pub id: ID,
    /// Camera.
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
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<ai_task::Model> for AiTask {
    fn from(m: ai_task::Model) -> Self {
        AiTask {
            id: ID(m.id),
            camera_id: ID(m.camera_id),
            task_type: m.task_type,
            stream_profile: StreamProfile::parse(&m.stream_profile),
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

/// A new task.
#[derive(InputObject)]
pub struct CreateAiTaskInput {
    /// Camera.
    pub camera_id: ID,
    /// Kind of work, 1 to 64 characters.
    pub task_type: String,
    /// Stream (default SUB).
    pub stream_profile: Option<StreamProfile>,
    /// Frames a second, 0.1 to 30 (default 5).
    pub fps: Option<f64>,
    /// Width in pixels, 160 to 3840 (default 1280).
    pub width: Option<i32>,
    /// -100 to 100 (default 0); higher is served first when the budget is short.
    pub priority: Option<i32>,
    /// A JSON object of up to 16 KB for the worker (default {}).
    pub config: Option<Json<Value>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to a task; absent fields stay.
#[derive(InputObject)]
pub struct UpdateAiTaskInput {
    /// Frames a second, 0.1 to 30.
    pub fps: Option<f64>,
    /// Width in pixels, 160 to 3840.
    pub width: Option<i32>,
    /// -100 to 100.
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
    /// The task.
    pub task: AiTask,
    /// Pull the latest frame here (GET with the bearer token); the response carries the frame ticket.
    pub frame_url: String,
}

/// What a worker holds after `leaseAiTasks`.
#[derive(SimpleObject)]
pub struct AiLease {
    /// Id of this worker's lease; pass it to `releaseAiLease`.
    pub lease_id: Option<String>,
    /// The worker.
    pub worker_id: String,
    /// When the leases lapse unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Seconds granted.
    pub ttl_seconds: i32,
    /// Live workers of this credential sharing its tasks (this one included).
    pub workers: i32,
    /// The tasks now held.
    pub tasks: Vec<LeasedTask>,
}

/// A frame sampler's plan and state.
#[derive(SimpleObject)]
pub struct AiSampler {
    /// Camera.
    pub camera_id: ID,
    /// Stream.
    pub stream_profile: StreamProfile,
    /// `connecting`, `sampling`, `offline`, `error` or `shed` (no budget left).
    pub state: String,
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
    /// ffmpeg's last complaint.
    pub last_error: Option<String>,
}

fn fps(field: &str, v: f64) -> Result<f64, AppError> {
    in_range(field, v, 0.1, 30.0)
}

fn width(field: &str, v: i32) -> Result<i32, AppError> {
    // Even widths keep the scaler and JPEG encoder happy.
    in_range(field, v, 160, 3840).map(|v| v - v % 2)
}

fn priority(field: &str, v: i32) -> Result<i32, AppError> {
    in_range(field, v, -100, 100)
}

fn config(field: &str, v: &Value) -> Result<String, AppError> {
    let s = v.to_string();
    if !v.is_object() || s.len() > 16 * 1024 {
        return Err(AppError::bad_input(
            field,
            "must be a JSON object of at most 16 KB",
        ));
    }
    Ok(s)
}

/// The frame pull path of a task.
pub fn frame_url(task: &ai_task::Model) -> String {
    format!(
        "/media/frames/{}/{}.jpg?task={}",
        task.camera_id, task.stream_profile, task.id
    )
}

/// Re-plans the samplers after a change; a failure is logged, the change stands.
pub async fn reconcile_samplers(state: &AppState) {
    let planned = match crate::cameras::owners::claim_enabled(state).await {
        Ok(owned) => state.ai.samplers.reconcile(state, &owned).await,
        Err(err) => Err(err),
    };
    if let Err(err) = planned {
        tracing::error!(error = %err, "could not reconcile the frame samplers");
    }
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

/// The live lease `holder` has on `task_id` at `now`, if any.
pub async fn held_lease(
    state: &AppState,
    holder: &str,
    task_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ai_lease::Model>, AppError> {
    Ok(ai_lease::Entity::find_by_id(task_id.to_owned())
        .filter(ai_lease::Column::Holder.eq(holder))
        .filter(ai_lease::Column::ExpiresAt.gte(now))
        .one(&state.db)
        .await?)
}

/// AI task queries.
#[derive(Default)]
pub struct WorkersQuery;

#[Object]
impl WorkersQuery {
    /// AI tasks on the cameras in scope, oldest first.
    async fn ai_tasks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this camera's.")] camera_id: Option<ID>,
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
                stream_profile: StreamProfile::parse(&s.stream_profile),
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
pub struct WorkersMutation;

#[Object]
impl WorkersMutation {
    /// Creates a task; an identical one (camera, task type, profile) is returned as it is.
    async fn create_ai_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] input: CreateAiTaskInput,
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
                .filter(ai_task::Column::StreamProfile.eq(profile.as_str()))
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
            stream_profile: Set(profile.as_str().into()),
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
        let mut entry = Entry::new("create_ai_task", "ai_task", &created.id)
            .detail(json!({"taskType": created.task_type, "profile": created.stream_profile}));
        entry.camera_id = Some(&created.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        reconcile_samplers(state).await;
        Ok(created.into())
    }

    /// Changes a task's rate, width, priority, settings or enabled flag.
    async fn update_ai_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] id: ID,
        #[graphql(desc = "What changes.")] input: UpdateAiTaskInput,
    ) -> Result<AiTask, AppError> {
        let current = find_task(ctx, Capability::RegistryManage, &id).await?;
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
        reconcile_samplers(state).await;
        Ok(updated.into())
    }

    /// Deletes a task; its leases go with it.
    async fn delete_ai_task(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The task.")] id: ID,
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
        reconcile_samplers(state).await;
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
        let ttl = input.ttl_seconds.unwrap_or(60).clamp(15, 300);
        lease(
            state,
            principal,
            &worker_id,
            task_types,
            max_tasks as usize,
            ttl,
        )
        .await
    }

    /// Frees every task of a lease at once (only its holder can); returns how many were freed.
    async fn release_ai_lease(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lease id `leaseAiTasks` returned.")] lease_id: String,
    ) -> Result<i32, AppError> {
        let principal = ctx.require(Capability::AiTasks)?;
        let state = ctx.state()?;
        let holder = holder(principal);
        let leaving: Vec<String> = ai_lease::Entity::find()
            .filter(ai_lease::Column::LeaseId.eq(lease_id.clone()))
            .filter(ai_lease::Column::Holder.eq(holder.clone()))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|l| l.worker_id)
            .collect();
        let released = ai_lease::Entity::delete_many()
            .filter(ai_lease::Column::LeaseId.eq(lease_id))
            .filter(ai_lease::Column::Holder.eq(holder.clone()))
            .exec(&state.db)
            .await?
            .rows_affected;
        // A worker that releases is leaving: its share goes to the others on their next call,
        // not after it stops counting as live.
        if !leaving.is_empty() {
            ai_worker::Entity::delete_many()
                .filter(ai_worker::Column::Holder.eq(holder))
                .filter(ai_worker::Column::WorkerId.is_in(leaving))
                .exec(&state.db)
                .await?;
        }
        Ok(released as i32)
    }
}

async fn lease(
    state: &AppState,
    principal: &Principal,
    worker_id: &str,
    task_types: Option<Vec<String>>,
    max_tasks: usize,
    ttl: i32,
) -> Result<AiLease, AppError> {
    let holder = holder(principal);
    let now = state.clock.now();
    let expires = now + chrono::Duration::seconds(i64::from(ttl));
    // Workers share with the workers of their key that ask for the same task types.
    let mut types_key = task_types.clone().unwrap_or_default();
    types_key.sort();
    types_key.dedup();
    let types_key = serde_json::to_string(&types_key).unwrap_or_default();
    // Heartbeat: live for as long as its leases last (at least a minute), so a worker renewing
    // at a third of a long lease never drops out of the sharing between calls.
    let live_until = now + chrono::Duration::seconds(i64::from(ttl).max(LIVE_WORKER_SECS));
    ai_worker::Entity::insert(ai_worker::ActiveModel {
        holder: Set(holder.clone()),
        worker_id: Set(worker_id.to_owned()),
        task_types: Set(types_key.clone()),
        last_seen: Set(now),
        live_until: Set(live_until),
    })
    .on_conflict(
        OnConflict::columns([ai_worker::Column::Holder, ai_worker::Column::WorkerId])
            .update_columns([
                ai_worker::Column::TaskTypes,
                ai_worker::Column::LastSeen,
                ai_worker::Column::LiveUntil,
            ])
            .to_owned(),
    )
    .exec_without_returning(&state.db)
    .await?;
    // Forget long-gone workers.
    ai_worker::Entity::delete_many()
        .filter(ai_worker::Column::LastSeen.lt(now - chrono::Duration::seconds(FORGET_WORKER_SECS)))
        .exec(&state.db)
        .await?;
    let live: Vec<String> = ai_worker::Entity::find()
        .filter(ai_worker::Column::Holder.eq(holder.clone()))
        .filter(ai_worker::Column::TaskTypes.eq(types_key))
        .filter(ai_worker::Column::LiveUntil.gte(now))
        .order_by_asc(ai_worker::Column::WorkerId)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|w| w.worker_id)
        .collect();
    let me = live.iter().position(|w| w == worker_id).unwrap_or(0);
    let workers = live.len().max(1);

    // Candidates: enabled tasks on enabled cameras in the caller's scope now.
    let cameras: std::collections::HashSet<String> = camera::Entity::find()
        .filter(camera::Column::Enabled.eq(true))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|c| c.id)
        .filter(|id| principal.scope.allows(id))
        .collect();
    let mut query = ai_task::Entity::find().filter(ai_task::Column::Enabled.eq(true));
    if let Some(types) = &task_types {
        query = query.filter(ai_task::Column::TaskType.is_in(types.clone()));
    }
    let candidates: Vec<ai_task::Model> = query
        .order_by_asc(ai_task::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .filter(|t| cameras.contains(&t.camera_id))
        .collect();
    let share: Vec<ai_task::Model> = candidates
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % workers == me)
        .map(|(_, t)| t)
        .take(max_tasks)
        .collect();
    // Leases this worker holds outside its share (another worker joined, the scope narrowed,
    // a task was disabled) are let go, so their new owner can claim them now.
    let share_ids: Vec<String> = share.iter().map(|t| t.id.clone()).collect();
    let mine = ai_lease::Entity::find()
        .filter(ai_lease::Column::Holder.eq(holder.clone()))
        .filter(ai_lease::Column::WorkerId.eq(worker_id))
        .all(&state.db)
        .await?;
    let lease_id = mine
        .first()
        .map(|l| l.lease_id.clone())
        .unwrap_or_else(|| new_id("ail"));
    let dropped: Vec<String> = mine
        .iter()
        .filter(|l| !share_ids.contains(&l.task_id))
        .map(|l| l.task_id.clone())
        .collect();
    if !dropped.is_empty() {
        ai_lease::Entity::delete_many()
            .filter(ai_lease::Column::TaskId.is_in(dropped))
            .filter(ai_lease::Column::Holder.eq(holder.clone()))
            .filter(ai_lease::Column::WorkerId.eq(worker_id))
            .exec(&state.db)
            .await?;
    }
    let mut tasks = Vec::new();
    for task in share {
        let inserted = ai_lease::Entity::insert(ai_lease::ActiveModel {
            task_id: Set(task.id.clone()),
            lease_id: Set(lease_id.clone()),
            holder: Set(holder.clone()),
            worker_id: Set(worker_id.to_owned()),
            camera_id: Set(task.camera_id.clone()),
            acquired_at: Set(now),
            renewed_at: Set(now),
            expires_at: Set(expires),
        })
        .on_conflict(
            OnConflict::column(ai_lease::Column::TaskId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await;
        let inserted = match inserted {
            Ok(n) => n,
            // The task was deleted since the candidates were read (its foreign key is gone).
            Err(err) if crate::error::is_foreign_key_violation(&err) => {
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let claimed = inserted == 1 || {
            // Renew our own lease…
            let renewed = ai_lease::Entity::update_many()
                .col_expr(ai_lease::Column::LeaseId, Expr::value(lease_id.clone()))
                .col_expr(ai_lease::Column::RenewedAt, Expr::value(now))
                .col_expr(ai_lease::Column::ExpiresAt, Expr::value(expires))
                .filter(ai_lease::Column::TaskId.eq(task.id.clone()))
                .filter(ai_lease::Column::Holder.eq(holder.clone()))
                .filter(ai_lease::Column::WorkerId.eq(worker_id))
                .exec(&state.db)
                .await?
                .rows_affected;
            // …or take over a lapsed one. The condition is in the UPDATE, so of two claimers
            // exactly one wins.
            renewed == 1
                || ai_lease::Entity::update_many()
                    .col_expr(ai_lease::Column::LeaseId, Expr::value(lease_id.clone()))
                    .col_expr(ai_lease::Column::Holder, Expr::value(holder.clone()))
                    .col_expr(
                        ai_lease::Column::WorkerId,
                        Expr::value(worker_id.to_owned()),
                    )
                    .col_expr(
                        ai_lease::Column::CameraId,
                        Expr::value(task.camera_id.clone()),
                    )
                    .col_expr(ai_lease::Column::AcquiredAt, Expr::value(now))
                    .col_expr(ai_lease::Column::RenewedAt, Expr::value(now))
                    .col_expr(ai_lease::Column::ExpiresAt, Expr::value(expires))
                    .filter(ai_lease::Column::TaskId.eq(task.id.clone()))
                    .filter(ai_lease::Column::ExpiresAt.lt(now))
                    .exec(&state.db)
                    .await?
                    .rows_affected
                    == 1
        };
        if claimed {
            tasks.push(LeasedTask {
                frame_url: frame_url(&task),
                task: task.into(),
            });
        }
    }
    Ok(AiLease {
        lease_id: (!tasks.is_empty()).then_some(lease_id),
        worker_id: worker_id.to_owned(),
        expires_at: expires,
        ttl_seconds: ttl,
        workers: workers as i32,
        tasks,
    })
}
