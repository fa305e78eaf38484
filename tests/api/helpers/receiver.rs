//! A real HTTP receiver for webhook tests: it records every request (headers, body, time) and
//! answers with the status its script says, so tests can make it fail, slow or redirect.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status.
    Status(u16),
    /// 200 after sleeping.
    Slow(Duration),
    /// 302 to this location.
    Redirect(String),
}

#[derive(Default)]
struct Inner {
    got: Vec<Received>,
    /// The `webhook-id` of every request as it arrives (before it is answered).
    arrivals: Vec<String>,
    /// Answers to give next, in order; then `fallback`.
    script: Vec<Answer>,
    fallback: Option<Answer>,
}

/// The receiver; clones share it.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Listens on a random loopback port; answers 200 unless told otherwise.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, Arc::default()).await
    }

    async fn serve(listener: tokio::net::TcpListener, inner: Arc<Mutex<Inner>>) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let shared = inner.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move {
                let answer = {
                    let mut inner = shared.lock().unwrap();
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    inner.arrivals.push(id);
                    if inner.script.is_empty() {
                        inner.fallback.clone().unwrap_or(Answer::Status(200))
                    } else {
                        inner.script.remove(0)
                    }
                };
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut got = Received {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp").parse().unwrap_or(0),
                    signature: header("webhook-signature"),
                    body: body.to_vec(),
                    at: Instant::now(),
                    status: 200,
                };
                let response = match answer {
                    Answer::Status(code) => {
                        got.status = code;
                        (
                            StatusCode::from_u16(code).unwrap(),
                            format!("answer {code}"),
                        )
                            .into_response()
                    }
                    Answer::Slow(wait) => {
                        tokio::time::sleep(wait).await;
                        (StatusCode::OK, "slow ok").into_response()
                    }
                    Answer::Redirect(to) => {
                        got.status = 302;
                        (StatusCode::FOUND, [("location", to)], "moved").into_response()
                    }
                };
                shared.lock().unwrap().got.push(got);
                response
            }
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .ok();
        });
        Receiver {
            inner,
            url: format!("http://127.0.0.1:{port}/hook"),
            _stop: Arc::new(tx),
        }
    }

    /// The `webhook-id` of every request so far, answered or not.
    pub fn arrivals(&self) -> Vec<String> {
        self.inner.lock().unwrap().arrivals.clone()
    }

    /// Answers to give next, in order.
    pub fn script(&self, answers: Vec<Answer>) {
        self.inner.lock().unwrap().script = answers;
    }

    /// The answer once the script is used up.
    pub fn fallback(&self, answer: Answer) {
        self.inner.lock().unwrap().fallback = Some(answer);
    }

    /// Everything received so far.
    pub fn got(&self) -> Vec<Received> {
        self.inner.lock().unwrap().got.clone()
    }

    /// Requests it answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// Waits until `n` requests were accepted.
    pub async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < within,
                "receiver accepted {} of {n} deliveries within {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verifies a Standard Webhooks signature header against `secret`: some `v1,` entry matches.
pub fn verifies(secret: &str, r: &Received) -> bool {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected = b64.encode(mac.finalize().into_bytes());
    r.signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}
