//! GraphQL over websockets: `graphql-transport-ws` exactly as its PROTOCOL.md says, and the
//! legacy `graphql-ws` (subscriptions-transport-ws) for older clients.
//!
//! async-graphql's own loop answers with the wrong close codes, has no init timeout, replaces
//! duplicate ids and echoes `complete`, so this module keeps its executor (`execute_stream`) and
//! owns the protocol: frame validation, ack state, ids, timers and close codes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use serde_json::{Map, Value as Json, json};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior, sleep_until};

pub mod operation;
pub mod protocol;

use crate::auth::ConnectionAuth;
use crate::auth::principal::RequestAuth;
use crate::error::REQUEST_ID;
use crate::graphql::multiplex::GroupKey;
use crate::graphql::persisted::PersistedDocuments;
use crate::graphql::shape::{RootShape, introspection_only};
use crate::schema::{HeldarSchema, Schemas};
use crate::state::AppState;

use operation::{Nulls, Outgoing, forward};
pub use protocol::{GRAPHQL_TRANSPORT_WS, GRAPHQL_WS, Protocol, close};
use protocol::{Payload, close_socket, parse_payload};

/// Timing and size settings of a socket.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// How long to wait for `connection_init`.
    pub init_timeout: Duration,
    /// Interval of websocket pings (and legacy `ka` messages).
    pub keepalive: Duration,
}

/// The error for an operation that signs in: that happens over HTTP, where each request is
/// counted and its client address throttled, never over a socket.
fn sign_in_refused(root: &RootShape) -> Option<async_graphql::ServerError> {
    if root.sign_ins() == 0 {
        return None;
    }
    Some(crate::error::request_error(
        crate::error::codes::BAD_REQUEST,
        "sign in over HTTP (login, refreshSession, exchangeApiKey), not over a websocket",
    ))
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
    schemas: Schemas,
    persisted: Arc<PersistedDocuments>,
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
        schemas,
        persisted,
        state,
        socket,
        auth: None,
        init_received: false,
        ops: HashMap::new(),
        next_generation: 0,
        tasks: JoinSet::new(),
        tx,
        connection_id: uuid::Uuid::new_v4().simple().to_string(),
        holder: None,
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

struct Connection {
    protocol: Protocol,
    schemas: Schemas,
    persisted: Arc<PersistedDocuments>,
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
    /// Counts this socket against its credential holder's cap once acknowledged.
    holder: Option<crate::state::HolderGuard>,
}

impl Connection {
    async fn run(&mut self, mut rx: mpsc::Receiver<Outgoing>, settings: WsSettings) -> Stop {
        let init_deadline = Instant::now() + settings.init_timeout;
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + settings.keepalive, settings.keepalive);
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut awaiting_pong = false;
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
        // Revocation reaches open sockets: at once for a change made on this instance, within
        // the auth cache's lifetime for one made on another.
        let mut changes = self.state.auth_cache.changes();
        let mut recheck = crate::auth::Recheck::new(&self.state);
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
                Ok(()) = changes.changed(), if self.auth.is_some() => {
                    if let Some(stop) = self.revoked().await {
                        return stop;
                    }
                }
                () = recheck.tick(), if self.auth.is_some() => {
                    if let Some(stop) = self.revoked().await {
                        return stop;
                    }
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

    /// The error for a `subscribe` beyond `HELDAR_WS_MAX_OPERATIONS`, if the socket is full.
    fn operations_full(&self) -> Option<async_graphql::ServerError> {
        if self.ops.len() < self.state.config.ws_max_operations as usize {
            return None;
        }
        Some(crate::error::request_error(
            "TOO_MANY_OPERATIONS",
            format!(
                "this socket already runs {} operations, its limit; complete one first",
                self.ops.len()
            ),
        ))
    }

    /// `Some` (close with 4403) when the socket's credential was revoked or changed.
    async fn revoked(&mut self) -> Option<Stop> {
        let auth = self.auth.clone()?;
        let state = self.state.clone();
        let reason = crate::auth::still_valid(&state, &auth).await.err()?;
        tracing::info!(connection = %self.connection_id, %reason, "websocket credential no longer valid; closing");
        Some(Stop::Close(
            close::FORBIDDEN,
            "Forbidden: credential no longer valid".into(),
        ))
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
                let payload = message.remove("payload");
                let reauth = payload
                    .as_ref()
                    .and_then(|p| p.get("authorization"))
                    .is_some();
                if reauth && self.auth.is_some() {
                    return self.on_reauthenticate(payload).await;
                }
                let mut pong = json!({"type": "pong"});
                if let Some(payload) = payload {
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
                if let RequestAuth::Authenticated(p) = &auth.auth {
                    let max = self.state.config.ws_max_sockets_per_credential as usize;
                    self.holder = self.state.ws.hold(&p.id, max);
                    if self.holder.is_none() {
                        return Some(Stop::Close(
                            close::POLICY_VIOLATION,
                            "Too many websockets for this credential".into(),
                        ));
                    }
                }
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

    /// A `ping` carrying `{"authorization": "Bearer <new token>"}` on an acknowledged socket
    /// swaps the socket's credential for the refreshed one before the old expires, so its
    /// subscriptions go on without a reconnect. The `pong` says when the new token expires; a
    /// token that does not verify, that belongs to another user or key, or whose role or
    /// cameras differ from the socket's, closes with 4403.
    async fn on_reauthenticate(&mut self, payload: Option<Json>) -> Option<Stop> {
        let payload = match payload {
            Some(Json::Object(map)) => Some(map),
            _ => None,
        };
        let refused = || {
            Some(Stop::Close(
                close::FORBIDDEN,
                "Forbidden: the new token was refused".into(),
            ))
        };
        let Ok(auth) = crate::auth::connection_init(&self.state, payload).await else {
            return refused();
        };
        let (same_holder, same_grants) = match (&self.auth.as_ref()?.auth, &auth.auth) {
            (RequestAuth::Authenticated(old), RequestAuth::Authenticated(new)) => (
                old.id == new.id && old.kind == new.kind,
                old.role == new.role && old.scope == new.scope,
            ),
            _ => (false, false),
        };
        if !same_holder {
            return refused();
        }
        // Subscriptions already running were admitted under the old role and cameras: a
        // credential that now grants something else reconnects and subscribes afresh.
        if !same_grants {
            return Some(Stop::Close(
                close::FORBIDDEN,
                "Forbidden: the credential's role or cameras changed; reconnect".into(),
            ));
        }
        let expires_at = match &auth.auth {
            RequestAuth::Authenticated(p) => p.expires_at.to_rfc3339(),
            _ => String::new(),
        };
        self.auth = Some(auth);
        let pong = json!({"type": "pong", "payload": {"authorization": "accepted", "expiresAt": expires_at}});
        self.send_json(pong).await.err().map(|_| Stop::Gone)
    }

    /// What the document asks for decides the schema (introspection runs without the depth
    /// limit) and how a failed non-null root field nulls `data`.
    fn plan(&self, payload: &Payload) -> (HeldarSchema, Nulls) {
        let (introspection, root) = match async_graphql::parser::parse_query(&payload.query) {
            Ok(doc) => {
                let name = payload.operation_name.as_deref();
                (introspection_only(&doc, name), RootShape::of(&doc, name))
            }
            Err(_) => (false, RootShape::default()),
        };
        let nulls = Nulls {
            roots: self.schemas.non_null_roots.clone(),
            root,
            source: (
                Arc::from(payload.query.as_str()),
                payload.operation_name.clone(),
            ),
        };
        (self.schemas.for_document(introspection).clone(), nulls)
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
        if let Some(full) = self.operations_full() {
            return self.send_error(&id, &[full]).await;
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
        // Nothing over the socket signs in: that happened in `connection_init`.
        if let Err(refusal) = self.persisted.admit(&auth, &payload.query, false) {
            return self.send_error(&id, &[refusal.to_error()]).await;
        }
        let (schema, nulls) = self.plan(&payload);
        if let Some(refused) = sign_in_refused(&nulls.root) {
            return self.send_error(&id, &[refused]).await;
        }
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
                    let Some(resume) = membership.forward(&tx, &task_id, generation).await else {
                        return;
                    };
                    multiplex.departed();
                    let mut request = payload.request().data(auth);
                    if let Some(seq) = resume {
                        request = request.data(seq);
                    }
                    forward(
                        schema.execute_stream(request),
                        tx,
                        task_id,
                        generation,
                        nulls,
                    )
                    .await;
                }))
            }
            None => {
                let stream = schema.execute_stream(payload.request().data(auth));
                self.tasks.spawn(REQUEST_ID.scope(request_id, async move {
                    let _running = guard;
                    forward(stream, tx, task_id, generation, nulls).await;
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
        let frame = match out {
            Outgoing::Next { id, response, .. } => {
                let payload = serde_json::to_string(&response).unwrap_or_else(|_| "null".into());
                return self.send_result(&id, &payload).await;
            }
            Outgoing::Raw { id, payload, .. } => return self.send_result(&id, &payload).await,
            Outgoing::Error { id, errors, .. } => {
                self.finish(&id);
                return self.send_error(&id, &errors).await;
            }
            Outgoing::Complete { id, .. } => {
                self.finish(&id);
                json!({"type": "complete", "id": id})
            }
        };
        self.send_json(frame).await.err().map(|_| Stop::Gone)
    }

    /// Sends an operation's `error` (on the legacy protocol, the errors in `data`, then
    /// `complete`).
    async fn send_error(
        &mut self,
        id: &str,
        errors: &[async_graphql::ServerError],
    ) -> Option<Stop> {
        let payload = serde_json::to_value(errors).unwrap_or(Json::Null);
        let frame = if self.protocol == Protocol::LegacyWs {
            let frame =
                json!({"type": "data", "id": id, "payload": {"data": null, "errors": payload}});
            if self.send_json(frame).await.is_err() {
                return Some(Stop::Gone);
            }
            json!({"type": "complete", "id": id})
        } else {
            json!({"type": "error", "id": id, "payload": payload})
        };
        self.send_json(frame).await.err().map(|_| Stop::Gone)
    }

    /// Sends `next` (`data` on the legacy protocol) with an already serialized payload.
    async fn send_result(&mut self, id: &str, payload: &str) -> Option<Stop> {
        let limit = self.state.config.max_response_bytes;
        if payload.len() as u64 > limit {
            // As over HTTP: nothing of it is sent, and the operation ends.
            let error = crate::error::response_too_large(payload.len(), limit);
            if let Some((_, handle)) = self.ops.get(id) {
                handle.abort();
            }
            self.finish(id);
            return self.send_error(id, &[error]).await;
        }
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
