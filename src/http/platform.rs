//! Operating the server: `/healthz`, `/readyz`, `/metrics`, and the benchmark's echo route.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::http::respond::{HttpState, json_response};
use crate::telemetry;

/// The platform routes; `/bench/echo` too when built with the `bench-routes` feature and
/// `HELDAR_BENCH_ROUTES` is set.
pub fn routes(bench_routes: bool) -> Router<HttpState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    #[cfg(feature = "bench-routes")]
    if bench_routes {
        return router.route("/bench/echo", axum::routing::post(bench_echo));
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
