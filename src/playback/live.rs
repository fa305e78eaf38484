//! Live view: one relay per (camera, profile), however many people watch. The relay runs one
//! ffmpeg that reads the camera and writes fragmented MP4 to a pipe; the server splits it into
//! the init segment and fragments and fans them out: to websocket viewers (Media Source
//! Extensions) through a broadcast channel, and to HLS clients through a short window of
//! keyframe-led parts. A viewer too slow for the channel is skipped ahead to the next keyframe
//! and told how many frames it missed. The relay starts with its first viewer and stops a
//! linger time after its last.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, watch};

use crate::playback::hls::LivePart;
use crate::playback::model::StreamProfile;
use crate::playback::mp4::{self, BoxSplitter};
use crate::state::AppState;

/// Fragments a websocket viewer may fall behind before it is skipped ahead.
const CHANNEL: usize = 48;
/// A fragment older than this when its turn comes to be sent means the viewer fell behind:
/// it is skipped ahead to the next fresh keyframe (live view is about now, not completeness).
pub const MAX_BEHIND_MS: i64 = 2_000;
/// Complete parts kept for HLS live.
const HLS_PARTS: usize = 6;
/// How long an HLS client counts as watching after its last fetch.
const HLS_SESSION: Duration = Duration::from_secs(15);

/// The init segment of a relay's stream.
#[derive(Debug)]
pub struct LiveInit {
    /// `ftyp` + `moov`.
    pub bytes: Bytes,
    /// MIME type with codecs, for `MediaSource.addSourceBuffer`.
    pub mime: String,
}

/// One fragment (`moof` + `mdat`).
#[derive(Debug)]
pub struct LiveFragment {
    /// The bytes.
    pub bytes: Bytes,
    /// Starts with a keyframe.
    pub sync: bool,
    /// Index of its first frame in the relay's stream.
    pub first_frame: u64,
    /// Frames it holds.
    pub frames: u32,
    /// Seconds of media.
    pub seconds: f64,
    /// Wall-clock time it arrived, ms since the epoch.
    pub at_ms: i64,
}

/// How a relay numbers its HLS parts and streams; a relay closed under its viewers hands it
/// to its successor, so a client's playlist goes on where it was.
#[derive(Debug, Default, Clone, Copy)]
struct Numbering {
    /// The next part's media sequence number.
    next: u64,
    /// The current stream: one more at each init segment (each camera connection).
    stream: u64,
    /// Discontinuities so far: one at each change of stream between parts.
    discontinuity: u64,
    /// The stream of the last part opened.
    last_stream: Option<u64>,
}

/// A complete or open HLS part: its entry, the init segment of its stream and its fragments.
#[derive(Debug)]
struct Part {
    part: LivePart,
    init: Arc<LiveInit>,
    fragments: Vec<Arc<LiveFragment>>,
}

#[derive(Debug, Default)]
struct Window {
    parts: VecDeque<Part>,
    open: Option<Part>,
    numbering: Numbering,
    /// The current stream's init segment.
    init: Option<Arc<LiveInit>>,
}

impl Window {
    /// A new camera connection began a stream with `init`: the open part is complete.
    fn new_stream(&mut self, init: Arc<LiveInit>) {
        self.close_open();
        self.numbering.stream += 1;
        self.init = Some(init);
    }

    fn close_open(&mut self) {
        if let Some(done) = self.open.take() {
            self.parts.push_back(done);
            while self.parts.len() > HLS_PARTS {
                self.parts.pop_front();
            }
        }
    }

    fn push(&mut self, fragment: Arc<LiveFragment>) {
        if fragment.sync {
            self.close_open();
            let Some(init) = self.init.clone() else {
                return;
            };
            let n = &mut self.numbering;
            if n.last_stream.is_some_and(|s| s != n.stream) {
                n.discontinuity += 1;
            }
            n.last_stream = Some(n.stream);
            self.open = Some(Part {
                part: LivePart {
                    sequence: n.next,
                    seconds: 0.0,
                    at_ms: fragment.at_ms,
                    stream: n.stream,
                    discontinuity: n.discontinuity,
                },
                init,
                fragments: Vec::new(),
            });
            n.next += 1;
        }
        if let Some(open) = &mut self.open {
            open.part.seconds += fragment.seconds;
            open.fragments.push(fragment);
        }
    }

    /// The init segment of stream `stream`, while a part of it is in the window (or it is
    /// the current one).
    fn init_of(&self, stream: u64) -> Option<Bytes> {
        self.parts
            .iter()
            .chain(&self.open)
            .find(|p| p.part.stream == stream)
            .map(|p| &p.init)
            .or(self
                .init
                .as_ref()
                .filter(|_| self.numbering.stream == stream))
            .map(|init| init.bytes.clone())
    }
}

/// One camera connection and its viewers.
#[derive(Debug)]
pub struct Relay {
    camera_id: String,
    profile: StreamProfile,
    /// The stream it reads (the camera's URL for the profile when it started).
    url: String,
    /// Why the relay was closed from outside (its camera's stream URL changed, or the camera
    /// was disabled or deleted); `None` while it serves.
    closed: watch::Sender<Option<Closed>>,
    fragments: broadcast::Sender<Arc<LiveFragment>>,
    init: watch::Sender<Option<Arc<LiveInit>>>,
    window: Mutex<Window>,
    viewers: AtomicUsize,
    hls: Mutex<HashMap<String, Instant>>,
    idle_since: Mutex<Option<Instant>>,
}

/// Why a relay was closed under its viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The camera's stream URL for the profile changed: a new relay reads the new one.
    UrlChanged,
    /// The camera was disabled or deleted.
    CameraGone,
}

impl Closed {
    /// The websocket close code and reason its viewers are sent: 1012 (service restart, come
    /// back) for a changed URL; 4404 for a camera that is gone or disabled.
    pub fn close_frame(self) -> (u16, &'static str) {
        match self {
            Self::UrlChanged => (1012, "the camera's stream URL changed; reconnect"),
            Self::CameraGone => (4404, "the camera is gone or disabled"),
        }
    }
}

/// The URL a profile reads: the sub stream when there is one, else the main stream.
pub fn stream_url(camera: &entity::camera::Model, profile: StreamProfile) -> String {
    match (profile, &camera.sub_stream_url) {
        (StreamProfile::Sub, Some(sub)) => sub.clone(),
        _ => camera.stream_url.clone(),
    }
}

impl Relay {
    /// Why the relay was closed from outside, if it was.
    pub fn closed_now(&self) -> Option<Closed> {
        *self.closed.borrow()
    }

    /// The init segment, once the stream has produced it (waits up to `wait`, and no longer
    /// than the relay stays open: see [`closed_now`](Self::closed_now) when there is none).
    pub async fn init(&self, wait: Duration) -> Option<Arc<LiveInit>> {
        let mut rx = self.init.subscribe();
        let mut closed = self.closed.subscribe();
        tokio::select! {
            found = tokio::time::timeout(wait, rx.wait_for(Option::is_some)) => found.ok()?.ok()?.clone(),
            _ = closed.wait_for(Option::is_some) => None,
        }
    }

    /// Whether the camera's stream is coming in (its init segment is here).
    pub fn streaming(&self) -> bool {
        self.init.borrow().is_some()
    }

    /// New fragments from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveFragment>> {
        self.fragments.subscribe()
    }

    /// The HLS window's complete parts (waits up to `wait` for a first one).
    pub async fn parts(&self, wait: Duration) -> Vec<LivePart> {
        let deadline = Instant::now() + wait;
        loop {
            let parts: Vec<LivePart> = match self.window.lock() {
                Ok(w) => w.parts.iter().map(|p| p.part.clone()).collect(),
                Err(_) => Vec::new(),
            };
            if !parts.is_empty() || Instant::now() >= deadline {
                return parts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bytes of one HLS part, if still in the window.
    pub fn part(&self, sequence: u64) -> Option<Bytes> {
        let window = self.window.lock().ok()?;
        let part = window.parts.iter().find(|p| p.part.sequence == sequence)?;
        let fragments = &part.fragments;
        let mut out = Vec::with_capacity(fragments.iter().map(|f| f.bytes.len()).sum());
        for f in fragments {
            out.extend_from_slice(&f.bytes);
        }
        Some(Bytes::from(out))
    }

    /// A camera connection's stream began with `init`: for new viewers, and as a new HLS stream.
    fn new_stream(&self, init: LiveInit) {
        let init = Arc::new(init);
        if let Ok(mut window) = self.window.lock() {
            window.new_stream(init.clone());
        }
        self.init.send_replace(Some(init));
    }

    /// The init segment of HLS stream `stream` (`init-<stream>.mp4`), while it is needed.
    pub fn stream_init(&self, stream: u64) -> Option<Bytes> {
        self.window.lock().ok()?.init_of(stream)
    }

    /// Changes of the init segment (a restarted camera connection starts a new stream).
    pub fn init_changes(&self) -> watch::Receiver<Option<Arc<LiveInit>>> {
        let mut rx = self.init.subscribe();
        rx.mark_unchanged();
        rx
    }

    /// Whether the HLS session `session` fetched recently.
    pub fn hls_active(&self, session: &str) -> bool {
        self.hls
            .lock()
            .is_ok_and(|h| h.get(session).is_some_and(|at| at.elapsed() < HLS_SESSION))
    }

    /// Notes an HLS client's fetch: it counts as a viewer for a while.
    pub fn hls_seen(&self, session: &str) {
        if let Ok(mut hls) = self.hls.lock() {
            hls.insert(session.to_owned(), Instant::now());
            hls.retain(|_, at| at.elapsed() < HLS_SESSION);
        }
    }

    fn watchers(&self) -> usize {
        let hls = self.hls.lock().map_or(0, |mut h| {
            h.retain(|_, at| at.elapsed() < HLS_SESSION);
            h.len()
        });
        self.viewers.load(Ordering::SeqCst) + hls
    }

    fn publish_viewers(&self) {
        crate::telemetry::live_viewers(&self.camera_id, self.profile.as_str(), self.watchers());
    }
}

/// A websocket viewer's membership: leaving is dropping it.
#[derive(Debug)]
pub struct Viewer {
    /// The relay watched.
    pub relay: Arc<Relay>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if self.relay.viewers.fetch_sub(1, Ordering::SeqCst) == 1
            && let Ok(mut idle) = self.relay.idle_since.lock()
        {
            *idle = Some(Instant::now());
        }
        self.relay.publish_viewers();
    }
}

/// Every relay of this instance.
#[derive(Debug, Default)]
pub struct Hub {
    relays: Mutex<HashMap<(String, StreamProfile), Arc<Relay>>>,
    /// The HLS numbering (parts, streams, discontinuities) of relays closed under their
    /// viewers, taken up by the relay that replaces them so a client's playlist goes on.
    resume: Mutex<HashMap<(String, StreamProfile), Numbering>>,
}

impl Hub {
    /// People watching a camera live on this instance (websockets and HLS clients, all profiles).
    pub fn viewers(&self, camera_id: &str) -> usize {
        let relays: Vec<Arc<Relay>> = match self.relays.lock() {
            Ok(r) => r
                .iter()
                .filter(|((c, _), _)| c == camera_id)
                .map(|(_, r)| r.clone())
                .collect(),
            Err(_) => return 0,
        };
        relays.iter().map(|r| r.watchers()).sum()
    }

    /// The running relay of (camera, profile), if any.
    pub fn existing(&self, camera_id: &str, profile: StreamProfile) -> Option<Arc<Relay>> {
        self.relays
            .lock()
            .ok()?
            .get(&(camera_id.to_owned(), profile))
            .cloned()
    }

    /// Running relays (camera connections).
    pub fn relays(&self) -> usize {
        self.relays.lock().map_or(0, |r| r.len())
    }

    /// The relay of (camera, profile), started if needed, reading `url`; `viewer` joins it as
    /// a websocket viewer under the map's lock, so a relay deciding to stop cannot miss it.
    fn relay_with(
        &self,
        state: &AppState,
        camera_id: &str,
        profile: StreamProfile,
        url: &str,
        viewer: bool,
    ) -> Arc<Relay> {
        let key = (camera_id.to_owned(), profile);
        let join = |relay: &Arc<Relay>| {
            if viewer {
                relay.viewers.fetch_add(1, Ordering::SeqCst);
            }
        };
        let Ok(mut relays) = self.relays.lock() else {
            // A poisoned map: serve an unregistered relay rather than nothing.
            let relay = start(state, key, url.to_owned(), None);
            join(&relay);
            return relay;
        };
        if let Some(relay) = relays.get(&key) {
            if relay.url == url {
                join(relay);
                return relay.clone();
            }
            // The camera's URL changed and this instance has not reconciled yet.
            let stale = relay.clone();
            relays.remove(&key);
            self.close(&stale, Closed::UrlChanged);
        }
        let numbering = self.resume.lock().ok().and_then(|mut r| r.remove(&key));
        let relay = start(state, key.clone(), url.to_owned(), numbering);
        join(&relay);
        relays.insert(key, relay.clone());
        crate::telemetry::live_relays(relays.len());
        relay
    }

    /// The relay of (camera, profile), started if needed (for HLS clients).
    pub fn relay(
        &self,
        state: &AppState,
        camera_id: &str,
        profile: StreamProfile,
        url: &str,
    ) -> Arc<Relay> {
        self.relay_with(state, camera_id, profile, url, false)
    }

    /// Joins the relay of (camera, profile) as a websocket viewer.
    pub fn join(
        &self,
        state: &AppState,
        camera_id: &str,
        profile: StreamProfile,
        url: &str,
    ) -> Viewer {
        let relay = self.relay_with(state, camera_id, profile, url, true);
        relay.publish_viewers();
        Viewer { relay }
    }

    /// Closes the relays whose camera changed under them, with why: a stream URL that is no
    /// longer the camera's (a corrected password, a camera moved to a new address), a camera
    /// disabled or deleted. Their viewers are told ([`Closed`]); the next viewer starts a
    /// relay on the new URL. Runs with every reconciliation of the registry.
    pub async fn reconcile(&self, state: &AppState) -> Result<(), crate::error::AppError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let relays: Vec<Arc<Relay>> = match self.relays.lock() {
            Ok(r) => r.values().cloned().collect(),
            Err(_) => return Ok(()),
        };
        if relays.is_empty() {
            return Ok(());
        }
        let ids: std::collections::HashSet<&str> =
            relays.iter().map(|r| r.camera_id.as_str()).collect();
        let cameras: HashMap<String, entity::camera::Model> = entity::camera::Entity::find()
            .filter(entity::camera::Column::Id.is_in(ids))
            .all(&state.db)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        for relay in relays {
            let why = match cameras.get(&relay.camera_id) {
                Some(c) if c.enabled => {
                    (stream_url(c, relay.profile) != relay.url).then_some(Closed::UrlChanged)
                }
                _ => Some(Closed::CameraGone),
            };
            if let Some(why) = why {
                if let Ok(mut relays) = self.relays.lock() {
                    unregister(&mut relays, &relay);
                }
                self.close(&relay, why);
            }
        }
        Ok(())
    }

    /// Marks a relay (already out of the map) closed for `why`: its ffmpeg stops and its
    /// viewers are told; the numbering of its HLS parts is kept for its successor.
    fn close(&self, relay: &Arc<Relay>, why: Closed) {
        tracing::info!(camera = %relay.camera_id, profile = relay.profile.as_str(), ?why, "live relay closed");
        let numbering = relay.window.lock().map(|w| w.numbering).unwrap_or_default();
        if let Ok(mut resume) = self.resume.lock() {
            resume.insert((relay.camera_id.clone(), relay.profile), numbering);
        }
        relay.closed.send_replace(Some(why));
    }

    /// Removes the relay if nobody watches and it lingered long enough (or it was closed);
    /// true when removed. A closed relay is already out of the map, where its successor may be.
    fn retire(&self, relay: &Arc<Relay>, linger: Duration) -> bool {
        if relay.closed_now().is_some() {
            return true;
        }
        let Ok(mut relays) = self.relays.lock() else {
            return false;
        };
        if relay.watchers() > 0 {
            return false;
        }
        let idle = relay
            .idle_since
            .lock()
            .ok()
            .and_then(|i| *i)
            .is_none_or(|since| since.elapsed() >= linger);
        if idle {
            unregister(&mut relays, relay);
        }
        idle
    }
}

/// Takes `relay` out of the map if it is still the one registered for its camera and profile
/// (a relay closed under its viewers may already have a successor there).
fn unregister(relays: &mut HashMap<(String, StreamProfile), Arc<Relay>>, relay: &Arc<Relay>) {
    let key = (relay.camera_id.clone(), relay.profile);
    if relays.get(&key).is_some_and(|r| Arc::ptr_eq(r, relay)) {
        relays.remove(&key);
    }
    crate::telemetry::live_relays(relays.len());
}

/// Starts the relay of `key` reading `url`, its HLS numbering going on from `numbering` (its
/// predecessor's, when one was closed under its viewers).
fn start(
    state: &AppState,
    key: (String, StreamProfile),
    url: String,
    numbering: Option<Numbering>,
) -> Arc<Relay> {
    let relay = Arc::new(Relay {
        camera_id: key.0,
        profile: key.1,
        url: url.clone(),
        closed: watch::channel(None).0,
        fragments: broadcast::channel(CHANNEL).0,
        init: watch::channel(None).0,
        window: Mutex::new(Window {
            numbering: numbering.unwrap_or_default(),
            ..Window::default()
        }),
        viewers: AtomicUsize::new(0),
        hls: Mutex::default(),
        idle_since: Mutex::new(Some(Instant::now())),
    });
    let span =
        tracing::info_span!("live", camera = %relay.camera_id, profile = relay.profile.as_str());
    tokio::spawn(tracing::Instrument::instrument(
        run(state.clone(), relay.clone(), url),
        span,
    ));
    relay
}

/// Runs the relay's ffmpeg (restarting it with backoff) until nobody watches.
async fn run(state: AppState, relay: Arc<Relay>, url: String) {
    let linger = Duration::from_secs(state.config.live_linger_secs);
    let mut backoff = Duration::from_millis(500);
    let mut restarted = false;
    let retry = state.config.refused_login_retry();
    loop {
        // The camera refused the login lately (here, or to its recorder or sampler): no login
        // of its own until the retry is due, or until nobody watches.
        while state.streams.claim_try(&url, retry).is_some() {
            if state.watch.live.retire(&relay, linger) {
                relay.init.send_replace(None);
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let started = Instant::now();
        let outcome = stream_once(&state, &relay, &url, linger, restarted).await;
        restarted = true;
        if state.watch.live.retire(&relay, linger) {
            break;
        }
        match outcome {
            Ok(()) => break,
            Err(err) => {
                tracing::warn!(error = %err, "live relay ended; restarting");
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = Duration::from_millis(500);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                if state.watch.live.retire(&relay, linger) {
                    break;
                }
            }
        }
    }
    relay.init.send_replace(None);
}

/// One ffmpeg run: `Ok` when it was stopped because nobody watches any more. The stream is
/// read as the camera's recorder found it, or asked what it carries when no recorder has or
/// (`ask`) the run before this one failed.
async fn stream_once(
    state: &AppState,
    relay: &Arc<Relay>,
    url: &str,
    linger: Duration,
    ask: bool,
) -> Result<(), String> {
    let ffprobe = &state.config.ffprobe;
    let pictures = if ask {
        state.streams.ask(ffprobe, url).await
    } else {
        state.streams.known_or_ask(ffprobe, url).await
    }
    .map_err(|refused| refused.to_string())?;
    let args = crate::fleet::ffmpeg::live_args(url, pictures);
    let mut running = crate::fleet::ffmpeg::spawn(&state.config.ffmpeg, args, true, 4)
        .map_err(|e| format!("cannot start ffmpeg: {e}"))?;
    let mut stdout = running.stdout.take().ok_or("no stdout")?;
    let mut splitter = BoxSplitter::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut head: Vec<u8> = Vec::new();
    let mut track: Option<mp4::Init> = None;
    let mut moof: Option<Vec<u8>> = None;
    let mut frames = 0u64;
    let mut check = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            read = stdout.read(&mut buf) => {
                let n = read.map_err(|e| e.to_string())?;
                if n == 0 {
                    let _ = running.child.wait().await;
                    let stderr = running.final_stderr().await;
                    if crate::fleet::ffmpeg::login_refused(&stderr) {
                        // The others hold back from this account until its retry is due.
                        state.streams.login_refused(url);
                        return Err(format!("the camera refused the login: {}", stderr.join(" | ")));
                    }
                    return Err("the stream ended".to_owned());
                }
                for b in splitter.push(&buf[..n]) {
                    let kind: [u8; 4] = b.get(4..8).and_then(|k| k.try_into().ok()).unwrap_or_default();
                    match &kind {
                        b"ftyp" => head = b,
                        b"moov" => {
                            let init = mp4::parse_moov(b.get(8..).unwrap_or_default()).ok_or("unreadable moov")?;
                            // The stream came: the login was taken (readers held back may go).
                            state.streams.login_accepted(url);
                            let mut b = b;
                            mp4::tag_hevc_for_browsers(&mut b);
                            head.extend_from_slice(&b);
                            let mime = format!("video/mp4; codecs=\"{}\"", init.codec);
                            relay.new_stream(LiveInit { bytes: Bytes::from(std::mem::take(&mut head)), mime });
                            track = Some(init);
                        }
                        b"moof" => moof = Some(b),
                        b"mdat" => {
                            let (Some(mut bytes), Some(init)) = (moof.take(), &track) else { continue };
                            let Some(info) = mp4::parse_moof(&bytes, init) else { continue };
                            bytes.extend_from_slice(&b);
                            let fragment = Arc::new(LiveFragment {
                                bytes: Bytes::from(bytes),
                                sync: info.sync,
                                first_frame: frames,
                                frames: info.samples,
                                seconds: info.duration as f64 / f64::from(init.timescale.max(1)),
                                at_ms: state.clock.now().timestamp_millis(),
                            });
                            frames += u64::from(info.samples);
                            if let Ok(mut window) = relay.window.lock() {
                                window.push(fragment.clone());
                            }
                            let _ = relay.fragments.send(fragment);
                        }
                        _ => {}
                    }
                }
            }
            _ = check.tick() => {
                // Nobody watches any more, or the relay was closed under its viewers.
                if state.watch.live.retire(relay, linger) {
                    let _ = running.child.start_kill();
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(tag: &'static [u8]) -> Arc<LiveInit> {
        Arc::new(LiveInit {
            bytes: Bytes::from_static(tag),
            mime: String::new(),
        })
    }

    fn fragment(sync: bool, at_ms: i64) -> Arc<LiveFragment> {
        Arc::new(LiveFragment {
            bytes: Bytes::from_static(b"f"),
            sync,
            first_frame: 0,
            frames: 5,
            seconds: 0.5,
            at_ms,
        })
    }

    #[test]
    fn a_new_camera_connection_starts_a_new_hls_stream_after_a_discontinuity() {
        let mut window = Window::default();
        window.new_stream(init(b"first"));
        for (sync, at) in [(true, 0), (false, 500), (true, 1_000)] {
            window.push(fragment(sync, at));
        }
        window.new_stream(init(b"second"));
        window.push(fragment(false, 1_500)); // before a keyframe: nothing to start a part with
        window.push(fragment(true, 2_000));
        window.push(fragment(true, 2_500));
        let parts: Vec<(u64, u64, u64)> = window
            .parts
            .iter()
            .map(|p| (p.part.sequence, p.part.stream, p.part.discontinuity))
            .collect();
        assert_eq!(parts, vec![(0, 1, 0), (1, 1, 0), (2, 2, 1)]);
        assert_eq!(window.parts[0].part.seconds, 1.0);
        assert_eq!(window.init_of(1).as_deref(), Some(&b"first"[..]));
        assert_eq!(window.init_of(2).as_deref(), Some(&b"second"[..]));
        assert_eq!(window.init_of(3), None);
        // A successor going on from this numbering starts stream 3 after one more discontinuity.
        let mut next = Window {
            numbering: window.numbering,
            ..Window::default()
        };
        next.new_stream(init(b"third"));
        next.push(fragment(true, 3_000));
        next.push(fragment(true, 3_500));
        let first = &next.parts[0].part;
        assert_eq!(
            (first.sequence, first.stream, first.discontinuity),
            (4, 3, 2)
        );
    }
}
