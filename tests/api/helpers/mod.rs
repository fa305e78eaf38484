//! The test harness: a real server on a random port with a fresh database, and clients for it.

pub mod broker;
pub mod media;
pub mod process;
pub mod receiver;
pub mod sse;
pub mod ws;

pub use media::{ffmpeg_ready, write_run, write_run_at};
pub use ws::{WsClient, WsEvent};

use std::path::PathBuf;
use std::sync::Arc;

use heldar::app::Application;
use heldar::clock::{Clock, SystemClock};
use heldar::config::{Config, Secret};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

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

/// Runs the test `async fn $name(backend: Backend)` defined just before it once on SQLite and
/// once on PostgreSQL (when configured): `both!(name);` adds `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres() {
                    super::$name(backend).await
                }
            }
        }
    };
}

/// Whether this is a CI run, where a missing client or tool fails a test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
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
        tokio::spawn(app.run_until(async move {
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

    /// A camera that records nothing (its stream is unreachable), created by the admin.
    pub async fn camera(&self, id: &str, name: &str) {
        self.gql(
            "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
            json!({"i": {"id": id, "name": name, "streamUrl": "rtsp://127.0.0.1:9/x", "recordEnabled": false}}),
            self.admin(),
        )
        .await;
    }

    /// A region over the whole frame of `camera` counting persons from their first frame; its id.
    pub async fn whole_frame_zone(&self, camera: &str, name: &str, severity: &str) -> String {
        self.gql(
            "mutation($i: CreateZoneInput!) { createZone(input: $i) { id } }",
            json!({"i": {"cameraId": camera, "name": name, "confirmFrames": 1, "labels": ["person"], "severity": severity,
                "points": [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]}}),
            self.admin(),
        )
        .await["createZone"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// One frame `frame` of `camera` with a person (track `track`) in the middle, ingested by
    /// the admin; the events it made (a ZONE_ENTER in a whole-frame zone, and the exit of a
    /// track the frame no longer shows).
    pub async fn person_in_frame(&self, camera: &str, frame: &str, track: &str) -> i64 {
        self.gql(
            "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }",
            json!({"i": {"cameraId": camera, "taskType": "detect", "frameId": frame,
                "capturedAt": chrono::Utc::now().to_rfc3339(),
                "detections": [{"label": "person", "confidence": 0.9, "trackId": track, "bbox": {"x": 0.4, "y": 0.4, "w": 0.1, "h": 0.1}}]}}),
            self.admin(),
        )
        .await["ingestDetections"]["events"]
            .as_i64()
            .unwrap()
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
        self.post_text(&body.to_string(), token).await
    }

    /// POSTs `body` as it is (malformed JSON too) with a JSON content type; returns the HTTP
    /// status and the JSON body (null when the answer is not JSON).
    pub async fn post_text(&self, body: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.addr))
            .header("content-type", "application/json")
            .body(body.to_owned());
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

/// Polls `check` every 250 ms until it returns Some, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

impl TestApp {
    /// A subscription run on the server's schema in process, as an admin, for tests that decide
    /// when it is polled (a subscriber that falls behind is one not polled while events pass).
    pub fn admin_subscription(
        &self,
        query: &str,
    ) -> impl futures_util::Stream<Item = async_graphql::Response> + use<> {
        let schema = heldar::schema::build_schema(
            Some(self.state.clone()),
            heldar::schema::SchemaLimits {
                max_depth: 64,
                max_complexity: 10_000,
                introspection: true,
            },
        );
        let principal = heldar::auth::principal::Principal {
            id: "t".into(),
            name: "t".into(),
            role: heldar::auth::principal::Role::Admin,
            kind: heldar::auth::principal::PrincipalKind::User,
            scope: heldar::auth::principal::CameraScope::All,
            session_id: "t".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        };
        let request = async_graphql::Request::new(query).data(
            heldar::auth::principal::RequestAuth::Authenticated(principal),
        );
        schema.execute_stream(request)
    }
}
