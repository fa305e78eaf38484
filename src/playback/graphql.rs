//! `playback`, `liveStream`, `thumbnail` and `previewFrames`: URLs to watch footage, signed for
//! the caller and checked again (credential, capability, camera scope) on every fetch.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Duration, Utc};

use crate::auth::principal::Capability;
use crate::error::AppError;
use crate::evidence::model::LinkSubject;
use crate::footage::model::TimeRange;
use crate::graphql::ContextExt;
use crate::graphql::context::find_camera;
use crate::playback::model::{LiveStream, Playback, StreamProfile, Thumbnail};
use crate::playback::ticket::{Grant, Ticket};

/// The longest recorded window one playback URL covers.
pub const MAX_PLAYBACK: Duration = Duration::hours(24);
/// The most frames one `previewFrames` call returns.
pub const MAX_PREVIEW_FRAMES: i64 = 500;

/// Watch queries.
#[derive(Default)]
pub struct WatchQuery;

#[Object]
impl WatchQuery {
    /// An HLS playlist of one camera's recorded footage over a window of up to 24 hours, built
    /// from the index at once (no remux job). Its segments are read-locked against retention
    /// while the playback is watched.
    async fn playback(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(desc = "Window start (any offset): playback starts at this instant.")]
        from: DateTime<Utc>,
        #[graphql(desc = "Window end, after `from` and at most 24 hours later.")] to: DateTime<Utc>,
        #[graphql(
            desc = "Which recorded stream: MAIN, or SUB for a camera that records its sub stream.",
            default_with = "Some(StreamProfile::Main)"
        )]
        profile: Option<StreamProfile>,
    ) -> Result<Playback, AppError> {
        let profile = profile.unwrap_or(StreamProfile::Main);
        let camera = find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
        if profile == StreamProfile::Sub && !camera.record_sub {
            return Err(AppError::bad_input(
                "profile",
                "this camera does not record its sub stream (set `recordSub`)",
            ));
        }
        let window = TimeRange::new(from, to, MAX_PLAYBACK)?;
        let state = ctx.state()?;
        let segments = crate::footage::store::count_profile_segments(
            &state.db,
            &camera.id,
            window,
            profile.as_str(),
        )
        .await?;
        if segments == 0 {
            return Err(AppError::bad_input(
                "from",
                "no footage of this camera between `from` and `to`",
            ));
        }
        let (ranges, gaps) = crate::footage::graphql::coverage(ctx, &camera.id, window).await?;
        let covered = crate::footage::model::covered_seconds(&ranges, window.from, window.to);
        let (token, expires) = ticket(
            ctx,
            &camera.id,
            Grant::Playback {
                from_ms: from.timestamp_millis(),
                to_ms: to.timestamp_millis(),
            },
            profile,
        )?;
        Ok(Playback {
            url: format!("/media/playback/{token}/index.m3u8"),
            expires_at: expires,
            covered_seconds: covered,
            gaps,
            segment_count: segments as i32,
        })
    }

    /// A live view of one camera: a websocket of fMP4 fragments for Media Source Extensions,
    /// and an HLS live playlist. One camera connection serves every viewer.
    async fn live_stream(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(
            desc = "Which stream: SUB (lighter; the main stream when the camera has none) or MAIN.",
            default_with = "Some(StreamProfile::Sub)"
        )]
        profile: Option<StreamProfile>,
    ) -> Result<LiveStream, AppError> {
        let profile = profile.unwrap_or(StreamProfile::Sub);
        let camera = find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
        if !camera.enabled {
            return Err(AppError::Conflict(
                "the camera is disabled; enable it to watch it live".to_owned(),
            ));
        }
        let served = if camera.sub_stream_url.is_some() {
            profile
        } else {
            StreamProfile::Main
        };
        let (token, expires) = ticket(ctx, &camera.id, Grant::Live, served)?;
        Ok(LiveStream {
            url: format!("/media/live/{token}/stream"),
            hls_url: format!("/media/live/{token}/index.m3u8"),
            expires_at: expires,
            profile: served,
        })
    }

    /// A small JPEG of the recorded keyframe nearest an instant (made once, then cached).
    async fn thumbnail(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(desc = "The instant wanted; the nearest keyframe within a minute is shown.")]
        at: DateTime<Utc>,
    ) -> Result<Thumbnail, AppError> {
        let camera = find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
        let around = TimeRange {
            from: at - Duration::minutes(1),
            to: at + Duration::minutes(1),
        };
        let frames = previews(ctx, &camera.id, around, &[at]).await?;
        frames.into_iter().next().ok_or_else(|| {
            AppError::bad_input("at", "no footage of this camera within a minute of `at`")
        })
    }

    /// Thumbnails for a timeline scrubber: the keyframe nearest each step of `every` seconds
    /// from `from` to `to` (each keyframe once), at most 500.
    async fn preview_frames(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The camera's id (a slug such as `front_door`).")] camera_id: ID,
        #[graphql(desc = "First instant.")] from: DateTime<Utc>,
        #[graphql(desc = "Last instant, after `from`, at most 24 hours later.")] to: DateTime<Utc>,
        #[graphql(desc = "Seconds between frames, 1 to 86400.")] every: i32,
    ) -> Result<Vec<Thumbnail>, AppError> {
        let camera = find_camera(ctx, Capability::VideoPlayback, &camera_id).await?;
        let window = TimeRange::new(from, to, MAX_PLAYBACK)?;
        if !(1..=86_400).contains(&every) {
            return Err(AppError::bad_input("every", "must be 1 to 86400 seconds"));
        }
        let steps = (to - from).num_seconds() / i64::from(every) + 1;
        if steps > MAX_PREVIEW_FRAMES {
            return Err(AppError::bad_input(
                "every",
                format!("asks for {steps} frames; at most {MAX_PREVIEW_FRAMES} (raise `every`)"),
            ));
        }
        let at: Vec<DateTime<Utc>> = (0..steps)
            .map(|i| from + Duration::seconds(i * i64::from(every)))
            .collect();
        previews(ctx, &camera.id, window, &at).await
    }
}

async fn previews(
    ctx: &Context<'_>,
    camera_id: &str,
    window: TimeRange,
    at: &[DateTime<Utc>],
) -> Result<Vec<Thumbnail>, AppError> {
    let state = ctx.state()?;
    let principal = ctx.principal()?;
    let rows = crate::footage::store::segments_overlapping(&state.db, camera_id, window).await?;
    Ok(crate::playback::previews::nearest(state, principal, &rows, at).await)
}

/// A signed ticket for the caller, and when it expires.
fn ticket(
    ctx: &Context<'_>,
    camera_id: &str,
    grant: Grant,
    profile: StreamProfile,
) -> Result<(String, DateTime<Utc>), AppError> {
    let state = ctx.state()?;
    let principal = ctx.principal()?;
    let expires = state.clock.now() + Duration::seconds(state.config.media_url_ttl_secs as i64);
    let ticket = Ticket {
        camera_id: camera_id.to_owned(),
        grant,
        profile,
        expires: expires.timestamp(),
        subject: LinkSubject::of(principal),
    };
    Ok((ticket.encode(&state.media.url_key), expires))
}
