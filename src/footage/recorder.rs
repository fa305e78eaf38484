//! The recorder: one supervised ffmpeg per recording camera, writing segment files.
//!
//! ffmpeg copies the camera's stream (no re-encode) into `recordings/<camera>/<UTC start>.mp4`
//! with the segment muxer. A child that exits is restarted with backoff (1 s doubling to 30 s,
//! reset after a run of 30 s); its stderr tail is kept as the camera's last error. Children are
//! spawned with `kill_on_drop`, so stopping a camera, deleting it or stopping the server never
//! leaves an ffmpeg behind.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entity::{camera, camera_status};
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::AppError;
use crate::footage::graphql::GapReason;
use crate::state::AppState;

/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run at least this long counts as healthy and resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// Lines of ffmpeg's stderr kept for the status.
const STDERR_TAIL: usize = 12;

/// The recordings root under the data dir.
pub fn recordings_root(state: &AppState) -> PathBuf {
    state.config.data_dir.join("recordings")
}

/// ffmpeg's input arguments for a stream URL: generated graphs and files in real time, RTSP
/// over TCP with a 15 s timeout.
pub fn input_args(url: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(graph) = url.strip_prefix("lavfi:") {
        args.extend(["-re", "-f", "lavfi", "-i", graph].map(String::from));
    } else if let Some(path) = url.strip_prefix("file://") {
        args.extend(["-re", "-stream_loop", "-1", "-i", path].map(String::from));
    } else {
        if url.starts_with("rtsp") {
            args.extend(["-rtsp_transport", "tcp", "-timeout", "15000000"].map(String::from));
        }
        args.extend(["-i".to_owned(), url.to_owned()]);
    }
    args
}

/// ffmpeg's arguments for a camera (input first, then the segment muxer).
pub fn ffmpeg_args(camera: &camera::Model, dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["-nostdin", "-hide_banner", "-loglevel", "warning", "-y"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let url = camera.stream_url.as_str();
    let generated = url.starts_with("lavfi:");
    args.extend(input_args(url));
    args.extend(["-map", "0:v:0"].map(String::from));
    if generated {
        // A generated test pattern is raw video: it has to be encoded once; real cameras are copied.
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-pix_fmt",
                "yuv420p",
                "-force_key_frames",
                "expr:gte(t,n_forced*1)",
            ]
            .map(String::from),
        );
    } else {
        args.extend(["-c", "copy"].map(String::from));
    }
    args.extend(
        [
            "-f",
            "segment",
            "-segment_time",
            &camera.segment_seconds.max(2).to_string(),
            "-segment_format",
            "mp4",
            "-segment_format_options",
            "movflags=+frag_keyframe+empty_moov+default_base_moof",
            "-reset_timestamps",
            "1",
            "-strftime",
            "1",
        ]
        .map(String::from),
    );
    args.push(dir.join("%Y%m%d_%H%M%S.mp4").display().to_string());
    args
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    fingerprint: (String, i32),
}

/// The recorders of every camera, and why each last stopped (for gap reasons).
#[derive(Default)]
pub struct Recorders {
    running: Mutex<HashMap<String, Running>>,
    stop_reasons: Mutex<HashMap<String, GapReason>>,
    /// One plan at a time: a plan applies what it read, so two must not interleave.
    plan: tokio::sync::Mutex<()>,
    /// Set at shutdown: no plan starts anything after [`stop_all`](Self::stop_all).
    stopping: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Recorders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorders")
    }
}

impl Recorders {
    /// Why the camera's recording last stopped, consumed by the indexer when it records the gap.
    pub fn take_stop_reason(&self, camera_id: &str) -> Option<GapReason> {
        self.stop_reasons.lock().ok()?.remove(camera_id)
    }

    fn set_stop_reason(&self, camera_id: &str, reason: GapReason) {
        if let Ok(mut reasons) = self.stop_reasons.lock() {
            reasons.insert(camera_id.to_owned(), reason);
        }
    }

    /// Starts, restarts or stops recorders so they match the cameras in the database.
    pub async fn reconcile(
        &self,
        state: &AppState,
        owned: &std::collections::HashSet<String>,
    ) -> Result<(), AppError> {
        let _one_at_a_time = self.plan.lock().await;
        if self.stopping() {
            return Ok(());
        }
        let cameras = camera::Entity::find().all(&state.db).await?;
        let wanted: HashMap<String, camera::Model> = cameras
            .into_iter()
            .filter(|c| c.enabled && c.record_enabled && owned.contains(&c.id))
            .map(|c| (c.id.clone(), c))
            .collect();
        let mut to_stop = Vec::new();
        let mut to_start = Vec::new();
        {
            let Ok(mut running) = self.running.lock() else {
                return Err(AppError::internal("recorder registry poisoned"));
            };
            let ids: Vec<String> = running.keys().cloned().collect();
            for id in ids {
                let keep = wanted.get(&id).is_some_and(|c| {
                    running
                        .get(&id)
                        .is_some_and(|r| r.fingerprint == (c.stream_url.clone(), c.segment_seconds))
                });
                if !keep && let Some(r) = running.remove(&id) {
                    to_stop.push((id, r));
                }
            }
            for (id, camera) in wanted {
                if !running.contains_key(&id) {
                    to_start.push(camera);
                }
            }
        }
        for (id, r) in to_stop {
            let _ = r.stop.send(true);
            let _ = r.task.await;
            self.set_stop_reason(&id, GapReason::RecordingDisabled);
            let still_wanted = to_start.iter().any(|c| c.id == id);
            if !still_wanted {
                set_state(state, &id, "disabled", None).await;
            }
        }
        for camera in to_start {
            let (stop, stopped) = watch::channel(false);
            let fingerprint = (camera.stream_url.clone(), camera.segment_seconds);
            let id = camera.id.clone();
            let task = tokio::spawn(supervise(state.clone(), camera, stopped));
            if let Ok(mut running) = self.running.lock() {
                running.insert(
                    id,
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

    /// Whether shutdown has begun (no plan starts anything any more).
    pub fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Stops every recorder and waits for its ffmpeg to exit.
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

async fn set_state(state: &AppState, camera_id: &str, new_state: &str, last_error: Option<String>) {
    let now = state.clock.now();
    let mut row = camera_status::ActiveModel {
        camera_id: Set(camera_id.to_owned()),
        state: Set(new_state.to_owned()),
        updated_at: Set(now),
        reconnect_count: Set(0),
        segments_written: Set(0),
        ..Default::default()
    };
    let mut columns = vec![
        camera_status::Column::State,
        camera_status::Column::UpdatedAt,
    ];
    if new_state == "connecting" {
        row.last_started_at = Set(Some(now));
        columns.push(camera_status::Column::LastStartedAt);
    }
    if let Some(error) = last_error {
        row.last_error = Set(Some(error));
        columns.push(camera_status::Column::LastError);
    }
    let result = camera_status::Entity::insert(row)
        .on_conflict(
            OnConflict::column(camera_status::Column::CameraId)
                .update_columns(columns)
                .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await;
    if let Err(err) = result {
        tracing::warn!(camera = camera_id, error = %err, "could not update camera status");
    }
}

async fn count_reconnect(state: &AppState, camera_id: &str) {
    use sea_orm::{ColumnTrait, QueryFilter};
    let result = camera_status::Entity::update_many()
        .col_expr(
            camera_status::Column::ReconnectCount,
            sea_orm::sea_query::ExprTrait::add(
                sea_orm::sea_query::Expr::col(camera_status::Column::ReconnectCount),
                1,
            ),
        )
        .filter(camera_status::Column::CameraId.eq(camera_id))
        .exec(&state.db)
        .await;
    if let Err(err) = result {
        tracing::warn!(camera = camera_id, error = %err, "could not count a reconnect");
    }
}

#[tracing::instrument(skip_all, fields(camera = %camera.id))]
async fn supervise(state: AppState, camera: camera::Model, mut stop: watch::Receiver<bool>) {
    let dir = recordings_root(&state).join(&camera.id);
    let mut backoff = Duration::from_secs(1);
    // One event per outage, not one per retry.
    let mut outage_announced = false;
    loop {
        if let Err(err) = tokio::fs::create_dir_all(&dir).await {
            set_state(
                &state,
                &camera.id,
                "error",
                Some(format!("cannot create {}: {err}", dir.display())),
            )
            .await;
        }
        set_state(&state, &camera.id, "connecting", None).await;
        let started = Instant::now();
        let spawned = Command::new(&state.config.ffmpeg)
            .args(ffmpeg_args(&camera, &dir))
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                set_state(
                    &state,
                    &camera.id,
                    "error",
                    Some(format!(
                        "cannot start {}: {err}",
                        state.config.ffmpeg.display()
                    )),
                )
                .await;
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut tail) = tail.lock() {
                        if tail.len() == STDERR_TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                }
            });
        }
        tracing::info!(pid = child.id(), "recorder started");
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.changed() => {
                let _ = child.kill().await;
                tracing::info!("recorder stopped");
                return;
            }
        };
        let ran = started.elapsed();
        let stderr: Vec<String> = tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        let error = format!(
            "ffmpeg exited ({}) after {:.1} s: {}",
            status.map(|s| s.to_string()).unwrap_or_default(),
            ran.as_secs_f64(),
            stderr.join(" | ")
        );
        tracing::warn!(%error, "recorder exited; restarting after backoff");
        let reason = exit_reason(&stderr, ran);
        state.recorders.set_stop_reason(&camera.id, reason);
        set_state(
            &state,
            &camera.id,
            if reason == GapReason::CameraOffline {
                "offline"
            } else {
                "error"
            },
            Some(
                error
                    .chars()
                    .rev()
                    .take(800)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect(),
            ),
        )
        .await;
        count_reconnect(&state, &camera.id).await;
        if ran >= HEALTHY_RUN {
            backoff = Duration::from_secs(1);
            outage_announced = false;
        }
        if !outage_announced {
            outage_announced = true;
            announce_outage(&state, &camera.id, reason, ran).await;
        }
        if wait_or_stop(&mut stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Writes the outage to the event log: `CAMERA_OFFLINE`, `DISK_FULL` or `RECORDER_ERROR`.
async fn announce_outage(state: &AppState, camera_id: &str, reason: GapReason, ran: Duration) {
    use sea_orm::Set;
    let (kind, severity) = match reason {
        GapReason::CameraOffline => ("CAMERA_OFFLINE", "warning"),
        GapReason::DiskFull => ("DISK_FULL", "critical"),
        _ => ("RECORDER_ERROR", "warning"),
    };
    let row = entity::event::ActiveModel {
        kind: Set(kind.into()),
        severity: Set(severity.into()),
        camera_id: Set(Some(camera_id.to_owned())),
        payload: Set(
            serde_json::json!({"reason": reason.as_str(), "ranSeconds": ran.as_secs_f64()})
                .to_string(),
        ),
        at: Set(state.clock.now()),
        ..Default::default()
    };
    if let Err(err) = crate::perception::events::record(state, row).await {
        tracing::warn!(camera = camera_id, error = %err, "could not log the outage event");
    }
}

/// Why a recorder's ffmpeg ended, from its stderr tail and how long it ran: a full disk
/// (ENOSPC while writing), a camera that never delivered (a run under 5 s), else a restart.
pub fn exit_reason(stderr: &[String], ran: Duration) -> GapReason {
    if stderr
        .iter()
        .any(|line| line.contains("No space left on device"))
    {
        GapReason::DiskFull
    } else if ran < Duration::from_secs(5) {
        GapReason::CameraOffline
    } else {
        GapReason::RecorderRestart
    }
}

/// Sleeps for `wait`; true when told to stop meanwhile.
pub(crate) async fn wait_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
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
            let killed = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success());
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
    }
}
