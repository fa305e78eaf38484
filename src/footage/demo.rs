//! `heldar serve --demo`: a camera fed by a generated test pattern, so a newcomer sees footage
//! (and, by switching its recording off and on, a gap) within a minute.

use entity::camera;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::state::AppState;

/// Id of the demo camera.
pub const DEMO_CAMERA: &str = "demo";
/// Its source: ffmpeg's moving test pattern, 640×360 at 10 fps.
pub const DEMO_SOURCE: &str = "lavfi:testsrc2=size=640x360:rate=10";

/// Creates the demo camera unless it exists; returns whether it was created.
pub async fn ensure_demo_camera(state: &AppState) -> Result<bool, AppError> {
    if camera::Entity::find_by_id(DEMO_CAMERA.to_owned())
        .one(&state.db)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let now = state.clock.now();
    camera::ActiveModel {
        id: Set(DEMO_CAMERA.to_owned()),
        name: Set("Demo test pattern".to_owned()),
        stream_url: Set(DEMO_SOURCE.to_owned()),
        enabled: Set(true),
        record_enabled: Set(true),
        segment_seconds: Set(10),
        retention_hours: Set(24),
        storage_quota_bytes: Set(Some(1 << 30)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    let mut entry = Entry::new("create_camera", "camera", DEMO_CAMERA);
    entry.camera_id = Some(DEMO_CAMERA);
    audit::record(&state.db, &Actor::system(), entry, now).await;
    Ok(true)
}
