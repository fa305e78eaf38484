//! A raw websocket client that speaks graphql-transport-ws frames by hand.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A raw websocket client speaking frames by hand.
pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server did next on a socket.
#[derive(Debug, PartialEq)]
pub enum WsEvent {
    Json(Value),
    Closed(Option<u16>, String),
}

impl WsClient {
    pub async fn connect(url: &str, protocol: Option<&str>) -> WsClient {
        let mut request = url.into_client_request().unwrap();
        if let Some(protocol) = protocol {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(protocol).unwrap(),
            );
        }
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        WsClient { stream }
    }

    /// Connects with `graphql-transport-ws`, sends `connection_init` and expects the ack.
    pub async fn connect_acked(url: &str, payload: Value) -> WsClient {
        let mut client = WsClient::connect(url, Some("graphql-transport-ws")).await;
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        assert_eq!(client.next_json().await["type"], "connection_ack");
        client
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next text message or close, skipping websocket-level pings (answered automatically).
    pub async fn next_event(&mut self) -> WsEvent {
        self.next_event_within(Duration::from_secs(10))
            .await
            .expect("the server said something in time")
    }

    pub async fn next_event_within(&mut self, wait: Duration) -> Option<WsEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(WsEvent::Closed(None, "stream ended".into())),
                Ok(Some(Err(err))) => return Some(WsEvent::Closed(None, err.to_string())),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    return Some(WsEvent::Json(serde_json::from_str(text.as_str()).unwrap()));
                }
                Message::Close(frame) => {
                    return Some(match frame {
                        Some(frame) => {
                            WsEvent::Closed(Some(u16::from(frame.code)), frame.reason.to_string())
                        }
                        None => WsEvent::Closed(None, String::new()),
                    });
                }
                _ => continue,
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        match self.next_event().await {
            WsEvent::Json(value) => value,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Asserts the server closes with `code` (skipping `next` messages of running operations).
    pub async fn expect_close(&mut self, code: u16) {
        loop {
            match self.next_event().await {
                WsEvent::Closed(Some(got), reason) => {
                    assert_eq!(got, code, "closed with {got} ({reason}), expected {code}");
                    return;
                }
                WsEvent::Closed(None, reason) => {
                    panic!("closed without a code ({reason}), expected {code}")
                }
                WsEvent::Json(value) if value["type"] == "next" => continue,
                WsEvent::Json(value) => panic!("expected close {code}, got message {value}"),
            }
        }
    }

    /// Reads messages until `complete` (or `error`) for `id`; returns that operation's messages.
    pub async fn until_done(&mut self, id: &str) -> Vec<Value> {
        let mut messages = Vec::new();
        loop {
            let message = self.next_json().await;
            if message["id"] != id {
                continue;
            }
            let done = message["type"] == "complete" || message["type"] == "error";
            messages.push(message);
            if done {
                return messages;
            }
        }
    }

    /// Sends a ping and returns every message received before its pong. The loop answers pings
    /// in order with client frames, so this is a barrier for what the loop itself sends, not
    /// for results of operations still running.
    pub async fn until_pong(&mut self) -> Vec<Value> {
        let marker = uuid::Uuid::new_v4().to_string();
        self.send(json!({"type": "ping", "payload": {"marker": marker}}))
            .await;
        let mut before = Vec::new();
        loop {
            let message = self.next_json().await;
            if message["type"] == "pong" && message["payload"]["marker"] == marker.as_str() {
                return before;
            }
            before.push(message);
        }
    }
}
