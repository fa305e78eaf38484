//! The HTTP face of the server: one router merging GraphQL, the platform routes and each
//! feature's media routes, with request ids and tracing.

pub mod graphql;
pub mod platform;
pub mod respond;
pub mod sse;

use axum::Router;
use axum::body::Body;

pub use respond::{HttpShared, HttpState};

/// Builds the router.
pub fn router(state: HttpState) -> Router {
    let bench_routes = state.app.config.bench_routes;
    let cors = cors(&state.app.config.allowed_origins());
    Router::new()
        .merge(graphql::routes(std::time::Duration::from_secs(
            state.app.config.request_timeout_secs,
        )))
        .merge(sse::routes())
        .merge(platform::routes(bench_routes))
        .merge(crate::footage::media::routes())
        .merge(crate::playback::routes())
        .merge(crate::console::routes())
        .merge(crate::evidence::media::routes())
        .merge(crate::ai::frames::routes())
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<Body>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // A playback or live ticket in the path is a credential: such routes are logged
                // by their template (and a path under them that matched no route, without the
                // rest), every other one by its path.
                let raw = request.uri().path();
                let path = match request.extensions().get::<axum::extract::MatchedPath>() {
                    Some(route) if route.as_str().contains("{ticket}") => route.as_str(),
                    Some(_) => raw,
                    None if raw.starts_with("/media/live/") => "/media/live/{ticket}/…",
                    None if raw.starts_with("/media/playback/") => "/media/playback/{ticket}/…",
                    None => raw,
                };
                tracing::info_span!("http", method = %request.method(), path = %path, request_id = %request_id)
            })
            .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(cors)
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(tower_http::request_id::MakeRequestUuid))
        .with_state(state)
}

/// CORS for the operator's allow-list of origins (`HELDAR_CORS_ORIGINS`). Credentials are
/// bearer tokens in a header, never cookies, so no credentialed CORS: a listed page may send
/// `Authorization` and JSON, and learns nothing a token would not give it. Preflights are
/// cached for ten minutes. With no origin listed nothing is added, so browsers keep every other
/// origin out.
fn cors(
    origins: &[String],
) -> tower::util::Either<tower_http::cors::CorsLayer, tower::layer::util::Identity> {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::CONTENT_DISPOSITION,
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600));
    tower::util::Either::Left(layer)
}
