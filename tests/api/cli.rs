//! The binary: settings refused at start-up, graceful shutdown, JSON logs, `migrate`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::process::KillOnDrop;

fn heldar() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_heldar"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn an_invalid_setting_stops_start_up_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("HELDAR_DB_MAX_CONNECTIONS", "1", "--db-max-connections"),
        ("HELDAR_BIND", "not-an-address", "--bind"),
        ("HELDAR_JWT_SECRET", "too-short", "HELDAR_JWT_SECRET"),
        ("HELDAR_DATABASE_URL", "mysql://x", "HELDAR_DATABASE_URL"),
        ("HELDAR_INTROSPECTION", "maybe", "--introspection"),
        (
            "HELDAR_HEALTH_INTERVAL_MS",
            "50",
            "HELDAR_HEALTH_INTERVAL_MS",
        ),
    ];
    for (var, value, named) in cases {
        let output = heldar()
            .env("HELDAR_DATA_DIR", dir.path())
            .env(var, value)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{var}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(named),
            "{var}={value}: stderr does not name {named}: {stderr}"
        );
    }
}

#[test]
fn secrets_are_redacted_when_the_config_is_printed() {
    let mut config = heldar::config::Config::for_tests(std::path::Path::new("/tmp"));
    config.jwt_secret = Some(heldar::config::Secret::from(
        "super-secret-value-super-secret-value".to_owned(),
    ));
    config.database_url = Some(heldar::config::Secret::from(
        "postgres://u:hunter2@db/heldar".to_owned(),
    ));
    let printed = format!("{config:?}");
    assert!(
        !printed.contains("super-secret") && !printed.contains("hunter2"),
        "{printed}"
    );
    assert!(printed.contains("[redacted]"));
}

#[test]
fn migrate_creates_the_sqlite_database_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let output = heldar()
        .env("HELDAR_DATA_DIR", &data)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(data.join("heldar.db").is_file());
}

#[test]
fn sigterm_stops_the_server_gracefully_and_logs_are_json_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = heldar()
        .env("HELDAR_DATA_DIR", dir.path())
        .env("HELDAR_BIND", "127.0.0.1:0")
        .env("HELDAR_LOG_FORMAT", "json")
        .env("HELDAR_SHUTDOWN_TIMEOUT_SECS", "5")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut child = KillOnDrop(child);
    let mut line = String::new();
    let started = Instant::now();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "server exited early"
        );
        let record: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        if record["message"] == "listening; GraphiQL at /graphql" {
            assert!(record["port"].as_u64().unwrap() > 0);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = stderr.lines().map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("SIGTERM received")),
        "{rest:?}"
    );
}

#[test]
fn the_first_start_creates_an_admin_prints_its_password_once_and_keeps_a_private_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = KillOnDrop(
            heldar()
                .env("HELDAR_DATA_DIR", dir.path())
                .env("HELDAR_BIND", "127.0.0.1:0")
                .env("HELDAR_LOG_FORMAT", "json")
                .arg("serve")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "server exited early"
            );
            if line.contains("listening") {
                break;
            }
        }
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        out
    };
    let first = start();
    assert!(
        first.contains("created the admin user `admin` with password: "),
        "{first}"
    );
    let second = start();
    assert!(!second.contains("password"), "printed only once: {second}");
    let secret = dir.path().join("jwt-secret");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read(&secret).unwrap().len() >= 32);
}

#[test]
fn users_and_api_keys_can_be_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = heldar()
        .env("HELDAR_DATA_DIR", dir.path())
        .env("HELDAR_ADMIN_PASSWORD", "bootstrap-password")
        .args(["user", "add", "operator", "--role", "guard"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"operator-password\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created user operator"));

    let output = heldar()
        .env("HELDAR_DATA_DIR", dir.path())
        .args(["apikey", "create", "worker", "--camera", "cam_1"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout).unwrap();
    assert!(key.trim().starts_with("hak_"), "{key}");

    let output = heldar()
        .env("HELDAR_DATA_DIR", dir.path())
        .args(["user", "add", "x", "--role", "emperor"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--role"));
}

#[tokio::test]
async fn serve_demo_records_the_demo_camera_and_leaves_no_ffmpeg_behind_on_sigterm() {
    if !std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(std::env::var("CI").is_err(), "CI must have ffmpeg");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        heldar()
            .env("HELDAR_DATA_DIR", dir.path())
            .env("HELDAR_BIND", "127.0.0.1:0")
            .env("HELDAR_LOG_FORMAT", "json")
            .env("HELDAR_ADMIN_PASSWORD", "demo-admin-password")
            .env("HELDAR_INDEX_INTERVAL_MS", "300")
            .env("HELDAR_INDEX_SETTLE_MS", "500")
            .args(["serve", "--demo"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.stderr.take().unwrap();
    let port = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines.next().expect("server exited early").unwrap();
            if let Ok(record) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(port) = record["port"].as_u64()
            {
                break port;
            }
        };
        std::thread::spawn(move || for _ in lines {});
        port
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/graphql");
    let login: serde_json::Value = http
        .post(&url)
        .json(&serde_json::json!({"query": "mutation { login(username: \"admin\", password: \"demo-admin-password\") { accessToken } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = "{ camera(id: \"demo\") { status { state segmentsWritten } } }";
    let started = Instant::now();
    loop {
        let body: serde_json::Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&serde_json::json!({"query": query}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = &body["data"]["camera"]["status"];
        if status["state"] == "RECORDING" && status["segmentsWritten"].as_i64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo camera never recorded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let recordings = dir.path().join("recordings").display().to_string();
    let pattern = format!("^ffmpeg .*{recordings}");
    assert!(
        !Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .unwrap()
            .stdout
            .is_empty(),
        "the demo recorder runs"
    );

    // The reference worker, as its own process, turns the demo's sliding box into zone events.
    let gql = |query: &str, token: Option<&str>| {
        let mut request = http.post(&url).json(&serde_json::json!({"query": query}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    // Only the demo camera has a generated source: `--demo` does not open `lavfi:` and
    // `file:` to every manager (a filter graph can read and write files).
    for attempt in [
        "mutation { createCamera(input: {id: \"x\", name: \"x\", streamUrl: \"lavfi:testsrc\"}) { id } }",
        "mutation { updateCamera(input: {id: \"demo\", streamUrl: \"file:///etc/passwd\"}) { id } }",
    ] {
        let body = gql(attempt, Some(&token)).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "input.streamUrl",
            "{body}"
        );
    }
    let renamed = gql(
        "mutation { updateCamera(input: {id: \"demo\", name: \"Pattern\"}) { name } }",
        Some(&token),
    )
    .await;
    assert_eq!(
        renamed["data"]["updateCamera"]["name"], "Pattern",
        "{renamed}"
    );

    let key = gql(
        "mutation { createApiKey(input: {name: \"demo-worker\", role: INTEGRATION}) { key } }",
        Some(&token),
    )
    .await;
    let key = key["data"]["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut worker = KillOnDrop(
        heldar()
            .env("HELDAR_WORKER_API_KEY", &key)
            .args([
                "worker",
                "--server",
                &format!("http://127.0.0.1:{port}"),
                "--worker-id",
                "cli-test",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    loop {
        let body = gql("{ perceptionEvents(filter: {cameraIds: [\"demo\"], kinds: [ZONE_ENTER, ZONE_EXIT]}) { edges { node { kind label } } } }", Some(&token)).await;
        let kinds: Vec<&str> = body["data"]["perceptionEvents"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["kind"].as_str().unwrap())
            .collect();
        if kinds.starts_with(&["ZONE_ENTER", "ZONE_EXIT"]) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the worker produced no enter and exit: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Occupancy follows the picture: one box, counted while it crosses the band (6 s at
    // 32 px/s) and back to zero within two seconds of it leaving, not after the track TTL.
    let mut occupancy = crate::helpers::ws::WsClient::connect_acked(
        &format!("ws://127.0.0.1:{port}/graphql/ws"),
        serde_json::json!({"authorization": format!("Bearer {token}")}),
    )
    .await;
    occupancy.send(serde_json::json!({"id": "o", "type": "subscribe", "payload": {"query": "subscription { zoneOccupancy(cameraId: \"demo\") { count } }"}})).await;
    // A visit is timed from an empty band (the first count may catch the box half way).
    let (mut empty_seen, mut entered, mut most) = (false, None, 0);
    let started = Instant::now();
    let inside = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "occupancy never went up and back to zero (entered: {entered:?}, most: {most})"
        );
        let Some(crate::helpers::ws::WsEvent::Json(message)) =
            occupancy.next_event_within(Duration::from_secs(30)).await
        else {
            panic!("the occupancy subscription ended");
        };
        let count = message["payload"]["data"]["zoneOccupancy"]["count"]
            .as_i64()
            .unwrap_or_else(|| panic!("{message}"));
        most = most.max(count);
        match (entered, count) {
            (None, 0) => empty_seen = true,
            (None, 1..) if empty_seen => entered = Some(Instant::now()),
            (Some(at), 0) => break at.elapsed(),
            _ => {}
        }
    };
    assert_eq!(most, 1, "one box is one object");
    assert!(
        inside > Duration::from_secs(3) && inside < Duration::from_secs(8),
        "counted inside for {inside:?}; the box crosses the band in 6 s"
    );
    let samplers = gql("{ aiSamplers { cameraId state fps width } }", Some(&token)).await;
    assert_eq!(
        samplers["data"]["aiSamplers"],
        serde_json::json!([{"cameraId": "demo", "state": "SAMPLING", "fps": 2.0, "width": 640}])
    );
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while worker.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the worker ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It released its lease on the way out.
    let leased = gql(
        "mutation { leaseAiTasks(input: {workerId: \"next\"}) { tasks { task { id } } } }",
        Some(&token),
    )
    .await;
    assert_eq!(
        leased["data"]["leaseAiTasks"]["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{leased}"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server ignored SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Neither the recorder nor the sampler outlives the server.
    let everything = format!("^ffmpeg .*{}", dir.path().display());
    let orphans = Command::new("pgrep")
        .args(["-af", &everything])
        .output()
        .unwrap();
    assert!(
        orphans.stdout.is_empty(),
        "orphan ffmpeg: {}",
        String::from_utf8_lossy(&orphans.stdout)
    );
}

#[tokio::test]
async fn serve_stops_an_ffmpeg_a_killed_run_left_writing_into_its_data_dir() {
    if !crate::helpers::ffmpeg_ready() {
        assert!(std::env::var("CI").is_err(), "CI must have ffmpeg");
        return;
    }
    // Two working directories, each with `./data/frames/ghost`; the server runs in the first
    // with the relative data dir `./data`.
    let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for root in [dir.path(), other.path()] {
        std::fs::create_dir_all(root.join("data/frames/ghost")).unwrap();
    }
    // An ffmpeg writing one JPEG over and over, as a sampler does, from `cwd`.
    let writer = |cwd: &std::path::Path| {
        KillOnDrop(
            Command::new("ffmpeg")
                .current_dir(cwd)
                .args([
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-y",
                    "-re",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=160x120:rate=2",
                    "-vf",
                    "fps=1",
                    "-f",
                    "image2",
                    "-update",
                    "1",
                ])
                .arg("./data/frames/ghost/latest_sub.jpg")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    // What a sampler of a SIGKILLed server would leave running in this data dir.
    let mut orphan = writer(dir.path());
    // The same relative path from another directory is another data dir: left alone.
    let mut bystander = writer(other.path());
    let _server = KillOnDrop(
        heldar()
            .current_dir(dir.path())
            .env("HELDAR_DATA_DIR", "./data")
            .env("HELDAR_BIND", "127.0.0.1:0")
            .env("HELDAR_ADMIN_PASSWORD", "orphan-admin-password")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while orphan.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the orphan ffmpeg still runs"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "another data dir's ffmpeg is not touched"
    );
}
