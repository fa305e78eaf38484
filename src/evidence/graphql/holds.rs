//! Evidence holds: `lockEvidence`, `releaseEvidence`, `evidenceHolds`.

use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};
use entity::{evidence_hold, segment};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::evidence::graphql::{bounded, scope_condition};
use crate::evidence::store::{Footage, NewHold, footage_in, place_hold, release_hold};
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::paging::{Counted, Keyset, Order, PageArgs, paged};
use crate::graphql::scalars::Long;

/// A range of one camera's footage to hold.
#[derive(InputObject)]
pub struct LockEvidenceInput {
    /// Id of the camera whose footage to hold.
    pub camera_id: ID,
    /// Start of the range to hold (any offset).
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
    #[graphql(owned)]
    pub id: ID,
    /// Id of the camera whose footage is held.
    pub camera_id: ID,
    /// Start of the held range.
    pub from: DateTime<Utc>,
    /// End of the held range, at most 366 days after `from`.
    pub to: DateTime<Utc>,
    /// Incident it belongs to.
    pub incident_id: Option<String>,
    /// Free-text reason given when the hold was placed; null if none was given.
    pub note: Option<String>,
    /// Username or API key name of whoever placed the hold.
    pub created_by: String,
    /// When the hold was placed.
    pub created_at: DateTime<Utc>,
    /// When it was released (null while active).
    pub released_at: Option<DateTime<Utc>>,
    /// Username or API key name of whoever released the hold; null while active.
    pub released_by: Option<String>,
    /// Segments, bytes and seconds held, read once however many of the fields are asked for.
    #[graphql(skip)]
    totals: tokio::sync::OnceCell<Footage>,
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

#[ComplexObject]
impl EvidenceHold {
    /// Segments of the camera overlapping the held range now (the ones it protects while active).
    async fn segment_count(&self, ctx: &Context<'_>) -> Result<Long, AppError> {
        Ok(Long(self.totals(ctx).await?.segments))
    }
    /// Bytes of the camera's segments overlapping the held range now.
    async fn total_bytes(&self, ctx: &Context<'_>) -> Result<Long, AppError> {
        Ok(Long(self.totals(ctx).await?.bytes))
    }
}

impl EvidenceHold {
    async fn totals(&self, ctx: &Context<'_>) -> Result<Footage, AppError> {
        let db = &ctx.state()?.db;
        let (from, to) = (self.from.timestamp_millis(), self.to.timestamp_millis());
        self.totals
            .get_or_try_init(|| footage_in(db, &self.camera_id, from, to))
            .await
            .copied()
    }
}

/// Evidence hold queries.
#[derive(Default)]
pub struct HoldsQuery;

#[Object]
impl HoldsQuery {
    /// Evidence holds of the cameras in scope, newest first.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a GraphQL argument; Relay paging alone adds four"
    )]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn evidence_holds(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this camera.")] camera_id: Option<ID>,
        #[graphql(desc = "Only this incident.")] incident_id: Option<String>,
        #[graphql(desc = "Include released holds.", default_with = "Some(false)")] include_released: Option<bool>,
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
    ) -> Result<Counted<EvidenceHold>, AppError> {
        let include_released = include_released.unwrap_or(false);
        let principal = ctx.require(Capability::EventsRead)?;
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
        let keyset = Keyset::by_text(
            evidence_hold::Column::Id,
            Order::NewestFirst,
            |row: &evidence_hold::Model| row.id.clone(),
        );
        let args = PageArgs::new(first, after, last, before);
        paged(&ctx.state()?.db, query, &keyset, &args, |row| {
            Ok::<EvidenceHold, AppError>(row.into())
        })
        .await
    }
}

/// Evidence hold mutations.
#[derive(Default)]
pub struct HoldsMutation;

#[Object]
impl HoldsMutation {
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
        let new = NewHold {
            camera_id: input.camera_id.to_string(),
            from: input.from,
            to: input.to,
            incident_id: incident_id.clone(),
            note,
        };
        let hold = place_hold(state, principal, new).await?;
        let mut entry = Entry::new("lock_evidence", "evidence_hold", &hold.id).detail(json!({
            "from": input.from.to_rfc3339(), "to": input.to.to_rfc3339(), "incidentId": incident_id,
        }));
        entry.camera_id = Some(&hold.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, hold.created_at).await;
        Ok(hold.into())
    }

    /// Releases a hold; its footage falls back under normal retention unless another hold covers it.
    async fn release_evidence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the hold to release (`hold_…`).")] id: ID,
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
        let hold = release_hold(state, hold, &principal.name).await?;
        let mut entry = Entry::new("release_evidence", "evidence_hold", &hold.id);
        entry.camera_id = Some(&hold.camera_id);
        let at = hold.released_at.unwrap_or_else(|| state.clock.now());
        audit::record(&state.db, &Actor::from(principal), entry, at).await;
        Ok(hold.into())
    }
}
