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

/// The binary on `data_dir` (and `database_url`), until it logs its port.
pub fn start_server(data_dir: &Path, database_url: Option<&str>) -> (KillOnDrop, String) {
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
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let child = KillOnDrop(child);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited early"
        );
        let record: Value = serde_json::from_str(&line).unwrap_or_default();
        if record["message"] == "listening; GraphiQL at /graphql" {
            let port = record["port"].as_u64().unwrap();
            std::thread::spawn(move || for _ in stderr.lines() {});
            return (child, format!("http://127.0.0.1:{port}"));
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
