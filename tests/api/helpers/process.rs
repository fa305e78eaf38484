//! The server binary as its own process, and a plain GraphQL call to it.

use std::path::Path;

use serde_json::{Value, json};

/// Kills the server if the test fails half-way, so no process outlives it.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the server has logged so far, one JSON record per line.
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A fresh, empty database for a server process on `backend`: `None` (its own SQLite file)
/// or the URL of a new PostgreSQL database.
pub async fn fresh_database(backend: &super::Backend) -> Option<String> {
    match backend {
        super::Backend::Sqlite => None,
        super::Backend::Postgres(admin) => {
            use sea_orm::ConnectionTrait;
            let name = format!("heldar_p_{}", uuid::Uuid::new_v4().simple());
            let conn = sea_orm::Database::connect(admin.as_str()).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            Some(super::replace_db_name(admin, &name))
        }
    }
}

/// The binary on `data_dir` (and `database_url`), until it logs its port.
pub fn start_server(data_dir: &Path, database_url: Option<&str>) -> (KillOnDrop, String) {
    let (server, addr, _) = start_server_logged(data_dir, database_url);
    (server, addr)
}

/// [`start_server`], keeping every line the server logs.
pub fn start_server_logged(
    data_dir: &Path,
    database_url: Option<&str>,
) -> (KillOnDrop, String, Log) {
    start_server_env(data_dir, database_url, &[])
}

/// [`start_server_logged`] with extra environment variables.
pub fn start_server_env(
    data_dir: &Path,
    database_url: Option<&str>,
    env: &[(&str, &str)],
) -> (KillOnDrop, String, Log) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_heldar"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HELDAR_DATA_DIR", data_dir)
        .env("HELDAR_BIND", "127.0.0.1:0")
        .env("HELDAR_LOG_FORMAT", "json")
        .env("HELDAR_ADMIN_PASSWORD", super::ADMIN_PASSWORD)
        .env("HELDAR_INDEX_INTERVAL_MS", "200")
        .env("HELDAR_INDEX_SETTLE_MS", "0")
        .env("HELDAR_RETENTION_INTERVAL_SECS", "0")
        .env("HELDAR_MIN_FREE_DISK", "0")
        .env("HELDAR_ALLOW_LOCAL_SOURCES", "true")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(url) = database_url {
        command.env("HELDAR_DATABASE_URL", url);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let child = KillOnDrop(child);
    let log = Log::default();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited early"
        );
        log.lock().unwrap().push(line.clone());
        let record: Value = serde_json::from_str(&line).unwrap_or_default();
        if record["message"] == "listening; GraphiQL at /graphql" {
            let port = record["port"].as_u64().unwrap();
            let kept = log.clone();
            std::thread::spawn(move || {
                for line in stderr.lines().map_while(Result::ok) {
                    kept.lock().unwrap().push(line);
                }
            });
            return (child, format!("http://127.0.0.1:{port}"), log);
        }
    }
}

pub async fn call(
    http: &reqwest::Client,
    addr: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = http
        .post(format!("{addr}/graphql"))
        .json(&json!({"query": query, "variables": variables}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(body["errors"].is_null(), "{body}");
    body["data"].clone()
}

/// Signs in as the bootstrap admin of a server process; its access token.
pub async fn admin_token(http: &reqwest::Client, addr: &str) -> String {
    let login =
        "mutation($p: String!) { login(username: \"admin\", password: $p) { accessToken } }";
    call(http, addr, None, login, json!({"p": super::ADMIN_PASSWORD})).await["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends SIGTERM and waits (at most 15 s) for the server to exit.
pub fn stop_gracefully(server: &mut KillOnDrop) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    while server.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "server ignored SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
