//! Watching footage: recorded playback as HLS built from the index ([`hls`], [`http`]), live
//! view through one relay per camera and profile ([`live`], [`live_http`]), thumbnails and
//! scrubber previews ([`previews`]), the signed tickets their URLs carry ([`ticket`]), and the
//! read leases that keep watched footage from retention ([`lease`]); and the small player page
//! at `/play` ([`page`]).

pub mod graphql;
pub mod hls;
pub mod http;
pub mod layout;
pub mod lease;
pub mod live;
pub mod live_http;
pub mod model;
pub mod mp4;
pub mod page;
pub mod previews;
pub mod serve;
pub mod ticket;

/// What watching shares across requests.
#[derive(Debug, Default)]
pub struct Watch {
    /// Read leases of recorded playbacks in progress.
    pub leases: lease::Leases,
    /// Live relays and their viewers.
    pub live: live::Hub,
}

/// The media routes of watching.
pub fn routes() -> axum::Router<crate::http::respond::HttpState> {
    axum::Router::new()
        .merge(http::routes())
        .merge(live_http::routes())
        .merge(previews::routes())
        .merge(page::routes())
}
