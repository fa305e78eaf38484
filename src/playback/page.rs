//! `GET /play`: the small player page (sign in, pick a camera, play a recorded range, watch
//! live), and `GET /play/<file>` its assets (hls.js included), embedded at build time so the
//! page works with no internet access.

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use crate::http::respond::{HttpState, embedded_asset, embedded_page};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/play_assets.rs"));
}

/// What the page may load: its own scripts and styles, media from blob: URLs (Media Source
/// Extensions), and calls to this server (GraphQL, playlists, the live websocket).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// The player routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/play", get(page))
        .route("/play/{file}", get(asset))
}

async fn page() -> Response {
    embedded_page(assets::ASSETS, assets::MISSING, CSP, "The player page")
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    embedded_asset(assets::ASSETS, &file, &headers)
}
