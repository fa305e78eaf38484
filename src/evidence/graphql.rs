//! Clip exports, snapshots and evidence holds over GraphQL.

use async_graphql::connection::Connection;
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject, Subscription,
};
use chrono::{DateTime, Duration, Utc};
use entity::{clip_export, evidence_hold, segment, snapshot};
use futures_util::{Stream, StreamExt, stream};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{CameraScope, Capability, Principal};
use crate::auth::token::new_id;
use crate::cameras::graphql::find_camera;
use crate::error::AppError;
use crate::evidence::jobs::{self, status};
use crate::evidence::locks::{ReadLock, refresh_evidence_flags};
use crate::evidence::model::{self, DisclosedGap, MAX_CLIP_SECONDS, Source};
use crate::evidence::retention::{self, RetentionPreview, RetentionReport};
use crate::footage::graphql::{FootageGap, GapReason};
use crate::footage::model::TimeRange;
use crate::footage::store::{self, MAX_SEGMENT_SPAN};
use crate::graphql::ContextExt;
use crate::graphql::paging::{connection, decode_cursor, page_size};
use crate::state::AppState;

/// Where an export job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum ClipExportStatus {
    /// Waiting for a media-job slot.
    Queued,
    /// ffmpeg is writing the clip; `progress` moves.
    Running,
    /// Done: `downloadUrl`, `sha256` and the manifest are available.
    Ready,
    /// Failed; `error` says why. Nothing partial is ever served.
    Failed,
    /// The clip outlived its own retention and was removed.
    Expired,
}

impl ClipExportStatus {
    fn parse(stored: &str) -> ClipExportStatus {
        match stored {
            status::QUEUED => ClipExportStatus::Queued,
            status::RUNNING => ClipExportStatus::Running,
            status::READY => ClipExportStatus::Ready,
            status::EXPIRED => ClipExportStatus::Expired,
            _ => ClipExportStatus::Failed,
        }
    }

    fn stored(self) -> &'static str {
        match self {
            ClipExportStatus::Queued => status::QUEUED,
            ClipExportStatus::Running => status::RUNNING,
            ClipExportStatus::Ready => status::READY,
            ClipExportStatus::Failed => status::FAILED,
            ClipExportStatus::Expired => status::EXPIRED,
        }
    }

    /// Whether the job will change no more.
    pub fn is_final(self) -> bool {
        !matches!(self, ClipExportStatus::Queued | ClipExportStatus::Running)
    }
}

/// Signs `path` for the caller: `path?expires=…&sub=…&sig=…`, valid for the configured TTL.
pub fn signed_url(state: &AppState, principal: &Principal, path: &str) -> String {
    let expires = state.clock.now().timestamp() + state.config.media_url_ttl_secs as i64;
    let sig = model::sign(&state.media.url_key, path, expires, &principal.id);
    format!("{path}?expires={expires}&sub={}&sig={sig}", principal.id)
}

/// A clip export job.
pub struct ClipExport(pub clip_export::Model);

/// A clip export job: its status and progress, what it covers and misses, and once READY its file.
#[Object]
impl ClipExport {
    /// Export id (`clip_…`).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Camera.
    async fn camera_id(&self) -> ID {
        ID(self.0.camera_id.clone())
    }
    /// Where the job is.
    async fn status(&self) -> ClipExportStatus {
        ClipExportStatus::parse(&self.0.status)
    }
    /// 0 to 1, from ffmpeg's own progress reports; 1 once READY.
    async fn progress(&self) -> f64 {
        self.0.progress
    }
    /// Requested window start.
    async fn from(&self) -> DateTime<Utc> {
        segment::from_ms(self.0.from_ms)
    }
    /// Requested window end.
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
    /// Holes over 1 s inside the window, which the clip joins without a pause: disclosed here and in the manifest.
    async fn gaps(&self) -> Vec<FootageGap> {
        serde_json::from_str::<Vec<DisclosedGap>>(&self.0.gaps)
            .unwrap_or_default()
            .into_iter()
            .map(|g| FootageGap {
                from: segment::from_ms(g.from_ms),
                to: segment::from_ms(g.to_ms),
                seconds: (g.to_ms - g.from_ms) as f64 / 1000.0,
                reason: g.reason.as_deref().map(GapReason::parse),
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
    async fn size_bytes(&self) -> Option<i64> {
        self.0.size_bytes
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
    /// Why it failed.
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
        if self.0.status != status::READY {
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
    /// Camera.
    pub camera_id: ID,
    /// Window start (any offset).
    pub from: DateTime<Utc>,
    /// Window end, after `from`, at most 3600 s later.
    pub to: DateTime<Utc>,
}

/// A JPEG of one recorded frame.
#[derive(SimpleObject)]
pub struct Snapshot {
    /// Snapshot id (`snap_…`).
    pub id: ID,
    /// Camera.
    pub camera_id: ID,
    /// The requested instant.
    pub at: DateTime<Utc>,
    /// Segment the frame was taken from.
    pub segment_id: ID,
    /// JPEG size in bytes.
    pub size_bytes: i64,
    /// Hex SHA-256 of the JPEG.
    pub sha256: String,
    /// A short-lived signed link to the JPEG.
    pub download_url: String,
    /// When retention removes it.
    pub expires_at: DateTime<Utc>,
}

/// A range of one camera's footage to hold.
#[derive(InputObject)]
pub struct LockEvidenceInput {
    /// Camera.
    pub camera_id: ID,
    /// Hold from.
    pub from: DateTime<Utc>,
    /// Hold until, after `from`, at most 366 days later.
    pub to: DateTime<Utc>,
    /// Incident (case) id to group holds by, up to 128 characters.
    pub incident_id: Option<String>,
    /// Why, up to 2000 characters.
    pub note: Option<String>,
}

/// A durable hold: retention never deletes footage of its camera overlapping its range.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct EvidenceHold {
    /// Hold id (`hold_…`).
    pub id: ID,
    /// Camera.
    pub camera_id: ID,
    /// Held from.
    pub from: DateTime<Utc>,
    /// Held until.
    pub to: DateTime<Utc>,
    /// Incident it belongs to.
    pub incident_id: Option<String>,
    /// Why.
    pub note: Option<String>,
    /// Who placed it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was released (null while active).
    pub released_at: Option<DateTime<Utc>>,
    /// Who released it.
    pub released_by: Option<String>,
    /// Segments, bytes and seconds held, read once however many of the fields are asked for.
    #[graphql(skip)]
    totals: tokio::sync::OnceCell<(i64, i64, f64)>,
}

impl From<evidence_hold::Model> for EvidenceHold {
    fn from(m: evidence_hold::Model) -> Self {
        EvidenceHold {
            id: ID(m.id),
            camera_id: ID(m.camera_id),
            from: segment::from_ms(m.start_ms),
            to: segment::from_ms(m.end_ms),
            incident_id: m.incident_id,
            note: m.note,
            created_by: m.created_by_name,
            created_at: m.created_at,
            released_at: m.released_at,
            released_by: m.released_by_name,
            totals: tokio::sync::OnceCell::new(),
        }
    }
}

/// Segments and bytes of a camera inside a range.
async fn footage_in(
    state: &AppState,
    camera_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<(i64, i64, f64), AppError> {
    let rows: Vec<(i64, i64, i64)> = segment::Entity::find()
        .select_only()
        .column(segment::Column::StartMs)
        .column(segment::Column::EndMs)
        .column(segment::Column::SizeBytes)
        .filter(segment::Column::CameraId.eq(camera_id))
        .filter(segment::Column::StartMs.gt(from_ms - MAX_SEGMENT_SPAN.num_milliseconds()))
        .filter(segment::Column::StartMs.lt(to_ms))
        .filter(segment::Column::EndMs.gt(from_ms))
        .into_tuple()
        .all(&state.db)
        .await?;
    let bytes = rows.iter().map(|r| r.2).sum();
    let seconds = rows
        .iter()
        .map(|(s, e, _)| ((*e).min(to_ms) - (*s).max(from_ms)).max(0) as f64 / 1000.0)
        .sum();
    Ok((rows.len() as i64, bytes, seconds))
}

#[ComplexObject]
impl EvidenceHold {
    /// Segments the hold protects now.
    async fn segment_count(&self, ctx: &Context<'_>) -> Result<i64, AppError> {
        Ok(self.totals(ctx).await?.0)
    }
    /// Bytes of those segments.
    async fn total_bytes(&self, ctx: &Context<'_>) -> Result<i64, AppError> {
        Ok(self.totals(ctx).await?.1)
    }
}

impl EvidenceHold {
    async fn totals(&self, ctx: &Context<'_>) -> Result<(i64, i64, f64), AppError> {
        let state = ctx.state()?;
        let (from, to) = (self.from.timestamp_millis(), self.to.timestamp_millis());
        self.totals
            .get_or_try_init(|| footage_in(state, &self.camera_id, from, to))
            .await
            .copied()
    }
}

/// Holds grouped by incident, with their footage totals.
#[derive(SimpleObject)]
pub struct Incident {
    /// Incident id.
    pub incident_id: String,
    /// Active holds in it.
    pub hold_count: i32,
    /// Cameras it covers.
    pub camera_ids: Vec<ID>,
    /// Earliest held instant.
    pub from: DateTime<Utc>,
    /// Latest held instant.
    pub to: DateTime<Utc>,
    /// Segments held.
    pub segment_count: i64,
    /// Bytes held.
    pub total_bytes: i64,
    /// Seconds of footage held.
    pub covered_seconds: f64,
}

fn scope_condition(scope: &CameraScope, column: impl ColumnTrait) -> Condition {
    match scope {
        CameraScope::All => Condition::all(),
        CameraScope::Cameras(ids) => Condition::all().add(column.is_in(ids.clone())),
    }
}

fn bounded(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(v) = &value
        && (v.chars().count() > max || v.chars().any(char::is_control))
    {
        return Err(AppError::bad_input(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
    Ok(value)
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

/// Evidence queries.
#[derive(Default)]
pub struct EvidenceQuery;

#[Object]
impl EvidenceQuery {
    /// One clip export.
    async fn clip_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Export id.")] id: ID,
    ) -> Result<ClipExport, AppError> {
        Ok(ClipExport(
            find_export(ctx, Capability::VideoExport, &id).await?,
        ))
    }

    /// Clip exports of the cameras in scope, newest first.
    async fn clip_exports(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this camera.")] camera_id: Option<ID>,
        #[graphql(desc = "Only these statuses.")] status: Option<Vec<ClipExportStatus>>,
        #[graphql(desc = "Page size, 1 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor from the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, ClipExport>, AppError> {
        let principal = ctx.require(Capability::VideoExport)?;
        let limit = page_size(first)?;
        let mut query = clip_export::Entity::find().filter(scope_condition(
            &principal.scope,
            clip_export::Column::CameraId,
        ));
        if let Some(camera) = &camera_id {
            ctx.require_camera(Capability::VideoExport, camera)?;
            query = query.filter(clip_export::Column::CameraId.eq(camera.as_str()));
        }
        if let Some(statuses) = &status {
            query = query
                .filter(clip_export::Column::Status.is_in(statuses.iter().map(|s| s.stored())));
        }
        if let Some(cursor) = &after {
            query = query.filter(clip_export::Column::Id.lt(decode_cursor(cursor)?));
        }
        let rows = query
            .order_by_desc(clip_export::Column::Id)
            .limit(limit + 1)
            .all(&ctx.state()?.db)
            .await?;
        connection(
            rows,
            limit,
            after.is_some(),
            |r| r.id.clone(),
            |r| Ok(ClipExport(r)),
        )
    }

    /// Evidence holds of the cameras in scope, newest first.
    async fn evidence_holds(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this camera.")] camera_id: Option<ID>,
        #[graphql(desc = "Only this incident.")] incident_id: Option<String>,
        #[graphql(desc = "Include released holds.", default = false)] include_released: bool,
        #[graphql(desc = "Page size, 1 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor from the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, EvidenceHold>, AppError> {
        let principal = ctx.require(Capability::EventsRead)?;
        let limit = page_size(first)?;
        let mut query = evidence_hold::Entity::find().filter(scope_condition(
            &principal.scope,
            evidence_hold::Column::CameraId,
        ));
        if let Some(camera) = &camera_id {
            ctx.require_camera(Capability::EventsRead, camera)?;
            query = query.filter(evidence_hold::Column::CameraId.eq(camera.as_str()));
        }
        if let Some(incident) = &incident_id {
            query = query.filter(evidence_hold::Column::IncidentId.eq(incident.as_str()));
        }
        if !include_released {
            query = query.filter(evidence_hold::Column::ReleasedAt.is_null());
        }
        if let Some(cursor) = &after {
            query = query.filter(evidence_hold::Column::Id.lt(decode_cursor(cursor)?));
        }
        let rows = query
            .order_by_desc(evidence_hold::Column::Id)
            .limit(limit + 1)
            .all(&ctx.state()?.db)
            .await?;
        connection(
            rows,
            limit,
            after.is_some(),
            |r| r.id.clone(),
            |r| Ok::<EvidenceHold, AppError>(r.into()),
        )
    }

    /// What the next retention sweep would delete now, and why (admins).
    async fn retention_preview(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Candidates to list, 1 to 1000.", default = 100)] first: i32,
    ) -> Result<RetentionPreview, AppError> {
        ctx.require(Capability::Admin)?;
        if !(1..=1000).contains(&first) {
            return Err(AppError::bad_input("first", "must be between 1 and 1000"));
        }
        retention::preview(ctx.state()?, first as usize).await
    }

    /// Incidents with active holds on cameras in scope, with their footage totals, latest first.
    async fn incidents(&self, ctx: &Context<'_>) -> Result<Vec<Incident>, AppError> {
        let principal = ctx.require(Capability::EventsRead)?;
        let state = ctx.state()?;
        let holds = evidence_hold::Entity::find()
            .filter(scope_condition(
                &principal.scope,
                evidence_hold::Column::CameraId,
            ))
            .filter(evidence_hold::Column::ReleasedAt.is_null())
            .filter(evidence_hold::Column::IncidentId.is_not_null())
            .order_by_asc(evidence_hold::Column::Id)
            .limit(5000)
            .all(&state.db)
            .await?;
        let mut incidents: Vec<Incident> = Vec::new();
        for hold in holds {
            let Some(incident_id) = hold.incident_id.clone() else {
                continue;
            };
            let (count, bytes, seconds) =
                footage_in(state, &hold.camera_id, hold.start_ms, hold.end_ms).await?;
            let (from, to) = (
                segment::from_ms(hold.start_ms),
                segment::from_ms(hold.end_ms),
            );
            match incidents.iter_mut().find(|i| i.incident_id == incident_id) {
                Some(i) => {
                    i.hold_count += 1;
                    if !i.camera_ids.iter().any(|c| c.as_str() == hold.camera_id) {
                        i.camera_ids.push(ID(hold.camera_id.clone()));
                    }
                    i.from = i.from.min(from);
                    i.to = i.to.max(to);
                    i.segment_count += count;
                    i.total_bytes += bytes;
                    i.covered_seconds += seconds;
                }
                None => incidents.push(Incident {
                    incident_id,
                    hold_count: 1,
                    camera_ids: vec![ID(hold.camera_id.clone())],
                    from,
                    to,
                    segment_count: count,
                    total_bytes: bytes,
                    covered_seconds: seconds,
                }),
            }
        }
        incidents.sort_by_key(|i| std::cmp::Reverse(i.to));
        Ok(incidents)
    }
}

/// Evidence mutations.
#[derive(Default)]
pub struct EvidenceMutation;

#[Object]
impl EvidenceMutation {
    /// Queues a clip export of up to one hour and returns the job at once; follow it with the `clipExport` subscription.
    async fn export_clip(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Camera and window.")] input: ExportClipInput,
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
        let state = ctx.state()?;
        let window = TimeRange::new(input.from, input.to, Duration::seconds(3600))?;
        // Every overlapping segment, however many (never a truncated list).
        let segments = store::segments_overlapping(&state.db, &input.camera_id, window).await?;
        if segments.is_empty() {
            return Err(AppError::Domain {
                code: "NO_FOOTAGE",
                message: "no recorded footage in the requested window".into(),
            });
        }
        let sources: Vec<Source> = segments
            .into_iter()
            .map(|s| Source {
                id: s.id,
                path: s.path,
                start_ms: s.start_ms,
                end_ms: s.end_ms,
                size_bytes: s.size_bytes,
            })
            .collect();
        let (from_ms, to_ms) = (input.from.timestamp_millis(), input.to.timestamp_millis());
        let plan = model::clip_plan(from_ms, to_ms, &sources);
        let recorded = store::recorded_gaps(&state.db, &input.camera_id, window).await?;
        let gaps: Vec<DisclosedGap> = plan
            .gaps
            .iter()
            .map(|g| DisclosedGap {
                from_ms: g.from_ms,
                to_ms: g.to_ms,
                reason: recorded
                    .iter()
                    .find(|r| {
                        r.gap_start.timestamp_millis() < g.to_ms
                            && r.gap_end.timestamp_millis() > g.from_ms
                    })
                    .map(|r| r.reason.clone()),
            })
            .collect();
        let now = state.clock.now();
        let row = clip_export::ActiveModel {
            id: Set(new_id("clip")),
            camera_id: Set(input.camera_id.to_string()),
            status: Set(status::QUEUED.into()),
            progress: Set(0.0),
            from_ms: Set(from_ms),
            to_ms: Set(to_ms),
            requested_seconds: Set(requested),
            covered_seconds: Set(plan.covered_seconds),
            gaps: Set(json!(gaps).to_string()),
            sources: Set(json!(sources).to_string()),
            actual_from_ms: Set(None),
            actual_to_ms: Set(None),
            size_bytes: Set(None),
            sha256: Set(None),
            error: Set(None),
            attempts: Set(0),
            requested_by_id: Set(principal.id.clone()),
            requested_by_name: Set(principal.name.clone()),
            created_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
            expires_at: Set(None),
        }
        .insert(&state.db)
        .await?;
        state.media.wake();
        Ok(ClipExport(row))
    }

    /// Runs a retention sweep now (admins) and reports what it deleted and why.
    async fn run_retention(&self, ctx: &Context<'_>) -> Result<RetentionReport, AppError> {
        let principal = ctx.require(Capability::Admin)?;
        let state = ctx.state()?;
        let report = retention::sweep(state).await?;
        let entry = Entry::new("run_retention", "retention", "sweep").detail(json!({
            "deletedSegments": report.deleted_segments, "deletedBytes": report.deleted_bytes,
        }));
        audit::record(&state.db, &Actor::from(principal), entry, state.clock.now()).await;
        Ok(report)
    }

    /// Stops a queued or running export; it ends FAILED with "cancelled" and its read locks are released.
    async fn cancel_clip_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Export id.")] id: ID,
    ) -> Result<ClipExport, AppError> {
        let job = find_export(ctx, Capability::VideoExport, &id).await?;
        let state = ctx.state()?;
        if ClipExportStatus::parse(&job.status).is_final() {
            return Err(AppError::Conflict(format!(
                "export `{}` has already finished ({})",
                job.id, job.status
            )));
        }
        let by = ctx.principal()?.name.clone();
        let now = state.clock.now();
        let mut row = job.clone().into_active_model();
        row.status = Set(status::FAILED.into());
        row.error = Set(Some(format!("cancelled by {by}")));
        row.finished_at = Set(Some(now));
        // The runner's own outcome is stored only while RUNNING, so this one stands.
        let row = row.update(&state.db).await?;
        state.media.cancel(&id);
        let _ = state.media.updates.send(row.clone());
        Ok(ClipExport(row))
    }

    /// Exports the recorded frame at `at` as a JPEG (same slots, locks and scope as clips).
    async fn export_snapshot(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Camera.")] camera_id: ID,
        #[graphql(desc = "Instant of the frame.")] at: DateTime<Utc>,
    ) -> Result<Snapshot, AppError> {
        let principal = ctx.require_camera(Capability::VideoExport, &camera_id)?;
        find_camera(ctx, Capability::VideoExport, &camera_id).await?;
        let state = ctx.state()?;
        let at_ms = at.timestamp_millis();
        let Some(seg) = segment::Entity::find()
            .filter(segment::Column::CameraId.eq(camera_id.as_str()))
            .filter(segment::Column::StartMs.lte(at_ms))
            .filter(segment::Column::StartMs.gt(at_ms - MAX_SEGMENT_SPAN.num_milliseconds()))
            .filter(segment::Column::EndMs.gt(at_ms))
            .order_by_desc(segment::Column::StartMs)
            .one(&state.db)
            .await?
        else {
            return Err(AppError::Domain {
                code: "NO_FOOTAGE",
                message: "no recorded footage at that instant".into(),
            });
        };
        if !model::safe_path(&seg.path) {
            return Err(AppError::internal(format!(
                "unsafe segment path {:?}",
                seg.path
            )));
        }
        let permit = state
            .media
            .permit(std::time::Duration::from_secs(10))
            .await?;
        let lock = ReadLock::acquire(&state.db, vec![seg.id.clone()]).await?;
        let id = new_id("snap");
        let out = jobs::snapshots_dir(state).join(format!("{id}.jpg"));
        let source = crate::footage::recorder::recordings_root(state).join(&seg.path);
        let captured =
            jobs::capture_frame(state, &source, (at_ms - seg.start_ms) as f64 / 1000.0, &out).await;
        lock.release().await;
        drop(permit);
        captured?;
        let (size, sha256) = jobs::hash_file(&out).await.map_err(AppError::internal)?;
        let now = state.clock.now();
        let expires = now + Duration::hours(state.config.snapshot_retention_hours as i64);
        snapshot::ActiveModel {
            id: Set(id.clone()),
            camera_id: Set(camera_id.to_string()),
            at_ms: Set(at_ms),
            segment_id: Set(seg.id.clone()),
            size_bytes: Set(size),
            sha256: Set(sha256.clone()),
            requested_by_id: Set(principal.id.clone()),
            requested_by_name: Set(principal.name.clone()),
            created_at: Set(now),
            expires_at: Set(expires),
        }
        .insert(&state.db)
        .await?;
        let mut entry = Entry::new("export_snapshot", "snapshot", &id)
            .detail(json!({"at": at.to_rfc3339(), "sha256": sha256}));
        entry.camera_id = Some(&camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        Ok(Snapshot {
            download_url: signed_url(state, principal, &format!("/media/snapshots/{id}.jpg")),
            id: ID(id),
            camera_id,
            at,
            segment_id: ID(seg.id),
            size_bytes: size,
            sha256,
            expires_at: expires,
        })
    }

    /// Holds every segment of the camera overlapping the range (including ones indexed later) until released.
    async fn lock_evidence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Camera, range, incident and note.")] input: LockEvidenceInput,
    ) -> Result<EvidenceHold, AppError> {
        let principal = ctx.require_camera(Capability::RegistryManage, &input.camera_id)?;
        if input.to <= input.from {
            return Err(AppError::bad_input("input.to", "must be after `from`"));
        }
        if input.to - input.from > Duration::days(366) {
            return Err(AppError::bad_input(
                "input.to",
                "a hold spans at most 366 days",
            ));
        }
        let incident_id = bounded("input.incidentId", input.incident_id, 128)?;
        let note = match input
            .note
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
        {
            Some(n) if n.chars().count() > 2000 => {
                return Err(AppError::bad_input("input.note", "at most 2000 characters"));
            }
            other => other,
        };
        find_camera(ctx, Capability::RegistryManage, &input.camera_id).await?;
        let state = ctx.state()?;
        let now = state.clock.now();
        let (start_ms, end_ms) = (input.from.timestamp_millis(), input.to.timestamp_millis());
        // Once this commits, no retention delete can miss the hold (see `lock_camera_holds`).
        let txn = sea_orm::TransactionTrait::begin(&state.db).await?;
        crate::evidence::locks::lock_camera_holds(&txn, input.camera_id.as_str()).await?;
        let hold = evidence_hold::ActiveModel {
            id: Set(new_id("hold")),
            camera_id: Set(input.camera_id.to_string()),
            start_ms: Set(start_ms),
            end_ms: Set(end_ms),
            incident_id: Set(incident_id.clone()),
            note: Set(note),
            created_by_id: Set(principal.id.clone()),
            created_by_name: Set(principal.name.clone()),
            created_at: Set(now),
            released_at: Set(None),
            released_by_name: Set(None),
        }
        .insert(&txn)
        .await?;
        refresh_evidence_flags(&txn, &hold.camera_id, start_ms, end_ms).await?;
        txn.commit().await?;
        let mut entry = Entry::new("lock_evidence", "evidence_hold", &hold.id).detail(json!({
            "from": input.from.to_rfc3339(), "to": input.to.to_rfc3339(), "incidentId": incident_id,
        }));
        entry.camera_id = Some(&hold.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        Ok(hold.into())
    }

    /// Releases a hold; its footage falls back under normal retention unless another hold covers it.
    async fn release_evidence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Hold id.")] id: ID,
    ) -> Result<EvidenceHold, AppError> {
        let principal = ctx.require(Capability::RegistryManage)?;
        let state = ctx.state()?;
        let hold = match evidence_hold::Entity::find_by_id(id.to_string())
            .one(&state.db)
            .await?
        {
            Some(h) if principal.scope.allows(&h.camera_id) => h,
            _ if principal.scope != CameraScope::All => {
                return Err(AppError::Forbidden(
                    "credential is not scoped to the camera of this hold".into(),
                ));
            }
            _ => {
                return Err(AppError::NotFound(format!(
                    "evidence hold `{}` not found",
                    id.as_str()
                )));
            }
        };
        if let Some(at) = hold.released_at {
            return Err(AppError::Conflict(format!(
                "evidence hold `{}` was already released at {}",
                hold.id,
                at.to_rfc3339()
            )));
        }
        let now = state.clock.now();
        let mut row = hold.clone().into_active_model();
        row.released_at = Set(Some(now));
        row.released_by_name = Set(Some(principal.name.clone()));
        let hold = row.update(&state.db).await?;
        refresh_evidence_flags(&state.db, &hold.camera_id, hold.start_ms, hold.end_ms).await?;
        let mut entry = Entry::new("release_evidence", "evidence_hold", &hold.id);
        entry.camera_id = Some(&hold.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        Ok(hold.into())
    }
}

/// Evidence subscriptions.
#[derive(Default)]
pub struct EvidenceSubscription;

#[Subscription]
impl EvidenceSubscription {
    /// The export now, then every change of status or progress, ending after READY, FAILED or EXPIRED.
    async fn clip_export(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Export id.")] id: ID,
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
                let done = ClipExportStatus::parse(&row.status).is_final();
                Some((ClipExport(row), (None, updates, done)))
            },
        ))
    }
}
