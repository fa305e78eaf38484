//! The event log's vocabulary: what happened (`EventKind`), how serious (`Severity`), and
//! `NewEvent`, the one way to build a row to record.

use chrono::{DateTime, Utc};
use entity::event;
pub use entity::vocab::Severity;
use sea_orm::Set;

/// What an event records. Stored as its SCREAMING_SNAKE name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum EventKind {
    /// A track entered a region (after the zone's confirm frames).
    ZoneEnter,
    /// A track left a region (seen outside, or silent for the track TTL).
    ZoneExit,
    /// A track stayed in a region for the zone's dwell time (once per visit).
    ZoneDwell,
    /// A track crossed a line.
    LineCross,
    /// A motionless track was suppressed (parked car, mannequin).
    ZoneStaticSuppressed,
    /// A camera's recorder could not reach it.
    CameraOffline,
    /// A camera refused the login in its URL (HTTP or RTSP 401 or 403): its user name or
    /// password needs correcting (or its account was locked). Once per outage, like
    /// `CAMERA_OFFLINE`.
    CameraLoginRefused,
    /// A camera's recorder failed for another reason.
    RecorderError,
    /// Recording stopped because the disk was full.
    DiskFull,
    /// A hole in a camera's footage was indexed.
    RecordingGap,
    /// A retention sweep ran.
    RetentionSweep,
    /// A credential posted batches without frame tickets (provenance `warn`).
    IngestUnticketed,
    /// A webhook's receiver has failed for longer than the retry window.
    WebhookFailing,
    /// A kind this server version does not know (written by a newer one); see `payload`.
    Other,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 13] = [
        EventKind::ZoneEnter,
        EventKind::ZoneExit,
        EventKind::ZoneDwell,
        EventKind::LineCross,
        EventKind::ZoneStaticSuppressed,
        EventKind::CameraOffline,
        EventKind::CameraLoginRefused,
        EventKind::RecorderError,
        EventKind::DiskFull,
        EventKind::RecordingGap,
        EventKind::RetentionSweep,
        EventKind::IngestUnticketed,
        EventKind::WebhookFailing,
    ];

    /// The stored and wire name (`ZONE_ENTER`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ZoneEnter => "ZONE_ENTER",
            EventKind::ZoneExit => "ZONE_EXIT",
            EventKind::ZoneDwell => "ZONE_DWELL",
            EventKind::LineCross => "LINE_CROSS",
            EventKind::ZoneStaticSuppressed => "ZONE_STATIC_SUPPRESSED",
            EventKind::CameraOffline => "CAMERA_OFFLINE",
            EventKind::CameraLoginRefused => "CAMERA_LOGIN_REFUSED",
            EventKind::RecorderError => "RECORDER_ERROR",
            EventKind::DiskFull => "DISK_FULL",
            EventKind::RecordingGap => "RECORDING_GAP",
            EventKind::RetentionSweep => "RETENTION_SWEEP",
            EventKind::IngestUnticketed => "INGEST_UNTICKETED",
            EventKind::WebhookFailing => "WEBHOOK_FAILING",
            EventKind::Other => "OTHER",
        }
    }

    /// The kind a stored name stands for, if it is one.
    pub fn parse(stored: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == stored)
    }

    /// The kind of a stored event: unknown names are `Other`.
    pub fn of_stored(stored: &str) -> EventKind {
        EventKind::parse(stored).unwrap_or(EventKind::Other)
    }
}

/// The severities at least as serious as `min`, for an `IN` filter.
pub fn at_least(min: Severity) -> Vec<Severity> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .filter(|s| *s >= min)
        .collect()
}

/// An event as the GraphQL API shows it (`PerceptionEvent`), for the pushes that carry it
/// outside GraphQL: webhook bodies and MQTT messages.
pub fn wire_json(e: &entity::event::Model) -> serde_json::Value {
    let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
    serde_json::json!({
        "id": format!("evt_{}", e.seq),
        "seq": e.seq,
        "cursor": crate::graphql::paging::encode_cursor(&e.seq.to_string()),
        "kind": e.kind,
        "severity": e.severity.as_str().to_ascii_uppercase(),
        "cameraId": e.camera_id,
        "zoneId": e.zone_id,
        "trackId": e.track_id,
        "label": e.label,
        "dwellSeconds": e.dwell_seconds,
        "direction": e.direction,
        "payload": payload,
        "occurredAt": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// Which way a track crossed a line (looking from A to B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum CrossingDirection {
    /// From A's left to its right.
    Ab,
    /// From A's right to its left.
    Ba,
}

impl CrossingDirection {
    /// The stored name (`AB`, `BA`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrossingDirection::Ab => "AB",
            CrossingDirection::Ba => "BA",
        }
    }

    /// The direction a stored name stands for.
    pub fn parse(stored: &str) -> Option<CrossingDirection> {
        match stored {
            "AB" => Some(CrossingDirection::Ab),
            "BA" => Some(CrossingDirection::Ba),
            _ => None,
        }
    }
}

/// An event about to be recorded: kind and severity, then what it concerns.
#[derive(Debug, Clone)]
pub struct NewEvent {
    row: event::ActiveModel,
}

impl NewEvent {
    /// An event of `kind` at `at`, with an empty payload.
    pub fn new(kind: EventKind, severity: Severity, at: DateTime<Utc>) -> NewEvent {
        NewEvent {
            row: event::ActiveModel {
                kind: Set(kind.as_str().to_owned()),
                severity: Set(severity),
                payload: Set("{}".to_owned()),
                at: Set(at),
                ..Default::default()
            },
        }
    }

    /// The camera it concerns.
    pub fn camera(mut self, camera_id: impl Into<String>) -> NewEvent {
        self.row.camera_id = Set(Some(camera_id.into()));
        self
    }

    /// The zone, track and label of a zone event.
    pub fn track(
        mut self,
        zone_id: impl Into<String>,
        track_id: impl Into<String>,
        label: impl Into<String>,
    ) -> NewEvent {
        self.row.zone_id = Set(Some(zone_id.into()));
        self.row.track_id = Set(Some(track_id.into()));
        self.row.label = Set(Some(label.into()));
        self
    }

    /// Seconds inside (dwell and exit events).
    pub fn dwell_seconds(mut self, seconds: Option<f64>) -> NewEvent {
        self.row.dwell_seconds = Set(seconds);
        self
    }

    /// Which way a line was crossed (line crossings).
    pub fn direction(mut self, direction: Option<CrossingDirection>) -> NewEvent {
        self.row.direction = Set(direction.map(|d| d.as_str().to_owned()));
        self
    }

    /// Details, as a JSON object.
    pub fn payload(mut self, payload: serde_json::Value) -> NewEvent {
        self.row.payload = Set(payload.to_string());
        self
    }
}

impl From<NewEvent> for event::ActiveModel {
    fn from(event: NewEvent) -> Self {
        event.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_stored_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("SOMETHING_ELSE"), None);
    }

    #[test]
    fn severities_order_from_info_to_critical() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }
}
