//! Logs and Prometheus metrics.

use std::collections::HashMap;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::state::AppState;

/// Installs the global log subscriber (once; later calls, e.g. from tests, are ignored).
pub fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide metrics recorder (installed on first use).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0, 10.0,
                    ],
                )
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        "heldar_rate_limited_total",
        "Operations refused by the per-credential rate limit"
    );
    metrics::describe_counter!(
        "heldar_camera_status_reads_total",
        "Reads of every camera's status row for cameraStatus subscribers (one per interval while any subscribe)"
    );
    metrics::describe_counter!(
        "heldar_login_throttled_total",
        "Sign-ins refused before hashing because the client address or username failed too often"
    );
    metrics::describe_counter!(
        "heldar_graphql_requests_total",
        "GraphQL operations served, by operation name and outcome"
    );
    metrics::describe_histogram!(
        "heldar_graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL operation latency over HTTP, by operation name and outcome"
    );
    metrics::describe_gauge!("heldar_ws_connections", "Open GraphQL websockets");
    metrics::describe_counter!(
        "heldar_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (ok: a 2xx answer; failed: anything else)"
    );
    metrics::describe_histogram!(
        "heldar_webhook_delivery_seconds",
        metrics::Unit::Seconds,
        "Time from sending a webhook delivery to its answer or failure"
    );
    metrics::describe_gauge!(
        "heldar_ws_shared_executions",
        "Executions shared by identical live subscriptions"
    );
    metrics::describe_gauge!(
        "heldar_ws_subscriptions",
        "Active operations on GraphQL websockets"
    );
    metrics::describe_gauge!(
        "heldar_db_pool_connections",
        "Database pool connections, by state (idle, in_use) and limit (max)"
    );
    describe_operations();
}

/// Watching footage: playlists served, live viewers and relays, frames skipped.
fn describe_watch() {
    metrics::describe_counter!(
        "heldar_playback_playlists_total",
        "Recorded playback playlists served"
    );
    metrics::describe_gauge!(
        "heldar_live_viewers",
        "Live viewers (websocket and HLS sessions) by camera and profile"
    );
    metrics::describe_counter!(
        "heldar_live_dropped_frames_total",
        "Frames skipped for live viewers that fell behind (each skip lands on a keyframe)"
    );
    metrics::describe_gauge!(
        "heldar_live_relays",
        "Running live relays: one camera connection per camera and profile"
    );
}

/// The operator's metrics: cameras, recording, indexing, disk, retention, exports, ingest,
/// events and their delivery.
fn describe_operations() {
    use metrics::Unit;
    metrics::describe_gauge!("heldar_cameras", "Cameras by recorder state");
    describe_watch();
    metrics::describe_counter!(
        "heldar_recorder_restarts_total",
        "Recorder (ffmpeg) exits that led to a restart, by camera and reason"
    );
    metrics::describe_gauge!(
        "heldar_camera_segment_lag_seconds",
        Unit::Seconds,
        "Seconds since the end of the camera's newest indexed segment (recording cameras)"
    );
    metrics::describe_counter!(
        "heldar_indexed_segments_total",
        "Segments the indexer added, by camera"
    );
    metrics::describe_histogram!(
        "heldar_indexer_delay_seconds",
        Unit::Seconds,
        "Seconds from a segment's end to its indexing"
    );
    metrics::describe_histogram!(
        "heldar_indexer_pass_duration_seconds",
        Unit::Seconds,
        "Duration of one indexer pass over every camera"
    );
    metrics::describe_gauge!(
        "heldar_disk_free_bytes",
        Unit::Bytes,
        "Free bytes on the recordings disk"
    );
    metrics::describe_gauge!(
        "heldar_disk_size_bytes",
        Unit::Bytes,
        "Size of the recordings disk"
    );
    metrics::describe_gauge!(
        "heldar_recordings_bytes",
        Unit::Bytes,
        "Bytes of indexed recordings, by camera"
    );
    metrics::describe_counter!(
        "heldar_retention_deleted_segments_total",
        "Segments retention deleted, by reason"
    );
    metrics::describe_counter!(
        "heldar_retention_deleted_bytes_total",
        Unit::Bytes,
        "Bytes retention deleted, by reason"
    );
    metrics::describe_gauge!("heldar_exports", "Clip export jobs, by status");
    metrics::describe_histogram!(
        "heldar_export_duration_seconds",
        Unit::Seconds,
        "Duration of a clip export run, by outcome"
    );
    metrics::describe_counter!(
        "heldar_ingest_batches_total",
        "Detection batches posted, by outcome (stored, duplicate)"
    );
    metrics::describe_counter!("heldar_ingest_detections_total", "Detections stored");
    metrics::describe_counter!("heldar_events_total", "Events recorded, by kind");
    metrics::describe_histogram!(
        "heldar_event_delivery_lag_seconds",
        Unit::Seconds,
        "Seconds from an event's time to its delivery to a subscription"
    );
}

/// An operation was refused by the per-credential rate limit.
pub fn rate_limited() {
    metrics::counter!("heldar_rate_limited_total").increment(1);
}

/// The camera status rows were read for `cameraStatus` subscribers (once per interval while
/// any are subscribed, however many).
pub fn camera_status_read() {
    metrics::counter!("heldar_camera_status_reads_total").increment(1);
}

/// A sign-in was refused by the failed-login throttle.
pub fn login_throttled() {
    metrics::counter!("heldar_login_throttled_total").increment(1);
}

/// A recorder's ffmpeg exited and will be restarted.
pub fn recorder_exited(camera_id: &str, reason: &'static str) {
    metrics::counter!("heldar_recorder_restarts_total", "camera" => camera_id.to_owned(), "reason" => reason)
        .increment(1);
}

/// The indexer added a segment of `camera_id` `delay` seconds after it ended.
pub fn segment_indexed(camera_id: &str, delay: f64) {
    metrics::counter!("heldar_indexed_segments_total", "camera" => camera_id.to_owned())
        .increment(1);
    metrics::histogram!("heldar_indexer_delay_seconds").record(delay.max(0.0));
}

/// A recorded playback playlist was served.
pub fn playback_playlist() {
    metrics::counter!("heldar_playback_playlists_total").increment(1);
}

/// The live viewers of one camera's profile changed to `viewers`.
pub fn live_viewers(camera_id: &str, profile: &str, viewers: usize) {
    metrics::gauge!("heldar_live_viewers", "camera" => camera_id.to_owned(), "profile" => profile.to_owned())
        .set(viewers as f64);
}

/// A slow live viewer was skipped ahead past `frames` frames.
pub fn live_dropped(frames: u64) {
    metrics::counter!("heldar_live_dropped_frames_total").increment(frames);
}

/// The number of running live relays changed to `relays`.
pub fn live_relays(relays: usize) {
    metrics::gauge!("heldar_live_relays").set(relays as f64);
}

/// One indexer pass took `seconds`.
pub fn indexer_pass(seconds: f64) {
    metrics::histogram!("heldar_indexer_pass_duration_seconds").record(seconds);
}

/// Retention deleted segments for a reason.
pub fn retention_deleted(reason: &str, segments: u64, bytes: u64) {
    metrics::counter!("heldar_retention_deleted_segments_total", "reason" => reason.to_owned())
        .increment(segments);
    metrics::counter!("heldar_retention_deleted_bytes_total", "reason" => reason.to_owned())
        .increment(bytes);
}

/// A clip export run ended (`ready` or `failed`) after `seconds`.
pub fn export_finished(outcome: &'static str, seconds: f64) {
    metrics::histogram!("heldar_export_duration_seconds", "outcome" => outcome).record(seconds);
}

/// A detection batch was posted: stored with `detections`, or a duplicate.
pub fn batch_ingested(duplicate: bool, detections: usize) {
    let outcome = if duplicate { "duplicate" } else { "stored" };
    metrics::counter!("heldar_ingest_batches_total", "outcome" => outcome).increment(1);
    metrics::counter!("heldar_ingest_detections_total").increment(detections as u64);
}

/// An event of `kind` was recorded.
pub fn event_recorded(kind: &str) {
    let kind = match crate::events::model::EventKind::parse(kind) {
        Some(kind) => kind.as_str(),
        None => "OTHER",
    };
    metrics::counter!("heldar_events_total", "kind" => kind).increment(1);
}

/// A webhook delivery attempt ended, taken or not, after `seconds`.
pub fn webhook_delivery(ok: bool, seconds: f64) {
    let outcome = if ok { "ok" } else { "failed" };
    metrics::counter!("heldar_webhook_deliveries_total", "outcome" => outcome).increment(1);
    metrics::histogram!("heldar_webhook_delivery_seconds").record(seconds);
}

/// An event reached a subscription `lag` seconds after it happened.
pub fn event_delivered(lag: f64) {
    metrics::histogram!("heldar_event_delivery_lag_seconds").record(lag.max(0.0));
}

/// Refreshes the gauges read from the database and the disk (at scrape time).
async fn refresh_operations(state: &AppState) {
    refresh_cameras(state).await;
    refresh_storage(state).await;
    refresh_exports(state).await;
}

/// Cameras by state, and how long since each recording camera's last segment.
async fn refresh_cameras(state: &AppState) {
    use entity::vocab::CameraState;
    use sea_orm::EntityTrait;
    let now = state.clock.now();
    let cameras = entity::camera::Entity::find()
        .all(&state.db)
        .await
        .unwrap_or_default();
    let statuses: HashMap<String, entity::camera_status::Model> =
        entity::camera_status::Entity::find()
            .all(&state.db)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.camera_id.clone(), s))
            .collect();
    let mut by_state: HashMap<CameraState, u32> = HashMap::new();
    for camera in &cameras {
        let status = statuses.get(&camera.id);
        let recording = camera.enabled && camera.record_enabled;
        let camera_state = if recording {
            status.map_or(CameraState::Connecting, |s| s.state)
        } else {
            CameraState::Disabled
        };
        *by_state.entry(camera_state).or_default() += 1;
        // A camera meant to record whose lag grows is the alert; a disabled one reads 0.
        let lag = match status.and_then(|s| s.last_segment_at) {
            // Never negative: a time stored while the clock ran fast reads 0 until the next
            // segment replaces it.
            Some(last) if recording => ((now - last).num_milliseconds() as f64 / 1000.0).max(0.0),
            _ => 0.0,
        };
        metrics::gauge!("heldar_camera_segment_lag_seconds", "camera" => camera.id.clone())
            .set(lag);
    }
    for camera_state in <CameraState as sea_orm::Iterable>::iter() {
        let count = by_state.get(&camera_state).copied().unwrap_or(0);
        metrics::gauge!("heldar_cameras", "state" => camera_state.as_str()).set(f64::from(count));
    }
}

/// Footage bytes per camera and the recordings disk's free and total space.
async fn refresh_storage(state: &AppState) {
    use sea_orm::{EntityTrait, QuerySelect};
    let bytes: Vec<(String, Option<i64>)> = entity::segment::Entity::find()
        .select_only()
        .column(entity::segment::Column::CameraId)
        .column_as(
            sea_orm::sea_query::Expr::cust("CAST(SUM(size_bytes) AS BIGINT)"),
            "bytes",
        )
        .group_by(entity::segment::Column::CameraId)
        .into_tuple()
        .all(&state.db)
        .await
        .unwrap_or_default();
    for (camera, bytes) in bytes {
        metrics::gauge!("heldar_recordings_bytes", "camera" => camera)
            .set(bytes.unwrap_or(0) as f64);
    }
    if let Ok(stat) = rustix::fs::statvfs(crate::footage::recorder::recordings_root(state))
        .or_else(|_| rustix::fs::statvfs(&state.config.data_dir))
    {
        let free = stat.f_bavail.saturating_mul(stat.f_frsize);
        let size = stat.f_blocks.saturating_mul(stat.f_frsize);
        metrics::gauge!("heldar_disk_free_bytes").set(free as f64);
        metrics::gauge!("heldar_disk_size_bytes").set(size as f64);
    }
}

/// Export jobs waiting and running.
async fn refresh_exports(state: &AppState) {
    use entity::vocab::ClipStatus;
    use sea_orm::{EntityTrait, QuerySelect};
    let jobs: Vec<(ClipStatus, i64)> = entity::clip_export::Entity::find()
        .select_only()
        .column(entity::clip_export::Column::Status)
        .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
        .group_by(entity::clip_export::Column::Status)
        .into_tuple()
        .all(&state.db)
        .await
        .unwrap_or_default();
    for status in [ClipStatus::Queued, ClipStatus::Running] {
        let n = jobs
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("heldar_exports", "status" => status.as_str()).set(n as f64);
    }
}

/// Renders the Prometheus text, refreshing the gauges read at scrape time first.
pub async fn render(state: &AppState) -> String {
    refresh_operations(state).await;
    let (size, idle) = pool_usage(&state.db);
    let max_connections = state.config.db_max_connections;
    metrics::gauge!("heldar_ws_connections").set(state.ws.connections() as f64);
    metrics::gauge!("heldar_ws_subscriptions").set(state.ws.operations() as f64);
    metrics::gauge!("heldar_ws_shared_executions").set(state.multiplex.groups() as f64);
    metrics::gauge!("heldar_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("heldar_db_pool_connections", "state" => "in_use")
        .set(size.saturating_sub(idle) as f64);
    metrics::gauge!("heldar_db_pool_connections", "state" => "max").set(f64::from(max_connections));
    prometheus()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

fn pool_usage(db: &DatabaseConnection) -> (u32, u32) {
    use sea_orm::DatabaseBackend;
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => (0, 0),
    }
}

/// Distinct operation names a server gives a label of their own; later ones count as `other`.
pub const MAX_OPERATION_LABELS: usize = 100;

/// The operation names a server has given labels, so their number stays bounded, each with
/// its metric handles: looking a labelled metric up in the registry on every request (building
/// its key, hashing it, finding it) cost more than the rest of a small query's bookkeeping.
#[derive(Debug, Default)]
pub struct OperationLabels(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<OperationMetrics>>>,
);

/// One operation label's request counter and duration histogram, per outcome, registered on
/// first use (a label whose documents never run, all invalid, shows no series).
#[derive(Debug)]
pub struct OperationMetrics {
    label: String,
    ok: std::sync::OnceLock<(metrics::Counter, metrics::Histogram)>,
    error: std::sync::OnceLock<(metrics::Counter, metrics::Histogram)>,
}

impl OperationMetrics {
    fn new(label: &str) -> Self {
        OperationMetrics {
            label: label.to_owned(),
            ok: std::sync::OnceLock::new(),
            error: std::sync::OnceLock::new(),
        }
    }

    /// Records one operation under this label: `ok` when it answered without errors.
    pub fn record(&self, ok: bool, seconds: f64) {
        let (slot, outcome) = if ok {
            (&self.ok, "ok")
        } else {
            (&self.error, "error")
        };
        let (count, duration) = slot.get_or_init(|| {
            let label = self.label.clone();
            (
                metrics::counter!("heldar_graphql_requests_total", "operation" => label.clone(), "outcome" => outcome),
                metrics::histogram!("heldar_graphql_request_duration_seconds", "operation" => label, "outcome" => outcome),
            )
        });
        count.increment(1);
        duration.record(seconds);
    }
}

impl OperationLabels {
    /// The label for a client-chosen operation name: bounded length and alphabet, and at most
    /// [`MAX_OPERATION_LABELS`] distinct names, so a client cannot flood the metrics with
    /// label values. Only documents that parsed are asked about (the rest are `invalid`).
    pub fn label(&self, name: Option<&str>) -> std::sync::Arc<OperationMetrics> {
        let label = match name {
            None => "anonymous",
            Some(name)
                if name.len() <= 64
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                name
            }
            Some(_) => "other",
        };
        self.named(label, name.is_some_and(|n| n == label))
    }

    /// The label for documents that did not parse or validate.
    pub fn invalid(&self) -> std::sync::Arc<OperationMetrics> {
        self.named("invalid", false)
    }

    /// The handles of `label`; a client-chosen one (`chosen`) past the first
    /// [`MAX_OPERATION_LABELS`] counts as `other`.
    fn named(&self, label: &str, chosen: bool) -> std::sync::Arc<OperationMetrics> {
        let Ok(mut labels) = self.0.lock() else {
            return std::sync::Arc::new(OperationMetrics::new("other"));
        };
        if let Some(metrics) = labels.get(label) {
            return metrics.clone();
        }
        let chosen_labels = || {
            labels
                .keys()
                .filter(|k| !RESERVED_LABELS.contains(&k.as_str()))
                .count()
        };
        let label = if chosen && chosen_labels() >= MAX_OPERATION_LABELS {
            "other"
        } else {
            label
        };
        labels
            .entry(label.to_owned())
            .or_insert_with(|| std::sync::Arc::new(OperationMetrics::new(label)))
            .clone()
    }
}

/// Labels the server gives itself, besides the client-chosen names.
const RESERVED_LABELS: [&str; 3] = ["anonymous", "other", "invalid"];

/// Records one GraphQL operation served over HTTP.
pub fn record_operation(operation: &str, outcome: &'static str, seconds: f64) {
    metrics::counter!("heldar_graphql_requests_total", "operation" => operation.to_owned(), "outcome" => outcome).increment(1);
    metrics::histogram!("heldar_graphql_request_duration_seconds", "operation" => operation.to_owned(), "outcome" => outcome)
        .record(seconds);
}
