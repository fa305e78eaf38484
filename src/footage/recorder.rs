//! The recorder: one supervised ffmpeg per recording camera, writing segment files.
//!
//! ffmpeg copies the camera's stream (no re-encode) into `recordings/<camera>/<UTC start>.mp4`
//! with the segment muxer ([`crate::fleet::ffmpeg::record_args`]). The fleet's
//! [`Supervisor`] restarts a child that exits with backoff; its stderr tail is kept as the
//! camera's last error. Children are spawned with `kill_on_drop`, so stopping a camera,
//! deleting it or stopping the server never leaves an ffmpeg behind.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use entity::camera;
use entity::vocab::CameraState;
use sea_orm::EntityTrait;

use crate::error::AppError;
use crate::events::model::{EventKind, NewEvent, Severity};
use crate::fleet::supervisor::{HEALTHY_RUN, Job, Supervisor, Wanted, supervise};
use crate::footage::model::GapReason;
use crate::state::AppState;
use tracing::Instrument;

/// The recordings root under the data dir.
pub fn recordings_root(state: &AppState) -> PathBuf {
    state.config.data_dir.join("recordings")
}

/// The recorders of every camera, and why each last stopped (for gap reasons).
#[derive(Debug, Default)]
pub struct Recorders {
    supervisor: Supervisor<String>,
    stop_reasons: Mutex<HashMap<String, GapReason>>,
}

impl Recorders {
    /// Why the camera's recording last stopped, for the gap the indexer is about to record.
    pub fn stop_reason(&self, camera_id: &str) -> Option<GapReason> {
        self.stop_reasons.lock().ok()?.get(camera_id).copied()
    }

    /// Forgets the stop reason once the gap it explains is recorded.
    pub fn clear_stop_reason(&self, camera_id: &str, reason: GapReason) {
        if let Ok(mut reasons) = self.stop_reasons.lock()
            && reasons.get(camera_id) == Some(&reason)
        {
            reasons.remove(camera_id);
        }
    }

    fn set_stop_reason(&self, camera_id: &str, reason: GapReason) {
        if let Ok(mut reasons) = self.stop_reasons.lock() {
            reasons.insert(camera_id.to_owned(), reason);
        }
    }

    /// Starts, restarts or stops recorders so they match the cameras in the database, for the
    /// cameras this instance owns.
    pub async fn reconcile(
        &self,
        state: &AppState,
        owned: &HashSet<String>,
    ) -> Result<(), AppError> {
        let Some(_one_at_a_time) = self.supervisor.plan().await else {
            return Ok(());
        };
        let cameras = camera::Entity::find().all(&state.db).await?;
        let recorded = cameras
            .into_iter()
            .filter(|c| c.enabled && c.record_enabled && owned.contains(&c.id));
        let mut wanted: HashMap<String, Wanted> = HashMap::new();
        for c in recorded {
            // The sub stream too, as a second recorder keyed `<camera>#sub`, when asked for.
            if let Some(sub) = c.sub_stream_url.clone().filter(|_| c.record_sub) {
                let job = RecorderJob::new(state.clone(), c.clone(), Some(sub));
                wanted.insert(format!("{}{SUB_KEY}", c.id), job.wanted());
            }
            let job = RecorderJob::new(state.clone(), c.clone(), None);
            wanted.insert(c.id.clone(), job.wanted());
        }
        // Whatever stops now and is still wanted was reconfigured: it starts again at once,
        // and the hole explains itself by the outage it was in (a refused login corrected)
        // or else as a restart. Whatever is no longer wanted was switched off.
        let still_wanted: HashSet<String> = wanted.keys().cloned().collect();
        let applied = self
            .supervisor
            .apply(wanted, |id| {
                if id.ends_with(SUB_KEY) {
                    // The indexer explains holes by the main stream's reasons only.
                } else if !still_wanted.contains(id) {
                    self.set_stop_reason(id, GapReason::RecordingDisabled);
                } else if self.stop_reason(id).is_none() {
                    self.set_stop_reason(id, GapReason::RecorderRestart);
                }
            })
            .await;
        for id in applied.stopped {
            if !applied.started.contains(&id) && !id.ends_with(SUB_KEY) {
                crate::cameras::store::set_state(state, &id, CameraState::Disabled, None).await;
            }
        }
        Ok(())
    }

    /// Whether shutdown has begun (no plan starts anything any more).
    pub fn stopping(&self) -> bool {
        self.supervisor.stopping()
    }

    /// The cameras whose main-stream ffmpeg runs on this instance now (spawned, so its start
    /// is in the camera's status).
    pub fn recording(&self) -> Vec<String> {
        self.supervisor
            .keys()
            .into_iter()
            .filter(|key| !key.ends_with(SUB_KEY) && self.supervisor.spawned(key))
            .collect()
    }

    /// Kills the camera's recorders (main stream, and sub stream if it records one) so that
    /// they start again; false when its main-stream recorder is not planned on this instance.
    pub fn restart(&self, camera_id: &str) -> bool {
        self.supervisor.restart(&format!("{camera_id}{SUB_KEY}"));
        self.supervisor.restart(&camera_id.to_owned())
    }

    /// Stops every recorder for good and waits for its ffmpeg to exit.
    pub async fn stop_all(&self) {
        self.supervisor.stop_all().await;
    }

    /// Stops every running recorder until the next plan (which may start them again).
    pub async fn pause(&self) {
        self.supervisor.pause().await;
    }
}

/// The supervisor key suffix of a camera's sub-stream recorder.
const SUB_KEY: &str = "#sub";

/// One camera's recorder, as the supervisor runs it: the main stream into
/// `recordings/<camera>/`, or the sub stream into `recordings/<camera>/sub/`.
struct RecorderJob {
    state: AppState,
    camera: camera::Model,
    dir: PathBuf,
    /// The sub stream's URL when this records the sub stream.
    sub: Option<String>,
    /// What the stream carries: asked before each start (the live view and the sampler take
    /// the answer), kept when the probe cannot tell.
    pictures: crate::fleet::ffmpeg::Pictures,
    /// The kinds of outage event logged in this outage: one of each per outage, not one per
    /// retry.
    announced: Vec<EventKind>,
    /// The camera refused the login at the last try: the next start shows no `CONNECTING`
    /// before its probe (the one login of the try) is taken.
    refused: bool,
    /// Held back by a refusal another reader of the account met; shown once.
    held: bool,
}

impl RecorderJob {
    fn new(state: AppState, camera: camera::Model, sub: Option<String>) -> RecorderJob {
        let mut dir = recordings_root(&state).join(&camera.id);
        if sub.is_some() {
            dir.push("sub");
        }
        RecorderJob {
            state,
            camera,
            dir,
            sub,
            pictures: crate::fleet::ffmpeg::Pictures::Copied,
            announced: Vec::new(),
            refused: false,
            held: false,
        }
    }

    /// Before each start: the directory made, and (for the main stream) the camera shown as
    /// connecting. The camera's state is its main recorder's; the sub recorder only logs.
    async fn prepare(&self) {
        if self.sub.is_some() {
            if let Err(err) = tokio::fs::create_dir_all(&self.dir).await {
                tracing::warn!(dir = %self.dir.display(), error = %err, "cannot create the sub-stream directory");
            }
            return;
        }
        if let Err(err) = tokio::fs::create_dir_all(&self.dir).await {
            let error = format!("cannot create {}: {err}", self.dir.display());
            self.show(CameraState::Error, Some(error)).await;
        }
        self.show(CameraState::Connecting, None).await;
    }

    /// Shows the camera `state`, with `error` as its last error.
    async fn show(&self, state: CameraState, error: Option<String>) {
        crate::cameras::store::set_state(&self.state, &self.camera.id, state, error).await;
    }

    /// The stream this records.
    fn url(&self) -> &str {
        self.sub.as_deref().unwrap_or(&self.camera.stream_url)
    }

    /// The camera refused the login (`error` says where; `ran` is how long the ffmpeg that met
    /// it ran, `None` when a probe met it): shown `UNAUTHORIZED` with the error,
    /// `CAMERA_LOGIN_REFUSED` logged once per outage, and the gap to come explained. The
    /// supervisor waits [`retry_after`](Job::retry_after) before the next try.
    async fn login_refused(&mut self, error: String, ran: Option<Duration>) {
        let (state, camera_id) = (&self.state, self.camera.id.as_str());
        let retry = state.config.refused_login_retry_secs;
        tracing::warn!(camera = camera_id, %error, retry_in_secs = retry, "the camera refused the login in its URL");
        self.refused = true;
        if self.sub.is_some() {
            return;
        }
        let reason = GapReason::LoginRefused;
        state.recorders.set_stop_reason(camera_id, reason);
        self.announce(reason, ran).await;
        let (state, camera_id) = (&self.state, self.camera.id.as_str());
        let error = format!(
            "{error}; the user name or password is wrong (or the account locked): trying again \
             every {retry} s, or at once when the stream URL changes"
        );
        let tail = error_tail(&error);
        crate::cameras::store::set_state(state, camera_id, CameraState::Unauthorized, Some(tail))
            .await;
        if ran.is_some() {
            crate::cameras::store::count_reconnect(state, camera_id).await;
        }
    }

    /// Logs the outage event for `reason` unless this outage logged that kind already; a run
    /// of [`HEALTHY_RUN`] or more (`ran`) ended the last outage.
    async fn announce(&mut self, reason: GapReason, ran: Option<Duration>) {
        if ran.is_some_and(|ran| ran >= HEALTHY_RUN) {
            self.announced.clear();
        }
        let kind = outage_event(reason).0;
        if !self.announced.contains(&kind) {
            self.announced.push(kind);
            let ran = ran.unwrap_or_default();
            announce_outage(&self.state, &self.camera.id, reason, ran).await;
        }
    }

    /// What the supervisor runs: restarted when the URL or segment length changes.
    fn wanted(self) -> Wanted {
        let url = self.url();
        let fingerprint = format!("{}|{url}", self.camera.segment_seconds);
        let start = move |control| {
            let program = self.state.config.ffmpeg.clone();
            let profile = if self.sub.is_some() { "sub" } else { "main" };
            let span = tracing::info_span!("recorder", camera = %self.camera.id, profile);
            tokio::spawn(supervise(program, self, control).instrument(span))
        };
        Wanted {
            fingerprint,
            start: Box::new(start),
        }
    }
}

#[async_trait::async_trait]
impl Job for RecorderJob {
    fn args(&self) -> Vec<String> {
        crate::fleet::ffmpeg::record_args(
            self.url(),
            self.pictures,
            self.camera.segment_seconds,
            &self.dir,
        )
    }

    async fn starting(&mut self) -> Option<Duration> {
        let retry = self.state.config.refused_login_retry();
        // The camera refused this login lately (to this recorder, or to another reader of the
        // account): wait until its retry is due; one reader takes it. The status keeps the
        // refusal's words.
        if let Some(left) = self.state.streams.claim_try(self.url(), retry) {
            if !std::mem::replace(&mut self.held, true) && self.sub.is_none() {
                self.show(CameraState::Unauthorized, None).await;
            }
            return Some(left.min(HOLD_POLL));
        }
        self.held = false;
        if !self.refused {
            self.prepare().await;
        }
        let ffprobe = &self.state.config.ffprobe;
        match self.state.streams.ask(ffprobe, self.url()).await {
            Ok(pictures) => self.pictures = pictures,
            Err(refused) => {
                self.login_refused(format!("ffprobe: {}", refused.0), None)
                    .await;
                return Some(retry);
            }
        }
        if std::mem::take(&mut self.refused) {
            self.prepare().await;
        }
        None
    }

    fn retry_after(&self) -> Option<Duration> {
        let retry = self.state.config.refused_login_retry();
        self.refused.then_some(retry)
    }

    async fn spawn_failed(&mut self, error: std::io::Error) {
        let program = self.state.config.ffmpeg.display();
        let error = format!("cannot start {program}: {error}");
        if self.sub.is_some() {
            tracing::warn!(camera = %self.camera.id, %error, "sub-stream recorder");
            return;
        }
        self.show(CameraState::Error, Some(error)).await;
    }

    async fn exited(
        &mut self,
        status: Option<std::process::ExitStatus>,
        ran: Duration,
        stderr: Vec<String>,
    ) {
        let (state, camera_id) = (&self.state, self.camera.id.as_str());
        let error = format!(
            "ffmpeg exited ({}) after {:.1} s: {}",
            status.map(|s| s.to_string()).unwrap_or_default(),
            ran.as_secs_f64(),
            stderr.join(" | ")
        );
        let reason = exit_reason(&stderr, ran);
        self.refused = reason == GapReason::LoginRefused;
        if self.refused {
            state.streams.login_refused(self.url());
            if self.sub.is_none() {
                crate::telemetry::recorder_exited(camera_id, reason.as_str());
            }
            self.login_refused(error, Some(ran)).await;
            return;
        }
        if self.sub.is_some() {
            tracing::warn!(camera = camera_id, %error, "sub-stream recorder exited; restarting after backoff");
            return;
        }
        tracing::warn!(camera = camera_id, %error, "recorder exited; restarting after backoff");
        crate::telemetry::recorder_exited(camera_id, reason.as_str());
        state.recorders.set_stop_reason(camera_id, reason);
        let new_state = if reason == GapReason::CameraOffline {
            CameraState::Offline
        } else {
            CameraState::Error
        };
        let tail = error_tail(&error);
        // The event first: a client that sees the restart in the status finds its event too.
        self.announce(reason, Some(ran)).await;
        let (state, camera_id) = (&self.state, self.camera.id.as_str());
        crate::cameras::store::set_state(state, camera_id, new_state, Some(tail)).await;
        crate::cameras::store::count_reconnect(state, camera_id).await;
    }

    async fn restarted(&mut self, _ran: Duration) {
        // The health monitor killed a recorder that stopped writing; it has logged the outage
        // and the camera's error, so only the gap's reason and the restart count remain.
        if self.sub.is_some() {
            return;
        }
        let camera_id = self.camera.id.as_str();
        crate::telemetry::recorder_exited(camera_id, "stale");
        self.state
            .recorders
            .set_stop_reason(camera_id, GapReason::RecorderRestart);
        self.announced.clear();
        self.announced.push(EventKind::RecorderError);
        crate::cameras::store::count_reconnect(&self.state, camera_id).await;
    }
}

/// How often a recorder held back by another reader's refused login looks whether the retry
/// was taken and the login accepted.
const HOLD_POLL: Duration = Duration::from_secs(5);

/// The event an outage for `reason` logs: `CAMERA_OFFLINE`, `CAMERA_LOGIN_REFUSED`,
/// `DISK_FULL` or `RECORDER_ERROR`.
fn outage_event(reason: GapReason) -> (EventKind, Severity) {
    match reason {
        GapReason::CameraOffline => (EventKind::CameraOffline, Severity::Warning),
        GapReason::LoginRefused => (EventKind::CameraLoginRefused, Severity::Warning),
        GapReason::DiskFull => (EventKind::DiskFull, Severity::Critical),
        _ => (EventKind::RecorderError, Severity::Warning),
    }
}

/// Writes the outage to the event log ([`outage_event`]).
async fn announce_outage(state: &AppState, camera_id: &str, reason: GapReason, ran: Duration) {
    let (kind, severity) = outage_event(reason);
    let event = NewEvent::new(kind, severity, state.clock.now())
        .camera(camera_id)
        .payload(serde_json::json!({"reason": reason.as_str(), "ranSeconds": ran.as_secs_f64()}));
    if let Err(err) = crate::events::store::record(state, event).await {
        tracing::warn!(camera = camera_id, error = %err, "could not log the outage event");
    }
}

/// The last 800 characters of a recorder's error, as the camera's status keeps it.
fn error_tail(error: &str) -> String {
    let skip = error.chars().count().saturating_sub(800);
    error.chars().skip(skip).collect()
}

/// Why a recorder's ffmpeg ended, from its stderr tail and how long it ran: a full disk
/// (ENOSPC while writing), a refused login (HTTP or RTSP 401 or 403), a camera that never
/// delivered (a run under 5 s), else a restart.
pub fn exit_reason(stderr: &[String], ran: Duration) -> GapReason {
    if stderr
        .iter()
        .any(|line| line.contains("No space left on device"))
    {
        GapReason::DiskFull
    } else if crate::fleet::ffmpeg::login_refused(stderr) {
        GapReason::LoginRefused
    } else if ran < Duration::from_secs(5) {
        GapReason::CameraOffline
    } else {
        GapReason::RecorderRestart
    }
}

/// Start-up: stops ffmpeg processes left writing into this server's recordings or frames by a
/// previous run that was killed without a chance to stop them (SIGKILL, OOM, power loss with
/// a supervisor that kept them). At start-up this server has no ffmpeg of its own yet, so any
/// ffmpeg whose arguments point into its data dir is such an orphan. Linux only (`/proc`);
/// returns how many were stopped.
pub fn reap_orphans(state: &AppState) -> usize {
    // Compared as real paths: another server using the same relative data dir from another
    // working directory is not ours, and a different spelling of ours still is.
    let roots: Vec<PathBuf> = [recordings_root(state), state.config.data_dir.join("frames")]
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    if roots.is_empty() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut stopped = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_ffmpeg = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .is_some_and(|n| {
                n == "ffmpeg" || Path::new(&state.config.ffmpeg).file_name() == Some(n)
            });
        let cwd = std::fs::read_link(entry.path().join("cwd")).ok();
        let ours = is_ffmpeg
            && args.iter().skip(1).any(|a| {
                let path = Path::new(a);
                let path = match (&cwd, path.is_absolute()) {
                    (_, true) => path.to_path_buf(),
                    (Some(cwd), false) if a.contains('/') => cwd.join(path),
                    _ => return false,
                };
                // The file may not exist (a name pattern); its directory does.
                path.parent()
                    .and_then(|dir| std::fs::canonicalize(dir).ok())
                    .is_some_and(|dir| roots.iter().any(|root| dir.starts_with(root)))
            });
        if is_ffmpeg && ours {
            let killed = rustix::process::Pid::from_raw(pid as i32).is_some_and(|pid| {
                rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
            });
            if killed {
                tracing::warn!(pid, "stopped an ffmpeg a previous run left behind");
                stopped += 1;
            }
        }
    }
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enospc_exit_is_a_full_disk_and_a_short_run_an_offline_camera() {
        let full = vec![
            "[mp4 @ 0x55d0] Error writing trailer".to_owned(),
            "av_interleaved_write_frame(): No space left on device".to_owned(),
        ];
        assert_eq!(
            exit_reason(&full, Duration::from_secs(1)),
            GapReason::DiskFull
        );
        let refused = vec!["rtsp://cam/: Connection refused".to_owned()];
        assert_eq!(
            exit_reason(&refused, Duration::from_secs(1)),
            GapReason::CameraOffline
        );
        assert_eq!(
            exit_reason(&[], Duration::from_secs(600)),
            GapReason::RecorderRestart
        );
        // ffmpeg 5.1's last lines for a wrong password over RTSP and over HTTP, and for a
        // camera that answers a locked account with 403.
        for line in [
            "rtsp://127.0.0.1:8554/stream: Server returned 401 Unauthorized (authorization failed)",
            "[http @ 0x55d0] HTTP error 401 Unauthorized",
            "http://cam/video.mjpg: Server returned 403 Forbidden (access denied)",
        ] {
            assert_eq!(
                exit_reason(&[line.to_owned()], Duration::from_secs(1)),
                GapReason::LoginRefused,
                "{line}"
            );
        }
    }
}
