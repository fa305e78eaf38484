//! The test harness: a real server on a random port with a fresh database, and clients for it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use heldar::app::Application;
use heldar::clock::{Clock, SystemClock};
use heldar::config::{Config, Secret};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when `HELDAR_TEST_DATABASE_URL` is set. In CI its absence is a failure, so a
    /// green CI run always means both backends ran.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("HELDAR_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
                panic!(
                    "CI is set but HELDAR_TEST_DATABASE_URL is not: the PostgreSQL half of the suite would not run"
                )
            }
            _ => {
                eprintln!(
                    "HELDAR_TEST_DATABASE_URL unset: skipping the PostgreSQL run of this test"
                );
                None
            }
        }
    }
}

/// Runs a test body once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! test_on_both {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::helpers::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres() {
                    run(backend).await
                }
            }
        }
    };
}

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const USER_PASSWORD: &str = "user-password-for-tests";
pub const LOGIN: &str = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken refreshToken expiresAt refreshExpiresAt principal { id name role kind cameraIds } } }";

/// A running server.
pub struct TestApp {
    /// Access token of the bootstrap admin (`admin` / [`ADMIN_PASSWORD`]).
    pub token: String,
    pub addr: String,
    pub port: u16,
    pub http: reqwest::Client,
    pub state: heldar::state::AppState,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pg_drop: Option<(String, String)>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_full(backend, Arc::new(SystemClock), configure).await
    }

    pub async fn spawn_full(
        backend: Backend,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path());
        config.log = "warn".into();
        config.jwt_secret = Some(Secret::from(
            "test-secret-test-secret-test-secret-0123456789".to_owned(),
        ));
        let mut pg_drop = None;
        if let Backend::Postgres(admin_url) = &backend {
            let name = format!("heldar_t_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(admin_url.as_str())
                .await
                .expect("connect to HELDAR_TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.ok();
            config.database_url = Some(Secret::from(replace_db_name(admin_url, &name)));
            pg_drop = Some((admin_url.clone(), name));
        }
        config.admin_username = "admin".into();
        config.admin_password = Some(Secret::from(ADMIN_PASSWORD.to_owned()));
        configure(&mut config);
        heldar::telemetry::init_tracing(&config);
        let data_dir = config.data_dir.clone();
        let app = Application::build_with_clock(config, clock)
            .await
            .expect("application builds");
        let port = app.port();
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let mut app = TestApp {
            token: String::new(),
            addr: format!("http://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            state,
            data_dir,
            _dir: dir,
            shutdown: Some(tx),
            server: Some(server),
            pg_drop,
        };
        app.token = app.login("admin", ADMIN_PASSWORD).await["accessToken"]
            .as_str()
            .unwrap()
            .to_owned();
        app
    }

    /// Signs in; returns the whole `AuthPayload`.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let data = self
            .gql(LOGIN, json!({"u": username, "p": password}), None)
            .await;
        data["login"].clone()
    }

    /// `Some(admin token)`, for the common case.
    pub fn admin(&self) -> Option<&str> {
        Some(&self.token)
    }

    /// The `connection_init` payload carrying the admin's token.
    pub fn ws_auth(&self) -> Value {
        json!({"authorization": format!("Bearer {}", self.token)})
    }

    /// Creates a user with `role` (as the admin) and signs in as it; returns (id, access token).
    pub async fn user_with_role(&self, username: &str, role: &str) -> (String, String) {
        let data = self
            .gql(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({"i": {"username": username, "password": USER_PASSWORD, "role": role.to_uppercase()}}),
                self.admin(),
            )
            .await;
        let id = data["createUser"]["id"].as_str().unwrap().to_owned();
        let token = self.login(username, USER_PASSWORD).await["accessToken"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, token)
    }

    /// Creates an API key (as the admin) and exchanges it; returns (key id, key, access token).
    pub async fn api_key(
        &self,
        role: &str,
        cameras: Option<Vec<&str>>,
    ) -> (String, String, String) {
        let data = self
            .gql(
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id } } }",
                json!({"i": {"name": format!("key-{role}"), "role": role.to_uppercase(), "cameraIds": cameras}}),
                self.admin(),
            )
            .await;
        let key = data["createApiKey"]["key"].as_str().unwrap().to_owned();
        let id = data["createApiKey"]["apiKey"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = self.exchange(&key).await;
        (id, key, token)
    }

    pub async fn exchange(&self, key: &str) -> String {
        let data = self
            .gql(
                "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
                json!({"k": key}),
                None,
            )
            .await;
        data["exchangeApiKey"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), server).await;
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql/ws", self.port)
    }

    /// POSTs a GraphQL document; returns the HTTP status and the JSON body.
    pub async fn post(&self, query: &str, variables: Value, token: Option<&str>) -> (u16, Value) {
        self.post_body(json!({ "query": query, "variables": variables }), token)
            .await
    }

    pub async fn post_body(&self, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/graphql", self.addr)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs and asserts there are no errors; returns `data`.
    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let (status, body) = self.post(query, variables, token).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// POSTs and returns the first error's code and message.
    pub async fn gql_err(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> (String, String) {
        let (_, body) = self.post(query, variables, token).await;
        first_error(&body)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.addr, path))
            .send()
            .await
            .unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((admin_url, name)) = self.pg_drop.take() {
            // Drop runs outside async context guarantees: use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// `postgres://u@h:p/db?x` with `db` replaced.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

pub fn first_error(body: &Value) -> (String, String) {
    let error = &body["errors"][0];
    assert!(!error.is_null(), "expected an error, got {body}");
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or("<no code>")
            .to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

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

/// Whether ffmpeg is installed; in CI its absence fails the test instead of skipping it.
pub fn ffmpeg_ready() -> bool {
    let ok = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").is_err(),
        "CI must have ffmpeg (the test command installs it)"
    );
    if !ok {
        eprintln!("skipping: ffmpeg not installed (apt-get install -y ffmpeg)");
    }
    ok
}
