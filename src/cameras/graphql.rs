//! `cameras`, `camera`, `createCamera`, `updateCamera`, `deleteCamera`, and the `cameraStatus`
//! subscription.

use std::collections::HashMap;

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::camera;
use entity::vocab::CameraState;
use futures_util::{Stream, StreamExt, stream};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Set,
    TransactionTrait,
};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{CameraScope, Capability};
use crate::cameras::model::{self, RETENTION_HOURS, SEGMENT_SECONDS, StreamUrl};
use crate::cameras::store::CameraChanges;
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::paging::{Counted, Keyset, Order, PageArgs, paged};
use crate::graphql::scalars::Long;

/// A camera. Its stream credentials are never returned.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Camera {
    /// Stable id: a slug of the name given at creation (`front_door`); renaming keeps it.
    #[graphql(owned)]
    pub id: ID,
    /// Display name shown in the UI, 1 to 100 characters, unique across cameras.
    pub name: String,
    /// Source URL with the password replaced by `***` (send it back unchanged to keep the password).
    pub stream_url: String,
    /// Whether the stream URL carries a password.
    pub has_password: bool,
    /// The lighter sub stream (live grids, the AI sampler), masked like `streamUrl`; null when
    /// the camera has none.
    pub sub_stream_url: Option<String>,
    /// Whether the sub stream is recorded too (beside the main one), for `playback(profile: SUB)`.
    pub record_sub: bool,
    /// A disabled camera is neither recorded nor analysed.
    pub enabled: bool,
    /// Whether the camera is recorded.
    pub record_enabled: bool,
    /// Segment length in seconds.
    pub segment_seconds: i32,
    /// Hours of footage kept.
    pub retention_hours: i32,
    /// Largest footage size for this camera, in bytes; null means no quota.
    pub storage_quota_bytes: Option<Long>,
    /// When the camera was added.
    pub created_at: DateTime<Utc>,
    /// When the camera's settings last changed (recorder status changes do not count).
    pub updated_at: DateTime<Utc>,
}

impl From<camera::Model> for Camera {
    fn from(m: camera::Model) -> Self {
        Camera {
            id: ID(m.id),
            name: m.name,
            stream_url: model::masked(&m.stream_url),
            has_password: model::has_password(&m.stream_url),
            sub_stream_url: m.sub_stream_url.as_deref().map(model::masked),
            record_sub: m.record_sub,
            enabled: m.enabled,
            record_enabled: m.record_enabled,
            segment_seconds: m.segment_seconds,
            retention_hours: m.retention_hours,
            storage_quota_bytes: m.storage_quota_bytes.map(Long),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// What the recorder reports about a camera.
#[derive(SimpleObject)]
pub struct CameraStatus {
    /// CONNECTING, RECORDING, OFFLINE, UNAUTHORIZED (the camera refused the login in its URL),
    /// ERROR or DISABLED.
    pub state: CameraState,
    /// When the recorder last started ffmpeg for this camera; null if it never has.
    pub last_started_at: Option<DateTime<Utc>>,
    /// End of the newest indexed segment.
    pub last_segment_at: Option<DateTime<Utc>>,
    /// Times the recorder's ffmpeg exited and was restarted, counted since the status was first recorded.
    pub reconnect_count: i32,
    /// Segments indexed for this camera so far; retention deletes do not lower it.
    pub segments_written: Long,
    /// Frame rate of the newest segment.
    pub fps_observed: Option<f64>,
    /// Bitrate of the newest segment in kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Tail of the recorder's last error output.
    pub last_error: Option<String>,
}

#[ComplexObject]
impl Camera {
    /// People watching this camera live right now on this server (websocket viewers and HLS
    /// clients of every profile); one camera connection serves them all.
    async fn live_viewers(&self, ctx: &Context<'_>) -> Result<i32, AppError> {
        Ok(ctx.state()?.watch.live.viewers(&self.id) as i32)
    }

    /// Recorder status; DISABLED when the camera or its recording is off.
    async fn status(&self, ctx: &Context<'_>) -> Result<CameraStatus, AppError> {
        let row = entity::camera_status::Entity::find_by_id(self.id.to_string())
            .one(&ctx.state()?.db)
            .await?;
        Ok(CameraStatus::of(self.enabled && self.record_enabled, row))
    }
}

impl CameraStatus {
    /// The status a camera shows: its stored row (CONNECTING before the recorder wrote one),
    /// DISABLED when it should not be recording.
    fn of(recording_wanted: bool, row: Option<entity::camera_status::Model>) -> Self {
        let stored = row.as_ref().map_or(CameraState::Connecting, |r| r.state);
        let state = if recording_wanted {
            stored
        } else {
            CameraState::Disabled
        };
        match row {
            Some(row) => Self {
                state,
                last_started_at: row.last_started_at,
                last_segment_at: row.last_segment_at,
                reconnect_count: row.reconnect_count,
                segments_written: Long(row.segments_written),
                fps_observed: row.fps_observed,
                bitrate_kbps: row.bitrate_kbps,
                last_error: row.last_error,
            },
            None => Self {
                state,
                last_started_at: None,
                last_segment_at: None,
                reconnect_count: 0,
                segments_written: Long(0),
                fps_observed: None,
                bitrate_kbps: None,
                last_error: None,
            },
        }
    }
}

/// A new camera.
#[derive(InputObject)]
pub struct CreateCameraInput {
    /// Display name, 1 to 100 characters, unique.
    pub name: String,
    /// Source: rtsp, rtsps, http or https URL, credentials included (`file:` and `lavfi:` need HELDAR_ALLOW_LOCAL_SOURCES).
    pub stream_url: String,
    /// Optional sub stream, same rules as `streamUrl`: lighter, for live view and the AI sampler.
    pub sub_stream_url: Option<String>,
    /// Record the sub stream too (needs `subStreamUrl`; default false).
    pub record_sub: Option<bool>,
    /// Requested id (slugified); the slug of the name when omitted.
    pub id: Option<String>,
    /// Whether the camera is enabled (default true).
    pub enabled: Option<bool>,
    /// Whether it is recorded (default true).
    pub record_enabled: Option<bool>,
    /// Segment length in seconds, 2 to 3600 (default 60).
    pub segment_seconds: Option<i32>,
    /// Hours of footage kept, 1 to 43800 (default 24).
    pub retention_hours: Option<i32>,
    /// Largest footage size in bytes (omit for no quota).
    pub storage_quota_bytes: Option<Long>,
}

/// Changes to a camera; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateCameraInput {
    /// The camera to change.
    pub id: ID,
    /// New display name, 1 to 100 characters, unique across cameras.
    pub name: Option<String>,
    /// New source URL; a `***` password keeps the stored one if scheme, host and port are unchanged.
    pub stream_url: Option<String>,
    /// New sub stream URL (a `***` password keeps the stored one); null removes the sub stream.
    pub sub_stream_url: async_graphql::MaybeUndefined<String>,
    /// Start or stop recording the sub stream too (the camera needs a sub stream).
    pub record_sub: Option<bool>,
    /// Enable or disable the camera; a disabled camera is neither recorded nor analysed.
    pub enabled: Option<bool>,
    /// Start or stop recording.
    pub record_enabled: Option<bool>,
    /// New segment length in seconds, 2 to 3600.
    pub segment_seconds: Option<i32>,
    /// New retention in hours, 1 to 43800.
    pub retention_hours: Option<i32>,
    /// New quota in bytes; null lifts it.
    pub storage_quota_bytes: async_graphql::MaybeUndefined<Long>,
}

fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_input(
            "input.name",
            "must be 1 to 100 characters",
        ));
    }
    Ok(name.to_owned())
}

/// A new camera's sub stream, checked: its URL by the main stream's rules, and `recordSub`
/// only with one.
fn new_sub_stream(
    input: &CreateCameraInput,
    allow_local: bool,
) -> Result<Option<StreamUrl>, AppError> {
    let sub_url = input
        .sub_stream_url
        .as_deref()
        .map(|raw| StreamUrl::parse("input.subStreamUrl", raw, allow_local))
        .transpose()?;
    if input.record_sub == Some(true) && sub_url.is_none() {
        return Err(AppError::bad_input(
            "input.recordSub",
            "needs a `subStreamUrl` to record",
        ));
    }
    Ok(sub_url)
}

/// A camera's changed sub stream (`Some(None)` removes it; a `***` password keeps the stored
/// one), checked against `recordSub` as it will stand.
fn changed_sub_stream(
    current: &camera::Model,
    input: &UpdateCameraInput,
    allow_local: bool,
) -> Result<Option<Option<String>>, AppError> {
    let sub_url = match &input.sub_stream_url {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(raw) => {
            let parsed = StreamUrl::parse("input.subStreamUrl", raw, allow_local)?;
            let parsed = match &current.sub_stream_url {
                Some(stored) => parsed.keeping_password_of("input.subStreamUrl", stored)?,
                None => parsed,
            };
            Some(Some(parsed.expose().to_owned()))
        }
    };
    let has_sub = match &sub_url {
        Some(changed) => changed.is_some(),
        None => current.sub_stream_url.is_some(),
    };
    if input.record_sub.unwrap_or(current.record_sub) && !has_sub {
        let field = if input.record_sub.is_some() {
            "input.recordSub"
        } else {
            "input.subStreamUrl"
        };
        return Err(AppError::bad_input(
            field,
            "recording the sub stream needs a `subStreamUrl` (set `recordSub: false` to remove it)",
        ));
    }
    Ok(sub_url)
}

fn check_quota(quota: Option<i64>) -> Result<Option<i64>, AppError> {
    match quota {
        Some(q) if q <= 0 => Err(AppError::bad_input(
            "input.storageQuotaBytes",
            "must be positive",
        )),
        other => Ok(other),
    }
}

/// Camera queries.
#[derive(Default)]
pub struct CamerasQuery;

#[Object]
impl CamerasQuery {
    /// Cameras the caller may see, ordered by id.
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn cameras(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<Camera>, AppError> {
        let principal = ctx.require(Capability::CameraRead)?;
        let mut query = camera::Entity::find();
        if let CameraScope::Cameras(ids) = &principal.scope {
            query = query.filter(camera::Column::Id.is_in(ids.clone()));
        }
        let keyset = Keyset::by_text(
            camera::Column::Id,
            Order::OldestFirst,
            |row: &camera::Model| row.id.clone(),
        );
        let args = PageArgs::new(first, after, last, before);
        let db = &ctx.state()?.db;
        paged(db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(Camera::from(row))
        })
        .await
    }

    /// One camera. A camera-limited caller gets the same FORBIDDEN for a camera that does not exist and for one it may not see.
    async fn camera(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] id: ID,
    ) -> Result<Camera, AppError> {
        Ok(Camera::from(
            find_camera(ctx, Capability::CameraRead, &id).await?,
        ))
    }
}

/// Camera mutations.
#[derive(Default)]
pub struct CamerasMutation;

#[Object]
impl CamerasMutation {
    /// Adds a camera (managers and admins).
    async fn create_camera(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's name, source URL and recording settings.")]
        input: CreateCameraInput,
    ) -> Result<Camera, AppError> {
        ctx.require(Capability::RegistryManage)?;
        let name = check_name(&input.name)?;
        let id = model::slugify(input.id.as_deref().unwrap_or(&name));
        if crate::ids::generated_prefix(&id).is_some() {
            let field = if input.id.is_some() {
                "input.id"
            } else {
                "input.name"
            };
            return Err(AppError::bad_input(
                field,
                "takes the form of another kind's id (a prefix and a UUID); choose another",
            ));
        }
        let principal = ctx.require_camera(Capability::RegistryManage, &id)?;
        let state = ctx.state()?;
        let url = StreamUrl::parse(
            "input.streamUrl",
            &input.stream_url,
            state.config.allow_local_sources,
        )?;
        let sub_url = new_sub_stream(&input, state.config.allow_local_sources)?;
        let segment_seconds = model::check_range(
            "input.segmentSeconds",
            input.segment_seconds,
            SEGMENT_SECONDS,
        )?
        .unwrap_or(60);
        let retention_hours = model::check_range(
            "input.retentionHours",
            input.retention_hours,
            RETENTION_HOURS,
        )?
        .unwrap_or(24);
        let quota = check_quota(input.storage_quota_bytes.map(i64::from))?;
        if camera::Entity::find_by_id(id.clone())
            .one(&state.db)
            .await?
            .is_some()
        {
            return Err(AppError::Conflict(format!(
                "a camera with id `{id}` exists; choose another `id` or name"
            )));
        }
        crate::cameras::store::name_taken(&state.db, &name, None).await?;
        let now = state.clock.now();
        let row = camera::ActiveModel {
            id: Set(id.clone()),
            name: Set(name.clone()),
            stream_url: Set(url.expose().to_owned()),
            sub_stream_url: Set(sub_url.as_ref().map(|u| u.expose().to_owned())),
            record_sub: Set(input.record_sub.unwrap_or(false)),
            enabled: Set(input.enabled.unwrap_or(true)),
            record_enabled: Set(input.record_enabled.unwrap_or(true)),
            segment_seconds: Set(segment_seconds),
            retention_hours: Set(retention_hours),
            storage_quota_bytes: Set(quota),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&state.db)
        .await?;
        let mut entry = Entry::new("create_camera", "camera", &id)
            .detail(json!({"name": name, "streamUrl": model::masked(url.expose())}));
        entry.camera_id = Some(&id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        crate::fleet::ownership::reconcile_all(state).await;
        Ok(Camera::from(row))
    }

    /// Changes a camera (managers and admins within their cameras).
    async fn update_camera(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The camera's id and the fields to change; omitted ones stay as they are."
        )]
        input: UpdateCameraInput,
    ) -> Result<Camera, AppError> {
        let current = find_camera(ctx, Capability::RegistryManage, &input.id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        let name = input.name.as_deref().map(check_name).transpose()?;
        let url = match &input.stream_url {
            Some(raw) => Some(
                StreamUrl::parse("input.streamUrl", raw, state.config.allow_local_sources)?
                    .keeping_password_of("input.streamUrl", &current.stream_url)?,
            ),
            None => None,
        };
        let sub_url = changed_sub_stream(&current, &input, state.config.allow_local_sources)?;
        let segment_seconds = model::check_range(
            "input.segmentSeconds",
            input.segment_seconds,
            SEGMENT_SECONDS,
        )?;
        let retention_hours = model::check_range(
            "input.retentionHours",
            input.retention_hours,
            RETENTION_HOURS,
        )?;
        if let Some(name) = &name {
            crate::cameras::store::name_taken(&state.db, name, Some(&current.id)).await?;
        }
        let quota = match input.storage_quota_bytes {
            async_graphql::MaybeUndefined::Undefined => None,
            async_graphql::MaybeUndefined::Null => Some(None),
            async_graphql::MaybeUndefined::Value(q) => Some(check_quota(Some(q.0))?),
        };
        let changes = CameraChanges {
            name: name.clone(),
            stream_url: url.as_ref().map(|u| u.expose().to_owned()),
            sub_stream_url: sub_url.clone(),
            record_sub: input.record_sub,
            enabled: input.enabled,
            record_enabled: input.record_enabled,
            segment_seconds,
            retention_hours,
            storage_quota_bytes: quota,
        };
        let now = state.clock.now();
        crate::cameras::store::update(&state.db, &current.id, &changes, now).await?;
        let detail = json!({
            "name": name,
            "streamUrlChanged": url.is_some(),
            "subStreamUrlChanged": sub_url.is_some(),
            "recordSub": input.record_sub,
            "enabled": input.enabled,
            "recordEnabled": input.record_enabled,
            "segmentSeconds": segment_seconds,
            "retentionHours": retention_hours,
        });
        let mut entry = Entry::new("update_camera", "camera", &current.id).detail(detail);
        entry.camera_id = Some(&current.id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        crate::fleet::ownership::reconcile_all(state).await;
        let row = camera::Entity::find_by_id(current.id.clone())
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("camera `{}` not found", current.id)))?;
        Ok(Camera::from(row))
    }

    /// Deletes a camera and its settings (admins).
    async fn delete_camera(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera to delete.")] id: ID,
    ) -> Result<bool, AppError> {
        let current = find_camera(ctx, Capability::Admin, &id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        // Atomic against `lockEvidence`: the same camera lock as a hold (PostgreSQL), and the
        // delete itself conditional on no active hold, so footage under a hold placed at the
        // same moment is never deleted, whichever commits first.
        let txn = state.db.begin().await?;
        crate::evidence::locks::lock_camera_holds(&txn, &current.id).await?;
        // The cascade deletes the camera's segments: their rows first, in the order read locks
        // take them, so an export starting now waits instead of deadlocking with it.
        crate::evidence::locks::lock_segment_rows(
            &txn,
            entity::segment::Column::CameraId.eq(current.id.clone()),
        )
        .await?;
        let deleted = camera::Entity::delete_many()
            .filter(camera::Column::Id.eq(current.id.clone()))
            .filter(
                camera::Column::Id.not_in_subquery(
                    entity::evidence_hold::Entity::find()
                        .select_only()
                        .column(entity::evidence_hold::Column::CameraId)
                        .filter(entity::evidence_hold::Column::CameraId.eq(current.id.clone()))
                        .filter(entity::evidence_hold::Column::ReleasedAt.is_null())
                        .into_query(),
                ),
            )
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            txn.rollback().await?;
            let holds = crate::evidence::locks::active_holds(&state.db, &current.id).await?;
            if holds.is_empty() {
                return Err(AppError::NotFound(format!(
                    "camera `{}` not found",
                    current.id
                )));
            }
            let ids: Vec<&str> = holds.iter().take(10).map(|h| h.id.as_str()).collect();
            return Err(AppError::Conflict(format!(
                "camera `{}` has {} active evidence hold(s) ({}{}); release each with `releaseEvidence(id: …)` before deleting the camera",
                current.id,
                holds.len(),
                ids.join(", "),
                if holds.len() > 10 { ", …" } else { "" }
            )));
        }
        txn.commit().await?;
        let now = state.clock.now();
        let mut entry = Entry::new("delete_camera", "camera", &current.id)
            .detail(json!({"name": current.name}));
        entry.camera_id = Some(&current.id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        crate::fleet::ownership::reconcile_all(state).await;
        Ok(true)
    }
}

/// A camera's recorder status, as `cameraStatus` reports it.
#[derive(SimpleObject)]
pub struct CameraStatusChange {
    /// The camera's id.
    pub camera_id: ID,
    /// Its status now.
    pub status: CameraStatus,
}

/// Camera subscriptions.
#[derive(Default)]
pub struct CamerasSubscription;

#[Subscription]
impl CamerasSubscription {
    /// Each camera's recorder status now, then every change of its state or last error (seen
    /// within about two seconds, whichever server records the camera). Cameras created after
    /// the subscription started are included; deleted ones simply stop changing.
    async fn camera_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Only these cameras (each in your scope); omit for every camera you may see."
        )]
        camera_ids: Option<Vec<ID>>,
    ) -> Result<impl Stream<Item = CameraStatusChange> + use<>, AppError> {
        let principal = ctx.require(Capability::CameraRead)?;
        for id in camera_ids.iter().flatten() {
            ctx.require_camera(Capability::CameraRead, id)?;
        }
        let mut wanted = principal.scope.clone();
        if let Some(ids) = camera_ids {
            wanted = CameraScope::Cameras(ids.into_iter().map(|id| id.0).collect());
        }
        let state = ctx.state()?;
        // One reader serves every subscriber of this server; each picks its cameras out of it
        // and sends what changed since it last sent.
        let snapshots = state.camera_status.subscribe(&state.db);
        let shown: HashMap<String, (CameraState, Option<String>)> = HashMap::new();
        let changes = stream::unfold((shown, snapshots), move |(mut shown, mut snapshots)| {
            let wanted = wanted.clone();
            async move {
                loop {
                    let snapshot = snapshots.borrow_and_update().clone();
                    let changes: Vec<CameraStatusChange> = snapshot
                        .iter()
                        .flat_map(|rows| rows.iter())
                        .filter(|s| wanted.allows(&s.camera_id))
                        .filter_map(|s| {
                            let status = CameraStatus::of(s.recording_wanted, s.row.clone());
                            let key = (status.state, status.last_error.clone());
                            (shown.insert(s.camera_id.clone(), key.clone()) != Some(key)).then(
                                || CameraStatusChange {
                                    camera_id: ID(s.camera_id.clone()),
                                    status,
                                },
                            )
                        })
                        .collect();
                    if !changes.is_empty() {
                        return Some((stream::iter(changes), (shown, snapshots)));
                    }
                    snapshots.changed().await.ok()?;
                }
            }
        });
        Ok(changes.flatten())
    }
}
