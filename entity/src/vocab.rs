//! The closed vocabularies stored as text: each column holds the `string_value` of its enum, so
//! the compiler checks every comparison and the stored text stays what it always was. With the
//! `graphql` feature each enum is also the GraphQL enum of the same meaning.

use sea_orm::entity::prelude::*;

/// Where a clip export job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[cfg_attr(feature = "graphql", graphql(name = "ClipExportStatus"))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ClipStatus {
    /// Waiting for a media-job slot.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// The clip is being written (and hashed as it goes); `progress` moves.
    #[sea_orm(string_value = "running")]
    Running,
    /// Done: `downloadUrl`, `sha256` and the manifest are available.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// Failed; `error` says why. Nothing partial is ever served.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// The clip outlived its own retention and was removed.
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl ClipStatus {
    /// Whether the job will change no more.
    pub fn is_final(self) -> bool {
        !matches!(self, ClipStatus::Queued | ClipStatus::Running)
    }
}

/// What a camera's recorder is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum CameraState {
    /// The recorder is starting or waiting for the stream.
    #[sea_orm(string_value = "connecting")]
    Connecting,
    /// Segments are being written.
    #[sea_orm(string_value = "recording")]
    Recording,
    /// The camera did not answer; the recorder retries with backoff.
    #[sea_orm(string_value = "offline")]
    Offline,
    /// The camera answered but refused the login in its URL (HTTP or RTSP 401 or 403): the
    /// user name or password is wrong, or the account is locked. The recorder tries again
    /// only every `HELDAR_REFUSED_LOGIN_RETRY_SECS` (120 s), so that it does not get the
    /// account locked; a corrected URL is tried at once.
    #[sea_orm(string_value = "unauthorized")]
    Unauthorized,
    /// The recorder failed after running; it retries with backoff.
    #[sea_orm(string_value = "error")]
    Error,
    /// The camera or its recording is switched off.
    #[sea_orm(string_value = "disabled")]
    Disabled,
}

/// How serious an event or a warning is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Severity {
    /// Routine; kept for the record, no action needed.
    #[sea_orm(string_value = "info")]
    Info,
    /// Needs attention soon, e.g. a camera went offline.
    #[sea_orm(string_value = "warning")]
    Warning,
    /// Footage is at risk or a limit cannot be met.
    #[sea_orm(string_value = "critical")]
    Critical,
}

/// Why footage is missing, when the recorder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum GapReason {
    /// The camera did not answer.
    #[sea_orm(string_value = "camera_offline")]
    CameraOffline,
    /// The camera refused the login in its URL (HTTP or RTSP 401 or 403).
    #[sea_orm(string_value = "login_refused")]
    LoginRefused,
    /// The recorder restarted (crash, reconfiguration, server restart).
    #[sea_orm(string_value = "recorder_restart")]
    RecorderRestart,
    /// Recording was switched off for the camera.
    #[sea_orm(string_value = "recording_disabled")]
    RecordingDisabled,
    /// The disk was full.
    #[sea_orm(string_value = "disk_full")]
    DiskFull,
    /// Footage was deleted by retention.
    #[sea_orm(string_value = "pruned")]
    Pruned,
    /// No frames arrived for a while inside a recording, with the camera's connection kept
    /// open: its stream paused (or its clock jumped ahead). The file shows the frame before
    /// the pause until the next one; coverage leaves the pause out.
    #[sea_orm(string_value = "stream_paused")]
    StreamPaused,
    /// Recorded as a gap without a known cause.
    #[sea_orm(string_value = "unknown")]
    Unknown,
}

/// A zone's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum ZoneKind {
    /// A polygon of 3 to 512 points: enter, exit and dwell events.
    #[sea_orm(string_value = "region")]
    Region,
    /// A tripwire of exactly 2 points, A then B: line-cross events with their direction.
    #[sea_orm(string_value = "line")]
    Line,
}

/// Which crossings of a line fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum LineDirection {
    /// Crossings in either direction fire (the default).
    #[sea_orm(string_value = "any")]
    Any,
    /// Only from A's left to its right (looking from A to B).
    #[sea_orm(string_value = "ab")]
    Ab,
    /// Only from A's right to its left (looking from A to B): the reverse of AB.
    #[sea_orm(string_value = "ba")]
    Ba,
}

/// Which of a camera's streams is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum)]
#[cfg_attr(feature = "graphql", derive(async_graphql::Enum))]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum StreamProfile {
    // Declared in the order of their stored text, so sorting by profile is what it was when
    // profiles were strings (the frame budget breaks priority ties by camera, then profile).
    /// The camera's main stream; AI tasks read it only when asked to.
    #[sea_orm(string_value = "main")]
    Main,
    /// The lighter sub-stream; the default for new AI tasks.
    #[sea_orm(string_value = "sub")]
    Sub,
}

impl ClipStatus {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ClipStatus::Queued => "queued",
            ClipStatus::Running => "running",
            ClipStatus::Ready => "ready",
            ClipStatus::Failed => "failed",
            ClipStatus::Expired => "expired",
        }
    }
}

impl std::fmt::Display for ClipStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CameraState {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Recording => "recording",
            CameraState::Offline => "offline",
            CameraState::Unauthorized => "unauthorized",
            CameraState::Error => "error",
            CameraState::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for CameraState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Severity {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl GapReason {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::CameraOffline => "camera_offline",
            GapReason::LoginRefused => "login_refused",
            GapReason::RecorderRestart => "recorder_restart",
            GapReason::RecordingDisabled => "recording_disabled",
            GapReason::DiskFull => "disk_full",
            GapReason::Pruned => "pruned",
            GapReason::StreamPaused => "stream_paused",
            GapReason::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for GapReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ZoneKind {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneKind::Region => "region",
            ZoneKind::Line => "line",
        }
    }
}

impl std::fmt::Display for ZoneKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LineDirection {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            LineDirection::Any => "any",
            LineDirection::Ab => "ab",
            LineDirection::Ba => "ba",
        }
    }
}

impl std::fmt::Display for LineDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StreamProfile {
    /// The value whose stored text is `stored`, if there is one.
    pub fn parse(stored: &str) -> Option<Self> {
        <Self as sea_orm::Iterable>::iter().find(|v| v.as_str() == stored)
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamProfile::Sub => "sub",
            StreamProfile::Main => "main",
        }
    }
}

impl std::fmt::Display for StreamProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn the_text_of_each_value_is_what_is_stored() {
        for v in ClipStatus::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), ClipStatus::parse(v.as_str()));
        }
        for v in CameraState::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), CameraState::parse(v.as_str()));
        }
        for v in Severity::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), Severity::parse(v.as_str()));
        }
        for v in GapReason::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), GapReason::parse(v.as_str()));
        }
        for v in ZoneKind::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), ZoneKind::parse(v.as_str()));
        }
        for v in LineDirection::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), LineDirection::parse(v.as_str()));
        }
        for v in StreamProfile::iter() {
            assert_eq!(v.as_str(), v.to_value());
            assert_eq!(Some(v), StreamProfile::parse(v.as_str()));
        }
    }
}
