//! The operator console: `GET /` serves its page and `GET /console/<file>` its bundle and
//! styles (TypeScript + Preact under `web/console/`, built by `npm run build --prefix web` and
//! embedded at build time, so it works with no internet access). It talks to the server only
//! through the public GraphQL API, like any other front-end.

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use crate::http::respond::{HttpState, embedded_asset, embedded_page};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// Its own script and styles; media from this server and blob: URLs (MSE); GraphQL and the
/// websockets to this server. Styles set from script (positions on the timeline) are not
/// inline styles.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// The console routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(page))
        .route("/console/{file}", get(asset))
}

async fn page() -> Response {
    embedded_page(assets::ASSETS, assets::MISSING, CSP, "The console")
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    embedded_asset(assets::ASSETS, &file, &headers)
}
