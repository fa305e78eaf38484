//! The HTTP face of the server: one router merging GraphQL, the platform routes and each
//! feature's media routes, with request ids and tracing.

pub mod graphql;
pub mod platform;
pub mod respond;

use axum::Router;
use axum::body::Body;

pub use respond::HttpState;

/// Builds the router.
pub fn router(state: HttpState) -> Router {
    let bench_routes = state.app.config.bench_routes;
    Router::new()
        .merge(graphql::routes())
        .merge(platform::routes(bench_routes))
        .merge(crate::footage::media::routes())
        .merge(crate::evidence::media::routes())
        .merge(crate::ai::frames::routes())
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<Body>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
            })
            .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(tower_http::request_id::MakeRequestUuid))
        .with_state(state)
}
