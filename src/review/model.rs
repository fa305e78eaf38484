//! Review items without I/O: which events open or grow an item, its severity, and how an event
//! joins it.

use chrono::{DateTime, Duration, Utc};
use entity::{event, review_item};

use crate::events::model::{EventKind, Severity};

/// How urgent a review item is.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum ReviewSeverity {
    /// Something seen in a zone of WARNING or CRITICAL severity: look now.
    Alert,
    /// Something seen in an INFO zone: for the record.
    Detection,
}

impl ReviewSeverity {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewSeverity::Alert => "alert",
            ReviewSeverity::Detection => "detection",
        }
    }

    /// The severity a stored text names (anything unknown is a detection).
    pub fn parse(stored: &str) -> ReviewSeverity {
        if stored == "alert" {
            ReviewSeverity::Alert
        } else {
            ReviewSeverity::Detection
        }
    }

    /// An event's review severity: its zone's severity WARNING or above is an alert.
    pub fn of(severity: Severity) -> ReviewSeverity {
        if severity >= Severity::Warning {
            ReviewSeverity::Alert
        } else {
            ReviewSeverity::Detection
        }
    }
}

/// The event kinds review items are made of: what tracked objects did in zones.
pub const KINDS: [EventKind; 4] = [
    EventKind::ZoneEnter,
    EventKind::ZoneDwell,
    EventKind::LineCross,
    EventKind::ZoneExit,
];

/// Whether `e` may open an item: an exit only closes what something else opened.
pub fn opens(e: &event::Model) -> bool {
    e.kind != EventKind::ZoneExit.as_str()
}

/// Whether `e` belongs to `item`: it came within `gap` of the item's last event.
pub fn joins(item: &review_item::Model, e: &event::Model, gap: Duration) -> bool {
    e.at <= item.ended_at + gap && e.at >= item.started_at - gap
}

/// Whether the item may still grow at `now`.
pub fn active(item: &review_item::Model, now: DateTime<Utc>, gap: Duration) -> bool {
    now < item.ended_at + gap
}

fn add_sorted(list: &mut serde_json::Value, value: Option<&String>) {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return;
    };
    let mut items: Vec<String> = serde_json::from_value(list.clone()).unwrap_or_default();
    if let Err(at) = items.binary_search(value) {
        items.insert(at, value.clone());
        *list = serde_json::json!(items);
    }
}

/// A new item opened by `e` (whose camera is `camera`), with the given id.
pub fn open(id: String, camera: String, e: &event::Model) -> review_item::Model {
    let mut item = review_item::Model {
        id,
        camera_id: camera,
        severity: ReviewSeverity::of(e.severity).as_str().to_owned(),
        started_at: e.at,
        ended_at: e.at,
        first_seq: e.seq,
        last_seq: e.seq,
        labels: serde_json::json!([]),
        zone_ids: serde_json::json!([]),
        thumbnail_at: e.at,
        event_count: 1,
    };
    add_sorted(&mut item.labels, e.label.as_ref());
    add_sorted(&mut item.zone_ids, e.zone_id.as_ref());
    item
}

/// Grows `item` by `e`: later end, more labels and zones, and an escalation to ALERT moves the
/// picture to the first alerting event (an exit only extends it).
pub fn absorb(item: &mut review_item::Model, e: &event::Model) {
    item.ended_at = item.ended_at.max(e.at);
    item.last_seq = item.last_seq.max(e.seq);
    item.event_count += 1;
    if !opens(e) {
        return; // an exit extends the item, nothing more
    }
    add_sorted(&mut item.labels, e.label.as_ref());
    add_sorted(&mut item.zone_ids, e.zone_id.as_ref());
    let incoming = ReviewSeverity::of(e.severity);
    if incoming < ReviewSeverity::parse(&item.severity) {
        item.severity = incoming.as_str().to_owned();
        item.thumbnail_at = e.at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, secs: i64, severity: Severity, label: &str, zone: &str) -> event::Model {
        event::Model {
            seq,
            kind: "ZONE_ENTER".into(),
            severity,
            camera_id: Some("c1".into()),
            zone_id: Some(zone.into()),
            track_id: Some("t".into()),
            label: Some(label.into()),
            dwell_seconds: None,
            direction: None,
            payload: "{}".into(),
            at: DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap(),
        }
    }

    #[test]
    fn an_item_grows_within_the_gap_and_escalates_to_alert() {
        let gap = Duration::seconds(30);
        let first = event(1, 0, Severity::Info, "person", "z2");
        let mut item = open("rev_1".into(), "c1".into(), &first);
        assert_eq!(item.severity, "detection");
        let second = event(2, 20, Severity::Warning, "car", "z1");
        assert!(joins(&item, &second, gap));
        absorb(&mut item, &second);
        assert_eq!(item.severity, "alert");
        assert_eq!(item.thumbnail_at, second.at);
        assert_eq!(item.labels, serde_json::json!(["car", "person"]));
        assert_eq!(item.zone_ids, serde_json::json!(["z1", "z2"]));
        assert_eq!(item.event_count, 2);
        let late = event(3, 51, Severity::Info, "person", "z1");
        assert!(
            !joins(&item, &late, gap),
            "more than the gap after the last event"
        );
        assert!(active(&item, second.at + Duration::seconds(29), gap));
        assert!(!active(&item, second.at + Duration::seconds(30), gap));
    }
}
