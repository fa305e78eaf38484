//! The zone engine: tracked detections in, zone events out.
//!
//! Follows the reference kernel's algorithm: the bottom-centre of each box is the point tested;
//! one observation per track per batch (the most confident); membership flips only after
//! `confirm_frames` consecutive observations agree (debounce); a dwell event fires once per
//! visit; a line zone fires on a proper crossing of A→B with its direction; a track that stays
//! put (within `static_epsilon` of where it was first seen for `static_after_seconds`) is
//! suppressed, and a re-born track id at the same spot inherits that; a track not seen for
//! [`TRACK_TTL_SECS`] while inside gets an exit, stamped with its own camera (the reference
//! stamped the camera of the batch being processed).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::zones::geometry::{self, BBox, Crossing, Point};

/// A track not seen for this long is dropped (with an exit if it was inside).
pub const TRACK_TTL_SECS: i64 = 120;

/// A zone's shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A polygon of 3..512 points.
    Region(Vec<Point>),
    /// A tripwire from A to B, with the directions that count.
    Line {
        /// Start.
        a: Point,
        /// End.
        b: Point,
        /// Which crossings fire.
        direction: Direction,
    },
}

/// Which line crossings fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both.
    Any,
    /// Only A→B.
    AToB,
    /// Only B→A.
    BToA,
}

/// Static-object suppression settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaticSuppression {
    /// Movement (normalized units) below which a track counts as not moving.
    pub epsilon: f64,
    /// Seconds without moving before it is suppressed.
    pub after_seconds: f64,
}

impl Default for StaticSuppression {
    fn default() -> Self {
        StaticSuppression {
            epsilon: 0.02,
            after_seconds: 120.0,
        }
    }
}

/// What the engine needs of a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    /// Zone id.
    pub id: String,
    /// Its camera.
    pub camera_id: String,
    /// Shape.
    pub shape: Shape,
    /// Labels that count; empty = all.
    pub labels: Vec<String>,
    /// Detections below this confidence are invisible to the zone.
    pub min_confidence: f64,
    /// Consecutive observations before membership flips (1..10).
    pub confirm_frames: u32,
    /// Seconds inside before a dwell event (0 = none).
    pub dwell_seconds: f64,
    /// Static suppression, or none.
    pub suppression: Option<StaticSuppression>,
}

/// One detection of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Track id; detections without one are not tracked.
    pub track_id: Option<String>,
    /// Label.
    pub label: String,
    /// Confidence 0..1.
    pub confidence: f64,
    /// Box.
    pub bbox: BBox,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneEventKind {
    /// Entered a region.
    Enter,
    /// Left a region (seen outside, or not seen for the TTL).
    Exit,
    /// Stayed inside for the zone's dwell time.
    Dwell,
    /// Crossed a line from A to B.
    CrossAToB,
    /// Crossed a line from B to A.
    CrossBToA,
    /// A motionless object was suppressed (announced once).
    StaticSuppressed,
}

/// An event produced by the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneEvent {
    /// What happened.
    pub kind: ZoneEventKind,
    /// The track's camera.
    pub camera_id: String,
    /// Zone.
    pub zone_id: String,
    /// Track.
    pub track_id: String,
    /// Label of the observation ("" for a TTL exit).
    pub label: String,
    /// Measured seconds inside (dwell only).
    pub dwell_seconds: Option<f64>,
    /// When.
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Entry {
    inside: bool,
    candidate: Option<bool>,
    streak: u32,
    entered_at: DateTime<Utc>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    origin: Point,
    max_displacement: f64,
    suppressed: bool,
    announced: bool,
    dwell_emitted: bool,
    last_point: Option<Point>,
    /// The producer (task type) of the batches that saw it; a batch of the same producer
    /// without it is evidence that it left.
    source: Option<String>,
    /// Its label when last seen, for the exit its absence causes.
    label: String,
}

type Key = (String, String, String);

/// The engine's state: one entry per (camera, zone, track).
#[derive(Debug, Default)]
pub struct ZoneEngine {
    entries: HashMap<Key, Entry>,
    /// While an undoable batch runs: each entry as it was before the batch first changed it.
    journal: Option<Vec<(Key, Option<Entry>)>>,
}

/// What one batch changed in the engine, to put back if the transaction that recorded its
/// events fails ([`ZoneEngine::undo`]).
#[derive(Debug, Default)]
pub struct Undo(Vec<(Key, Option<Entry>)>);

/// What the event log says about a visit still open when the server stopped.
pub struct RestoredVisit<'a> {
    /// When the track entered.
    pub entered_at: DateTime<Utc>,
    /// When it was last seen (its latest detection or event).
    pub last_seen: DateTime<Utc>,
    /// Whether its DWELL was already announced.
    pub dwell_emitted: bool,
    /// The task type that last saw it.
    pub source: Option<&'a str>,
    /// Where it stood when it was suppressed as a static object and has not moved since;
    /// `None` for a track that was not suppressed.
    pub suppressed_at: Option<Point>,
}

/// One observation of a track, in one zone, at one time.
struct Sighting<'a> {
    camera_id: &'a str,
    zone: &'a ZoneSpec,
    track: &'a str,
    observation: &'a Observation,
    point: Point,
    now: DateTime<Utc>,
    /// The task type of the batch, when known.
    source: Option<&'a str>,
}

impl Sighting<'_> {
    /// An event about this sighting.
    fn event(&self, kind: ZoneEventKind, dwell_seconds: Option<f64>) -> ZoneEvent {
        ZoneEvent {
            kind,
            camera_id: self.camera_id.to_owned(),
            zone_id: self.zone.id.clone(),
            track_id: self.track.to_owned(),
            label: self.observation.label.clone(),
            dwell_seconds,
            at: self.now,
        }
    }
}

/// Static suppression: a track that has not moved `epsilon` for `after_seconds` is suppressed
/// (once, announced); moving lifts it, and a suppressed track inside then enters.
fn suppress(e: &mut Entry, seen: &Sighting<'_>, s: StaticSuppression, events: &mut Vec<ZoneEvent>) {
    e.max_displacement = e.max_displacement.max(e.origin.distance(seen.point));
    if e.suppressed && e.max_displacement >= s.epsilon {
        e.suppressed = false;
        if e.inside {
            events.push(seen.event(ZoneEventKind::Enter, None));
            e.entered_at = seen.now;
            e.dwell_emitted = false;
        }
    } else if !e.announced
        && e.max_displacement < s.epsilon
        && seconds(e.first_seen, seen.now) >= s.after_seconds
    {
        e.suppressed = true;
        e.announced = true;
        events.push(seen.event(ZoneEventKind::StaticSuppressed, None));
    }
}

/// A tripwire: the segment from the track's previous point to this one crossing A→B or B→A.
fn observe_line(
    e: &mut Entry,
    seen: &Sighting<'_>,
    (a, b): (Point, Point),
    direction: Direction,
    events: &mut Vec<ZoneEvent>,
) {
    if let Some(previous) = e.last_point
        && let Some(way) = geometry::crossing(a, b, previous, seen.point)
        && !e.suppressed
    {
        let wanted = matches!(
            (direction, way),
            (Direction::Any, _)
                | (Direction::AToB, Crossing::AToB)
                | (Direction::BToA, Crossing::BToA)
        );
        if wanted {
            let kind = match way {
                Crossing::AToB => ZoneEventKind::CrossAToB,
                Crossing::BToA => ZoneEventKind::CrossBToA,
            };
            events.push(seen.event(kind, None));
        }
    }
    e.last_point = Some(seen.point);
}

/// An absence counted as a sighting outside: the debounce advances towards "outside", and
/// once confirmed a track that was inside (and not suppressed) exits.
fn step_outside(e: &mut Entry, confirm_frames: u32) -> Option<ZoneEventKind> {
    if !e.inside {
        // Seen entering but not confirmed yet: the absence resets that.
        e.candidate = None;
        e.streak = 0;
        return None;
    }
    if e.candidate == Some(false) {
        e.streak += 1;
    } else {
        e.candidate = Some(false);
        e.streak = 1;
    }
    if e.streak < confirm_frames.max(1) {
        return None;
    }
    e.inside = false;
    e.candidate = None;
    e.streak = 0;
    (!e.suppressed).then_some(ZoneEventKind::Exit)
}

/// A region: inside or outside, debounced over `confirm_frames` sightings; enter, exit, and
/// dwell once per visit.
fn observe_region(
    e: &mut Entry,
    seen: &Sighting<'_>,
    polygon: &[Point],
    events: &mut Vec<ZoneEvent>,
) {
    let raw = geometry::contains(polygon, seen.point);
    if raw == e.inside {
        e.candidate = None;
        e.streak = 0;
    } else {
        if e.candidate == Some(raw) {
            e.streak += 1;
        } else {
            e.candidate = Some(raw);
            e.streak = 1;
        }
        if e.streak >= seen.zone.confirm_frames.max(1) {
            e.inside = raw;
            e.candidate = None;
            e.streak = 0;
            if raw {
                e.entered_at = seen.now;
                e.dwell_emitted = false;
                if !e.suppressed {
                    events.push(seen.event(ZoneEventKind::Enter, None));
                }
            } else if !e.suppressed {
                events.push(seen.event(ZoneEventKind::Exit, None));
            }
        }
    }
    let dwell = seen.zone.dwell_seconds;
    if e.inside
        && !e.suppressed
        && dwell > 0.0
        && !e.dwell_emitted
        && seconds(e.entered_at, seen.now) >= dwell
    {
        e.dwell_emitted = true;
        let measured = seconds(e.entered_at, seen.now);
        events.push(seen.event(ZoneEventKind::Dwell, Some(measured)));
    }
}

fn seconds(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

impl ZoneEngine {
    /// Processes one batch of a camera at `now` against that camera's enabled zones.
    pub fn process(
        &mut self,
        camera_id: &str,
        zones: &[ZoneSpec],
        observations: &[Observation],
        now: DateTime<Utc>,
    ) -> Vec<ZoneEvent> {
        self.process_from(camera_id, None, zones, observations, now)
    }

    /// [`process_from`](Self::process_from), also returning how to take the batch back.
    pub fn process_undoable(
        &mut self,
        camera_id: &str,
        source: Option<&str>,
        zones: &[ZoneSpec],
        observations: &[Observation],
        now: DateTime<Utc>,
    ) -> (Vec<ZoneEvent>, Undo) {
        self.journal = Some(Vec::new());
        let events = self.process_from(camera_id, source, zones, observations, now);
        (events, Undo(self.journal.take().unwrap_or_default()))
    }

    /// Puts back what a batch changed. Batches processed after it must be undone first (undo
    /// is last in, first out), which the writers' order gives.
    pub fn undo(&mut self, undo: Undo) {
        for (key, before) in undo.0.into_iter().rev() {
            match before {
                Some(entry) => self.entries.insert(key, entry),
                None => self.entries.remove(&key),
            };
        }
    }

    /// Notes an entry as it is before a change, when a batch is being journalled.
    fn remember(&mut self, key: &Key) {
        if let Some(journal) = &mut self.journal {
            journal.push((key.clone(), self.entries.get(key).cloned()));
        }
    }

    /// [`process`](Self::process) for a batch from `source` (the task type that produced it):
    /// a track that batch lacks, which earlier batches of the same source saw inside a region,
    /// counts as seen outside, so it exits after the zone's confirm frames instead of after the
    /// track TTL (workers post every frame, empty ones too).
    pub fn process_from(
        &mut self,
        camera_id: &str,
        source: Option<&str>,
        zones: &[ZoneSpec],
        observations: &[Observation],
        now: DateTime<Utc>,
    ) -> Vec<ZoneEvent> {
        let mut best: HashMap<&str, &Observation> = HashMap::new();
        for o in observations {
            let Some(track) = o.track_id.as_deref() else {
                continue;
            };
            if geometry::ground_point(o.bbox).is_none() {
                continue;
            }
            match best.get(track) {
                Some(b) if b.confidence >= o.confidence => {}
                _ => {
                    best.insert(track, o);
                }
            }
        }
        let mut events = Vec::new();
        let mut observed: HashSet<(String, String)> = HashSet::new();
        if best.is_empty() || zones.is_empty() {
            if let Some(source) = source {
                self.absent(camera_id, source, zones, &observed, now, &mut events);
            }
            // Still expire silent tracks: a batch with nobody in it is how a worker says the
            // scene emptied (the reference skipped this and delayed those exits).
            self.prune(now, &mut events);
            return events;
        }
        let mut tracks: Vec<(&str, &Observation)> = best.into_iter().collect();
        tracks.sort_by(|a, b| a.0.cmp(b.0));
        for zone in zones {
            for (track, o) in &tracks {
                // Below the zone's confidence floor, or of a label it does not watch, the track
                // is invisible to the zone: nothing changes for it (it is not absent either).
                if (!zone.labels.is_empty() && !zone.labels.contains(&o.label))
                    || o.confidence < zone.min_confidence
                {
                    observed.insert((zone.id.clone(), (*track).to_owned()));
                    continue;
                }
                let Some(point) = geometry::ground_point(o.bbox) else {
                    continue;
                };
                let seen = Sighting {
                    camera_id,
                    zone,
                    track,
                    observation: o,
                    point,
                    now,
                    source,
                };
                self.observe(&seen, &mut events);
                observed.insert((zone.id.clone(), (*track).to_owned()));
            }
        }
        if let Some(source) = source {
            self.absent(camera_id, source, zones, &observed, now, &mut events);
        }
        self.prune(now, &mut events);
        events
    }

    /// Tracks of `source` inside a region of `zones` that this batch did not see there: one
    /// sighting outside each.
    fn absent(
        &mut self,
        camera_id: &str,
        source: &str,
        zones: &[ZoneSpec],
        observed: &HashSet<(String, String)>,
        now: DateTime<Utc>,
        events: &mut Vec<ZoneEvent>,
    ) {
        let mut gone: Vec<Key> = self
            .entries
            .iter()
            .filter(|((c, z, t), e)| {
                c == camera_id
                    && e.source.as_deref() == Some(source)
                    && (e.inside || e.candidate == Some(true))
                    && !observed.contains(&(z.clone(), t.clone()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        gone.sort();
        for key in gone {
            let Some(zone) = zones.iter().find(|z| z.id == key.1) else {
                continue;
            };
            let Shape::Region(_) = zone.shape else {
                continue;
            };
            self.remember(&key);
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            if let Some(exit) = step_outside(e, zone.confirm_frames) {
                let (camera_id, zone_id, track_id) = key;
                events.push(ZoneEvent {
                    kind: exit,
                    camera_id,
                    zone_id,
                    track_id,
                    label: e.label.clone(),
                    dwell_seconds: None,
                    at: now,
                });
            }
        }
    }

    fn observe(&mut self, seen: &Sighting<'_>, events: &mut Vec<ZoneEvent>) {
        let key = (
            seen.camera_id.to_owned(),
            seen.zone.id.clone(),
            seen.track.to_owned(),
        );
        self.remember(&key);
        if !self.entries.contains_key(&key) {
            let entry = self.new_entry(seen);
            self.entries.insert(key.clone(), entry);
        }
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        e.last_seen = seen.now;
        if let Some(source) = seen.source
            && e.source.as_deref() != Some(source)
        {
            e.source = Some(source.to_owned());
        }
        if e.label != seen.observation.label {
            e.label = seen.observation.label.clone();
        }
        if let Some(s) = seen.zone.suppression {
            suppress(e, seen, s, events);
        }
        match &seen.zone.shape {
            Shape::Line { a, b, direction } => observe_line(e, seen, (*a, *b), *direction, events),
            Shape::Region(polygon) => observe_region(e, seen, polygon, events),
        }
    }

    /// A track's first sighting in a zone. A detector that re-spawns track ids for the same
    /// motionless object: the new id inherits the suppression of one near the same spot in the
    /// same zone.
    fn new_entry(&self, seen: &Sighting<'_>) -> Entry {
        let mut entry = Entry {
            inside: false,
            candidate: None,
            streak: 0,
            entered_at: seen.now,
            first_seen: seen.now,
            last_seen: seen.now,
            origin: seen.point,
            max_displacement: 0.0,
            suppressed: false,
            announced: false,
            dwell_emitted: false,
            last_point: None,
            source: seen.source.map(str::to_owned),
            label: seen.observation.label.clone(),
        };
        if let Some(s) = seen.zone.suppression
            && let Some(prior) = self.entries.iter().find(|((c, z, _), e)| {
                c == seen.camera_id
                    && *z == seen.zone.id
                    && e.suppressed
                    && e.origin.distance(seen.point) < s.epsilon
            })
        {
            entry.origin = prior.1.origin;
            entry.suppressed = true;
            entry.announced = true;
        }
        entry
    }

    /// Drops tracks not seen for the TTL; one that was inside exits, on its own camera.
    fn prune(&mut self, now: DateTime<Utc>, events: &mut Vec<ZoneEvent>) {
        let cutoff = now - chrono::Duration::seconds(TRACK_TTL_SECS);
        let mut stale: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| e.last_seen < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        stale.sort();
        for key in stale {
            self.remember(&key);
            if let Some(e) = self.entries.remove(&key)
                && e.inside
                && !e.suppressed
            {
                let (camera_id, zone_id, track_id) = key;
                events.push(ZoneEvent {
                    kind: ZoneEventKind::Exit,
                    camera_id,
                    zone_id,
                    track_id,
                    label: String::new(),
                    dwell_seconds: None,
                    at: now,
                });
            }
        }
    }

    /// Restores a track known to be inside a zone (after a restart): no new ENTER when it is
    /// seen inside again, an EXIT when it leaves or times out.
    pub fn restore_inside(
        &mut self,
        camera_id: &str,
        zone_id: &str,
        track_id: &str,
        visit: RestoredVisit<'_>,
    ) {
        let RestoredVisit {
            entered_at,
            last_seen,
            dwell_emitted,
            source,
            suppressed_at,
        } = visit;
        self.entries.insert(
            (
                camera_id.to_owned(),
                zone_id.to_owned(),
                track_id.to_owned(),
            ),
            Entry {
                inside: true,
                candidate: None,
                streak: 0,
                entered_at,
                first_seen: entered_at,
                last_seen,
                // The spot it was first seen is not in the log: a track that was moving counts
                // as having moved, so it is never suppressed as static; a suppressed one stays
                // suppressed where it was last seen, until it moves from there.
                origin: suppressed_at.unwrap_or(Point::new(f64::INFINITY, f64::INFINITY)),
                max_displacement: if suppressed_at.is_some() {
                    0.0
                } else {
                    f64::INFINITY
                },
                suppressed: suppressed_at.is_some(),
                announced: true,
                dwell_emitted,
                last_point: None,
                source: source.map(str::to_owned),
                label: String::new(),
            },
        );
    }

    /// Tracks inside the zone now (not suppressed, seen within the TTL).
    pub fn occupancy(&self, camera_id: &str, zone_id: &str, now: DateTime<Utc>) -> usize {
        let cutoff = now - chrono::Duration::seconds(TRACK_TTL_SECS);
        self.entries
            .iter()
            .filter(|((c, z, _), e)| {
                c == camera_id && z == zone_id && e.inside && !e.suppressed && e.last_seen >= cutoff
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: f64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + chrono::Duration::milliseconds((s * 1000.0) as i64)
    }

    fn region(id: &str, points: &[(f64, f64)]) -> ZoneSpec {
        ZoneSpec {
            id: id.into(),
            camera_id: "cam".into(),
            shape: Shape::Region(points.iter().map(|&(x, y)| Point::new(x, y)).collect()),
            labels: vec!["person".into()],
            min_confidence: 0.5,
            confirm_frames: 2,
            dwell_seconds: 1.0,
            suppression: Some(StaticSuppression::default()),
        }
    }

    fn right_half() -> ZoneSpec {
        region("z", &[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)])
    }

    fn person(track: &str, b: [f64; 4]) -> Observation {
        Observation {
            track_id: Some(track.into()),
            label: "person".into(),
            confidence: 0.9,
            bbox: BBox {
                x: b[0],
                y: b[1],
                w: b[2],
                h: b[3],
            },
        }
    }

    /// The engine's entries in a fixed order, to compare two states.
    fn snapshot(engine: &ZoneEngine) -> Vec<String> {
        let mut out: Vec<String> = engine
            .entries
            .iter()
            .map(|(k, e)| format!("{k:?} {e:?}"))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn undoing_batches_newest_first_restores_the_engine_exactly() {
        let zones = [right_half()];
        let mut engine = ZoneEngine::default();
        let src = Some("detect");
        // Two tracks: one enters and stays, one is seen once and will time out.
        engine.process_from(
            "cam",
            src,
            &zones,
            &[person("a", [0.6, 0.4, 0.1, 0.2])],
            t(0.0),
        );
        engine.process_from(
            "cam",
            src,
            &zones,
            &[person("a", [0.6, 0.4, 0.1, 0.2])],
            t(0.5),
        );
        engine.process_from(
            "cam",
            Some("other"),
            &zones,
            &[person("b", [0.7, 0.4, 0.1, 0.2])],
            t(0.6),
        );
        let before = snapshot(&engine);
        // A batch that moves `a` out (a step outside), then one far later that times `b` out
        // and adds `c`: new, changed and removed entries.
        let (_, first) = engine.process_undoable(
            "cam",
            src,
            &zones,
            &[person("a", [0.1, 0.4, 0.1, 0.2])],
            t(1.0),
        );
        let later = t(1.0 + TRACK_TTL_SECS as f64 + 5.0);
        let (events, second) = engine.process_undoable(
            "cam",
            src,
            &zones,
            &[person("c", [0.6, 0.4, 0.1, 0.2])],
            later,
        );
        assert!(!events.is_empty(), "the TTL exit happened: {events:?}");
        assert_ne!(snapshot(&engine), before);
        engine.undo(second);
        engine.undo(first);
        assert_eq!(snapshot(&engine), before);
        // And the engine goes on as if they never ran: `a` is still inside (`b`, seen once
        // of the two confirm frames, is not yet).
        assert_eq!(engine.occupancy("cam", "z", t(1.1)), 1);
    }

    fn kinds(events: &[ZoneEvent]) -> Vec<ZoneEventKind> {
        events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn z2_enter_on_the_second_observation_dwell_once_then_exit() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let inside = person("tz", [0.6, 0.4, 0.1, 0.2]);
        let outside = person("tz", [0.1, 0.1, 0.1, 0.1]);
        assert!(
            engine
                .process("cam", &zones, std::slice::from_ref(&inside), t(0.0))
                .is_empty()
        );
        let enter = engine.process("cam", &zones, std::slice::from_ref(&inside), t(0.5));
        assert_eq!(kinds(&enter), vec![ZoneEventKind::Enter]);
        assert_eq!(engine.occupancy("cam", "z", t(0.5)), 1);
        let dwell = engine.process("cam", &zones, std::slice::from_ref(&inside), t(2.0));
        assert_eq!(kinds(&dwell), vec![ZoneEventKind::Dwell]);
        assert_eq!(dwell[0].dwell_seconds, Some(1.5));
        assert!(
            engine.process("cam", &zones, &[inside], t(3.0)).is_empty(),
            "dwell fires once a visit"
        );
        assert!(
            engine
                .process("cam", &zones, std::slice::from_ref(&outside), t(3.5))
                .is_empty()
        );
        let exit = engine.process("cam", &zones, &[outside], t(4.0));
        assert_eq!(kinds(&exit), vec![ZoneEventKind::Exit]);
        assert_eq!(exit[0].label, "person");
        assert_eq!(engine.occupancy("cam", "z", t(4.0)), 0);
    }

    #[test]
    fn filters_untracked_low_confidence_and_other_labels() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let mut untracked = person("x", [0.6, 0.4, 0.1, 0.2]);
        untracked.track_id = None;
        let mut weak = person("w", [0.6, 0.4, 0.1, 0.2]);
        weak.confidence = 0.4;
        let mut car = person("c", [0.6, 0.4, 0.1, 0.2]);
        car.label = "car".into();
        for at in [0.0, 1.0, 2.0] {
            let batch = [untracked.clone(), weak.clone(), car.clone()];
            assert!(engine.process("cam", &zones, &batch, t(at)).is_empty());
        }
    }

    #[test]
    fn one_observation_per_track_the_most_confident() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let mut far = person("tz", [0.1, 0.1, 0.1, 0.1]);
        far.confidence = 0.6;
        let near = person("tz", [0.6, 0.4, 0.1, 0.2]);
        engine.process("cam", &zones, &[far.clone(), near.clone()], t(0.0));
        let events = engine.process("cam", &zones, &[near, far], t(1.0));
        assert_eq!(kinds(&events), vec![ZoneEventKind::Enter]);
    }

    #[test]
    fn z4_a_motionless_track_is_suppressed_once_and_never_again_after_moving() {
        let mut engine = ZoneEngine::default();
        let mut zone = right_half();
        zone.dwell_seconds = 0.0;
        let zones = [zone];
        // Ground point (0.535, 0.41): inside the right half.
        let frozen = person("s", [0.485, 0.21, 0.1, 0.2]);
        let mut all = Vec::new();
        for s in (0..=60).step_by(10) {
            all.extend(engine.process("cam", &zones, std::slice::from_ref(&frozen), t(s as f64)));
        }
        assert_eq!(kinds(&all), vec![ZoneEventKind::Enter]);
        let became = engine.process("cam", &zones, std::slice::from_ref(&frozen), t(121.0));
        assert_eq!(kinds(&became), vec![ZoneEventKind::StaticSuppressed]);
        assert!(
            engine
                .process("cam", &zones, std::slice::from_ref(&frozen), t(130.0))
                .is_empty(),
            "announced once"
        );
        assert_eq!(
            engine.occupancy("cam", "z", t(130.0)),
            0,
            "suppressed objects are not counted"
        );
        let moved = engine.process(
            "cam",
            &zones,
            &[person("s", [0.55, 0.3, 0.1, 0.2])],
            t(140.0),
        );
        assert_eq!(
            kinds(&moved),
            vec![ZoneEventKind::Enter],
            "active again, and inside: re-entered"
        );
        let mut later = Vec::new();
        for s in (150..=400).step_by(10) {
            later.extend(engine.process(
                "cam",
                &zones,
                &[person("s", [0.55, 0.3, 0.1, 0.2])],
                t(s as f64),
            ));
        }
        assert!(
            later.is_empty(),
            "once moved it never re-suppresses: {later:?}"
        );
        // A track moving 0.01 every 30 s is never suppressed.
        let mut engine = ZoneEngine::default();
        let mut drift = Vec::new();
        for i in 0..12 {
            let x = 0.6 + 0.01 * i as f64;
            drift.extend(engine.process(
                "cam",
                &zones,
                &[person("d", [x, 0.4, 0.1, 0.2])],
                t(30.0 * i as f64),
            ));
        }
        assert!(!kinds(&drift).contains(&ZoneEventKind::StaticSuppressed));
    }

    #[test]
    fn z5_a_reborn_track_at_a_suppressed_spot_inherits_the_suppression() {
        let mut engine = ZoneEngine::default();
        let mut zone = right_half();
        zone.dwell_seconds = 0.0;
        let other = {
            let mut z = right_half();
            z.id = "other".into();
            z.dwell_seconds = 0.0;
            z
        };
        let frozen = person("old", [0.485, 0.21, 0.1, 0.2]);
        for s in [0.0, 1.0, 121.0] {
            engine.process(
                "cam",
                std::slice::from_ref(&zone),
                std::slice::from_ref(&frozen),
                t(s),
            );
        }
        // Reborn near (0.536, 0.412): inherits in the same zone, so no enter.
        let reborn = person("new", [0.486, 0.212, 0.1, 0.2]);
        let events: Vec<_> = [122.0, 123.0]
            .iter()
            .flat_map(|s| {
                engine.process(
                    "cam",
                    std::slice::from_ref(&zone),
                    std::slice::from_ref(&reborn),
                    t(*s),
                )
            })
            .collect();
        assert!(events.is_empty(), "{events:?}");
        // In another zone, or far away, nothing is inherited.
        let events: Vec<_> = [124.0, 125.0]
            .iter()
            .flat_map(|s| {
                engine.process(
                    "cam",
                    std::slice::from_ref(&other),
                    std::slice::from_ref(&reborn),
                    t(*s),
                )
            })
            .collect();
        assert_eq!(kinds(&events), vec![ZoneEventKind::Enter]);
        let far = person("far", [0.75, 0.6, 0.1, 0.2]);
        let events: Vec<_> = [126.0, 127.0]
            .iter()
            .flat_map(|s| {
                engine.process(
                    "cam",
                    std::slice::from_ref(&zone),
                    std::slice::from_ref(&far),
                    t(*s),
                )
            })
            .collect();
        assert_eq!(kinds(&events), vec![ZoneEventKind::Enter]);
    }

    #[test]
    fn z7_a_line_fires_on_crossing_with_its_direction_filter() {
        let line = |direction| ZoneSpec {
            id: "l".into(),
            camera_id: "cam".into(),
            shape: Shape::Line {
                a: Point::new(0.5, 0.0),
                b: Point::new(0.5, 1.0),
                direction,
            },
            labels: vec![],
            min_confidence: 0.5,
            confirm_frames: 2,
            dwell_seconds: 0.0,
            suppression: None,
        };
        // Ground points (0.3, 0.5) and (0.7, 0.5).
        let left = person("p", [0.25, 0.3, 0.1, 0.2]);
        let right = person("p", [0.65, 0.3, 0.1, 0.2]);
        let mut engine = ZoneEngine::default();
        let any = [line(Direction::Any)];
        assert!(
            engine
                .process("cam", &any, std::slice::from_ref(&left), t(0.0))
                .is_empty()
        );
        assert_eq!(
            kinds(&engine.process("cam", &any, std::slice::from_ref(&right), t(1.0))),
            vec![ZoneEventKind::CrossAToB]
        );
        assert_eq!(
            kinds(&engine.process("cam", &any, std::slice::from_ref(&left), t(2.0))),
            vec![ZoneEventKind::CrossBToA]
        );
        let mut engine = ZoneEngine::default();
        let ab = [line(Direction::AToB)];
        engine.process("cam", &ab, std::slice::from_ref(&right), t(0.0));
        assert!(
            engine
                .process("cam", &ab, std::slice::from_ref(&left), t(1.0))
                .is_empty(),
            "B→A filtered out"
        );
        assert_eq!(
            kinds(&engine.process("cam", &ab, &[right], t(2.0))),
            vec![ZoneEventKind::CrossAToB]
        );
    }

    #[test]
    fn an_empty_batch_still_expires_silent_tracks() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let inside = person("tz", [0.6, 0.4, 0.1, 0.2]);
        engine.process("cam", &zones, std::slice::from_ref(&inside), t(0.0));
        engine.process("cam", &zones, std::slice::from_ref(&inside), t(1.0));
        let events = engine.process("cam", &zones, &[], t(122.0));
        assert_eq!(kinds(&events), vec![ZoneEventKind::Exit]);
    }

    #[test]
    fn z11_a_silent_track_exits_after_the_ttl_on_its_own_camera() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let mut other_zone = right_half();
        other_zone.id = "zb".into();
        other_zone.camera_id = "cam-b".into();
        let inside = person("tz", [0.6, 0.4, 0.1, 0.2]);
        engine.process("cam", &zones, std::slice::from_ref(&inside), t(0.0));
        engine.process("cam", &zones, &[inside], t(1.0));
        // Nothing more from `cam`; a batch on another camera 121 s later prunes it.
        let events = engine.process(
            "cam-b",
            &[other_zone],
            &[person("b", [0.6, 0.4, 0.1, 0.2])],
            t(122.0),
        );
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].kind, ZoneEventKind::Exit);
        assert_eq!(
            events[0].camera_id, "cam",
            "stamped with the track's own camera"
        );
        assert_eq!(events[0].label, "");
    }

    #[test]
    fn a_track_its_own_task_no_longer_sees_exits_after_the_confirm_frames() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let inside = person("t1", [0.6, 0.4, 0.1, 0.2]);
        let motion = Some("motion");
        for i in 0..2 {
            engine.process_from(
                "cam",
                motion,
                &zones,
                std::slice::from_ref(&inside),
                t(i as f64),
            );
        }
        assert_eq!(engine.occupancy("cam", "z", t(1.0)), 1);
        // Another task type's batches say nothing about it.
        let events = engine.process_from("cam", Some("detect"), &zones, &[], t(2.0));
        assert!(events.is_empty(), "{events:?}");
        // Its own task's empty frames: outside after the zone's 2 confirm frames.
        assert!(
            engine
                .process_from("cam", motion, &zones, &[], t(2.5))
                .is_empty()
        );
        let events = engine.process_from("cam", motion, &zones, &[], t(3.0));
        assert_eq!(kinds(&events), [ZoneEventKind::Exit]);
        assert_eq!(
            events[0].label, "person",
            "the exit carries the label it was last seen with"
        );
        assert_eq!(engine.occupancy("cam", "z", t(3.0)), 0);
        // Seen again inside: it enters again after the confirm frames.
        engine.process_from("cam", motion, &zones, std::slice::from_ref(&inside), t(4.0));
        let events = engine.process_from("cam", motion, &zones, &[inside], t(5.0));
        assert_eq!(kinds(&events), [ZoneEventKind::Enter]);
    }

    #[test]
    fn one_missed_frame_does_not_make_a_track_leave() {
        let mut engine = ZoneEngine::default();
        let zones = [right_half()];
        let inside = person("t1", [0.6, 0.4, 0.1, 0.2]);
        let motion = Some("motion");
        for i in 0..2 {
            engine.process_from(
                "cam",
                motion,
                &zones,
                std::slice::from_ref(&inside),
                t(i as f64),
            );
        }
        assert!(
            engine
                .process_from("cam", motion, &zones, &[], t(2.0))
                .is_empty()
        );
        let events =
            engine.process_from("cam", motion, &zones, std::slice::from_ref(&inside), t(3.0));
        assert!(
            !events
                .iter()
                .any(|e| matches!(e.kind, ZoneEventKind::Exit | ZoneEventKind::Enter)),
            "back before the confirm frames: no exit, no enter: {events:?}"
        );
        assert_eq!(engine.occupancy("cam", "z", t(3.0)), 1);
    }
}
