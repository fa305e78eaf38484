//! A Server-Sent Events client that behaves as `EventSource` does: it parses `event:`, `id:`
//! and `data:` lines, and reconnects with the last id it saw as `Last-Event-ID`.

use std::time::Duration;

use serde_json::Value;

/// One event of the stream.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// An open stream.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
    /// The last `id:` seen, as `EventSource` keeps it.
    pub last_id: Option<String>,
}

impl SseClient {
    /// POSTs the GraphQL request and expects an event stream.
    pub async fn post(
        addr: &str,
        token: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> SseClient {
        let mut request = reqwest::Client::new()
            .post(format!("{addr}/graphql/stream"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .json(&serde_json::json!({"query": query}));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        Self::open(request).await
    }

    /// GETs with the document in the URL, as `EventSource` would.
    pub async fn get(
        addr: &str,
        token: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> SseClient {
        let mut request = reqwest::Client::new()
            .get(format!("{addr}/graphql/stream"))
            .query(&[("query", query)])
            .bearer_auth(token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        Self::open(request).await
    }

    async fn open(request: reqwest::RequestBuilder) -> SseClient {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        SseClient {
            response,
            buffer: String::new(),
            last_id: None,
        }
    }

    /// The next event (keep-alive comments skipped), or `None` when the stream ended or nothing
    /// came within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_owned());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if !any {
                    continue; // a comment (keep-alive)
                }
                if event.id.is_some() {
                    self.last_id = event.id.clone();
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event, which must come within 10 s.
    pub async fn next(&mut self) -> SseEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10 s")
    }
}
