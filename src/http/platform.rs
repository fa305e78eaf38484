//! Operating the server: `/healthz`, `/readyz`, `/metrics`, and the benchmark's echo route.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::http::respond::{HttpState, json_response};
use crate::telemetry;

/// The platform routes; `/bench/echo` and `/bench/graphql-floor` too when built with the `bench-routes` feature and
/// `HELDAR_BENCH_ROUTES` is set.
pub fn routes(bench_routes: bool) -> Router<HttpState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    #[cfg(feature = "bench-routes")]
    if bench_routes {
        return router
            .route("/bench/echo", axum::routing::post(bench_echo))
            .route("/bench/graphql-floor", axum::routing::post(floor::serve));
    }
    let _ = bench_routes;
    router
}

/// `GET /healthz`: the process is up.
async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}).to_string())
}

/// `GET /readyz`: the database answers and is migrated.
async fn readyz(State(state): State<HttpState>) -> Response {
    match crate::db::readiness(&state.app.db).await {
        Ok(()) => json_response(StatusCode::OK, json!({"ready": true}).to_string()),
        Err(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ready": false, "reason": reason}).to_string(),
        ),
    }
}

/// `GET /metrics`: Prometheus text; with `HELDAR_METRICS_TOKEN` set, only for that bearer token.
async fn metrics(State(state): State<HttpState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.app.config.metrics_token {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests compare in time that says nothing about how much of the token was right.
        use sha2::{Digest, Sha256};
        let matches = Sha256::digest(sent.as_bytes()) == Sha256::digest(token.expose().as_bytes());
        if !matches {
            return crate::http::respond::refusal(
                axum::http::StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "send the metrics token as `Authorization: Bearer <token>`",
            );
        }
    }
    let body = telemetry::render(&state.app).await;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// `POST /bench/echo` (only with `HELDAR_BENCH_ROUTES`): plain axum JSON in and out.
#[cfg(feature = "bench-routes")]
async fn bench_echo(
    axum::Json(value): axum::Json<serde_json::Value>,
) -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "data": { "echo": value } }))
}

/// `POST /bench/graphql-floor` (only with `HELDAR_BENCH_ROUTES`): async-graphql by itself, with
/// none of this server's own work (no token, limits, metrics or extension) but the
/// parsed-document cache: a one-field schema answering `{ serverInfo { version } }` through
/// `Schema::execute`, JSON in and out like `/bench/echo`. What it does per second, against the
/// echo route, is about the ceiling for any GraphQL route of this server on this library (a
/// little under it: this route validates every request, the server skips validating a
/// document it has seen pass).
#[cfg(feature = "bench-routes")]
mod floor {
    use std::sync::LazyLock;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::response::Response;

    use crate::graphql::documents::DocumentCache;
    use crate::http::respond::json_response;

    /// The benchmark's server facts: only a version.
    #[derive(SimpleObject)]
    struct FloorInfo {
        /// A fixed version string.
        version: &'static str,
    }

    /// The benchmark's query root.
    struct FloorQuery;

    #[Object]
    impl FloorQuery {
        /// The fixed facts, resolved without any context lookup.
        async fn server_info(&self) -> FloorInfo {
            FloorInfo {
                version: env!("CARGO_PKG_VERSION"),
            }
        }
    }

    static SCHEMA: LazyLock<Schema<FloorQuery, EmptyMutation, EmptySubscription>> =
        LazyLock::new(|| Schema::new(FloorQuery, EmptyMutation, EmptySubscription));
    static DOCUMENTS: LazyLock<DocumentCache> = LazyLock::new(DocumentCache::default);

    pub(super) async fn serve(body: Bytes) -> Response {
        let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(err) => {
                let body = serde_json::json!({ "error": err.to_string() }).to_string();
                return json_response(StatusCode::BAD_REQUEST, body);
            }
        };
        DOCUMENTS.prepare(&mut request);
        let response = SCHEMA.execute(request).await;
        match serde_json::to_string(&response) {
            Ok(body) => json_response(StatusCode::OK, body),
            Err(err) => {
                let body = serde_json::json!({ "error": err.to_string() }).to_string();
                json_response(StatusCode::INTERNAL_SERVER_ERROR, body)
            }
        }
    }
}
