//! GraphQL over Server-Sent Events (the graphql-sse protocol, distinct connections mode):
//! `POST /graphql/stream` with a JSON body, or `GET` with the request in the URL for
//! `EventSource`-style clients. One operation per connection; results come as `next` events
//! and end with `complete`; request errors come as a `next` carrying them, then `complete`.
//!
//! The same rules as the websocket: a bearer token in `Authorization`, trusted documents, the
//! per-credential cap on open streams (shared with websockets), the rate limit, the response
//! size limit, and the stream ends once its credential is revoked, changed or expired. Event-log
//! results carry `id: <cursor>`, so a client reconnecting with `Last-Event-ID` resumes exactly
//! where it was, as `after` does.

use std::convert::Infallible;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Limited};
use tokio::sync::mpsc;

use crate::auth::principal::RequestAuth;
use crate::error::{REQUEST_ID, codes, ensure_codes, request_error};
use crate::graphql::multiplex::{ResumeAfter, SeqProbe};
use crate::graphql::paging::{decode_cursor, encode_cursor};
use crate::graphql::shape::selected;
use crate::http::graphql::{peer_address, prepare};
use crate::http::respond::{HttpState, refusal};

/// The SSE routes.
pub fn routes() -> Router<HttpState> {
    Router::new().route("/graphql/stream", get(stream_get).post(stream_post))
}

/// Whether the client accepts an event stream.
fn accepts_events(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
}

fn not_acceptable() -> Response {
    refusal(
        StatusCode::NOT_ACCEPTABLE,
        codes::BAD_REQUEST,
        "send `Accept: text/event-stream` (GraphQL over SSE); plain requests go to /graphql",
    )
}

/// `POST /graphql/stream`: the GraphQL request as JSON.
async fn stream_post(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !accepts_events(&headers) {
        return not_acceptable();
    }
    let limit = state.app.config.max_body_bytes as usize;
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                &format!("request body exceeds {limit} bytes or could not be read"),
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(err) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                codes::BAD_REQUEST,
                &format!("body is not one GraphQL request (batches are not streamed): {err}"),
            );
        }
    };
    stream(state, headers, peer_address(peer), request, false).await
}

/// `GET /graphql/stream?query=…&variables=…`: for clients that cannot POST (`EventSource`);
/// mutations are refused.
async fn stream_get(
    State(state): State<HttpState>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !accepts_events(&headers) {
        return not_acceptable();
    }
    match async_graphql::http::parse_query_string(query.as_deref().unwrap_or("")) {
        Ok(request) => stream(state, headers, peer_address(peer), request, true).await,
        Err(err) => refusal(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            &format!("invalid GraphQL GET request: {err}"),
        ),
    }
}

/// An SSE `next` event carrying a response, with its cursor as the event id when it has one.
fn next_event(response: &async_graphql::Response, seq: i64, max: u64) -> Event {
    let body = match serde_json::to_string(response) {
        Ok(body) if body.len() as u64 > max => {
            let error = crate::error::response_too_large(body.len(), max);
            serde_json::to_string(&async_graphql::Response::from_errors(vec![error]))
                .unwrap_or_default()
        }
        Ok(body) => body,
        Err(_) => String::from(r#"{"errors":[{"message":"could not encode the result"}]}"#),
    };
    let event = Event::default();
    let event = if seq > 0 {
        event.id(encode_cursor(&seq.to_string()))
    } else {
        event
    };
    event.event("next").data(body)
}

fn complete_event() -> Event {
    Event::default().event("complete").data("")
}

/// A `next` carrying request-level errors, then `complete`: how the protocol reports a request
/// that cannot run, so `EventSource` clients see why.
fn refused_stream(errors: Vec<async_graphql::ServerError>) -> Response {
    let response = async_graphql::Response::from_errors(errors);
    let events = vec![
        Ok::<_, Infallible>(next_event(&response, 0, u64::MAX)),
        Ok(complete_event()),
    ];
    sse(futures_util::stream::iter(events))
}

fn sse(
    events: impl futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// What a stream runs with once admitted.
struct Admitted {
    auth: crate::auth::ConnectionAuth,
    holder: crate::state::HolderGuard,
    prepared: crate::http::graphql::Prepared,
    request: async_graphql::Request,
}

/// The credential (held to the websocket's rules), the stream cap, trusted documents, no
/// sign-ins, no mutations over GET, and `Last-Event-ID`; `Err` is the answer to send instead.
async fn admit(
    state: &HttpState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    via_get: bool,
) -> Result<Admitted, Response> {
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "send `Authorization: Bearer <access token>`",
        ));
    };
    let mut init = serde_json::Map::new();
    init.insert("authorization".into(), authorization.into());
    let auth = crate::auth::connection_init(&state.app, Some(init))
        .await
        .map_err(|err| refusal(StatusCode::UNAUTHORIZED, err.code(), &err.to_string()))?;
    let RequestAuth::Authenticated(principal) = auth.auth.clone() else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "no credential",
        ));
    };
    let max = state.app.config.ws_max_sockets_per_credential as usize;
    let Some(holder) = state.app.ws.hold(&principal.id, max) else {
        return Err(refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            &format!("this credential already holds {max} open streams and websockets"),
        ));
    };
    if let Err(refused) = state.persisted.resolve(&mut request) {
        return Err(refused_stream(vec![refused.to_error()]));
    }
    let prepared = prepare(state, &mut request);
    if let Err(refused) = state.persisted.admit(&auth.auth, &request.query, false) {
        return Err(refused_stream(vec![refused.to_error()]));
    }
    if prepared.root.sign_ins() > 0 {
        return Err(refused_stream(vec![request_error(
            codes::BAD_REQUEST,
            "sign in over POST /graphql; streams carry no sign-in fields",
        )]));
    }
    if via_get {
        let operation_name = request.operation_name.clone();
        let ty = request
            .parsed_query()
            .ok()
            .and_then(|d| selected(d, operation_name.as_deref()).map(|op| op.ty));
        if ty == Some(OperationType::Mutation) {
            return Err(refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::METHOD_NOT_ALLOWED,
                "mutations may not be sent over GET; use POST",
            ));
        }
    }
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        match decode_cursor(last)
            .ok()
            .and_then(|raw| raw.parse::<i64>().ok())
        {
            Some(seq) => request = request.data(ResumeAfter(seq)),
            None => {
                return Err(refused_stream(vec![request_error(
                    codes::BAD_REQUEST,
                    "Last-Event-ID is not an event id this server sent",
                )]));
            }
        }
    }
    Ok(Admitted {
        auth,
        holder,
        prepared,
        request,
    })
}

async fn stream(
    state: HttpState,
    headers: HeaderMap,
    address: Option<std::net::IpAddr>,
    request: async_graphql::Request,
    via_get: bool,
) -> Response {
    let admitted = match admit(&state, &headers, request, via_get).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let probe = SeqProbe::default();
    let source = (
        std::sync::Arc::<str>::from(admitted.request.query.as_str()),
        admitted.request.operation_name.clone(),
    );
    let mut request = admitted
        .request
        .data(probe.clone())
        .data(admitted.auth.auth.clone());
    if let Some(address) = address {
        request = request.data(crate::auth::throttle::ClientAddress(address));
    }
    let schema = state
        .schemas
        .for_document(admitted.prepared.introspection)
        .clone();
    let responses = schema.execute_stream(request);
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let run = Run {
        app: state.app.clone(),
        roots: state.schemas.non_null_roots.clone(),
        auth: admitted.auth,
        holder: admitted.holder,
        root: admitted.prepared.root,
        probe,
        source,
    };
    tokio::spawn(REQUEST_ID.scope(request_id, run.drive(responses, tx)));
    sse(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Why a stream's credential no longer stands, if it does not.
async fn revoked(
    app: &crate::state::AppState,
    auth: &crate::auth::ConnectionAuth,
) -> Option<&'static str> {
    crate::auth::still_valid(app, auth)
        .await
        .err()
        .map(|_| "the credential behind this stream was revoked or changed; sign in again")
}

/// A running stream.
struct Run {
    app: crate::state::AppState,
    roots: std::sync::Arc<crate::graphql::shape::NonNullRoots>,
    auth: crate::auth::ConnectionAuth,
    holder: crate::state::HolderGuard,
    root: crate::graphql::shape::RootShape,
    probe: SeqProbe,
    /// The document and operation name, to name the argument of a value that did not parse.
    source: (std::sync::Arc<str>, Option<String>),
}

impl Run {
    /// Sends every result as `next`, then `complete`; stops when the client goes, and ends
    /// with an UNAUTHENTICATED `next` once the credential is revoked, changed or expired.
    async fn drive(
        self,
        responses: impl futures_util::Stream<Item = async_graphql::Response>,
        tx: mpsc::Sender<Result<Event, Infallible>>,
    ) {
        let _holder = self.holder;
        let _counted = self.app.ws.operation();
        let max_bytes = self.app.config.max_response_bytes;
        let mut responses = std::pin::pin!(responses);
        let mut changes = self.app.auth_cache.changes();
        let mut recheck = crate::auth::Recheck::new(&self.app);
        let expiry = self
            .auth
            .expires_at
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        loop {
            let ending: Option<&str> = tokio::select! {
                () = tx.closed() => return,
                next = responses.next() => match next {
                    Some(mut response) => {
                        self.roots.propagate(&mut response, &self.root);
                        crate::graphql::shape::name_unparsed_arguments(
                            &self.source.0,
                            self.source.1.as_deref(),
                            &mut response.errors,
                        );
                        ensure_codes(&mut response.errors);
                        let event = next_event(&response, self.probe.get(), max_bytes);
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                        None
                    }
                    None => {
                        let _ = tx.send(Ok(complete_event())).await;
                        return;
                    }
                },
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    revoked(&self.app, &self.auth).await
                }
                // A revocation made by another instance sharing the database.
                () = recheck.tick() => revoked(&self.app, &self.auth).await,
                () = tokio::time::sleep_until(expiry) => {
                    Some("the access token expired; refresh it and reconnect with Last-Event-ID")
                }
            };
            if let Some(reason) = ending {
                let error = request_error("UNAUTHENTICATED", reason);
                let response = async_graphql::Response::from_errors(vec![error]);
                let _ = tx.send(Ok(next_event(&response, 0, max_bytes))).await;
                let _ = tx.send(Ok(complete_event())).await;
                return;
            }
        }
    }
}
