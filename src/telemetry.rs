//! Logs and Prometheus metrics.

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
        "heldar_graphql_requests_total",
        "GraphQL operations served, by operation name and outcome"
    );
    metrics::describe_histogram!(
        "heldar_graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL operation latency over HTTP, by operation name and outcome"
    );
    metrics::describe_gauge!("heldar_ws_connections", "Open GraphQL websockets");
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
}

/// Renders the Prometheus text, refreshing the pool and websocket gauges first.
pub fn render(state: &AppState) -> String {
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

/// The label used for a client-chosen operation name: bounded length and alphabet, so a
/// client cannot flood the metrics with arbitrary label values.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        None => "anonymous".to_owned(),
        Some(name)
            if name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            name.to_owned()
        }
        Some(_) => "other".to_owned(),
    }
}

/// Records one GraphQL operation served over HTTP.
pub fn record_operation(operation: &str, outcome: &'static str, seconds: f64) {
    metrics::counter!("heldar_graphql_requests_total", "operation" => operation.to_owned(), "outcome" => outcome).increment(1);
    metrics::histogram!("heldar_graphql_request_duration_seconds", "operation" => operation.to_owned(), "outcome" => outcome)
        .record(seconds);
}
