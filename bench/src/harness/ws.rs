//! Websocket subscribers speaking graphql-transport-ws, as a front-end does.

use std::time::Instant;

use tokio::net::TcpStream;

use crate::BenchError;

/// A websocket (`graphql-transport-ws`) signed in with `token`, with `query` subscribed as id 1.
pub(crate) async fn subscribe_ws(
    port: u16,
    token: &str,
    query: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    BenchError,
> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://127.0.0.1:{port}/graphql/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    ws.send(Message::text(serde_json::json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {token}")}}).to_string())).await?;
    let _ack = ws.next().await;
    ws.send(Message::text(
        serde_json::json!({"id": "1", "type": "subscribe", "payload": {"query": query}})
            .to_string(),
    ))
    .await?;
    Ok(ws)
}

/// A subscriber: connects, subscribes to `camera`'s events, and reports (frameId, receive
/// time).
pub(crate) async fn subscriber(
    port: u16,
    token: String,
    camera: String,
    ready: tokio::sync::mpsc::Sender<()>,
    out: tokio::sync::mpsc::UnboundedSender<(String, Instant)>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BenchError> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let query = format!(
        "subscription {{ perceptionEvents(filter: {{cameraIds: [\"{camera}\"]}}) {{ payload }} }}"
    );
    let mut ws = subscribe_ws(port, &token, &query).await?;
    let _ = ready.send(()).await;
    let mut stop = stop;
    loop {
        tokio::select! {
            message = ws.next() => {
                let Some(Ok(message)) = message else { return Ok(()) };
                let now = Instant::now();
                if let Message::Text(text) = message {
                    let value: serde_json::Value = serde_json::from_str(text.as_str())?;
                    if value["type"] == "ping" {
                        ws.send(Message::text(r#"{"type":"pong"}"#)).await?;
                    } else if let Some(frame) = value["payload"]["data"]["perceptionEvents"]["payload"]["frameId"].as_str() {
                        let _ = out.send((frame.to_owned(), now));
                    }
                }
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}
