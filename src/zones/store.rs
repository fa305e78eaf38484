//! Stored zones: per-camera copies for ingest, enabled specs, and name uniqueness.

use entity::zone;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::error::AppError;
use crate::zones::engine::ZoneSpec;
use crate::zones::model::spec;

/// How long an instance trusts its copy of a camera's zones. Edits made on this instance are
/// seen at once (they drop the copy); edits made by another instance sharing the database
/// within this time.
pub const ZONE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// A camera's zones as ingest needs them: the enabled ones for the engine, and the name and
/// severity of every zone (a track's exit may concern a zone disabled since).
#[derive(Debug, Default)]
pub struct CameraZones {
    /// Enabled zones, oldest first.
    pub enabled: Vec<ZoneSpec>,
    /// Zone id → its name and severity, disabled zones included.
    pub labels: std::collections::HashMap<String, ZoneLabel>,
}

/// What an event needs to say about its zone.
#[derive(Debug, Clone)]
pub struct ZoneLabel {
    /// The zone's name.
    pub name: String,
    /// The severity of the zone's events.
    pub severity: crate::events::model::Severity,
}

/// Camera → (when read or invalidated, the copy if there is one).
type ZoneCopies =
    std::collections::HashMap<String, (std::time::Instant, Option<std::sync::Arc<CameraZones>>)>;

/// Per-camera copies of the zone table, so ingest does not read it on every batch.
#[derive(Debug, Default)]
pub struct ZoneCache {
    cameras: std::sync::Mutex<ZoneCopies>,
}

impl ZoneCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, ZoneCopies> {
        self.cameras.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the copy of a camera's zones (after any change to them has committed). The time
    /// is kept, so a read that started before the change cannot store what it read.
    pub fn invalidate(&self, camera_id: &str) {
        self.lock()
            .insert(camera_id.to_owned(), (std::time::Instant::now(), None));
    }

    /// The camera's zones, from the copy when it is fresh.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        camera_id: &str,
    ) -> Result<std::sync::Arc<CameraZones>, AppError> {
        if let Some((at, Some(zones))) = self.lock().get(camera_id)
            && at.elapsed() < ZONE_CACHE_TTL
        {
            return Ok(zones.clone());
        }
        let read_at = std::time::Instant::now();
        let rows = zone::Entity::find()
            .filter(zone::Column::CameraId.eq(camera_id))
            .order_by_asc(zone::Column::CreatedAt)
            .all(db)
            .await?;
        let zones = std::sync::Arc::new(CameraZones {
            enabled: rows.iter().filter(|z| z.enabled).map(spec).collect(),
            labels: rows
                .into_iter()
                .map(|z| {
                    let label = ZoneLabel {
                        name: z.name,
                        severity: z.severity,
                    };
                    (z.id, label)
                })
                .collect(),
        });
        let mut cameras = self.lock();
        // Keep a copy only if no change invalidated it while it was being read.
        match cameras.get(camera_id) {
            Some((at, _)) if *at > read_at => {}
            _ => {
                cameras.insert(camera_id.to_owned(), (read_at, Some(zones.clone())));
            }
        }
        Ok(zones)
    }
}

/// The enabled zones of a camera, as the engine sees them.
pub async fn enabled_specs(
    db: &impl ConnectionTrait,
    camera_id: &str,
) -> Result<Vec<ZoneSpec>, AppError> {
    Ok(zone::Entity::find()
        .filter(zone::Column::CameraId.eq(camera_id))
        .filter(zone::Column::Enabled.eq(true))
        .order_by_asc(zone::Column::CreatedAt)
        .all(db)
        .await?
        .iter()
        .map(spec)
        .collect())
}

/// `CONFLICT` naming the zone that already has `name` on the camera (other than `except`).
pub async fn name_free(
    db: &impl ConnectionTrait,
    camera_id: &str,
    name: &str,
    except: Option<&str>,
) -> Result<(), AppError> {
    let mut query = zone::Entity::find()
        .filter(zone::Column::CameraId.eq(camera_id))
        .filter(zone::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(zone::Column::Id.ne(id));
    }
    match query.one(db).await? {
        Some(existing) => Err(AppError::Conflict(format!(
            "camera `{camera_id}` already has a zone named `{name}` (`{}`)",
            existing.id
        ))),
        None => Ok(()),
    }
}
