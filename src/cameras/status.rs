//! One reader of the camera status rows for all of this process's `cameraStatus` subscribers.
//!
//! The rows are written by whichever server of the fleet records each camera, so they are read
//! from the database (a local channel would miss the other servers' recorders). Each
//! subscriber reading them for itself cost two queries per subscriber every two seconds: a
//! wall of a thousand consoles was a thousand queries a second. Now one task reads every
//! camera's row per interval while anyone is subscribed, and subscribers pick their cameras
//! out of the shared snapshot; the task ends with its last subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::{camera, camera_status};
use sea_orm::{DatabaseConnection, EntityTrait};
use tokio::sync::watch;

use crate::error::AppError;

/// How often the rows are read while anyone is subscribed.
pub const STATUS_POLL: Duration = Duration::from_secs(2);

/// A camera's stored status and whether it should be recording.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusRow {
    /// The camera.
    pub camera_id: String,
    /// Enabled with recording on (otherwise it shows DISABLED).
    pub recording_wanted: bool,
    /// What its recorder last stored; none before it wrote one.
    pub row: Option<camera_status::Model>,
}

/// Every camera's status at one read, in camera id order.
pub type Snapshot = Arc<Vec<StatusRow>>;

/// The shared reader: started by the first subscriber, stopped after the last one leaves.
#[derive(Debug, Default)]
pub struct StatusFeed {
    /// The running reader's channel; none while nobody is subscribed.
    running: Mutex<Option<watch::Sender<Option<Snapshot>>>>,
    /// Reads of the rows so far.
    reads: AtomicU64,
}

impl StatusFeed {
    /// Subscribes to the snapshots (`None` until the first read), starting the reader if none
    /// runs. The newest snapshot is there at once when the reader already runs.
    pub fn subscribe(
        self: &Arc<Self>,
        db: &DatabaseConnection,
    ) -> watch::Receiver<Option<Snapshot>> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = running.as_ref() {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(None);
        *running = Some(sender.clone());
        tokio::spawn(read_while_watched(self.clone(), db.clone(), sender));
        receiver
    }

    /// How many times the rows were read since the server started.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Whether a reader runs (someone is subscribed, or the last one just left).
    pub fn is_reading(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// Reads every [`STATUS_POLL`] and sends what changed, until no receiver is left. Whether any
/// is left is decided under the feed's lock, where subscribers join, so none joins a reader
/// that is about to stop.
async fn read_while_watched(
    feed: Arc<StatusFeed>,
    db: DatabaseConnection,
    sender: watch::Sender<Option<Snapshot>>,
) {
    // However the task ends (a panic included), the feed forgets its channel, so the next
    // subscriber starts a reader instead of waiting on a dead one.
    let _forget = Forget {
        feed: feed.clone(),
        sender: sender.clone(),
    };
    let mut interval = tokio::time::interval(STATUS_POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = sender.closed() => {}
        }
        {
            let mut running = feed.running.lock().unwrap_or_else(|e| e.into_inner());
            if sender.receiver_count() == 0 {
                *running = None;
                return;
            }
        }
        match read(&db).await {
            Ok(now) => {
                feed.reads.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::camera_status_read();
                // The newest read is always kept (a new subscriber starts from it), but the
                // subscribers are woken only when what they send changed (a camera's state or
                // error, or the set of cameras), not for every segment a recorder indexed.
                sender.send_if_modified(|current| {
                    let changed = !current
                        .as_deref()
                        .is_some_and(|seen| same_states(seen, &now));
                    *current = Some(Arc::new(now));
                    changed
                });
            }
            Err(err) => tracing::warn!(error = %err, "cameraStatus could not read the status rows"),
        }
    }
}

/// Clears the feed's channel when its reader task ends, if it is still that task's.
struct Forget {
    feed: Arc<StatusFeed>,
    sender: watch::Sender<Option<Snapshot>>,
}

impl Drop for Forget {
    fn drop(&mut self) {
        let mut running = self.feed.running.lock().unwrap_or_else(|e| e.into_inner());
        if running
            .as_ref()
            .is_some_and(|s| s.same_channel(&self.sender))
        {
            *running = None;
        }
    }
}

/// Whether two reads show the same cameras with the same states and errors.
fn same_states(a: &[StatusRow], b: &[StatusRow]) -> bool {
    let key = |s: &StatusRow| {
        (
            s.camera_id.clone(),
            s.recording_wanted,
            s.row.as_ref().map(|r| (r.state, r.last_error.clone())),
        )
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

/// Every camera with its status row.
async fn read(db: &DatabaseConnection) -> Result<Vec<StatusRow>, AppError> {
    let mut rows: HashMap<String, camera_status::Model> = camera_status::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.camera_id.clone(), r))
        .collect();
    let mut cameras = camera::Entity::find().all(db).await?;
    cameras.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(cameras
        .into_iter()
        .map(|c| StatusRow {
            recording_wanted: c.enabled && c.record_enabled,
            row: rows.remove(&c.id),
            camera_id: c.id,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveModelTrait, Set};

    async fn database() -> DatabaseConnection {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        db
    }

    async fn add_camera(db: &DatabaseConnection, id: &str) {
        let now = chrono::Utc::now();
        camera::ActiveModel {
            id: Set(id.into()),
            name: Set(id.into()),
            stream_url: Set("rtsp://127.0.0.1:9/x".into()),
            enabled: Set(true),
            record_enabled: Set(true),
            segment_seconds: Set(2),
            retention_hours: Set(24),
            storage_quota_bytes: Set(None),
            sub_stream_url: Set(None),
            record_sub: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(db)
        .await
        .unwrap();
    }

    /// Subscribers share one reader, which stops once the last of them is gone and starts
    /// again for the next.
    #[tokio::test]
    async fn one_reader_serves_every_subscriber_while_there_is_one() {
        let db = database().await;
        add_camera(&db, "a").await;
        let feed = Arc::new(StatusFeed::default());
        let mut first = feed.subscribe(&db);
        let mut second = feed.subscribe(&db);
        first.changed().await.unwrap();
        second.changed().await.unwrap();
        let seen = first.borrow_and_update().clone().unwrap();
        assert!(
            Arc::ptr_eq(&seen, second.borrow().as_ref().unwrap()),
            "one read for both"
        );
        assert_eq!(seen[0].camera_id, "a");
        assert_eq!(seen[0].row, None);
        // A late subscriber gets the newest snapshot at once.
        let third = feed.subscribe(&db);
        assert_eq!(third.borrow().as_deref(), Some(&*seen));
        // A change reaches everyone at the next read.
        add_camera(&db, "b").await;
        first.changed().await.unwrap();
        assert_eq!(first.borrow().as_ref().unwrap().len(), 2);
        drop((first, second, third));
        for _ in 0..100 {
            if !feed.is_reading() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            !feed.is_reading(),
            "the reader stops with its last subscriber"
        );
        let mut again = feed.subscribe(&db);
        again.changed().await.unwrap();
        assert_eq!(again.borrow().as_ref().unwrap().len(), 2);
        assert!(feed.is_reading());
    }
}
