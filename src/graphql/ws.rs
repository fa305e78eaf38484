//! GraphQL over websockets: `graphql-transport-ws` exactly as its PROTOCOL.md says, and the
//! legacy `graphql-ws` (subscriptions-transport-ws) for older clients.
//!
//! async-graphql's own loop answers with the wrong close codes, has no init timeout, replaces
//! duplicate ids and echoes `complete`, so this module keeps its executor (`execute_stream`) and
//! owns the protocol: frame validation, ack state, ids, timers and close codes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Request, Response, ServerError, Value, Variables};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use serde_json::{Map, Value as Json, json};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior, sleep_until};

use crate::error::{REQUEST_ID, ensure_codes};
use crate::graphql::HeldarSchema;
use crate::graphql::context::RequestAuth;
use crate::graphql::multiplex::{GroupKey, Item, ResumeAfter};
use crate::state::AppState;

/// The modern protocol's subprotocol name.
pub const GRAPHQL_TRANSPORT_WS: &str = "graphql-transport-ws";
/// The legacy (subscriptions-transport-ws) subprotocol name.
pub const GRAPHQL_WS: &str = "graphql-ws";

/// Close codes of graphql-transport-ws.
pub mod close {
    /// Invalid message received.
    pub const BAD_REQUEST: u16 = 4400;
    /// `subscribe` before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// `connection_init` refused, or the access token expired.
    pub const FORBIDDEN: u16 = 4403;
    /// Subprotocol not acceptable.
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// An operation id that is already active.
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
}

/// Which subprotocol the socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws` (graphql-ws ≥ 5).
    TransportWs,
    /// `graphql-ws` (Apollo subscriptions-transport-ws, legacy).
    LegacyWs,
}

impl Protocol {
    /// The protocol for a negotiated subprotocol name.
    pub fn from_name(name: &str) -> Option<Protocol> {
        match name {
            GRAPHQL_TRANSPORT_WS => Some(Protocol::TransportWs),
            GRAPHQL_WS => Some(Protocol::LegacyWs),
            _ => None,
        }
    }
}

/// What `connection_init` resolved to: the caller and when its credential stops being valid.
#[derive(Debug, Clone)]
pub struct ConnectionAuth {
    /// Authentication attached to every operation of the socket.
    pub auth: RequestAuth,
    /// When the socket must be closed with 4403 so the client refreshes its token.
    pub expires_at: Option<Instant>,
    /// The access token, re-checked whenever an operation starts.
    pub token: Option<String>,
}

/// Timing and size settings of a socket.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// How long to wait for `connection_init`.
    pub init_timeout: Duration,
    /// Interval of websocket pings (and legacy `ka` messages).
    pub keepalive: Duration,
}

/// An event from an operation task to the socket loop.
enum Outgoing {
    Next {
        id: String,
        generation: u64,
        response: Response,
    },
    /// A result already serialized (by a shared execution).
    Raw {
        id: String,
        generation: u64,
        payload: Arc<str>,
    },
    Error {
        id: String,
        generation: u64,
        errors: Vec<ServerError>,
    },
    Complete {
        id: String,
        generation: u64,
    },
}

impl Outgoing {
    fn key(&self) -> (&str, u64) {
        match self {
            Outgoing::Next { id, generation, .. }
            | Outgoing::Raw { id, generation, .. }
            | Outgoing::Error { id, generation, .. }
            | Outgoing::Complete { id, generation } => (id, *generation),
        }
    }
}

/// Why the loop stopped.
enum Stop {
    Close(u16, String),
    Gone,
}

/// Serves one socket until it closes; every operation it started is aborted on return.
pub async fn serve(
    socket: WebSocket,
    protocol: Option<Protocol>,
    schema: HeldarSchema,
    state: AppState,
    settings: WsSettings,
) {
    let _connection = state.ws.connection();
    let Some(protocol) = protocol else {
        let mut socket = socket;
        let _ = close_socket(
            &mut socket,
            close::SUBPROTOCOL_NOT_ACCEPTABLE,
            "Subprotocol not acceptable",
        )
        .await;
        return;
    };
    let (tx, rx) = mpsc::channel(64);
    let mut conn = Connection {
        protocol,
        schema,
        state,
        socket,
        auth: None,
        init_received: false,
        ops: HashMap::new(),
        next_generation: 0,
        tasks: JoinSet::new(),
        tx,
        connection_id: uuid::Uuid::new_v4().simple().to_string(),
    };
    let stop = conn.run(rx, settings).await;
    conn.tasks.abort_all();
    match stop {
        Stop::Close(code, reason) => {
            let _ = close_socket(&mut conn.socket, code, &reason).await;
        }
        // Flushes the close reply tungstenite queued for a client-initiated close.
        Stop::Gone => {
            let _ = futures_util::SinkExt::close(&mut conn.socket).await;
        }
    }
}

async fn close_socket(socket: &mut WebSocket, code: u16, reason: &str) -> Result<(), axum::Error> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })))
        .await
}

struct Connection {
    protocol: Protocol,
    schema: HeldarSchema,
    state: AppState,
    socket: WebSocket,
    /// Set once `connection_init` has been accepted (the ack was sent).
    auth: Option<ConnectionAuth>,
    init_received: bool,
    /// Active operations: id → (generation, task). Generations keep a reused id's late
    /// messages from leaking into its successor.
    ops: HashMap<String, (u64, AbortHandle)>,
    next_generation: u64,
    tasks: JoinSet<()>,
    tx: mpsc::Sender<Outgoing>,
    connection_id: String,
}

impl Connection {
    async fn run(&mut self, mut rx: mpsc::Receiver<Outgoing>, settings: WsSettings) -> Stop {
        let init_deadline = Instant::now() + settings.init_timeout;
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + settings.keepalive, settings.keepalive);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut awaiting_pong = false;
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            let expiry = self
                .auth
                .as_ref()
                .and_then(|a| a.expires_at)
                .unwrap_or(far_future);
            tokio::select! {
                message = self.socket.recv() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(_)) | None => return Stop::Gone,
                    };
                    match message {
                        Message::Text(text) => {
                            if let Some(stop) = self.on_text(text.as_str()).await {
                                return stop;
                            }
                        }
                        Message::Binary(_) => return Stop::Close(close::BAD_REQUEST, "Invalid message received".into()),
                        Message::Pong(_) => awaiting_pong = false,
                        Message::Ping(_) => {}
                        Message::Close(_) => return Stop::Gone,
                    }
                }
                Some(out) = rx.recv() => {
                    if let Some(stop) = self.on_outgoing(out).await {
                        return stop;
                    }
                }
                _ = sleep_until(init_deadline), if !self.init_received => {
                    return Stop::Close(close::INIT_TIMEOUT, "Connection initialisation timeout".into());
                }
                _ = sleep_until(expiry), if self.auth.is_some() => {
                    return Stop::Close(close::FORBIDDEN, "Forbidden: access token expired".into());
                }
                _ = keepalive.tick() => {
                    if awaiting_pong {
                        tracing::debug!(connection = %self.connection_id, "websocket missed a pong; dropping it");
                        return Stop::Gone;
                    }
                    awaiting_pong = true;
                    if self.socket.send(Message::Ping(Default::default())).await.is_err() {
                        return Stop::Gone;
                    }
                    if self.protocol == Protocol::LegacyWs && self.auth.is_some() && self.send_json(json!({"type": "ka"})).await.is_err() {
                        return Stop::Gone;
                    }
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
    }

    async fn send_json(&mut self, value: Json) -> Result<(), axum::Error> {
        self.socket
            .send(Message::Text(Utf8Bytes::from(value.to_string())))
            .await
    }

    /// Handles one client text frame; `Some` ends the connection.
    async fn on_text(&mut self, text: &str) -> Option<Stop> {
        let bad = || {
            Some(Stop::Close(
                close::BAD_REQUEST,
                "Invalid message received".into(),
            ))
        };
        let Ok(Json::Object(mut message)) = serde_json::from_str::<Json>(text) else {
            return bad();
        };
        let Some(Json::String(kind)) = message.remove("type") else {
            return bad();
        };
        let legacy = self.protocol == Protocol::LegacyWs;
        match (kind.as_str(), legacy) {
            ("connection_init", _) => {
                let payload = match message.remove("payload") {
                    None | Some(Json::Null) => None,
                    Some(Json::Object(map)) => Some(map),
                    Some(_) => return bad(),
                };
                self.on_init(payload).await
            }
            ("ping", false) => {
                let mut pong = json!({"type": "pong"});
                if let Some(payload) = message.remove("payload") {
                    pong["payload"] = payload;
                }
                self.send_json(pong).await.err().map(|_| Stop::Gone)
            }
            ("pong", false) => None,
            ("subscribe", false) | ("start", true) => {
                let Some(Json::String(id)) = message.remove("id") else {
                    return bad();
                };
                if id.is_empty() {
                    return bad();
                }
                let Some(payload) = message.remove("payload").and_then(parse_payload) else {
                    return bad();
                };
                self.on_subscribe(id, payload).await
            }
            ("complete", false) | ("stop", true) => {
                let Some(Json::String(id)) = message.remove("id") else {
                    return bad();
                };
                if let Some((_, handle)) = self.ops.remove(&id) {
                    handle.abort();
                    if legacy
                        && self
                            .send_json(json!({"type": "complete", "id": id}))
                            .await
                            .is_err()
                    {
                        return Some(Stop::Gone);
                    }
                }
                None
            }
            ("connection_terminate", true) => Some(Stop::Close(1000, "Normal Closure".into())),
            _ => bad(),
        }
    }

    async fn on_init(&mut self, payload: Option<Map<String, Json>>) -> Option<Stop> {
        if self.init_received {
            return Some(Stop::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".into(),
            ));
        }
        self.init_received = true;
        match crate::auth::connection_init(&self.state, payload).await {
            Ok(auth) => {
                self.auth = Some(auth);
                self.send_json(json!({"type": "connection_ack"}))
                    .await
                    .err()
                    .map(|_| Stop::Gone)
            }
            Err(err) => {
                tracing::info!(connection = %self.connection_id, reason = %err, "websocket connection_init refused");
                if self.protocol == Protocol::LegacyWs {
                    let _ = self.send_json(json!({"type": "connection_error", "payload": {"message": err.to_string()}})).await;
                }
                Some(Stop::Close(close::FORBIDDEN, "Forbidden".into()))
            }
        }
    }

    async fn on_subscribe(&mut self, id: String, payload: Payload) -> Option<Stop> {
        let Some(auth) = &self.auth else {
            return Some(Stop::Close(close::UNAUTHORIZED, "Unauthorized".into()));
        };
        if self.ops.contains_key(&id) {
            return Some(Stop::Close(
                close::SUBSCRIBER_EXISTS,
                format!("Subscriber for {id} already exists"),
            ));
        }
        let auth = match crate::auth::recheck(&self.state, auth).await {
            Ok(auth) => auth,
            Err(err) => {
                tracing::info!(connection = %self.connection_id, reason = %err, "websocket credential no longer valid");
                return Some(Stop::Close(
                    close::FORBIDDEN,
                    "Forbidden: credential no longer valid".into(),
                ));
            }
        };
        self.next_generation += 1;
        let generation = self.next_generation;
        let tx = self.tx.clone();
        let task_id = id.clone();
        let request_id = format!("{}/{}", self.connection_id, id);
        let guard = self.state.ws.operation();
        let schema = self.schema.clone();
        let key = GroupKey::of(
            &payload.query,
            payload.operation_name.as_deref(),
            payload.variables.as_ref(),
            &auth,
        );
        let handle = match key {
            // Identical live subscriptions share one execution.
            Some(key) => {
                let multiplex = self.state.multiplex.clone();
                let membership = multiplex.join(key, |probe| {
                    schema.execute_stream(payload.request().data(auth.clone()).data(probe))
                });
                self.tasks.spawn(REQUEST_ID.scope(request_id, async move {
                    let _running = guard;
                    let id = task_id;
                    let mut membership = membership;
                    let mut last = membership.joined_after;
                    loop {
                        let item = match membership.receiver.recv().await {
                            Ok(item) => item,
                            // Too far behind the group, or the group stopped without a
                            // final item: go on alone from the last event received.
                            Err(_) => break,
                        };
                        let out = match &*item {
                            Item::Next { seq, payload } => {
                                if *seq != 0 {
                                    if *seq <= last {
                                        continue;
                                    }
                                    last = *seq;
                                }
                                Outgoing::Raw {
                                    id: id.clone(),
                                    generation,
                                    payload: payload.clone(),
                                }
                            }
                            Item::Error(errors) => Outgoing::Error {
                                id: id.clone(),
                                generation,
                                errors: errors.clone(),
                            },
                            Item::Complete => Outgoing::Complete {
                                id: id.clone(),
                                generation,
                            },
                            // The shared execution died: go on alone.
                            Item::Abandoned => break,
                        };
                        let done = !matches!(out, Outgoing::Raw { .. });
                        if tx.send(out).await.is_err() || done {
                            return;
                        }
                    }
                    // Resume after the last event received, or, with none received, after
                    // where the group started live; a group that never started cannot have
                    // been missed.
                    let resume = if last > 0 {
                        Some(last)
                    } else {
                        membership.group.start()
                    };
                    drop(membership);
                    multiplex.departed();
                    tracing::debug!(
                        last,
                        "subscriber left its shared execution to catch up alone"
                    );
                    let mut request = payload.request().data(auth);
                    if let Some(seq) = resume {
                        request = request.data(ResumeAfter(seq));
                    }
                    forward(schema.execute_stream(request), tx, id, generation).await;
                }))
            }
            None => {
                let stream = schema.execute_stream(payload.request().data(auth));
                self.tasks.spawn(REQUEST_ID.scope(request_id, async move {
                    let _running = guard;
                    forward(stream, tx, task_id, generation).await;
                }))
            }
        };
        self.ops.insert(id, (generation, handle));
        None
    }

    async fn on_outgoing(&mut self, out: Outgoing) -> Option<Stop> {
        let (id, generation) = out.key();
        match self.ops.get(id) {
            Some((active, _)) if *active == generation => {}
            // Completed by the client, or a late message of an earlier use of the id.
            _ => return None,
        }
        let legacy = self.protocol == Protocol::LegacyWs;
        let frame = match out {
            Outgoing::Next { id, response, .. } => {
                let payload = serde_json::to_string(&response).unwrap_or_else(|_| "null".into());
                return self.send_result(&id, &payload).await;
            }
            Outgoing::Raw { id, payload, .. } => return self.send_result(&id, &payload).await,
            Outgoing::Error { id, errors, .. } => {
                self.finish(&id);
                let payload = serde_json::to_value(&errors).unwrap_or(Json::Null);
                if legacy {
                    // subscriptions-transport-ws sends errors inside `data`, then `complete`.
                    let frame = json!({"type": "data", "id": id, "payload": {"data": null, "errors": payload}});
                    if self.send_json(frame).await.is_err() {
                        return Some(Stop::Gone);
                    }
                    json!({"type": "complete", "id": id})
                } else {
                    json!({"type": "error", "id": id, "payload": payload})
                }
            }
            Outgoing::Complete { id, .. } => {
                self.finish(&id);
                json!({"type": "complete", "id": id})
            }
        };
        self.send_json(frame).await.err().map(|_| Stop::Gone)
    }

    /// Sends `next` (`data` on the legacy protocol) with an already serialized payload.
    async fn send_result(&mut self, id: &str, payload: &str) -> Option<Stop> {
        let kind = if self.protocol == Protocol::LegacyWs {
            "data"
        } else {
            "next"
        };
        let id = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into());
        let frame = format!(r#"{{"type":"{kind}","id":{id},"payload":{payload}}}"#);
        self.socket
            .send(Message::Text(Utf8Bytes::from(frame)))
            .await
            .err()
            .map(|_| Stop::Gone)
    }

    fn finish(&mut self, id: &str) {
        self.ops.remove(id);
    }
}

/// Sends a stream's results to the socket loop: a failure before execution as `error`, then
/// every result, then `complete`.
async fn forward(
    stream: impl futures_util::Stream<Item = Response>,
    tx: mpsc::Sender<Outgoing>,
    id: String,
    generation: u64,
) {
    let mut stream = std::pin::pin!(stream);
    let mut first = true;
    while let Some(mut response) = stream.next().await {
        ensure_codes(&mut response.errors);
        if first && is_request_error(&response) {
            let _ = tx
                .send(Outgoing::Error {
                    id,
                    generation,
                    errors: response.errors,
                })
                .await;
            return;
        }
        first = false;
        if tx
            .send(Outgoing::Next {
                id: id.clone(),
                generation,
                response,
            })
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = tx.send(Outgoing::Complete { id, generation }).await;
}

/// A response that failed before execution: no data and no error tied to a field.
pub(crate) fn is_request_error(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The `payload` of `subscribe`/`start`.
struct Payload {
    query: String,
    operation_name: Option<String>,
    variables: Option<Json>,
}

impl Payload {
    /// A fresh request for the operation (one per execution).
    fn request(&self) -> Request {
        let mut request = Request::new(self.query.clone());
        if let Some(name) = &self.operation_name {
            request = request.operation_name(name.clone());
        }
        if let Some(variables) = &self.variables {
            request = request.variables(Variables::from_json(variables.clone()));
        }
        request
    }
}

/// Reads `{query, operationName?, variables?, extensions?}`.
fn parse_payload(payload: Json) -> Option<Payload> {
    let Json::Object(mut payload) = payload else {
        return None;
    };
    let Some(Json::String(query)) = payload.remove("query") else {
        return None;
    };
    let operation_name = match payload.remove("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(name)) => Some(name),
        Some(_) => return None,
    };
    let variables = match payload.remove("variables") {
        None | Some(Json::Null) => None,
        Some(variables @ Json::Object(_)) => Some(variables),
        Some(_) => return None,
    };
    match payload.remove("extensions") {
        None | Some(Json::Null) | Some(Json::Object(_)) => {}
        Some(_) => return None,
    }
    Some(Payload {
        query,
        operation_name,
        variables,
    })
}
