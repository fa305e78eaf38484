//! Read leases of recorded playback: while a playlist is being watched, its segments carry a
//! read lock, so retention deletes none of them. Each fetch of the playlist, an init or a
//! segment renews the lease (in memory, no database write); a viewing idle for the configured
//! time releases it. The locks are the exports' reference-counted read locks, counted for this
//! instance, so a crashed instance's leases are taken back like its exports' locks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::evidence::locks::ReadLock;
use crate::state::AppState;

#[derive(Debug)]
struct Lease {
    last: Instant,
    lock: Option<ReadLock>,
}

/// The leases of this instance, by ticket.
#[derive(Debug, Default)]
pub struct Leases {
    leases: Mutex<HashMap<String, Lease>>,
}

impl Leases {
    /// Renews the lease of `key`; true when it already existed (a viewing in progress).
    pub fn renew(&self, key: &str) -> bool {
        let Ok(mut leases) = self.leases.lock() else {
            return false;
        };
        match leases.get_mut(key) {
            Some(lease) => {
                lease.last = Instant::now();
                true
            }
            None => false,
        }
    }

    /// Starts the lease of `key`, read-locking `segment_ids`; renews it if it exists.
    pub async fn start(&self, state: &AppState, key: &str, segment_ids: Vec<String>) {
        {
            let Ok(mut leases) = self.leases.lock() else {
                return;
            };
            if let Some(lease) = leases.get_mut(key) {
                lease.last = Instant::now();
                return;
            }
            leases.insert(
                key.to_owned(),
                Lease {
                    last: Instant::now(),
                    lock: None,
                },
            );
        }
        let instance = state.ownership.instance_id().to_owned();
        let lock = match ReadLock::acquire(&state.db, &instance, segment_ids).await {
            Ok(lock) => lock,
            Err(err) => {
                tracing::warn!(error = %err, "could not read-lock a playback's segments");
                return;
            }
        };
        let orphan = match self.leases.lock() {
            Ok(mut leases) => match leases.get_mut(key) {
                Some(lease) => {
                    lease.lock = Some(lock);
                    None
                }
                None => Some(lock),
            },
            Err(_) => Some(lock),
        };
        if let Some(lock) = orphan {
            lock.release().await;
        }
    }

    /// How many viewings hold a lease.
    pub fn count(&self) -> usize {
        self.leases.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Ends the leases idle for `idle` or longer and releases their locks.
    pub async fn expire(&self, idle: Duration) -> usize {
        let ended: Vec<Lease> = match self.leases.lock() {
            Ok(mut leases) => {
                let keys: Vec<String> = leases
                    .iter()
                    .filter(|(_, l)| l.last.elapsed() >= idle)
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.iter().filter_map(|k| leases.remove(k)).collect()
            }
            Err(_) => Vec::new(),
        };
        let count = ended.len();
        for lease in ended {
            if let Some(lock) = lease.lock {
                lock.release().await;
            }
        }
        count
    }
}

/// Background: ends idle leases every second.
pub async fn run(state: AppState) {
    let idle = Duration::from_secs(state.config.playback_idle_secs.max(1));
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        state.watch.leases.expire(idle).await;
    }
}
