//! The types of the watch API: stream profiles, playback and live URLs, thumbnails.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use crate::footage::graphql::FootageGap;

pub use entity::vocab::StreamProfile;

/// A recorded window ready to play: an HLS playlist built from the index.
#[derive(SimpleObject)]
pub struct Playback {
    /// Path of the HLS playlist (fMP4 segments, program date-time on each, a discontinuity at
    /// each gap, starting at `from`). Signed for the caller: no header needed, and it stops
    /// working when the caller's credential is revoked.
    pub url: String,
    /// Until when the URL can start a viewing; a viewing in progress continues while it
    /// keeps fetching.
    pub expires_at: DateTime<Utc>,
    /// Seconds of footage inside the window.
    pub covered_seconds: f64,
    /// Holes inside the window (skipped by the player), with why when known.
    pub gaps: Vec<FootageGap>,
    /// How many recording files the playlist lists.
    pub segment_count: i32,
}

/// A live view of one camera.
#[derive(SimpleObject)]
pub struct LiveStream {
    /// Path of a websocket streaming fMP4 for Media Source Extensions: a JSON `init` text
    /// message with the MIME type, the init segment, then one binary message per fragment;
    /// a `dropped` text message when a slow client was skipped ahead to a keyframe. Closes
    /// with 4403 when the credential is revoked or no longer covers the camera.
    pub url: String,
    /// Path of an HLS live playlist of the same stream (Safari, iOS, VLC).
    pub hls_url: String,
    /// Until when the URLs can start a viewing.
    pub expires_at: DateTime<Utc>,
    /// The stream actually served (a camera without a sub stream serves its main one).
    pub profile: StreamProfile,
}

/// A still of recorded footage: a small JPEG of a keyframe.
#[derive(SimpleObject, Clone)]
pub struct Thumbnail {
    /// Path of the JPEG (signed for the caller; made on first fetch, then cached).
    pub url: String,
    /// The instant it shows: the keyframe nearest the one asked for.
    pub at: DateTime<Utc>,
}
