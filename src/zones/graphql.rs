//! Zones over GraphQL: `createZone`, `updateZone`, `deleteZone`, `zones`, and
//! `zoneOccupancy` as a query and a subscription.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::zone;
use futures_util::{Stream, StreamExt, stream};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::events::model::Severity;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::input::{in_range, text};
use crate::ids::new_id;
use crate::zones::consumer::ZoneOccupancy;
use crate::zones::model::{
    LineDirection, ZoneKind, ZonePoint, check_labels, check_points, points_of,
};
use crate::zones::store::name_free;

/// A region or tripwire of a camera watched by the zone engine.
#[derive(SimpleObject)]
pub struct Zone {
    /// Zone id (`zone_…`).
    #[graphql(owned)]
    pub id: ID,
    /// Id of the camera the zone belongs to.
    pub camera_id: ID,
    /// Name, unique per camera.
    pub name: String,
    /// REGION (a polygon: enter, exit and dwell events) or LINE (a tripwire: crossing events).
    pub kind: ZoneKind,
    /// The polygon, or A and B of a line.
    pub points: Vec<ZonePoint>,
    /// Which crossings fire (lines).
    pub direction: LineDirection,
    /// Labels that count; empty = every label.
    pub labels: Vec<String>,
    /// Detections below this confidence are invisible to the zone.
    pub min_confidence: f64,
    /// Consecutive observations before a track counts as in or out (debounce).
    pub confirm_frames: i32,
    /// Seconds inside before a dwell event, once per visit (0 = none).
    pub dwell_seconds: f64,
    /// Severity of the zone's events.
    pub severity: Severity,
    /// Watched by the engine.
    pub enabled: bool,
    /// Objects that do not move are suppressed (parked cars, mannequins).
    pub static_suppression: bool,
    /// Movement (normalized units) below which an object counts as not moving.
    pub static_epsilon: f64,
    /// Seconds without moving before suppression.
    pub static_after_seconds: f64,
    /// When the zone was created.
    pub created_at: DateTime<Utc>,
    /// When the zone was created or last changed by `updateZone`.
    pub updated_at: DateTime<Utc>,
}

impl From<zone::Model> for Zone {
    fn from(m: zone::Model) -> Self {
        Zone {
            id: ID(m.id),
            camera_id: ID(m.camera_id),
            name: m.name,
            kind: m.kind,
            points: points_of(&m.points),
            direction: m.direction,
            labels: serde_json::from_str(&m.labels).unwrap_or_default(),
            min_confidence: m.min_confidence,
            confirm_frames: m.confirm_frames,
            dwell_seconds: m.dwell_seconds,
            severity: m.severity,
            enabled: m.enabled,
            static_suppression: m.static_suppression,
            static_epsilon: m.static_epsilon,
            static_after_seconds: m.static_after_seconds,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A new zone.
#[derive(InputObject)]
pub struct CreateZoneInput {
    /// Id of the camera the zone belongs to.
    pub camera_id: ID,
    /// Name, 1 to 100 characters, unique per camera.
    pub name: String,
    /// Region (default) or line.
    pub kind: Option<ZoneKind>,
    /// Region: 3 to 512 points; line: exactly 2 (A, B). Coordinates 0..1.
    pub points: Vec<ZonePoint>,
    /// Which crossings fire (lines; default ANY).
    pub direction: Option<LineDirection>,
    /// Labels that count (default: every label).
    pub labels: Option<Vec<String>>,
    /// Detections below this confidence are ignored by the zone, 0 to 1 (default 0.5).
    pub min_confidence: Option<f64>,
    /// Consecutive observations before a track counts as in or out, 1 to 10 (default 2).
    pub confirm_frames: Option<i32>,
    /// 0..86400 (default 0: no dwell events).
    pub dwell_seconds: Option<f64>,
    /// Severity of the zone's events (default INFO).
    pub severity: Option<Severity>,
    /// Whether the zone engine watches the zone (default true).
    pub enabled: Option<bool>,
    /// Whether objects that do not move are suppressed (default true).
    pub static_suppression: Option<bool>,
    /// Movement in normalized units below which an object counts as not moving, 0.001 to 0.5 (default 0.02).
    pub static_epsilon: Option<f64>,
    /// Seconds without moving before suppression, 5 to 86400 (default 120).
    pub static_after_seconds: Option<f64>,
}

/// Changes to a zone; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateZoneInput {
    /// Id of the zone to change (`zone_…`).
    pub id: ID,
    /// New name, 1 to 100 characters, unique per camera.
    pub name: Option<String>,
    /// New kind (the points must fit it).
    pub kind: Option<ZoneKind>,
    /// New points: 3 to 512 for a region, exactly 2 (A, B) for a line; coordinates 0..1.
    pub points: Option<Vec<ZonePoint>>,
    /// New choice of which line crossings fire (lines only).
    pub direction: Option<LineDirection>,
    /// New labels that count, up to 64 of 1 to 64 characters each; an empty list counts every label.
    pub labels: Option<Vec<String>>,
    /// New confidence floor, 0 to 1; weaker detections are ignored by the zone.
    pub min_confidence: Option<f64>,
    /// New number of consecutive observations before a track counts as in or out, 1 to 10.
    pub confirm_frames: Option<i32>,
    /// New seconds inside before a dwell event, 0 to 86400 (0: no dwell events).
    pub dwell_seconds: Option<f64>,
    /// New severity of the zone's events.
    pub severity: Option<Severity>,
    /// Whether the zone engine watches the zone.
    pub enabled: Option<bool>,
    /// Static suppression on or off.
    pub static_suppression: Option<bool>,
    /// New movement (normalized units) below which an object counts as not moving, 0.001 to 0.5.
    pub static_epsilon: Option<f64>,
    /// New seconds without moving before suppression, 5 to 86400.
    pub static_after_seconds: Option<f64>,
}

/// Finds a zone the caller may change (`FORBIDDEN` alike for missing and foreign when scoped).
async fn find_zone(ctx: &Context<'_>, id: &str) -> Result<zone::Model, AppError> {
    let principal = ctx.require(Capability::RegistryManage)?;
    let found = zone::Entity::find_by_id(id.to_owned())
        .one(&ctx.state()?.db)
        .await?;
    match found {
        Some(z) if principal.scope.allows(&z.camera_id) => Ok(z),
        _ if principal.scope != CameraScope::All => Err(AppError::Forbidden(
            "credential is not scoped to the camera of this zone".into(),
        )),
        _ => Err(AppError::NotFound(format!("zone `{id}` not found"))),
    }
}

/// Zone queries.
#[derive(Default)]
pub struct ZonesQuery;

#[Object]
impl ZonesQuery {
    /// The zones of a camera, disabled ones included, oldest first.
    async fn zones(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
    ) -> Result<Vec<Zone>, AppError> {
        find_camera(ctx, Capability::EventsRead, &camera_id).await?;
        Ok(zone::Entity::find()
            .filter(zone::Column::CameraId.eq(camera_id.as_str()))
            .order_by_asc(zone::Column::CreatedAt)
            .order_by_asc(zone::Column::Id)
            .all(&ctx.state()?.db)
            .await?
            .into_iter()
            .map(Zone::from)
            .collect())
    }

    /// Tracks inside each enabled zone of the camera now (disabled zones are not counted), as
    /// the `zoneOccupancy` subscription starts; zones oldest first.
    async fn zone_occupancy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
    ) -> Result<Vec<ZoneOccupancy>, AppError> {
        find_camera(ctx, Capability::EventsRead, &camera_id).await?;
        occupancy_now(ctx.state()?, &camera_id).await
    }
}

/// Tracks inside each enabled zone of the camera now, as the zone engine counts them.
async fn occupancy_now(
    state: &crate::state::AppState,
    camera_id: &ID,
) -> Result<Vec<ZoneOccupancy>, AppError> {
    let zones = crate::zones::store::enabled_specs(&state.db, camera_id).await?;
    let now = state.clock.now();
    let engine = state.zones.engine.lock().await;
    Ok(zones
        .iter()
        .map(|z| ZoneOccupancy {
            camera_id: camera_id.clone(),
            zone_id: ID(z.id.clone()),
            count: engine.occupancy(camera_id, &z.id, now) as i32,
            at: now,
        })
        .collect())
}

/// Zone mutations.
#[derive(Default)]
pub struct ZonesMutation;

#[Object]
impl ZonesMutation {
    /// Adds a zone; a name already used on the camera is a CONFLICT naming that zone.
    async fn create_zone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The zone's camera, name, shape and rules.")] input: CreateZoneInput,
    ) -> Result<Zone, AppError> {
        let principal = ctx.require_camera(Capability::RegistryManage, &input.camera_id)?;
        find_camera(ctx, Capability::RegistryManage, &input.camera_id).await?;
        let name = text("input.name", &input.name, 100)?;
        let kind = input.kind.unwrap_or(ZoneKind::Region);
        let points = check_points(kind, &input.points)?;
        let labels = check_labels(input.labels.as_deref().unwrap_or_default())?;
        let min_confidence = in_range(
            "input.minConfidence",
            input.min_confidence.unwrap_or(0.5),
            0.0,
            1.0,
        )?;
        let confirm = input.confirm_frames.unwrap_or(2);
        if !(1..=10).contains(&confirm) {
            return Err(AppError::bad_input(
                "input.confirmFrames",
                "must be between 1 and 10",
            ));
        }
        let dwell = in_range(
            "input.dwellSeconds",
            input.dwell_seconds.unwrap_or(0.0),
            0.0,
            86_400.0,
        )?;
        let epsilon = in_range(
            "input.staticEpsilon",
            input.static_epsilon.unwrap_or(0.02),
            0.001,
            0.5,
        )?;
        let after = in_range(
            "input.staticAfterSeconds",
            input.static_after_seconds.unwrap_or(120.0),
            5.0,
            86_400.0,
        )?;
        let state = ctx.state()?;
        name_free(&state.db, &input.camera_id, &name, None).await?;
        let now = state.clock.now();
        let created = zone::ActiveModel {
            id: Set(new_id("zone")),
            camera_id: Set(input.camera_id.to_string()),
            name: Set(name),
            kind: Set(kind),
            points: Set(points),
            direction: Set(input.direction.unwrap_or(LineDirection::Any)),
            labels: Set(labels),
            min_confidence: Set(min_confidence),
            confirm_frames: Set(confirm),
            dwell_seconds: Set(dwell),
            severity: Set(input.severity.unwrap_or(Severity::Info)),
            enabled: Set(input.enabled.unwrap_or(true)),
            static_suppression: Set(input.static_suppression.unwrap_or(true)),
            static_epsilon: Set(epsilon),
            static_after_seconds: Set(after),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&state.db)
        .await
        .map_err(|err| match AppError::from(err) {
            // Two creators racing past the check: the unique index decides.
            AppError::Conflict(_) => AppError::Conflict(format!(
                "camera `{}` already has a zone named `{}`",
                input.camera_id.as_str(),
                input.name.trim()
            )),
            other => other,
        })?;
        state.zones.cache.invalidate(&created.camera_id);
        let mut entry = Entry::new("create_zone", "zone", &created.id)
            .detail(json!({"name": created.name, "kind": created.kind.as_str()}));
        entry.camera_id = Some(&created.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        Ok(created.into())
    }

    /// Changes a zone; the result is validated as a whole (points against the kind).
    async fn update_zone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The zone's id and the fields to change; omitted ones stay as they are.")]
        input: UpdateZoneInput,
    ) -> Result<Zone, AppError> {
        let current = find_zone(ctx, &input.id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        let mut row = current.clone().into_active_model();
        if let Some(name) = &input.name {
            let name = text("input.name", name, 100)?;
            name_free(&state.db, &current.camera_id, &name, Some(&current.id)).await?;
            row.name = Set(name);
        }
        let kind = input.kind.unwrap_or(current.kind);
        let points = input
            .points
            .clone()
            .unwrap_or_else(|| points_of(&current.points));
        row.points = Set(check_points(kind, &points)?);
        row.kind = Set(kind);
        if let Some(d) = input.direction {
            row.direction = Set(d);
        }
        if let Some(labels) = &input.labels {
            row.labels = Set(check_labels(labels)?);
        }
        if let Some(v) = input.min_confidence {
            row.min_confidence = Set(in_range("input.minConfidence", v, 0.0, 1.0)?);
        }
        if let Some(v) = input.confirm_frames {
            if !(1..=10).contains(&v) {
                return Err(AppError::bad_input(
                    "input.confirmFrames",
                    "must be between 1 and 10",
                ));
            }
            row.confirm_frames = Set(v);
        }
        if let Some(v) = input.dwell_seconds {
            row.dwell_seconds = Set(in_range("input.dwellSeconds", v, 0.0, 86_400.0)?);
        }
        if let Some(v) = input.severity {
            row.severity = Set(v);
        }
        if let Some(v) = input.enabled {
            row.enabled = Set(v);
        }
        if let Some(v) = input.static_suppression {
            row.static_suppression = Set(v);
        }
        if let Some(v) = input.static_epsilon {
            row.static_epsilon = Set(in_range("input.staticEpsilon", v, 0.001, 0.5)?);
        }
        if let Some(v) = input.static_after_seconds {
            row.static_after_seconds = Set(in_range("input.staticAfterSeconds", v, 5.0, 86_400.0)?);
        }
        let now = state.clock.now();
        row.updated_at = Set(now);
        let updated = row.update(&state.db).await?;
        state.zones.cache.invalidate(&updated.camera_id);
        let mut entry = Entry::new("update_zone", "zone", &updated.id);
        entry.camera_id = Some(&updated.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        Ok(updated.into())
    }

    /// Deletes a zone; its past events are kept.
    async fn delete_zone(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the zone to delete (`zone_…`).")] id: ID,
    ) -> Result<bool, AppError> {
        let current = find_zone(ctx, &id).await?;
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        zone::Entity::delete_by_id(current.id.clone())
            .exec(&state.db)
            .await?;
        state.zones.cache.invalidate(&current.camera_id);
        let now = state.clock.now();
        let mut entry =
            Entry::new("delete_zone", "zone", &current.id).detail(json!({"name": current.name}));
        entry.camera_id = Some(&current.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        Ok(true)
    }
}

/// Zone subscriptions.
#[derive(Default)]
pub struct ZonesSubscription;

#[Subscription]
impl ZonesSubscription {
    /// Tracks inside each enabled zone of the camera now, then every change.
    async fn zone_occupancy(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
    ) -> Result<impl Stream<Item = ZoneOccupancy> + use<>, AppError> {
        find_camera(ctx, Capability::EventsRead, &camera_id).await?;
        let state = ctx.state()?;
        let receiver = state.zones.occupancy_changes.subscribe();
        let current = occupancy_now(state, &camera_id).await?;
        let wanted = camera_id.clone();
        let state = state.clone();
        let changes = BroadcastStream::new(receiver)
            .then(move |change| {
                let (state, wanted) = (state.clone(), wanted.clone());
                async move {
                    match change {
                        Ok(change) if change.camera_id == wanted => vec![change],
                        Ok(_) => vec![],
                        // Changes were missed: the counts as they are now replace them.
                        Err(lagged) => {
                            tracing::warn!(error = %lagged, "a zoneOccupancy subscriber fell behind; sending the counts afresh");
                            occupancy_now(&state, &wanted).await.unwrap_or_default()
                        }
                    }
                }
            })
            .flat_map(stream::iter);
        Ok(stream::iter(current).chain(changes))
    }
}
