//! The frame sampler: one supervised ffmpeg per (camera, stream profile) that has an enabled AI
//! task, writing the latest JPEG atomically (`image2` with `update` and `atomic_writing`), so a
//! worker's frame pull never reads half a file. Rates and widths come from the frame budget
//! ([`super::allocation`]); every task or camera change re-plans them. The fleet's
//! [`Supervisor`] runs the processes.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use entity::{ai_task, camera};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::ai::allocation::{Grant, Want, allocate};
use crate::ai::tasks::StreamProfile;
use crate::error::AppError;
use crate::fleet::supervisor::{Job, Supervisor, Wanted, supervise};
use crate::state::AppState;
use tracing::Instrument;

/// Where a sampler writes its latest frame.
pub fn frame_path(state: &AppState, camera_id: &str, profile: StreamProfile) -> PathBuf {
    state
        .config
        .data_dir
        .join("frames")
        .join(camera_id)
        .join(format!("latest_{profile}.jpg"))
}

/// What a frame sampler is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum SamplerState {
    /// Starting, or waiting for its first frame.
    Connecting,
    /// Frames are arriving.
    Sampling,
    /// It never delivered a frame; it retries with backoff.
    Offline,
    /// It failed after delivering frames; it retries with backoff.
    Error,
    /// Planned, but the frame budget has nothing left for it.
    Shed,
}

impl SamplerState {
    /// The name `aiSamplers` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplerState::Connecting => "connecting",
            SamplerState::Sampling => "sampling",
            SamplerState::Offline => "offline",
            SamplerState::Error => "error",
            SamplerState::Shed => "shed",
        }
    }
}

/// What a sampler is doing, as `aiSamplers` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerStatus {
    /// Camera.
    pub camera_id: String,
    /// `sub` or `main`.
    pub stream_profile: StreamProfile,
    /// `connecting`, `sampling`, `offline`, `error` or `shed` (no budget).
    pub state: SamplerState,
    /// The most demanding task's rate.
    pub requested_fps: f64,
    /// The most demanding task's width.
    pub requested_width: i32,
    /// Granted rate (0 when shed).
    pub fps: f64,
    /// Granted width (0 when shed).
    pub width: i32,
    /// Restarts since it was planned.
    pub restarts: u32,
    /// ffmpeg's last complaint.
    pub last_error: Option<String>,
}

/// A sampler serves one (camera, stream profile).
type Key = (String, StreamProfile);

/// The demand of one (camera, profile): its most demanding task.
#[derive(Debug, Clone, Copy)]
struct Demand {
    priority: i32,
    fps: f64,
    width: i32,
}

/// The running samplers and their states.
#[derive(Default)]
pub struct Samplers {
    supervisor: Supervisor<Key>,
    status: Mutex<HashMap<Key, SamplerStatus>>,
}

impl std::fmt::Debug for Samplers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Samplers")
    }
}

impl Samplers {
    /// Every planned sampler's state, by camera and profile.
    pub fn statuses(&self) -> Vec<SamplerStatus> {
        let mut all: Vec<SamplerStatus> = self
            .status
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| (&a.camera_id, a.stream_profile).cmp(&(&b.camera_id, b.stream_profile)));
        all
    }

    /// Whether a sampler is planned (not shed) for the camera and profile.
    pub fn planned(&self, camera_id: &str, profile: StreamProfile) -> bool {
        self.status.lock().is_ok_and(|s| {
            s.get(&(camera_id.to_owned(), profile))
                .is_some_and(|s| s.state != SamplerState::Shed)
        })
    }

    fn update(&self, key: &Key, change: impl FnOnce(&mut SamplerStatus)) {
        if let Ok(mut status) = self.status.lock()
            && let Some(s) = status.get_mut(key)
        {
            change(s);
        }
    }

    /// Re-plans the samplers from the enabled tasks on enabled cameras: grants the budget, then
    /// starts, restarts or stops ffmpeg processes to match, for the cameras this instance owns.
    /// One plan at a time.
    pub async fn reconcile(
        &self,
        state: &AppState,
        owned: &HashSet<String>,
    ) -> Result<(), AppError> {
        let Some(_one_at_a_time) = self.supervisor.plan().await else {
            return Ok(());
        };
        let cameras: HashMap<String, camera::Model> = camera::Entity::find()
            .filter(camera::Column::Enabled.eq(true))
            .all(&state.db)
            .await?
            .into_iter()
            .filter(|c| owned.contains(&c.id))
            .map(|c| (c.id.clone(), c))
            .collect();
        let tasks = ai_task::Entity::find()
            .filter(ai_task::Column::Enabled.eq(true))
            .all(&state.db)
            .await?;
        let planned = plan(&cameras, &tasks, state);
        let mut wanted: HashMap<Key, Wanted> = HashMap::new();
        for (key, want, grant) in &planned {
            let url = cameras
                .get(&key.0)
                // SUB reads the sub stream when the camera has one (decoding it costs a fraction).
                .map(|c| crate::playback::live::stream_url(c, key.1))
                .unwrap_or_default();
            let fingerprint = format!("{:.3}|{}|{url}", grant.fps, grant.width);
            self.set_planned(key, *want, *grant, &fingerprint);
            if grant.fps <= 0.0 {
                continue;
            }
            let (state, key2, grant) = (state.clone(), key.clone(), *grant);
            let span = tracing::info_span!("sampler", camera = %key.0, profile = %key.1);
            let start = move |control| {
                let program = state.config.ffmpeg.clone();
                let out = frame_path(&state, &key2.0, key2.1);
                let job = SamplerJob {
                    state,
                    key: key2,
                    url,
                    pictures: crate::fleet::ffmpeg::Pictures::Copied,
                    grant,
                    out,
                    sampling: false,
                    refused: false,
                };
                tokio::spawn(supervise(program, job, control).instrument(span))
            };
            let start = Box::new(start);
            wanted.insert(key.clone(), Wanted { fingerprint, start });
        }
        if let Ok(mut status) = self.status.lock() {
            status.retain(|key, _| planned.iter().any(|(k, _, _)| k == key));
        }
        self.supervisor.apply(wanted, |_| {}).await;
        Ok(())
    }

    /// Records a plan's grant for `key`: shed, or (when its process is about to start) a fresh
    /// `connecting` state.
    fn set_planned(&self, key: &Key, want: Want, grant: Grant, fingerprint: &str) {
        let starts = grant.fps > 0.0 && !self.supervisor.runs_with(key, fingerprint);
        let Ok(mut status) = self.status.lock() else {
            return;
        };
        let entry = status.entry(key.clone()).or_insert(SamplerStatus {
            camera_id: key.0.clone(),
            stream_profile: key.1,
            state: SamplerState::Connecting,
            requested_fps: want.fps,
            requested_width: want.width,
            fps: grant.fps,
            width: grant.width,
            restarts: 0,
            last_error: None,
        });
        entry.requested_fps = want.fps;
        entry.requested_width = want.width;
        entry.fps = grant.fps;
        entry.width = grant.width;
        if grant.fps <= 0.0 {
            entry.state = SamplerState::Shed;
        } else if starts {
            entry.state = SamplerState::Connecting;
            entry.restarts = 0;
        }
    }

    /// Stops every sampler for good and waits for its ffmpeg to exit.
    pub async fn stop_all(&self) {
        self.supervisor.stop_all().await;
    }

    /// Stops every running sampler until the next plan (which may start them again).
    pub async fn pause(&self) {
        self.supervisor.pause().await;
    }
}

/// The budget's grants, by (camera, profile), highest priority first.
fn plan(
    cameras: &HashMap<String, camera::Model>,
    tasks: &[ai_task::Model],
    state: &AppState,
) -> Vec<(Key, Want, Grant)> {
    let mut wanted: HashMap<Key, Demand> = HashMap::new();
    for t in tasks.iter().filter(|t| cameras.contains_key(&t.camera_id)) {
        let entry = wanted
            .entry((t.camera_id.clone(), t.stream_profile))
            .or_insert(Demand {
                priority: i32::MIN,
                fps: 0.0,
                width: 0,
            });
        entry.priority = entry.priority.max(t.priority);
        entry.fps = entry.fps.max(t.fps);
        entry.width = entry.width.max(t.width);
    }
    let mut order: Vec<(Key, Demand)> = wanted.into_iter().collect();
    order.sort_by(|a, b| b.1.priority.cmp(&a.1.priority).then_with(|| a.0.cmp(&b.0)));
    let wants: Vec<Want> = order
        .iter()
        .map(|(_, d)| Want {
            fps: d.fps,
            width: d.width,
        })
        .collect();
    let grants = allocate(
        &wants,
        state.config.ai_max_total_fps,
        state.config.ai_max_decoders as usize,
    );
    order
        .into_iter()
        .zip(wants)
        .zip(grants)
        .map(|(((key, _), want), grant)| (key, want, grant))
        .collect()
}

/// One (camera, profile)'s sampler, as the supervisor runs it.
struct SamplerJob {
    state: AppState,
    key: Key,
    url: String,
    /// What the stream carries, as the camera's recorder found (asked when it has not).
    pictures: crate::fleet::ffmpeg::Pictures,
    grant: Grant,
    out: PathBuf,
    /// A frame newer than this run appeared.
    sampling: bool,
    /// The camera refused the login at the last try: the next waits the retry interval.
    refused: bool,
}

impl SamplerJob {
    /// The camera refused the login (`why`): shown `OFFLINE` with it, tried again in `retry`.
    fn login_refused(&mut self, why: &str, retry: Duration) {
        let error = format!(
            "the camera refused the login in its URL ({why}); trying again in {} s",
            retry.as_secs().max(1)
        );
        tracing::warn!(camera = %self.key.0, profile = %self.key.1, %error, "sampler");
        self.state.ai.samplers.update(&self.key, |s| {
            s.state = SamplerState::Offline;
            s.last_error = Some(error);
        });
    }
}

#[async_trait::async_trait]
impl Job for SamplerJob {
    fn args(&self) -> Vec<String> {
        let (grant, out) = (&self.grant, &self.out);
        crate::fleet::ffmpeg::sample_args(&self.url, self.pictures, grant.fps, grant.width, out)
    }

    fn stderr_lines(&self) -> usize {
        1
    }

    fn ticks(&self) -> bool {
        true
    }

    fn retry_after(&self) -> Option<Duration> {
        let retry = self.state.config.refused_login_retry();
        self.refused.then_some(retry)
    }

    async fn starting(&mut self) -> Option<Duration> {
        let (ffprobe, url, streams) = (&self.state.config.ffprobe, &self.url, &self.state.streams);
        let retry = self.state.config.refused_login_retry();
        // Refused lately (here, by the recorder or by the live view): no login of its own
        // until the retry is due; one reader of the account takes it.
        if let Some(left) = streams.claim_try(url, retry) {
            self.login_refused("lately, to a reader of this camera account", left);
            return Some(left.min(Duration::from_secs(5)));
        }
        match streams.known_or_ask(ffprobe, url).await {
            Ok(pictures) => self.pictures = pictures,
            Err(refused) => {
                self.login_refused(&format!("ffprobe: {}", refused.0), retry);
                return Some(retry);
            }
        }
        let samplers = &self.state.ai.samplers;
        if let Some(dir) = self.out.parent()
            && let Err(err) = tokio::fs::create_dir_all(dir).await
        {
            samplers.update(&self.key, |s| {
                s.state = SamplerState::Error;
                s.last_error = Some(format!("cannot create {}: {err}", dir.display()));
            });
        }
        samplers.update(&self.key, |s| s.state = SamplerState::Connecting);
        self.sampling = false;
        None
    }

    async fn spawn_failed(&mut self, error: std::io::Error) {
        let program = self.state.config.ffmpeg.display().to_string();
        self.state.ai.samplers.update(&self.key, |s| {
            s.state = SamplerState::Error;
            s.last_error = Some(format!("cannot start {program}: {error}"));
        });
    }

    /// `sampling` once a frame newer than this run appears.
    async fn tick(&mut self, started: Instant) {
        if self.sampling {
            return;
        }
        let fresh = tokio::fs::metadata(&self.out)
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age < started.elapsed());
        if fresh {
            self.sampling = true;
            // Frames came: the login was taken (readers held back by a refusal may go).
            self.state.streams.login_accepted(&self.url);
            self.state
                .ai
                .samplers
                .update(&self.key, |s| s.state = SamplerState::Sampling);
        }
    }

    async fn exited(
        &mut self,
        status: Option<std::process::ExitStatus>,
        ran: Duration,
        stderr: Vec<String>,
    ) {
        let error = format!(
            "ffmpeg exited ({}) after {:.1} s{}",
            status.map(|s| s.to_string()).unwrap_or_default(),
            ran.as_secs_f64(),
            stderr.last().map(|l| format!(": {l}")).unwrap_or_default()
        );
        self.refused = crate::fleet::ffmpeg::login_refused(&stderr);
        if self.refused {
            self.state.streams.login_refused(&self.url);
            let retry = self.state.config.refused_login_retry();
            self.login_refused(&format!("ffmpeg: {}", stderr.join(" | ")), retry);
            return;
        }
        tracing::warn!(camera = %self.key.0, profile = %self.key.1, %error, "sampler exited; restarting after backoff");
        let sampling = self.sampling;
        self.state.ai.samplers.update(&self.key, |s| {
            s.state = if sampling {
                SamplerState::Error
            } else {
                SamplerState::Offline
            };
            s.last_error = Some(error);
            s.restarts += 1;
        });
    }
}
