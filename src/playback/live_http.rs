//! `GET /media/live/<ticket>/stream` (a websocket of fMP4 for Media Source Extensions) and the
//! HLS live playlist of the same relay: `…/index.m3u8`, `…/init.mp4`, `…/<sequence>.m4s`.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::EntityTrait;
use tokio::sync::broadcast::error::RecvError;

use crate::http::respond::{HttpState, refusal};
use crate::playback::http::admit;
use crate::playback::live::{Closed, LiveFragment, MAX_BEHIND_MS, Relay, stream_url};
use crate::playback::ticket::{Grant, Ticket};

/// The live routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/media/live/{ticket}/stream", get(stream))
        .route("/media/live/{ticket}/index.m3u8", get(playlist))
        .route("/media/live/{ticket}/{file}", get(part))
}

/// How long a new viewer waits for the camera's first bytes.
const FIRST_BYTES: Duration = Duration::from_secs(20);

/// The ticket, its camera's stream URL for the ticket's profile, or the refusal to send.
/// `continuing` names an HLS session whose viewing may go on past the ticket's expiry.
async fn source(
    state: &HttpState,
    token: &str,
    continuing: Option<&Relay>,
) -> Result<(Ticket, String), Response> {
    let (ticket, _) = admit(state, token).await?;
    if ticket.grant != Grant::Live {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this link is not a live link",
        ));
    }
    let live_session = continuing.is_some_and(|r| r.hls_active(Ticket::key(token)));
    if ticket.expires < state.app.clock.now().timestamp() && !live_session {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the link has expired; ask the API for a fresh one",
        ));
    }
    let camera = entity::camera::Entity::find_by_id(ticket.camera_id.clone())
        .one(&state.app.db)
        .await
        .map_err(|_| {
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "database unavailable; retry shortly",
            )
        })?
        .filter(|c| c.enabled)
        .ok_or_else(|| {
            refusal(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "the camera is gone or disabled",
            )
        })?;
    let url = stream_url(&camera, ticket.profile);
    // A camera that refused the login lately is not asked again before its retry is due (it
    // would lock the account); the viewer hears why at once instead of after a wait.
    let retry = state.app.config.refused_login_retry();
    let streaming = || {
        let live = &state.app.watch.live;
        live.existing(&ticket.camera_id, ticket.profile)
            .is_some_and(|relay| relay.streaming())
    };
    if let Some(left) = state.app.streams.refused_for(&url, retry)
        && !streaming()
    {
        return Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &format!(
                "the camera refused the login in its URL (wrong user name or password, or a \
                 locked account): correct the camera's stream URL; it is tried again in {} s",
                left.as_secs().max(1)
            ),
        ));
    }
    Ok((ticket, url))
}

async fn stream(
    State(state): State<HttpState>,
    Path(token): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let (ticket, url) = match source(&state, &token, None).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    // Live sockets have their own budget per credential beside GraphQL's sockets and streams
    // (a video wall holds many), so one ticket cannot open sockets without end.
    let max = state.app.config.live_max_sockets_per_credential as usize;
    let holder = format!("live:{}", ticket.subject.sub);
    let Some(held) = state.app.ws.hold(&holder, max) else {
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            &format!("this credential already holds {max} live video sockets"),
        );
    };
    upgrade.on_upgrade(move |socket| async move {
        watch(state, socket, token, ticket, url).await;
        drop(held);
    })
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Which fragments a viewer gets: from a keyframe on, none older than [`MAX_BEHIND_MS`]; after
/// a skip, the next keyframe, with how many frames were left out.
#[derive(Debug, Default)]
struct Pace {
    /// Not sending until the next fresh keyframe.
    resumed: bool,
    /// The frame after the last one sent.
    next_frame: Option<u64>,
}

impl Pace {
    /// `Some(frames skipped)` when `fragment` is to be sent, `None` to skip it.
    fn admit(&mut self, fragment: &LiveFragment, now_ms: i64) -> Option<u64> {
        if now_ms - fragment.at_ms > MAX_BEHIND_MS {
            self.resumed = false;
            return None;
        }
        if !self.resumed && !fragment.sync {
            return None;
        }
        let dropped = if self.resumed {
            0
        } else {
            self.next_frame
                .map_or(0, |n| fragment.first_frame.saturating_sub(n))
        };
        self.resumed = true;
        self.next_frame = Some(fragment.first_frame + u64::from(fragment.frames));
        Some(dropped)
    }

    /// The broadcast left this viewer behind: wait for the next keyframe.
    fn fell_behind(&mut self) {
        self.resumed = false;
    }
}

/// Why a relay gave a new viewer no stream in time.
fn no_stream(state: &HttpState, url: &str) -> &'static str {
    let retry = state.app.config.refused_login_retry();
    match state.app.streams.refused_for(url, retry) {
        Some(_) => "the camera refused the login in its URL",
        None => "the camera did not answer",
    }
}

/// One websocket viewer: the init segment, then fragments from a keyframe on.
async fn watch(
    state: HttpState,
    mut socket: WebSocket,
    token: String,
    ticket: Ticket,
    url: String,
) {
    let viewer = state
        .app
        .watch
        .live
        .join(&state.app, &ticket.camera_id, ticket.profile, &url);
    let relay = viewer.relay.clone();
    let mut fragments = relay.subscribe();
    let Some(init) = relay.init(FIRST_BYTES).await else {
        let (code, reason) = relay
            .closed_now()
            .map_or((1011, no_stream(&state, &url)), Closed::close_frame);
        let _ = socket.send(close(code, reason)).await;
        return;
    };
    let mut inits = relay.init_changes();
    let hello = serde_json::json!({"type": "init", "mimeType": init.mime});
    if socket.send(text(hello)).await.is_err()
        || socket
            .send(Message::Binary(init.bytes.clone()))
            .await
            .is_err()
    {
        return;
    }
    let mut changes = state.app.auth_cache.changes();
    let every = state.app.auth_cache.ttl().max(Duration::from_secs(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut pace = Pace::default();
    loop {
        tokio::select! {
            received = fragments.recv() => match received {
                Ok(fragment) => {
                    let now = state.app.clock.now().timestamp_millis();
                    let Some(dropped) = pace.admit(&fragment, now) else {
                        continue;
                    };
                    if dropped > 0 {
                        crate::telemetry::live_dropped(dropped);
                        let notice = serde_json::json!({"type": "dropped", "frames": dropped});
                        if socket.send(text(notice)).await.is_err() {
                            return;
                        }
                    }
                    // A socket stuck this long is dead; a merely slow one is skipped ahead instead.
                    let sent = tokio::time::timeout(Duration::from_secs(30), socket.send(Message::Binary(fragment.bytes.clone()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => pace.fell_behind(),
                Err(RecvError::Closed) => {
                    let _ = socket.send(close(1011, "the live relay stopped")).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            Ok(()) = inits.changed() => {
                // The stream ended because the relay was closed, or its camera connection
                // restarted: either way, a new init segment is needed.
                let (code, reason) = relay.closed_now().map_or((1012, "the camera connection restarted; reconnect"), Closed::close_frame);
                let _ = socket.send(close(code, reason)).await;
                return;
            }
            Ok(()) = changes.changed() => {
                if admit(&state, &token).await.is_err() {
                    let _ = socket.send(close(4403, "Forbidden: credential no longer valid")).await;
                    return;
                }
            }
            _ = recheck.tick() => {
                if admit(&state, &token).await.is_err() {
                    let _ = socket.send(close(4403, "Forbidden: credential no longer valid")).await;
                    return;
                }
            }
        }
    }
}

fn relay_for(state: &HttpState, ticket: &Ticket, url: &str, token: &str) -> std::sync::Arc<Relay> {
    let relay = state
        .app
        .watch
        .live
        .relay(&state.app, &ticket.camera_id, ticket.profile, url);
    relay.hls_seen(Ticket::key(token));
    relay
}

fn existing(state: &HttpState, token: &str) -> Option<std::sync::Arc<Relay>> {
    let ticket = Ticket::decode(token, &state.app.media.url_key).ok()?;
    state
        .app
        .watch
        .live
        .existing(&ticket.camera_id, ticket.profile)
}

async fn playlist(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    let running = existing(&state, &token);
    let (ticket, url) = match source(&state, &token, running.as_deref()).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let relay = relay_for(&state, &ticket, &url, &token);
    let parts = relay.parts(FIRST_BYTES).await;
    if parts.is_empty() {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "the camera did not answer yet; retry",
        );
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.apple.mpegurl"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        crate::playback::hls::live(&parts),
    )
        .into_response()
}

async fn part(
    State(state): State<HttpState>,
    Path((token, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let running = existing(&state, &token);
    let (ticket, url) = match source(&state, &token, running.as_deref()).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let relay = relay_for(&state, &ticket, &url, &token);
    let stream = file
        .strip_prefix("init-")
        .and_then(|f| f.strip_suffix(".mp4"))
        .and_then(|n| n.parse::<u64>().ok());
    let bytes = if file == "init.mp4" {
        relay.init(FIRST_BYTES).await.map(|i| i.bytes.clone())
    } else if let Some(stream) = stream {
        relay.stream_init(stream)
    } else {
        file.strip_suffix(".m4s")
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|seq| relay.part(seq))
    };
    let Some(bytes) = bytes else {
        return refusal(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such part (it may have left the live window)",
        );
    };
    let _ = headers;
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("video/mp4")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=30"),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(first_frame: u64, sync: bool, at_ms: i64) -> LiveFragment {
        LiveFragment {
            bytes: bytes::Bytes::new(),
            sync,
            first_frame,
            frames: 5,
            seconds: 0.2,
            at_ms,
        }
    }

    #[test]
    fn a_viewer_starts_on_a_keyframe_and_resumes_on_one_after_falling_behind() {
        let mut pace = Pace::default();
        assert_eq!(pace.admit(&fragment(0, false, 1_000), 1_000), None);
        assert_eq!(pace.admit(&fragment(5, true, 1_200), 1_200), Some(0));
        assert_eq!(pace.admit(&fragment(10, false, 1_400), 1_400), Some(0));
        // Too old by the time its turn comes: skipped, and so is the rest up to a fresh keyframe.
        assert_eq!(pace.admit(&fragment(15, false, 1_600), 5_000), None);
        assert_eq!(pace.admit(&fragment(20, false, 4_900), 5_000), None);
        assert_eq!(pace.admit(&fragment(25, true, 5_000), 5_000), Some(10));
        pace.fell_behind();
        assert_eq!(pace.admit(&fragment(40, true, 5_600), 5_600), Some(10));
    }
}
