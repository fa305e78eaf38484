//! `GET /media/playback/<ticket>/index.m3u8` (the playlist), `…/i/<segment>.mp4` (an init
//! segment) and `…/s/<segment>/<base>.m4s` (a recording's media on the playlist's timeline).
//! Every fetch checks the ticket's signature and the credential behind it as it stands now;
//! the playlist needs an unexpired ticket, while init and media fetches of a viewing in
//! progress (one holding a read lease on this instance) go on past the expiry.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::EntityTrait;

use crate::auth::principal::{Capability, Principal};
use crate::error::AppError;
use crate::footage::model::TimeRange;
use crate::http::respond::{HttpState, refusal};
use crate::playback::serve::{self, Part};
use crate::playback::ticket::{Grant, Ticket};

/// The recorded playback routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/media/playback/{ticket}/index.m3u8", get(playlist))
        .route("/media/playback/{ticket}/i/{file}", get(init))
        .route("/media/playback/{ticket}/s/{segment}/{file}", get(media))
}

fn forbidden(message: &str) -> Response {
    refusal(StatusCode::FORBIDDEN, "FORBIDDEN", message)
}

fn unavailable() -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        "database unavailable; retry shortly",
    )
}

/// Reads the ticket and checks the credential it was issued to, as it stands now: still
/// valid, still allowed to watch, still scoped to the camera.
pub async fn admit(state: &HttpState, token: &str) -> Result<(Ticket, Principal), Response> {
    let ticket = Ticket::decode(token, &state.app.media.url_key).map_err(forbidden)?;
    let principal = match crate::auth::sessions::principal_of(
        &state.app,
        ticket.subject.kind,
        &ticket.subject.sid,
        &ticket.subject.sub,
    )
    .await
    {
        Ok(p) => p,
        Err(AppError::Unavailable(_)) => return Err(unavailable()),
        Err(_) => {
            return Err(forbidden(
                "the credential this link was issued to is no longer valid",
            ));
        }
    };
    if !principal.can(Capability::VideoPlayback) {
        return Err(forbidden("the `video:playback` capability is needed"));
    }
    if !principal.scope.allows(&ticket.camera_id) {
        return Err(forbidden("credential is not scoped to this camera"));
    }
    Ok((ticket, principal))
}

fn expired(state: &HttpState, ticket: &Ticket) -> bool {
    ticket.expires < state.app.clock.now().timestamp()
}

const EXPIRED: &str = "the link has expired; ask the API for a fresh one";

fn window_of(ticket: &Ticket) -> Option<TimeRange> {
    match ticket.grant {
        Grant::Playback { from_ms, to_ms } => Some(TimeRange {
            from: entity::segment::from_ms(from_ms),
            to: entity::segment::from_ms(to_ms),
        }),
        Grant::Live => None,
    }
}

async fn playlist(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    let (ticket, _) = match admit(&state, &token).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let key = Ticket::key(&token);
    if expired(&state, &ticket) && !state.app.watch.leases.renew(key) {
        return forbidden(EXPIRED);
    }
    let Some(window) = window_of(&ticket) else {
        return forbidden("this link is not a playback link");
    };
    let rows = match crate::footage::store::profile_segments_overlapping(
        &state.app.db,
        &ticket.camera_id,
        window,
        ticket.profile.as_str(),
    )
    .await
    {
        Ok(rows) => rows,
        Err(_) => return unavailable(),
    };
    let pieces = match crate::playback::layout::pieces(&state.app, rows).await {
        Ok(pieces) => pieces,
        Err(_) => return unavailable(),
    };
    let ids = pieces.iter().map(|p| p.id.clone()).collect();
    state.app.watch.leases.start(&state.app, key, ids).await;
    let text = crate::playback::hls::vod(&pieces, window.from.timestamp_millis());
    crate::telemetry::playback_playlist();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.apple.mpegurl"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        text,
    )
        .into_response()
}

/// The segment a fetch names, if it belongs to the ticket's camera, profile and window.
async fn segment_of(
    state: &HttpState,
    token: &str,
    segment_id: &str,
) -> Result<crate::playback::layout::Playable, Response> {
    let (ticket, _) = admit(state, token).await?;
    let key = Ticket::key(token);
    if !state.app.watch.leases.renew(key) && expired(state, &ticket) {
        return Err(forbidden(EXPIRED));
    }
    let window = window_of(&ticket).ok_or_else(|| forbidden("this link is not a playback link"))?;
    let row = entity::segment::Entity::find_by_id(segment_id.to_owned())
        .one(&state.app.db)
        .await
        .map_err(|_| unavailable())?;
    let gone = || {
        refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such segment in this playback",
        )
    };
    let row = row.ok_or_else(gone)?;
    let inside = row.camera_id == ticket.camera_id
        && row.profile == ticket.profile.as_str()
        && row.start_ms < window.to.timestamp_millis()
        && row.end_ms > window.from.timestamp_millis();
    if !inside {
        return Err(gone());
    }
    crate::playback::layout::playable(&state.app, &row)
        .await
        .ok_or_else(gone)
}

async fn init(
    State(state): State<HttpState>,
    Path((token, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(segment_id) = file.strip_suffix(".mp4") else {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such init segment");
    };
    let found = match segment_of(&state, &token, segment_id).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let len = found.index.init_len;
    let mut part = Part::File { offset: 0, len };
    // (An init segment over 4 MiB, which no camera writes, is served as it is.)
    if found.index.init.codec.starts_with("hvc1") && len <= 4 << 20 {
        // H.265 recorded as `hev1` is served as `hvc1`, as its codec string says.
        let path = found.path.clone();
        let retagged = tokio::task::spawn_blocking(move || {
            let mut init = vec![0u8; usize::try_from(len).ok()?];
            std::os::unix::fs::FileExt::read_exact_at(
                &std::fs::File::open(path).ok()?,
                &mut init,
                0,
            )
            .ok()?;
            crate::playback::mp4::tag_hevc_for_browsers(&mut init);
            Some(init)
        })
        .await;
        match retagged {
            Ok(Some(init)) => part = Part::Memory(init.into()),
            _ => return unavailable(),
        }
    }
    serve::respond(&headers, found.path, vec![part], "video/mp4")
}

async fn media(
    State(state): State<HttpState>,
    Path((token, segment_id, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(base) = file
        .strip_suffix(".m4s")
        .and_then(|b| b.parse::<u64>().ok())
    else {
        return refusal(StatusCode::NOT_FOUND, "NOT_FOUND", "no such media segment");
    };
    let found = match segment_of(&state, &token, &segment_id).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    match serve::rebased_media(&found.path, &found.index, base).await {
        Ok(parts) => serve::respond(&headers, found.path, parts, "video/iso.segment"),
        Err(_) => refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the segment's file is gone",
        ),
    }
}
