//! One supervisor for every long-running ffmpeg (recorders, frame samplers): a registry of
//! running processes keyed by what they serve, plans applied one at a time, restarts with
//! backoff, and pause / stop.
//!
//! A plan says which keys should run and with what *fingerprint* (the settings a process was
//! started with); a running process whose fingerprint changed is restarted, one no longer
//! wanted is stopped (and waited for), a new one is started. Each process runs under
//! [`supervise`]: spawned with `kill_on_drop`, restarted after 1 s doubling to 30 s (or when its
//! job says, [`Job::retry_after`]), the backoff reset by a run of 30 s, its stderr tail handed
//! to the job when it exits. A process
//! that runs but no longer does its work (a wedged ffmpeg) can be restarted on request
//! ([`Supervisor::restart`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Longest wait between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A run at least this long counts as healthy and resets the backoff.
pub const HEALTHY_RUN: Duration = Duration::from_secs(30);

/// What one supervised process does around its runs.
#[async_trait::async_trait]
pub trait Job: Send + 'static {
    /// ffmpeg's arguments for the next run.
    fn args(&self) -> Vec<String>;
    /// Lines of stderr to keep for [`exited`](Self::exited).
    fn stderr_lines(&self) -> usize {
        12
    }
    /// Before each start (create directories, report "connecting"); `Some(wait)` holds the
    /// start back that long, after which it is asked again (a camera that refused the login).
    async fn starting(&mut self) -> Option<Duration>;
    /// The process could not be spawned.
    async fn spawn_failed(&mut self, error: std::io::Error);
    /// Whether [`tick`](Self::tick) should run while the process runs.
    fn ticks(&self) -> bool {
        false
    }
    /// Every 250 ms while the process runs (`started` is when this run began), if it
    /// [`ticks`](Self::ticks).
    async fn tick(&mut self, _started: Instant) {}
    /// The process exited by itself after running `ran`; `stderr` is its tail.
    async fn exited(
        &mut self,
        status: Option<std::process::ExitStatus>,
        ran: Duration,
        stderr: Vec<String>,
    );
    /// The process was killed because [`Supervisor::restart`] asked for it, after running
    /// `ran`; whoever asked has reported why. It starts again after the usual backoff.
    async fn restarted(&mut self, _ran: Duration) {}
    /// How long to wait before the next start instead of the usual backoff, asked after each
    /// [`exited`](Self::exited): a camera that refused the login is tried again only slowly.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// How a supervised process is told to stop for good or to restart now.
pub struct Control {
    /// Becomes true when the process must stop for good.
    pub stop: watch::Receiver<bool>,
    /// Notified when the process must be killed and started again.
    pub restart: Arc<Notify>,
    /// Whether a process is spawned now (false before and between runs).
    pub spawned: Arc<AtomicBool>,
}

/// Runs `job`'s process until told to stop, restarting it with backoff when it exits or when a
/// restart is asked for.
pub async fn supervise(program: PathBuf, mut job: impl Job, control: Control) {
    let Control {
        mut stop,
        restart,
        spawned,
    } = control;
    let mut backoff = Duration::from_secs(1);
    loop {
        // Getting ready may take seconds (a probe of the stream): a stop does not wait for it.
        let hold = tokio::select! {
            hold = job.starting() => hold,
            _ = stop.changed() => return,
        };
        if let Some(wait) = hold {
            if wait_or_stop(&mut stop, wait).await {
                return;
            }
            continue;
        }
        let started = Instant::now();
        let mut running =
            match super::ffmpeg::spawn(&program, job.args(), false, job.stderr_lines()) {
                Ok(running) => running,
                Err(err) => {
                    job.spawn_failed(err).await;
                    if wait_or_stop(&mut stop, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
        tracing::info!(pid = running.child.id(), "supervised process started");
        // A restart asked for before this process ran is not for it.
        let _ = futures_util::FutureExt::now_or_never(restart.notified());
        spawned.store(true, Ordering::Release);
        let mut poll = tokio::time::interval(Duration::from_millis(250));
        let ticks = job.ticks();
        let status = loop {
            tokio::select! {
                status = running.child.wait() => break Some(status.ok()),
                _ = stop.changed() => {
                    let _ = running.child.kill().await;
                    tracing::info!("supervised process stopped");
                    return;
                }
                () = restart.notified() => {
                    let _ = running.child.kill().await;
                    tracing::warn!("supervised process killed to be restarted");
                    break None;
                }
                _ = poll.tick(), if ticks => job.tick(started).await,
            }
        };
        spawned.store(false, Ordering::Release);
        let ran = started.elapsed();
        let stderr = running.final_stderr().await;
        let wait = match status {
            Some(status) => {
                job.exited(status, ran, stderr).await;
                job.retry_after()
            }
            None => {
                job.restarted(ran).await;
                None
            }
        };
        if ran >= HEALTHY_RUN {
            backoff = Duration::from_secs(1);
        }
        if wait_or_stop(&mut stop, wait.unwrap_or(backoff)).await {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Sleeps for `wait`; true when told to stop meanwhile.
pub async fn wait_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(wait) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

struct Running {
    stop: watch::Sender<bool>,
    restart: Arc<Notify>,
    spawned: Arc<AtomicBool>,
    task: JoinHandle<()>,
    fingerprint: String,
}

/// What a plan wants running for one key.
pub struct Wanted {
    /// The settings the process runs with; a change restarts it.
    pub fingerprint: String,
    /// Starts the process's task, given how it is told to stop or restart.
    pub start: Box<dyn FnOnce(Control) -> JoinHandle<()> + Send>,
}

/// What applying a plan changed.
#[derive(Debug)]
pub struct Applied<K> {
    /// Keys whose process was stopped (not wanted any more, or restarted).
    pub stopped: Vec<K>,
    /// Keys whose process was started (new, or restarted).
    pub started: Vec<K>,
}

/// The running processes of one kind, keyed by what they serve.
pub struct Supervisor<K> {
    running: Mutex<HashMap<K, Running>>,
    /// One plan at a time: a plan applies what it read, so two must not interleave.
    plan: tokio::sync::Mutex<()>,
    /// Set at shutdown: no plan starts anything after [`stop_all`](Self::stop_all).
    stopping: AtomicBool,
}

impl<K> Default for Supervisor<K> {
    fn default() -> Self {
        Supervisor {
            running: Mutex::new(HashMap::new()),
            plan: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
        }
    }
}

impl<K> std::fmt::Debug for Supervisor<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Supervisor")
    }
}

impl<K: Hash + Eq + Clone> Supervisor<K> {
    /// Waits for the plan lock; `None` once shutdown has begun. Hold the guard while reading
    /// what to plan and applying it.
    pub async fn plan(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let guard = self.plan.lock().await;
        (!self.stopping()).then_some(guard)
    }

    /// The keys running now.
    pub fn keys(&self) -> Vec<K> {
        self.running
            .lock()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `key` runs now with `fingerprint` (applying a plan would leave it alone).
    pub fn runs_with(&self, key: &K, fingerprint: &str) -> bool {
        self.running
            .lock()
            .is_ok_and(|r| r.get(key).is_some_and(|r| r.fingerprint == fingerprint))
    }

    /// Whether `key`'s process runs now: planned and spawned (its job's
    /// [`starting`](Job::starting) has run), not waiting to be (re)started.
    pub fn spawned(&self, key: &K) -> bool {
        self.running.lock().is_ok_and(|r| {
            r.get(key)
                .is_some_and(|r| r.spawned.load(Ordering::Acquire))
        })
    }

    /// Kills `key`'s process so that it starts again after its backoff (its job's
    /// [`restarted`](Job::restarted) runs in between); false when `key` is not planned here.
    /// Asked between runs, it is dropped: the next process starts anyway.
    pub fn restart(&self, key: &K) -> bool {
        self.running
            .lock()
            .ok()
            .and_then(|running| running.get(key).map(|r| r.restart.notify_one()))
            .is_some()
    }

    /// Brings the running processes in line with `wanted` (call under [`plan`](Self::plan)):
    /// stops and waits for those not wanted or whose fingerprint changed (calling `stopped`
    /// for each once it has exited), then starts the missing ones.
    pub async fn apply(
        &self,
        mut wanted: HashMap<K, Wanted>,
        mut stopped: impl FnMut(&K),
    ) -> Applied<K> {
        let mut to_stop = Vec::new();
        if let Ok(mut running) = self.running.lock() {
            let keys: Vec<K> = running.keys().cloned().collect();
            for key in keys {
                let keep = wanted.get(&key).is_some_and(|w| {
                    running
                        .get(&key)
                        .is_some_and(|r| r.fingerprint == w.fingerprint)
                });
                if keep {
                    wanted.remove(&key);
                } else if let Some(r) = running.remove(&key) {
                    to_stop.push((key, r));
                }
            }
        }
        let mut applied = Applied {
            stopped: Vec::new(),
            started: Vec::new(),
        };
        for (key, r) in to_stop {
            let _ = r.stop.send(true);
            let _ = r.task.await;
            stopped(&key);
            applied.stopped.push(key);
        }
        for (key, want) in wanted {
            let (stop, stopped) = watch::channel(false);
            let restart = Arc::new(Notify::new());
            let spawned = Arc::new(AtomicBool::new(false));
            let task = (want.start)(Control {
                stop: stopped,
                restart: restart.clone(),
                spawned: spawned.clone(),
            });
            if let Ok(mut running) = self.running.lock() {
                let fingerprint = want.fingerprint;
                running.insert(
                    key.clone(),
                    Running {
                        stop,
                        restart,
                        spawned,
                        task,
                        fingerprint,
                    },
                );
            }
            applied.started.push(key);
        }
        applied
    }

    /// Whether shutdown has begun (no plan starts anything any more).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Stops every process for good and waits for each to exit.
    pub async fn stop_all(&self) {
        self.stopping.store(true, Ordering::Release);
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
