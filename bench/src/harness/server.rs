//! The server under test: the release `heldar` binary as a child process, pinned to its core,
//! killed (SIGTERM first, so it stops its ffmpeg children) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// The bootstrap admin's password on every benchmark server.
pub const ADMIN_PASSWORD: &str = "bench-admin-password";

/// A server child process; killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) port: u16,
    pub(crate) _dir: PathBuf,
}

#[expect(
    clippy::disallowed_methods,
    reason = "Drop cannot await: a blocking wait of at most 10 s at the end of a run"
)]
impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first, so the server stops its ffmpeg children; SIGKILL only if it hangs.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "runs once before the load starts, outside any measured async work"
)]
pub(crate) fn start_server(envs: &[(&str, String)]) -> Result<Server, BenchError> {
    let exe = std::env::current_exe()?;
    let heldar = exe.with_file_name("heldar");
    if !heldar.is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build --release --bins`",
            heldar.display()
        )
        .into());
    }
    let dir = std::env::temp_dir().join(format!("heldar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pin = std::env::var("HELDAR_BENCH_SERVER_CPU").unwrap_or_else(|_| "0".into());
    let mut command = if Path::new("/usr/bin/taskset").exists() && !pin.is_empty() {
        let mut c = Command::new("taskset");
        c.args(["-c", &pin]).arg(&heldar);
        c
    } else {
        Command::new(&heldar)
    };
    command
        .arg("serve")
        .env("HELDAR_DATA_DIR", &dir)
        .env("HELDAR_BIND", "127.0.0.1:0")
        .env("HELDAR_LOG_FORMAT", "json")
        .env("HELDAR_LOG", "info,tower_http=off")
        .env("HELDAR_BENCH_ROUTES", "true")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().ok_or("server exited before listening")??;
        if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(port) = record.get("port").and_then(serde_json::Value::as_u64)
        {
            break port as u16;
        }
    };
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server {
        child,
        port,
        _dir: dir,
    })
}
