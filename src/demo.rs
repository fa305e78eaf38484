//! `heldar serve --demo`: a camera fed by a generated test pattern, so a newcomer sees footage
//! (and, by switching its recording off and on, a gap) within a minute.

use entity::camera;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use crate::audit::{self, Actor, Entry};
use crate::error::AppError;
use crate::state::AppState;

/// Id of the demo camera.
pub const DEMO_CAMERA: &str = "demo";
/// Its source: a white box sliding across a grey scene (wrapping every 20 s), 640×360 at
/// 10 fps, so the reference worker's motion detector has something to follow.
pub const DEMO_SOURCE: &str = "lavfi:color=c=0x404040:s=640x360:r=10,drawbox=x=40:y=140:w=48:h=80:color=white:t=fill,scroll=horizontal=0.005";
/// Name of the demo camera's zone: the middle band the box crosses (enter, dwell, exit) before
/// it wraps round.
pub const DEMO_ZONE: &str = "middle";

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
        sub_stream_url: Set(None),
        record_sub: Set(false),
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
    // A motion task for `heldar worker`, and a zone its detections walk through.
    entity::ai_task::ActiveModel {
        id: Set(crate::ids::new_id("ait")),
        camera_id: Set(DEMO_CAMERA.to_owned()),
        task_type: Set("motion".to_owned()),
        stream_profile: Set(entity::vocab::StreamProfile::Sub),
        fps: Set(2.0),
        width: Set(640),
        priority: Set(0),
        config: Set("{}".to_owned()),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    entity::zone::ActiveModel {
        id: Set(crate::ids::new_id("zone")),
        camera_id: Set(DEMO_CAMERA.to_owned()),
        name: Set(DEMO_ZONE.to_owned()),
        kind: Set(entity::vocab::ZoneKind::Region),
        points: Set("[[0.35,0.0],[0.65,0.0],[0.65,1.0],[0.35,1.0]]".to_owned()),
        direction: Set(entity::vocab::LineDirection::Any),
        labels: Set("[]".to_owned()),
        min_confidence: Set(0.5),
        confirm_frames: Set(2),
        dwell_seconds: Set(3.0),
        severity: Set(entity::vocab::Severity::Info),
        enabled: Set(true),
        static_suppression: Set(true),
        static_epsilon: Set(0.02),
        static_after_seconds: Set(120.0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    Ok(true)
}
