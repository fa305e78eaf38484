//! The frame sampler: one supervised ffmpeg per (camera, stream profile) that has an enabled AI
//! task, writing the latest JPEG atomically (`image2` with `update` and `atomic_writing`), so a
//! worker's frame pull never reads half a file. Rates and widths come from the frame budget
//! ([`super::allocation`]); every task or camera change re-plans them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use entity::{ai_task, camera};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::AppError;
use crate::footage::recorder::wait_or_stop;
use crate::perception::allocation::{Grant, Want, allocate};
use crate::state::AppState;

/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// Where a sampler writes its latest frame.
pub fn frame_path(state: &AppState, camera_id: &str, profile: &str) -> PathBuf {
    state
        .config
        .data_dir
        .join("frames")
        .join(camera_id)
        .join(format!("latest_{profile}.jpg"))
}

/// What a sampler is doing, as `aiSamplers` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerStatus {
    /// Camera.
    pub camera_id: String,
    /// `sub` or `main`.
    pub stream_profile: String,
    /// `connecting`, `sampling`, `offline`, `error` or `shed` (no budget).
    pub state: String,
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

type Key = (String, String);

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    fingerprint: (String, String, i32),
}

/// The running samplers and their states.
#[derive(Default)]
pub struct Samplers {
    running: Mutex<HashMap<Key, Running>>,
    status: Mutex<HashMap<Key, SamplerStatus>>,
    plan: tokio::sync::Mutex<()>,
    /// Set at shutdown: no plan starts anything after [`stop_all`](Self::stop_all).
    stopping: std::sync::atomic::AtomicBool,
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
        all.sort_by(|a, b| {
            (&a.camera_id, &a.stream_profile).cmp(&(&b.camera_id, &b.stream_profile))
        });
        all
    }

    /// Whether a sampler is planned (not shed) for the camera and profile.
    pub fn planned(&self, camera_id: &str, profile: &str) -> bool {
        self.status.lock().is_ok_and(|s| {
            s.get(&(camera_id.to_owned(), profile.to_owned()))
                .is_some_and(|s| s.state != "shed")
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
        owned: &std::collections::HashSet<String>,
    ) -> Result<(), AppError> {
        let _one_at_a_time = self.plan.lock().await;
        if self.stopping.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
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
        // (camera, profile) → (priority, fps, width)
        let mut wanted: HashMap<Key, (i32, f64, i32)> = HashMap::new();
        for t in tasks.iter().filter(|t| cameras.contains_key(&t.camera_id)) {
            let entry = wanted
                .entry((t.camera_id.clone(), t.stream_profile.clone()))
                .or_insert((i32::MIN, 0.0, 0));
            entry.0 = entry.0.max(t.priority);
            entry.1 = entry.1.max(t.fps);
            entry.2 = entry.2.max(t.width);
        }
        let mut order: Vec<(Key, (i32, f64, i32))> = wanted.into_iter().collect();
        order.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
        let wants: Vec<Want> = order
            .iter()
            .map(|(_, (_, fps, width))| Want {
                fps: *fps,
                width: *width,
            })
            .collect();
        let grants = allocate(
            &wants,
            state.config.ai_max_total_fps,
            state.config.ai_max_decoders as usize,
        );
        let planned: Vec<(Key, Want, Grant)> = order
            .into_iter()
            .zip(wants)
            .zip(grants)
            .map(|(((key, _), want), grant)| (key, want, grant))
            .collect();

        let mut to_stop = Vec::new();
        let mut to_start = Vec::new();
        {
            let Ok(mut running) = self.running.lock() else {
                return Err(AppError::internal("sampler registry poisoned"));
            };
            let Ok(mut status) = self.status.lock() else {
                return Err(AppError::internal("sampler registry poisoned"));
            };
            let desired: HashMap<&Key, (String, String, i32)> = planned
                .iter()
                .filter(|(_, _, g)| g.fps > 0.0)
                .map(|(key, _, g)| {
                    let url = cameras
                        .get(&key.0)
                        .map(|c| c.stream_url.clone())
                        .unwrap_or_default();
                    (key, (url, format!("{:.3}", g.fps), g.width))
                })
                .collect();
            let keys: Vec<Key> = running.keys().cloned().collect();
            for key in keys {
                let keep = desired
                    .get(&key)
                    .is_some_and(|f| running.get(&key).is_some_and(|r| &r.fingerprint == f));
                if !keep && let Some(r) = running.remove(&key) {
                    to_stop.push(r);
                }
            }
            status.retain(|key, _| planned.iter().any(|(k, _, _)| k == key));
            for (key, want, grant) in &planned {
                let entry = status.entry(key.clone()).or_insert(SamplerStatus {
                    camera_id: key.0.clone(),
                    stream_profile: key.1.clone(),
                    state: "connecting".into(),
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
                    entry.state = "shed".into();
                } else if !running.contains_key(key) {
                    entry.state = "connecting".into();
                    entry.restarts = 0;
                    if let Some(fingerprint) = desired.get(key) {
                        to_start.push((key.clone(), fingerprint.clone(), *grant));
                    }
                }
            }
        }
        for r in to_stop {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
        for (key, fingerprint, grant) in to_start {
            let (stop, stopped) = watch::channel(false);
            let task = tokio::spawn(supervise(
                state.clone(),
                key.clone(),
                fingerprint.0.clone(),
                grant,
                stopped,
            ));
            if let Ok(mut running) = self.running.lock() {
                running.insert(
                    key,
                    Running {
                        stop,
                        task,
                        fingerprint,
                    },
                );
            }
        }
        Ok(())
    }

    /// Stops every sampler and waits for its ffmpeg to exit.
    pub async fn stop_all(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        self.pause().await;
    }

    /// Stops every running process until the next plan (which may start them again).
    pub async fn pause(&self) {
        let _no_plan_meanwhile = self.plan.lock().await;
        let all: Vec<Running> = match self.running.lock() {
            Ok(mut running) => running.drain().map(|(_, r)| r).collect(),
            Err(_) => Vec::new(),
        };
        for r in all {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
    }
}

/// ffmpeg's arguments for a sampler: decode, drop audio, resample the rate, scale, and keep
/// replacing one JPEG.
pub fn ffmpeg_args(url: &str, grant: Grant, out: &std::path::Path) -> Vec<String> {
    let mut args: Vec<String> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        .map(String::from)
        .to_vec();
    args.extend(crate::footage::recorder::input_args(url));
    args.extend([
        "-an".to_owned(),
        "-vf".to_owned(),
        format!("fps={:.3},scale={}:-2", grant.fps, grant.width),
        "-q:v".to_owned(),
        "5".to_owned(),
        "-f".to_owned(),
        "image2".to_owned(),
        "-update".to_owned(),
        "1".to_owned(),
        "-atomic_writing".to_owned(),
        "1".to_owned(),
        out.display().to_string(),
    ]);
    args
}

async fn supervise(
    state: AppState,
    key: Key,
    url: String,
    grant: Grant,
    mut stop: watch::Receiver<bool>,
) {
    let samplers = &state.ai.samplers;
    let out = frame_path(&state, &key.0, &key.1);
    let mut backoff = Duration::from_secs(1);
    loop {
        if let Some(dir) = out.parent()
            && let Err(err) = tokio::fs::create_dir_all(dir).await
        {
            samplers.update(&key, |s| {
                s.state = "error".into();
                s.last_error = Some(format!("cannot create {}: {err}", dir.display()));
            });
        }
        samplers.update(&key, |s| s.state = "connecting".into());
        let started = Instant::now();
        let spawned = Command::new(&state.config.ffmpeg)
            .args(ffmpeg_args(&url, grant, &out))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                samplers.update(&key, |s| {
                    s.state = "error".into();
                    s.last_error = Some(format!(
                        "cannot start {}: {err}",
                        state.config.ffmpeg.display()
                    ));
                });
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let last_line = std::sync::Arc::new(Mutex::new(None::<String>));
        if let Some(stderr) = child.stderr.take() {
            let last_line = last_line.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut last) = last_line.lock() {
                        *last = Some(line.chars().take(400).collect());
                    }
                }
            });
        }
        // `sampling` once a frame newer than this run appears.
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        let mut sampling = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                // Stopped by a re-plan: the plan has already set the state (shed, or gone).
                _ = stop.changed() => {
                    let _ = child.kill().await;
                    return;
                }
                _ = poll.tick(), if !sampling => {
                    let fresh = tokio::fs::metadata(&out).await.ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|m| m.elapsed().ok())
                        .is_some_and(|age| age < started.elapsed());
                    if fresh {
                        sampling = true;
                        samplers.update(&key, |s| s.state = "sampling".into());
                    }
                }
            }
        };
        let ran = started.elapsed();
        let line = last_line.lock().ok().and_then(|l| l.clone());
        let error = format!(
            "ffmpeg exited ({}) after {:.1} s{}",
            status.map(|s| s.to_string()).unwrap_or_default(),
            ran.as_secs_f64(),
            line.map(|l| format!(": {l}")).unwrap_or_default()
        );
        tracing::warn!(camera = %key.0, profile = %key.1, %error, "sampler exited; restarting after backoff");
        samplers.update(&key, |s| {
            s.state = if sampling { "error" } else { "offline" }.into();
            s.last_error = Some(error);
            s.restarts += 1;
        });
        if ran >= HEALTHY_RUN {
            backoff = Duration::from_secs(1);
        }
        if wait_or_stop(&mut stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
