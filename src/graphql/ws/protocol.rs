//! The wire of the two subprotocols: their names, graphql-transport-ws close codes, the
//! `subscribe`/`start` payload, and closing a socket with a code.

use async_graphql::{Request, Variables};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::Value as Json;

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
    /// A limit of this server was reached (too many sockets for the credential).
    pub const POLICY_VIOLATION: u16 = 1008;
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

/// Closes the socket with a graphql-transport-ws close code.
pub async fn close_socket(
    socket: &mut WebSocket,
    code: u16,
    reason: &str,
) -> Result<(), axum::Error> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })))
        .await
}

/// The `payload` of `subscribe`/`start`.
pub struct Payload {
    /// The document.
    pub query: String,
    /// The operation to run.
    pub operation_name: Option<String>,
    /// Its variables.
    pub variables: Option<Json>,
}

impl Payload {
    /// A fresh request for the operation (one per execution).
    pub fn request(&self) -> Request {
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
pub fn parse_payload(payload: Json) -> Option<Payload> {
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
