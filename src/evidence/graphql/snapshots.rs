//! Snapshots: `exportSnapshot`.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::evidence::graphql::signed_url;
use crate::evidence::snapshots;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::graphql::scalars::Long;

/// A JPEG of one recorded frame.
#[derive(SimpleObject)]
pub struct Snapshot {
    /// Snapshot id (`snap_…`).
    pub id: ID,
    /// Id of the camera the frame comes from.
    pub camera_id: ID,
    /// The instant asked for; the frame is decoded at that offset into the segment covering it.
    pub at: DateTime<Utc>,
    /// Segment the frame was taken from.
    pub segment_id: ID,
    /// JPEG size in bytes.
    pub size_bytes: Long,
    /// Hex SHA-256 of the JPEG.
    pub sha256: String,
    /// A short-lived signed link to the JPEG.
    pub download_url: String,
    /// When retention removes it.
    pub expires_at: DateTime<Utc>,
}

/// Snapshot mutations.
#[derive(Default)]
pub struct SnapshotsMutation;

#[Object]
impl SnapshotsMutation {
    /// Exports the recorded frame at `at` as a JPEG (same slots, locks and scope as clips).
    async fn export_snapshot(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the camera to take the frame from.")] camera_id: ID,
        #[graphql(desc = "Instant of the frame.")] at: DateTime<Utc>,
    ) -> Result<Snapshot, AppError> {
        let principal = ctx.require_camera(Capability::VideoExport, &camera_id)?;
        find_camera(ctx, Capability::VideoExport, &camera_id).await?;
        let state = ctx.state()?;
        let snap = snapshots::capture(state, principal, &camera_id, at).await?;
        let mut entry = Entry::new("export_snapshot", "snapshot", &snap.id)
            .detail(json!({"at": at.to_rfc3339(), "sha256": snap.sha256}));
        entry.camera_id = Some(&snap.camera_id);
        audit::record(&state.db, &Actor::from(principal), entry, snap.created_at).await;
        Ok(Snapshot {
            download_url: signed_url(
                state,
                principal,
                &format!("/media/snapshots/{}.jpg", snap.id),
            ),
            id: ID(snap.id),
            camera_id,
            at,
            segment_id: ID(snap.segment_id),
            size_bytes: Long(snap.size_bytes),
            sha256: snap.sha256,
            expires_at: snap.expires_at,
        })
    }
}
