//! Clip exports: `exportClip`, `cancelClipExport`, `clipExport`, `clipExports`, and the
//! `clipExport` subscription.

use async_graphql::{Context, ID, InputObject, Object, Subscription};
use chrono::{DateTime, Duration, Utc};
use entity::vocab::ClipStatus;
use entity::{clip_export, segment};
use futures_util::{Stream, StreamExt, stream};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::evidence::exports;
use crate::evidence::graphql::{scope_condition, signed_url};
use crate::evidence::model::{DisclosedGap, MAX_CLIP_SECONDS, Source};
use crate::footage::graphql::FootageGap;
use crate::footage::model::{GapReason, TimeRange};
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::paging::{Counted, Keyset, Order, PageArgs, paged};
use crate::graphql::scalars::Long;

/// A clip export job.
pub struct ClipExport(pub clip_export::Model);

/// A clip export job: its status and progress, what it covers and misses, and once READY its file.
#[Object]
impl ClipExport {
    /// Export id (`clip_…`).
    pub async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Id of the camera the clip is cut from.
    async fn camera_id(&self) -> ID {
        ID(self.0.camera_id.clone())
    }
    /// Where the job is.
    async fn status(&self) -> ClipStatus {
        self.0.status
    }
    /// 0 to 1: the share of the clip's bytes written when it is spliced from the recordings' fragments, ffmpeg's own progress reports when ffmpeg makes it; 1 once READY.
    async fn progress(&self) -> f64 {
        self.0.progress
    }
    /// Start of the window asked for; the clip itself may start earlier (see `actualFrom`).
    async fn from(&self) -> DateTime<Utc> {
        segment::from_ms(self.0.from_ms)
    }
    /// End of the window asked for, at most 3600 s after `from`.
    async fn to(&self) -> DateTime<Utc> {
        segment::from_ms(self.0.to_ms)
    }
    /// Length of the requested window in seconds.
    async fn requested_seconds(&self) -> f64 {
        self.0.requested_seconds
    }
    /// Seconds of footage inside the window: the clip's length, before keyframe lead-in.
    async fn covered_seconds(&self) -> f64 {
        self.0.covered_seconds
    }
    /// Holes over 1 s inside the window, which the clip joins without a pause, and pauses of the camera's stream inside the clip (its keyframe lead-in included), which it shows as the frame before them held (reason `STREAM_PAUSED`): disclosed here and in the manifest.
    async fn gaps(&self) -> Vec<FootageGap> {
        serde_json::from_str::<Vec<DisclosedGap>>(&self.0.gaps)
            .unwrap_or_default()
            .into_iter()
            .map(|g| FootageGap {
                from: segment::from_ms(g.from_ms),
                to: segment::from_ms(g.to_ms),
                seconds: (g.to_ms - g.from_ms) as f64 / 1000.0,
                reason: g
                    .reason
                    .as_deref()
                    .map(|r| GapReason::parse(r).unwrap_or(GapReason::Unknown)),
            })
            .collect()
    }
    /// First instant actually in the clip: stream copy starts at the keyframe at or before `from`.
    async fn actual_from(&self) -> Option<DateTime<Utc>> {
        self.0.actual_from_ms.map(segment::from_ms)
    }
    /// Last instant actually in the clip.
    async fn actual_to(&self) -> Option<DateTime<Utc>> {
        self.0.actual_to_ms.map(segment::from_ms)
    }
    /// How many recording segments the clip is cut from.
    async fn source_segments(&self) -> i32 {
        serde_json::from_str::<Vec<Source>>(&self.0.sources)
            .map(|s| s.len() as i32)
            .unwrap_or(0)
    }
    /// Clip size in bytes, once READY.
    async fn size_bytes(&self) -> Option<Long> {
        self.0.size_bytes.map(Long)
    }
    /// Hex SHA-256 of the clip file, once READY: check a downloaded copy against it.
    async fn sha256(&self) -> Option<&str> {
        self.0.sha256.as_deref()
    }
    /// A short-lived signed link to the MP4 (range requests supported), once READY.
    async fn download_url(&self, ctx: &Context<'_>) -> Result<Option<String>, AppError> {
        self.link(ctx, "mp4")
    }
    /// A short-lived signed link to the JSON chain-of-custody manifest, once READY.
    async fn manifest_url(&self, ctx: &Context<'_>) -> Result<Option<String>, AppError> {
        self.link(ctx, "json")
    }
    /// Why the export failed, e.g. `cancelled by alice`; null unless FAILED.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// Who asked for it.
    async fn requested_by(&self) -> &str {
        &self.0.requested_by_name
    }
    /// When it was asked for.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the last run started.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    /// When it became READY or FAILED.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// When the clip's own retention removes it.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
}

impl ClipExport {
    fn link(&self, ctx: &Context<'_>, ext: &str) -> Result<Option<String>, AppError> {
        if self.0.status != ClipStatus::Ready {
            return Ok(None);
        }
        let principal = ctx.principal()?;
        let path = format!("/media/clips/{}.{ext}", self.0.id);
        Ok(Some(signed_url(ctx.state()?, principal, &path)))
    }
}

/// A window of one camera to export.
#[derive(InputObject)]
pub struct ExportClipInput {
    /// Id of the camera to cut the clip from.
    pub camera_id: ID,
    /// Window start (any offset).
    pub from: DateTime<Utc>,
    /// Window end, after `from`, at most 3600 s later.
    pub to: DateTime<Utc>,
}

/// Finds an export the caller may see (`FORBIDDEN` alike for missing and foreign when scoped).
async fn find_export(
    ctx: &Context<'_>,
    cap: Capability,
    id: &str,
) -> Result<clip_export::Model, AppError> {
    let principal = ctx.require(cap)?;
    let found = clip_export::Entity::find_by_id(id.to_owned())
        .one(&ctx.state()?.db)
        .await?;
    match found {
        Some(job) if principal.scope.allows(&job.camera_id) => Ok(job),
        _ if principal.scope != CameraScope::All => Err(AppError::Forbidden(
            "credential is not scoped to the camera of this export".into(),
        )),
        _ => Err(AppError::NotFound(format!("clip export `{id}` not found"))),
    }
}

/// Clip export queries.
#[derive(Default)]
pub struct ExportsQuery;

#[Object]
impl ExportsQuery {
    /// One clip export by id. A camera-limited caller gets the same FORBIDDEN for a missing export and for one it may not see.
    async fn clip_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the export (`clip_…`).")] id: ID,
    ) -> Result<ClipExport, AppError> {
        Ok(ClipExport(
            find_export(ctx, Capability::VideoExport, &id).await?,
        ))
    }

    /// Clip exports of the cameras in scope, newest first.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a GraphQL argument; Relay paging alone adds four"
    )]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn clip_exports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this camera.")] camera_id: Option<ID>,
        #[graphql(desc = "Only these statuses.")] status: Option<Vec<ClipStatus>>,
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
    ) -> Result<Counted<ClipExport>, AppError> {
        let principal = ctx.require(Capability::VideoExport)?;
        let mut query = clip_export::Entity::find().filter(scope_condition(
            &principal.scope,
            clip_export::Column::CameraId,
        ));
        if let Some(camera) = &camera_id {
            ctx.require_camera(Capability::VideoExport, camera)?;
            query = query.filter(clip_export::Column::CameraId.eq(camera.as_str()));
        }
        if let Some(statuses) = &status {
            query = query.filter(clip_export::Column::Status.is_in(statuses.iter().copied()));
        }
        let keyset = Keyset::by_text(
            clip_export::Column::Id,
            Order::NewestFirst,
            |row: &clip_export::Model| row.id.clone(),
        );
        let args = PageArgs::new(first, after, last, before);
        paged(&ctx.state()?.db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(ClipExport(row))
        })
        .await
    }
}

/// Clip export mutations.
#[derive(Default)]
pub struct ExportsMutation;

#[Object]
impl ExportsMutation {
    /// Queues a clip export of up to one hour and returns the job at once; follow it with the `clipExport` subscription.
    async fn export_clip(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera and the window to export (at most one hour).")]
        input: ExportClipInput,
    ) -> Result<ClipExport, AppError> {
        let principal = ctx.require_camera(Capability::VideoExport, &input.camera_id)?;
        if input.to <= input.from {
            return Err(AppError::bad_input("input.to", "must be after `from`"));
        }
        let requested = (input.to - input.from).num_milliseconds() as f64 / 1000.0;
        if requested > MAX_CLIP_SECONDS {
            return Err(AppError::bad_input(
                "input.to",
                format!("clip too long ({requested:.0} s); at most {MAX_CLIP_SECONDS:.0} s"),
            ));
        }
        find_camera(ctx, Capability::VideoExport, &input.camera_id).await?;
        let window = TimeRange::new(input.from, input.to, Duration::seconds(3600))?;
        let job = exports::queue(ctx.state()?, principal, &input.camera_id, window).await?;
        Ok(ClipExport(job))
    }

    /// Stops a queued or running export; it ends FAILED with "cancelled" and its read locks are
    /// released. Only whoever asked for it, or a manager (`registry:manage`), may cancel it;
    /// the cancellation is audited.
    async fn cancel_clip_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the export to cancel (`clip_…`).")] id: ID,
    ) -> Result<ClipExport, AppError> {
        let job = find_export(ctx, Capability::VideoExport, &id).await?;
        let principal = ctx.principal()?;
        if job.requested_by_id != principal.id && !principal.can(Capability::RegistryManage) {
            return Err(AppError::Forbidden(
                "only whoever asked for an export, or a manager, may cancel it".into(),
            ));
        }
        let state = ctx.state()?;
        let cancelled = exports::cancel(state, job, &principal.name).await?;
        let mut entry =
            crate::audit::Entry::new("cancel_clip_export", "clip_export", &cancelled.id)
                .detail(serde_json::json!({"requestedBy": cancelled.requested_by_name}));
        entry.camera_id = Some(&cancelled.camera_id);
        crate::audit::record(
            &state.db,
            &crate::audit::Actor::from(principal),
            entry,
            state.clock.now(),
        )
        .await;
        Ok(ClipExport(cancelled))
    }
}

/// Clip export subscriptions.
#[derive(Default)]
pub struct ExportsSubscription;

#[Subscription]
impl ExportsSubscription {
    /// The export now, then every change of status or progress, ending after READY, FAILED or EXPIRED.
    async fn clip_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the export to follow (`clip_…`).")] id: ID,
    ) -> Result<impl Stream<Item = ClipExport> + use<>, AppError> {
        // Subscribe first, so no change between the read and the subscription is missed.
        let receiver = ctx.state()?.media.updates.subscribe();
        let current = find_export(ctx, Capability::VideoExport, &id).await?;
        let id = current.id.clone();
        let updates = BroadcastStream::new(receiver).filter_map(move |update| {
            let wanted = update.ok().filter(|row| row.id == id);
            async move { wanted }
        });
        let updates = Box::pin(updates);
        Ok(stream::unfold(
            (Some(current), updates, false),
            |(first, mut updates, done)| async move {
                if done {
                    return None;
                }
                let row = match first {
                    Some(row) => row,
                    None => updates.next().await?,
                };
                let done = row.status.is_final();
                Some((ClipExport(row), (None, updates, done)))
            },
        ))
    }
}
