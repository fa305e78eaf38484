//! MQTT publishing for Home Assistant and other integrations (`HELDAR_MQTT_URL`): every event
//! on `heldar/<camera>/events`, zone occupancy retained on `heldar/<camera>/<zone>/occupancy`,
//! availability of the server (its last will) and of each camera, and Home Assistant discovery.
//!
//! Events are published from a durable cursor (`stream_cursors.mqtt`) at QoS 1, and the cursor
//! moves only past events the broker acknowledged, so a broker outage or a restart loses
//! nothing (a reconnect may repeat the few in flight). Each connection gets a new client, so
//! nothing of a dead session leaks into the next.

pub mod model;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use entity::{camera, camera_status, zone};
use std::path::Path;
use std::sync::Arc;

use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use sea_orm::{Condition, EntityTrait};

use crate::error::AppError;
use crate::state::AppState;

/// The publisher's name in `stream_cursors`.
const CURSOR: &str = "mqtt";
/// Publishes awaiting the broker's acknowledgement at most.
const WINDOW: usize = 100;

/// Runs the publisher while the server runs (returns at once when MQTT is off).
pub async fn run(state: AppState) {
    let Some(raw) = state.config.mqtt_url.clone() else {
        return std::future::pending().await;
    };
    // (Both were checked when the settings were read: the server does not start with a bad
    // URL or CA file.)
    let tls = match model::parse_broker(&raw) {
        Ok(broker) if broker.tls => tls_config(state.config.mqtt_ca_file.as_deref())
            .map(|config| (broker, Some(Arc::new(config)))),
        Ok(broker) => Ok((broker, None)),
        Err(err) => Err(err.to_string()),
    };
    let (broker, tls) = match tls {
        Ok(ready) => ready,
        Err(err) => {
            tracing::error!(error = %err, "MQTT is off");
            return std::future::pending().await;
        }
    };
    let mut wait = Duration::from_millis(250);
    // What this process has published retained, across connections (to clear what went away).
    let mut retained = Retained::default();
    loop {
        let started = tokio::time::Instant::now();
        let Err(err) = session(&state, &broker, tls.clone(), &mut retained).await;
        // A connection that lasted a while starts the backoff over.
        if started.elapsed() > Duration::from_secs(30) {
            wait = Duration::from_millis(250);
        }
        tracing::warn!(error = %err, retry_in = ?wait, "MQTT connection lost");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// The TLS settings of an `mqtts://` broker: its certificate must chain to the CAs in `ca_file`
/// (PEM), or to the Mozilla roots without one, and name the URL's host.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                roots
                    .add(cert.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(format!("{}: holds no certificate", path.display()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn options(
    state: &AppState,
    broker: &model::Broker,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> MqttOptions {
    let id = format!("heldar-{}", state.ownership.instance_id());
    let mut options = MqttOptions::new(id, broker.host.clone(), broker.port);
    options.set_keep_alive(Duration::from_secs(15));
    options.set_clean_session(true);
    options.set_last_will(LastWill::new(
        model::AVAILABILITY,
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some((user, password)) = &broker.login {
        options.set_credentials(user.clone(), password.clone());
    }
    if let Some(config) = tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    }
    options
}

/// What a connection has published and not yet had acknowledged.
#[derive(Default)]
struct InFlight {
    /// Publishes handed to the client, waiting for their packet id (in order).
    queued: VecDeque<Option<i64>>,
    /// Packet ids waiting for PUBACK, with the event each carries.
    awaiting: HashMap<u16, Option<i64>>,
    /// Events published and not yet acknowledged.
    unacked: BTreeSet<i64>,
    /// The last event published.
    next: i64,
}

impl InFlight {
    fn len(&self) -> usize {
        self.queued.len() + self.awaiting.len()
    }

    /// Everything up to here is acknowledged.
    fn durable(&self) -> i64 {
        self.unacked.first().map_or(self.next, |first| first - 1)
    }
}

/// Retained topics (discovery, availability, occupancy): what was published last on each, and
/// what waits for room in the window (newest payload per topic; an empty payload clears a
/// topic at the broker).
#[derive(Default)]
struct Retained {
    /// The payload last handed to the client per topic.
    published: HashMap<String, Vec<u8>>,
    /// Topics waiting, oldest first.
    order: VecDeque<String>,
    /// The payload each waiting topic gets.
    waiting: HashMap<String, Vec<u8>>,
}

impl Retained {
    /// Queues `payload` for `topic` unless it is what the topic already holds.
    fn offer(&mut self, topic: String, payload: Vec<u8>) {
        if !self.waiting.contains_key(&topic) && self.published.get(&topic) == Some(&payload) {
            return;
        }
        if self.waiting.insert(topic.clone(), payload).is_none() {
            self.order.push_back(topic);
        }
    }

    /// Queues the whole current set, clearing topics published before that are not in it (a
    /// camera or zone deleted). After a reconnect (`again`) everything is sent anew.
    fn offer_all(&mut self, current: Vec<(String, Vec<u8>)>, again: bool) {
        if again {
            self.order.clear();
            self.waiting.clear();
        }
        let names: std::collections::HashSet<&str> =
            current.iter().map(|(t, _)| t.as_str()).collect();
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|t| !names.contains(t.as_str()))
            .cloned()
            .collect();
        if again {
            self.published.clear();
        }
        // Gone before it was ever sent: nothing to send, nothing to clear.
        let unsent: Vec<String> = self
            .waiting
            .keys()
            .filter(|t| !names.contains(t.as_str()) && !self.published.contains_key(*t))
            .cloned()
            .collect();
        for topic in unsent {
            self.waiting.remove(&topic);
        }
        self.order.retain(|t| self.waiting.contains_key(t));
        for topic in gone {
            self.offer(topic, Vec::new());
        }
        for (topic, payload) in current {
            self.offer(topic, payload);
        }
    }

    /// The next topic to publish.
    fn next(&mut self) -> Option<(String, Vec<u8>)> {
        let topic = self.order.pop_front()?;
        let payload = self.waiting.remove(&topic)?;
        Some((topic, payload))
    }

    /// `topic` was handed to the client with `payload`.
    fn sent(&mut self, topic: String, payload: Vec<u8>) {
        if payload.is_empty() {
            self.published.remove(&topic);
        } else {
            self.published.insert(topic, payload);
        }
    }
}

/// A live connection's publishing side.
struct Publisher {
    client: AsyncClient,
    flight: InFlight,
    /// The cursor as stored.
    saved: i64,
}

impl Publisher {
    /// Hands one QoS 1 publish to the client (never waits: the window keeps the queue short).
    fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
        seq: Option<i64>,
    ) -> Result<(), String> {
        self.client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
            .map_err(|e| e.to_string())?;
        self.flight.queued.push_back(seq);
        if let Some(seq) = seq {
            self.flight.unacked.insert(seq);
            self.flight.next = seq;
        }
        Ok(())
    }

    /// Publishes waiting retained topics while the window has room, so that no burst (a
    /// connection announcing hundreds of cameras, every camera going offline at once) overflows
    /// the client's queue.
    fn flush(&mut self, retained: &mut Retained) -> Result<(), String> {
        while self.flight.len() < WINDOW {
            let Some((topic, payload)) = retained.next() else {
                break;
            };
            self.publish(topic.clone(), payload.clone(), true, None)?;
            retained.sent(topic, payload);
        }
        Ok(())
    }

    /// Publishes stored events after the last one sent while the window has room; whether the
    /// log is exhausted.
    async fn fill(&mut self, state: &AppState) -> Result<bool, String> {
        if self.flight.len() >= WINDOW {
            return Ok(false);
        }
        let room = (WINDOW - self.flight.len()) as u64;
        let events =
            crate::events::store::events_after(&state.db, Condition::all(), self.flight.next, room)
                .await
                .map_err(|e| e.to_string())?;
        for e in &events {
            self.publish(
                model::events_topic(e.camera_id.as_deref()),
                model::event_payload(e),
                false,
                Some(e.seq),
            )?;
        }
        Ok((events.len() as u64) < room)
    }

    /// Follows the client's packets: ids for what was sent, acknowledgements; whether the
    /// window opened.
    fn on_packet(&mut self, polled: Event) -> bool {
        match polled {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(seq) = self.flight.queued.pop_front() {
                    self.flight.awaiting.insert(pkid, seq);
                }
                false
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(Some(seq)) = self.flight.awaiting.remove(&ack.pkid) {
                    self.flight.unacked.remove(&seq);
                }
                self.flight.len() < WINDOW / 2
            }
            _ => false,
        }
    }

    /// Moves the durable cursor forward to what the broker has acknowledged.
    async fn save(&mut self, state: &AppState) {
        save(state, &mut self.saved, self.flight.durable()).await;
    }
}

/// One connection: announce, then publish events from the cursor and occupancy changes until
/// the connection fails.
async fn session(
    state: &AppState,
    broker: &model::Broker,
    tls: Option<Arc<rustls::ClientConfig>>,
    retained: &mut Retained,
) -> Result<std::convert::Infallible, String> {
    let (client, mut eventloop) = AsyncClient::new(options(state, broker, tls), WINDOW * 4);
    // Wait for the broker's CONNACK.
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(err) => return Err(err.to_string()),
        }
    }
    tracing::info!(host = %broker.host, port = broker.port, "MQTT connected");
    let cursor = crate::events::store::reader_cursor(&state.db, CURSOR)
        .await
        .map_err(|e| e.to_string())?;
    let mut p = Publisher {
        client,
        flight: InFlight {
            next: cursor,
            ..Default::default()
        },
        saved: cursor,
    };
    let current = announcements(state).await.map_err(|e| e.to_string())?;
    retained.offer_all(current, true);
    let mut bus = state.events.sender.subscribe();
    let mut occupancy = state.zones.occupancy_changes.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    let mut exhausted = false;
    loop {
        p.flush(retained)?;
        if !exhausted {
            exhausted = p.fill(state).await?;
        }
        tokio::select! {
            polled = eventloop.poll() => match polled {
                Ok(packet) => exhausted &= !p.on_packet(packet),
                Err(err) => {
                    p.save(state).await;
                    return Err(err.to_string());
                }
            },
            _ = bus.recv() => exhausted = false,
            changed = occupancy.recv() => {
                // (A lagged receiver catches up at the next tick, which offers every count.)
                if let Ok(o) = changed {
                    retained.offer(model::occupancy_topic(&o.camera_id, &o.zone_id), model::occupancy_payload(o.count));
                }
            }
            _ = tick.tick() => {
                exhausted = false;
                p.save(state).await;
                // Cameras and zones added, changed or deleted since, and availability: only
                // what changed is published.
                let current = announcements(state).await.map_err(|e| e.to_string())?;
                retained.offer_all(current, false);
            }
        }
        if p.flight.durable() >= p.saved + 50 {
            p.save(state).await;
        }
    }
}

/// Moves the durable cursor forward to `to`.
async fn save(state: &AppState, saved: &mut i64, to: i64) {
    if to <= *saved {
        return;
    }
    match crate::events::store::advance_reader(&state.db, CURSOR, *saved, to).await {
        Ok(true) => *saved = to,
        Ok(false) => tracing::warn!(
            "the MQTT cursor moved under this instance; another instance may be publishing too"
        ),
        Err(err) => tracing::warn!(error = %err, "could not save the MQTT cursor"),
    }
}

/// What a fresh connection publishes (retained): the server online, discovery for every
/// camera and zone, each camera's availability and each zone's occupancy now.
async fn announcements(state: &AppState) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let cameras = camera::Entity::find().all(&state.db).await?;
    let zones = zone::Entity::find().all(&state.db).await?;
    let counts = state.zones.occupancy.lock().await.clone();
    let mut out = vec![(model::AVAILABILITY.to_owned(), b"online".to_vec())];
    for c in &cameras {
        let mine: Vec<zone::Model> = zones
            .iter()
            .filter(|z| z.camera_id == c.id)
            .cloned()
            .collect();
        out.extend(model::discovery(
            &state.config.mqtt_discovery_prefix,
            c,
            &mine,
        ));
        for z in &mine {
            let count = counts.get(&z.id).copied().unwrap_or(0);
            out.push((
                model::occupancy_topic(&c.id, &z.id),
                model::occupancy_payload(count),
            ));
        }
    }
    out.extend(camera_availability(state, &cameras).await?);
    Ok(out)
}

/// Each camera's availability: `online` unless its recorder reports it offline, refused its
/// login or failing.
async fn camera_availability(
    state: &AppState,
    cameras: &[camera::Model],
) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    use entity::vocab::CameraState;
    let statuses = camera_status::Entity::find().all(&state.db).await?;
    Ok(cameras
        .iter()
        .map(|c| {
            let down = statuses.iter().any(|s| {
                s.camera_id == c.id
                    && matches!(
                        s.state,
                        CameraState::Offline | CameraState::Unauthorized | CameraState::Error
                    )
            });
            let value: &[u8] = if down { b"offline" } else { b"online" };
            (model::camera_availability_topic(&c.id), value.to_vec())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::Retained;

    fn drain(r: &mut Retained) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Some((topic, payload)) = r.next() {
            out.push((topic.clone(), String::from_utf8(payload.clone()).unwrap()));
            r.sent(topic, payload);
        }
        out
    }

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(t, p)| (t.to_string(), p.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn retained_topics_send_changes_only_and_clear_what_went() {
        let mut r = Retained::default();
        r.offer_all(set(&[("a", "1"), ("b", "1")]), true);
        r.offer("a".into(), b"2".to_vec());
        assert_eq!(
            drain(&mut r),
            [("a".into(), "2".into()), ("b".into(), "1".into())],
            "newest payload, first place"
        );
        // Unchanged: nothing; changed: sent; gone: cleared with an empty payload.
        r.offer_all(set(&[("a", "2"), ("c", "1")]), false);
        assert_eq!(
            drain(&mut r),
            [("b".into(), String::new()), ("c".into(), "1".into())]
        );
        // Added and gone again before it was sent: nothing at all.
        r.offer("d".into(), b"1".to_vec());
        r.offer_all(set(&[("a", "2"), ("c", "1")]), false);
        assert_eq!(drain(&mut r), []);
        // A reconnect sends everything again.
        r.offer_all(set(&[("a", "2"), ("c", "1")]), true);
        assert_eq!(drain(&mut r).len(), 2);
    }
}
