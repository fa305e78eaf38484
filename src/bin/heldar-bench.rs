//! `heldar-bench <scenario>`: starts a release `heldar` server, drives it over real sockets, prints
//! medians and ratios, and records them in `BENCHMARKS.md`. Run it through `bench/run`, which
//! builds both binaries and pins the server and the load generator to different cores.
//!
//! Scenarios:
//! - `graphql-vs-raw`: a small authenticated GraphQL query against a plain axum JSON route of
//!   the same binary.
//! - `login`: sign-in throughput and latency under 8 concurrent clients (argon2id-bound).
//! - `token-verify`: in-process cost of verifying an access token and of the revocation lookup.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BenchError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
struct Options {
    scenario: String,
    seconds: u64,
    connections: usize,
    rounds: usize,
    write: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        scenario: String::new(),
        seconds: 5,
        connections: 32,
        rounds: 3,
        write: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => {
                options.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--connections" => {
                options.connections = value("--connections")?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?
            }
            "--rounds" => {
                options.rounds = value("--rounds")?
                    .parse()
                    .map_err(|e| format!("--rounds: {e}"))?
            }
            "--no-write" => options.write = false,
            scenario if !scenario.starts_with('-') && options.scenario.is_empty() => {
                options.scenario = scenario.to_owned()
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.scenario.is_empty() {
        return Err("usage: heldar-bench <graphql-vs-raw|login|token-verify|footage|export|perception|workers> [--seconds N] [--connections N] [--rounds N] [--no-write]".into());
    }
    Ok(options)
}

/// A server child process; killed on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: PathBuf,
}

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

fn start_server(envs: &[(&str, String)]) -> Result<Server, BenchError> {
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

/// Figures of one load run.
#[derive(Clone, Copy, Debug)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn connection_loop(
    port: u16,
    path: &'static str,
    body: Bytes,
    token: Option<String>,
    until: Instant,
) -> Result<(Vec<u32>, u64), BenchError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut latencies = Vec::with_capacity(100_000);
    let mut errors = 0u64;
    while Instant::now() < until {
        let mut request = Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json");
        if let Some(token) = &token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body.clone()))?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        // Validate bodies: a fast stream of errors is not throughput.
        if !status.is_success() || memchr_errors(&bytes) {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

fn memchr_errors(body: &[u8]) -> bool {
    body.windows(9).any(|w| w == b"\"errors\":")
}

async fn load(
    port: u16,
    path: &'static str,
    body: &str,
    token: Option<String>,
    options: &Options,
) -> Result<Run, BenchError> {
    // Warm up briefly so connection set-up and lazy initialisation are not measured.
    let warm = Instant::now() + Duration::from_millis(500);
    connection_loop(
        port,
        path,
        Bytes::from(body.to_owned()),
        token.clone(),
        warm,
    )
    .await?;
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        tasks.push(tokio::spawn(connection_loop(
            port,
            path,
            Bytes::from(body.to_owned()),
            token.clone(),
            until,
        )));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Ok(Run {
        rps: latencies.len() as f64 / elapsed,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        errors,
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

const ADMIN_PASSWORD: &str = "bench-admin-password";

async fn admin_token(port: u16) -> Result<String, BenchError> {
    let body = format!(
        r#"{{"query":"mutation {{ login(username: \"admin\", password: \"{ADMIN_PASSWORD}\") {{ accessToken }} }}"}}"#
    );
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::post("/graphql")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = sender.send_request(request).await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    value["data"]["login"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login failed: {value}").into())
}

async fn graphql_vs_raw(options: &Options) -> Result<String, BenchError> {
    let server = start_server(&[("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned())])?;
    let query = r#"{"query":"{ serverInfo { version } }"}"#;
    let bare_query = r#"{"query":"{ __typename }"}"#;
    let token = Some(admin_token(server.port).await?);
    let (mut raw, mut gql, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    for round in 1..=options.rounds {
        let r = load(server.port, "/bench/echo", query, None, options).await?;
        let g = load(server.port, "/graphql", query, token.clone(), options).await?;
        let b = load(server.port, "/graphql", bare_query, None, options).await?;
        println!(
            "round {round}: raw {:>7.0} rps p99 {:>5.2} ms | graphql+auth {:>7.0} rps p99 {:>5.2} ms | bare graphql {:>7.0} rps | ratio {:.2}",
            r.rps,
            r.p99_ms,
            g.rps,
            g.p99_ms,
            b.rps,
            g.rps / r.rps
        );
        let errors = r.errors + g.errors + b.errors;
        if errors > 0 {
            return Err(
                format!("{errors} error responses: the figures would be meaningless").into(),
            );
        }
        raw.push(r);
        gql.push(g);
        bare.push(b);
    }
    let loader_cpu = (cpu_seconds() - cpu_before) / wall.elapsed().as_secs_f64();
    let mut ratios: Vec<f64> = raw.iter().zip(&gql).map(|(r, g)| g.rps / r.rps).collect();
    let mut bare_ratios: Vec<f64> = raw.iter().zip(&bare).map(|(r, b)| b.rps / r.rps).collect();
    let row = |label: &str, runs: &[Run]| {
        let m = |f: fn(&Run) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        format!(
            "| {label} | {:.0} | {:.2} ms | {:.2} ms |\n",
            m(|r| r.rps),
            m(|r| r.p50_ms),
            m(|r| r.p99_ms)
        )
    };
    Ok(format!(
        "{} concurrent keep-alive connections, {} s per run, {} rounds (raw, authenticated GraphQL, bare GraphQL in turn).\n\n\
         | endpoint | median rps | median p50 | median p99 |\n|---|---|---|---|\n{}{}{}\n\
         **Authenticated GraphQL / raw throughput ratio: {:.2}** (median of per-round ratios; the published async-graphql figure is 0.41, target ≥ 0.6). \
         Bare GraphQL / raw: {:.2}. The authenticated query checks the JWT on every request (its signature on first use; a token seen before is remembered and only its times are checked) and resolves its principal through the revocation cache. \
         Load generator CPU: {:.0}% of one core.",
        options.connections,
        options.seconds,
        options.rounds,
        row("`POST /bench/echo` (axum `Json` in and out)", &raw),
        row(
            "`POST /graphql` `{ serverInfo { version } }` with a bearer token",
            &gql
        ),
        row("`POST /graphql` `{ __typename }`, no token", &bare),
        median(&mut ratios),
        median(&mut bare_ratios),
        loader_cpu * 100.0,
    ))
}

async fn login(options: &Options) -> Result<String, BenchError> {
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("HELDAR_LOGIN_MAX_FAILURES", "0".into()),
    ])?;
    let body = format!(
        r#"{{"query":"mutation {{ login(username: \"admin\", password: \"{ADMIN_PASSWORD}\") {{ accessToken }} }}"}}"#
    );
    let options = Options {
        connections: 8,
        scenario: options.scenario.clone(),
        ..*options
    };
    let mut runs = Vec::new();
    for round in 1..=options.rounds {
        let run = load(server.port, "/graphql", &body, None, &options).await?;
        println!(
            "round {round}: {:.1} logins/s p50 {:.1} ms p99 {:.1} ms",
            run.rps, run.p50_ms, run.p99_ms
        );
        if run.errors > 0 {
            return Err(format!("{} login errors", run.errors).into());
        }
        runs.push(run);
    }
    let m = |f: fn(&Run) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    Ok(format!(
        "8 concurrent clients signing in, {} s per run, {} rounds.\n\n\
         | logins/s | p50 | p99 |\n|---|---|---|\n| {:.1} | {:.1} ms | {:.1} ms |\n\n\
         argon2id m={} KiB, t={}, p={} (the OWASP minimum), hashed on the blocking pool behind a semaphore of one permit per core; \
         each login is one verification plus a session insert, so argon2 bounds it.",
        options.seconds,
        options.rounds,
        m(|r| r.rps),
        m(|r| r.p50_ms),
        m(|r| r.p99_ms),
        heldar::auth::password::MEMORY_KIB,
        heldar::auth::password::ITERATIONS,
        heldar::auth::password::PARALLELISM,
    ))
}

async fn token_verify(options: &Options) -> Result<String, BenchError> {
    let dir = std::env::temp_dir().join(format!("heldar-bench-verify-{}", std::process::id()));
    let mut config = heldar::config::Config::for_tests(&dir);
    config.admin_password = Some(heldar::config::Secret::from(ADMIN_PASSWORD.to_owned()));
    let state = heldar::app::admin_state(config).await?;
    heldar::auth::accounts::bootstrap_admin(&state).await?;
    let token = heldar::auth::sessions::login(&state, "admin", ADMIN_PASSWORD.to_owned())
        .await?
        .access_token;
    let (mut verify, mut lookup, mut cached) = (Vec::new(), Vec::new(), Vec::new());
    let mut remembered = Vec::new();
    for _ in 0..options.rounds {
        let started = Instant::now();
        for _ in 0..20_000 {
            state.tokens.verify_signature(&token)?;
        }
        verify.push(started.elapsed().as_secs_f64() * 1e6 / 20_000.0);
        let started = Instant::now();
        for _ in 0..20_000 {
            state.tokens.verify(&token, state.clock.now())?;
        }
        remembered.push(started.elapsed().as_secs_f64() * 1e6 / 20_000.0);
        let claims = state.tokens.verify(&token, state.clock.now())?;
        let started = Instant::now();
        for _ in 0..2_000 {
            state.auth_cache.invalidate();
            heldar::auth::sessions::principal_for(&state, &claims).await?;
        }
        lookup.push(started.elapsed().as_secs_f64() * 1e6 / 2_000.0);
        let started = Instant::now();
        for _ in 0..20_000 {
            heldar::auth::sessions::principal_for(&state, &claims).await?;
        }
        cached.push(started.elapsed().as_secs_f64() * 1e6 / 20_000.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "In-process on SQLite, {} rounds of 20,000 verifications and 2,000 lookups.\n\n\
         | step | median per request |\n|---|---|\n\
         | HS256 signature, algorithm, type, issuer and audience, first use of a token | {:.1} µs |\n\
         | the same token again (remembered; time checks only) | {:.2} µs |\n\
         | revocation check, cache miss: session joined with user by primary key (one query) | {:.1} µs |\n\
         | revocation check, cache hit | {:.2} µs |\n\n\
         The resolved principal is cached per session (or key). Logout, refresh-token reuse, any user update or \
         deletion and key revocation invalidate the whole cache after their commit, so they apply to the very next \
         request on this server; session and key expiry are checked against the clock on every hit. Entries also age \
         out after `HELDAR_AUTH_CACHE_MS` (2 s), the most another instance sharing the database can lag.",
        options.rounds,
        median(&mut verify),
        median(&mut remembered),
        median(&mut lookup),
        median(&mut cached),
    ))
}

/// Seeds `count` consecutive 60 s segments ending now for camera `bench`, in batches.
async fn seed_segments(
    state: &heldar::state::AppState,
    count: usize,
) -> Result<chrono::DateTime<chrono::Utc>, BenchError> {
    use sea_orm::{ActiveModelTrait, Set};
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::minutes(count as i64);
    entity::camera::ActiveModel {
        id: Set("bench".into()),
        name: Set("Bench".into()),
        stream_url: Set("rtsp://127.0.0.1:9/none".into()),
        enabled: Set(true),
        record_enabled: Set(false),
        segment_seconds: Set(60),
        retention_hours: Set(24 * 400),
        storage_quota_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    let mut batch = Vec::with_capacity(1000);
    for i in 0..count {
        let s = start + chrono::Duration::minutes(i as i64);
        // A 5-minute hole every 6 hours, so gaps exist to be found.
        let missing = i % 360 >= 355;
        if !missing {
            batch.push(entity::segment::Model {
                id: format!("seg_{i:08}"),
                camera_id: "bench".into(),
                path: format!("bench/{i:08}.mp4"),
                start_ms: s.timestamp_millis(),
                end_ms: s.timestamp_millis() + 60_000,
                codec: Some("h264".into()),
                width: Some(1920),
                height: Some(1080),
                fps: Some(15.0),
                size_bytes: 30_000_000,
                read_locks: 0,
                evidence_locked: false,
                created_at: now,
            });
        }
        if batch.len() == 1000 || (i + 1 == count && !batch.is_empty()) {
            heldar::footage::store::insert_segments(&state.db, std::mem::take(&mut batch)).await?;
        }
    }
    // As autovacuum/`PRAGMA optimize` would: fresh statistics for the planner.
    use sea_orm::ConnectionTrait;
    state.db.execute_unprepared("ANALYZE segments").await?;
    state
        .db
        .execute_unprepared("ANALYZE footage_ranges")
        .await?;
    Ok(now)
}

/// Runs `query` `runs` times through the schema as an admin; median milliseconds.
async fn time_query(
    schema: &heldar::schema::HeldarSchema,
    principal: &heldar::auth::principal::Principal,
    query: &str,
    runs: usize,
) -> Result<f64, BenchError> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let request = async_graphql::Request::new(query).data(
            heldar::auth::principal::RequestAuth::Authenticated(principal.clone()),
        );
        let started = Instant::now();
        let response = schema.execute(request).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if !response.errors.is_empty() {
            return Err(format!("{:?}", response.errors).into());
        }
    }
    Ok(median(&mut times))
}

async fn footage(options: &Options) -> Result<String, BenchError> {
    let mut backends: Vec<(&str, Option<String>)> = vec![("SQLite", None)];
    if let Ok(url) = std::env::var("HELDAR_TEST_DATABASE_URL") {
        backends.push(("PostgreSQL", Some(url)));
    }
    let sizes = [10_000usize, 100_000, 525_600];
    let mut table = String::from(
        "| backend | segments | seed (s) | `footageCoverage` 24 h, p50 | `footageTimeline` 30 days by hour, p50 |\n|---|---|---|---|---|\n",
    );
    let mut growth = Vec::new();
    for (label, admin_url) in backends {
        let mut first_coverage = None;
        let mut first_timeline = None;
        for size in sizes {
            let dir = std::env::temp_dir().join(format!(
                "heldar-bench-footage-{}-{size}",
                std::process::id()
            ));
            let mut config = heldar::config::Config::for_tests(&dir);
            let mut drop_db = None;
            if let Some(admin) = &admin_url {
                use sea_orm::ConnectionTrait;
                let name = format!("heldar_bench_{}_{size}", std::process::id());
                let conn = sea_orm::Database::connect(admin.as_str()).await?;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await?;
                conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
                config.database_url = Some(heldar::config::Secret::from(format!("{base}/{name}")));
                drop_db = Some((conn, name));
            }
            let state = heldar::app::admin_state(config).await?;
            let seeded = Instant::now();
            let now = seed_segments(&state, size).await?;
            let seed_s = seeded.elapsed().as_secs_f64();
            let limits = heldar::schema::SchemaLimits {
                max_depth: 64,
                max_complexity: 100_000,
                introspection: true,
            };
            let schema = heldar::schema::build_schema(Some(state.clone()), limits);
            let principal = heldar::auth::principal::Principal {
                id: "bench".into(),
                name: "bench".into(),
                role: heldar::auth::principal::Role::Admin,
                kind: heldar::auth::principal::PrincipalKind::User,
                scope: heldar::auth::principal::CameraScope::All,
                session_id: "bench".into(),
                expires_at: now,
            };
            let to = now.to_rfc3339();
            let day = (now - chrono::Duration::hours(24)).to_rfc3339();
            let month = (now - chrono::Duration::days(30)).to_rfc3339();
            let coverage_q = format!(
                r#"{{ footageCoverage(cameraId: "bench", from: "{day}", to: "{to}") {{ coveredSeconds gaps {{ seconds }} }} }}"#
            );
            let timeline_q = format!(
                r#"{{ footageTimeline(cameraIds: ["bench"], from: "{month}", to: "{to}", bucket: HOUR, timeZone: "Europe/Berlin") {{ buckets {{ coveredSeconds gapCount }} }} }}"#
            );
            let runs = 10 * options.rounds;
            let coverage = time_query(&schema, &principal, &coverage_q, runs).await?;
            let timeline = time_query(&schema, &principal, &timeline_q, runs.max(5) / 2).await?;
            println!(
                "{label} {size}: seed {seed_s:.1} s, coverage {coverage:.2} ms, timeline {timeline:.2} ms"
            );
            table.push_str(&format!(
                "| {label} | {size} | {seed_s:.1} | {coverage:.2} ms | {timeline:.2} ms |\n"
            ));
            let base = *first_coverage.get_or_insert(coverage);
            let base_timeline = *first_timeline.get_or_insert(timeline);
            if size == 525_600 {
                growth.push(format!(
                    "{label}: at 525,600 rows / at 10,000 rows = {:.2} (coverage), {:.2} (timeline)",
                    coverage / base,
                    timeline / base_timeline
                ));
            }
            state.db.close_by_ref().await.ok();
            if let Some((conn, name)) = drop_db {
                use sea_orm::ConnectionTrait;
                conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await?;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(format!(
        "One camera with consecutive 60 s segments (a 5-minute hole every 6 hours), seeded through the store in 1000-row batches and analysed; \
         queries run in-process through the schema as an admin, median of {} runs (timeline: half as many).\n\n{table}\n{}\n\n\
         Targets: coverage p50 ≤ 5 ms and timeline ≤ 50 ms at 525,600 rows; growth ≤ 1.5× for the same window. Both read \
         the camera's continuous ranges (`footage_ranges`, kept with every segment insert and delete) overlapping the window.",
        10 * options.rounds,
        growth.join("; "),
    ))
}

fn record(scenario: &str, command: &str, summary: &str) -> std::io::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nFigures from `bench/run` on the project's 2-core machine: server pinned to core 0, load \
         generator to core 1, over loopback, response bodies validated. The machine is shared and noisy: \
         compare ratios from one run, not absolute numbers across runs.\n"
            .to_owned()
    });
    let start = format!("<!-- bench:{scenario} -->");
    let end = format!("<!-- /bench:{scenario} -->");
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let section = format!("{start}\n## {scenario}\n\n`{command}` ({when})\n\n{summary}\n{end}");
    let updated = match (existing.find(&start), existing.find(&end)) {
        (Some(a), Some(b)) if b > a => format!(
            "{}{}{}",
            &existing[..a],
            section,
            &existing[b + end.len()..]
        ),
        _ => format!("{}\n{}\n", existing.trim_end(), section),
    };
    std::fs::write(path, updated)
}

fn main() -> std::process::ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(2);
        }
    };
    // The export scenario runs the job runner beside the queries, as the server does.
    let runtime = if options.scenario == "export" {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match options.scenario.as_str() {
            "graphql-vs-raw" => graphql_vs_raw(&options).await,
            "login" => login(&options).await,
            "token-verify" => token_verify(&options).await,
            "footage" => footage(&options).await,
            "export" => export(&options).await,
            "perception" => perception(&options).await,
            "workers" => workers(&options).await,
            other => Err(format!("unknown scenario {other}").into()),
        }
    });
    match result {
        Ok(summary) => {
            println!("\n{summary}");
            let command = match options.scenario.as_str() {
                "token-verify" => format!("bench/run token-verify --rounds {}", options.rounds),
                "footage" => {
                    "bench/run footage (HELDAR_TEST_DATABASE_URL set for the PostgreSQL rows)"
                        .to_owned()
                }
                "export" => format!("bench/run export --rounds {}", options.rounds),
                "workers" => format!("bench/run workers --seconds {}", options.seconds),
                "perception" => format!(
                    "bench/run perception --seconds {} --rounds {}",
                    options.seconds, options.rounds
                ),
                "login" => format!(
                    "bench/run login --seconds {} --rounds {}",
                    options.seconds, options.rounds
                ),
                _ => format!(
                    "bench/run {} --seconds {} --connections {} --rounds {}",
                    options.scenario, options.seconds, options.connections, options.rounds
                ),
            };
            if options.write
                && let Err(err) = record(&options.scenario, &command, &summary)
            {
                eprintln!("could not write BENCHMARKS.md: {err}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bench failed: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Waits until every export of `ids` is READY (an error if one fails).
async fn wait_final(
    updates: &mut tokio::sync::broadcast::Receiver<entity::clip_export::Model>,
    ids: &[&str],
) -> Result<(), BenchError> {
    let mut pending: Vec<&str> = ids.to_vec();
    while !pending.is_empty() {
        match updates.recv().await {
            Ok(row) if pending.contains(&row.id.as_str()) && row.status.is_final() => {
                if row.status != entity::vocab::ClipStatus::Ready {
                    return Err(
                        format!("export {} ended {}: {:?}", row.id, row.status, row.error).into(),
                    );
                }
                pending.retain(|id| *id != row.id);
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                return Err("missed export updates".into());
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Queues an export through the schema; its id.
async fn queue_export(
    schema: &heldar::schema::HeldarSchema,
    principal: &heldar::auth::principal::Principal,
    from: chrono::DateTime<chrono::Utc>,
    seconds: i64,
) -> Result<String, BenchError> {
    let query = format!(
        r#"mutation {{ exportClip(input: {{cameraId: "bench", from: "{}", to: "{}"}}) {{ id }} }}"#,
        from.to_rfc3339(),
        (from + chrono::Duration::seconds(seconds)).to_rfc3339()
    );
    let request = async_graphql::Request::new(query).data(
        heldar::auth::principal::RequestAuth::Authenticated(principal.clone()),
    );
    let response = schema.execute(request).await;
    if !response.errors.is_empty() {
        return Err(format!("{:?}", response.errors).into());
    }
    let data = response.data.into_json()?;
    Ok(data["exportClip"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values.get(index).copied().unwrap_or(0.0)
}

async fn export(options: &Options) -> Result<String, BenchError> {
    use sea_orm::{ActiveModelTrait, Set};
    let dir = std::env::temp_dir().join(format!("heldar-bench-export-{}", std::process::id()));
    let mut config = heldar::config::Config::for_tests(&dir);
    config.index_settle_ms = 0;
    config.media_jobs = 2;
    let state = heldar::app::admin_state(config).await?;
    heldar::evidence::exports::recover(&state).await?;
    let now = chrono::Utc::now();
    entity::camera::ActiveModel {
        id: Set("bench".into()),
        name: Set("Bench".into()),
        stream_url: Set("rtsp://127.0.0.1:9/none".into()),
        enabled: Set(true),
        record_enabled: Set(false),
        segment_seconds: Set(2),
        retention_hours: Set(24 * 400),
        storage_quota_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    // One hour of 640x360 at 15 fps and 2 Mb/s, cut into 60 one-minute files as the recorder would.
    let base = chrono::DateTime::from_timestamp(now.timestamp() - 7200, 0).unwrap_or(now);
    let cam_dir = dir.join("recordings/bench");
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&cam_dir)?;
    std::fs::create_dir_all(&scratch)?;
    let generated = Instant::now();
    let status = tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=640x360:rate=15:duration=3600")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-b:v",
            "2M",
        ])
        .args(["-maxrate", "2M", "-bufsize", "4M", "-pix_fmt", "yuv420p"])
        .args([
            "-f",
            "segment",
            "-segment_time",
            "60",
            "-reset_timestamps",
            "1",
        ])
        .arg(scratch.join("s%03d.mp4"))
        .status()
        .await?;
    if !status.success() {
        return Err("ffmpeg could not generate the footage".into());
    }
    let mut files = Vec::new();
    for i in 0..60 {
        let start = base + chrono::Duration::seconds(i * 60);
        let path = cam_dir.join(format!("{}.mp4", start.format("%Y%m%d_%H%M%S")));
        std::fs::rename(scratch.join(format!("s{i:03}.mp4")), &path)?;
        files.push(path);
    }
    println!(
        "generated 60 × 60 s in {:.1} s",
        generated.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let indexed = heldar::footage::indexer::index_once(&state).await?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    println!("indexed {indexed} segments, {:.0} MB", bytes as f64 / 1e6);
    let runner = tokio::spawn(heldar::evidence::exports::run(state.clone()));
    let schema = heldar::schema::build_schema(
        Some(state.clone()),
        heldar::schema::SchemaLimits {
            max_depth: 64,
            max_complexity: 100_000,
            introspection: true,
        },
    );
    let principal = heldar::auth::principal::Principal {
        id: "bench".into(),
        name: "bench".into(),
        role: heldar::auth::principal::Role::Admin,
        kind: heldar::auth::principal::PrincipalKind::User,
        scope: heldar::auth::principal::CameraScope::All,
        session_id: "bench".into(),
        expires_at: now + chrono::Duration::days(1),
    };
    let list = scratch.join("raw.txt");
    std::fs::write(
        &list,
        files
            .iter()
            .map(|f| format!("file '{}'\n", f.display()))
            .collect::<String>(),
    )?;
    let (mut raw, mut job, mut short) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.rounds {
        let out = scratch.join("raw.mp4");
        let started = Instant::now();
        let status = tokio::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
            ])
            .arg(&list)
            .args(["-c", "copy"])
            .arg(&out)
            .status()
            .await?;
        raw.push(started.elapsed().as_secs_f64());
        if !status.success() {
            return Err("raw ffmpeg concat failed".into());
        }
        let _ = std::fs::remove_file(&out);
        let mut updates = state.media.updates.subscribe();
        let started = Instant::now();
        let id = queue_export(&schema, &principal, base, 3600).await?;
        wait_final(&mut updates, &[&id]).await?;
        job.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let id5 = queue_export(
            &schema,
            &principal,
            base + chrono::Duration::seconds(1234),
            300,
        )
        .await?;
        wait_final(&mut updates, &[&id5]).await?;
        short.push(started.elapsed().as_secs_f64() * 1000.0);
        for id in [id, id5] {
            for ext in ["mp4", "json"] {
                let _ = std::fs::remove_file(dir.join("exports").join(format!("{id}.{ext}")));
            }
        }
    }
    // footageCoverage latency alone, then while two one-hour exports run.
    let coverage = format!(
        r#"{{ footageCoverage(cameraId: "bench", from: "{}", to: "{}") {{ coveredSeconds gaps {{ seconds }} }} }}"#,
        base.to_rfc3339(),
        (base + chrono::Duration::hours(24)).to_rfc3339()
    );
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(time_query(&schema, &principal, &coverage, 1).await?);
    }
    let mut updates = state.media.updates.subscribe();
    let a = queue_export(&schema, &principal, base, 3600).await?;
    let b = queue_export(&schema, &principal, base, 3600).await?;
    let waiting = tokio::spawn(async move { wait_final(&mut updates, &[&a, &b]).await });
    let mut busy = Vec::new();
    while !waiting.is_finished() {
        busy.push(time_query(&schema, &principal, &coverage, 1).await?);
    }
    waiting.await??;
    runner.abort();
    state.db.close_by_ref().await.ok();
    let _ = std::fs::remove_dir_all(&dir);
    let (raw_m, job_m) = (median(&mut raw), median(&mut job));
    Ok(format!(
        "60 one-minute files (640x360, 15 fps, 2 Mb/s H.264, {:.0} MB) generated with ffmpeg and indexed; jobs queued through the schema as an admin \
         and timed from the mutation to READY (runner, read locks, ffmpeg concat with `-progress`, SHA-256, keyframe probe, manifest). \
         The raw figure is `ffmpeg -f concat -safe 0 -i list -c copy out.mp4` over the same files in the same run, alternating; medians of {} rounds.\n\n\
         | measure | value |\n|---|---|\n\
         | one-hour export job, p50 | {job_m:.2} s |\n\
         | raw `ffmpeg -f concat -c copy`, p50 | {raw_m:.2} s |\n\
         | job / raw | {:.2} (target ≤ 1.1) |\n\
         | 5-minute clip, mutation to READY, p50 | {:.0} ms |\n\
         | `footageCoverage` 24 h, idle: p50 / p99 | {:.2} / {:.2} ms ({} queries) |\n\
         | `footageCoverage` 24 h, two exports running: p50 / p99 | {:.2} / {:.2} ms ({} queries) |",
        bytes as f64 / 1e6,
        options.rounds,
        job_m / raw_m,
        median(&mut short),
        percentile(&mut idle, 0.5),
        percentile(&mut idle, 0.99),
        idle.len(),
        percentile(&mut busy, 0.5),
        percentile(&mut busy, 0.99),
        busy.len(),
    ))
}

/// One GraphQL call over a fresh connection.
async fn gql(
    port: u16,
    token: Option<&str>,
    query: &str,
    variables: serde_json::Value,
) -> Result<serde_json::Value, BenchError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::post("/graphql")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = serde_json::json!({"query": query, "variables": variables}).to_string();
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    if !value["errors"].is_null() {
        return Err(format!("{value}").into());
    }
    Ok(value["data"].clone())
}

const INGEST_DOC: &str =
    "mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }";

/// A batch of `n` detections; track `t0` alternates inside and outside the zone by `flip`.
fn batch(frame: &str, n: usize, flip: bool) -> String {
    let detections: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let x = if i == 0 {
                if flip { 0.7 } else { 0.1 }
            } else {
                0.05 + 0.08 * (i % 10) as f64
            };
            serde_json::json!({"label": "person", "confidence": 0.9, "trackId": format!("t{i}"),
                "bbox": {"x": x, "y": 0.3, "w": 0.05, "h": 0.2}})
        })
        .collect();
    serde_json::json!({"query": INGEST_DOC, "variables": {"i": {"cameraId": "bench", "taskType": "detect", "frameId": frame,
        "capturedAt": chrono::Utc::now().to_rfc3339(), "detections": detections}}}).to_string()
}

/// Posts batches of 10 with unique frame ids until `until`; latencies in µs.
async fn ingest_loop(
    port: u16,
    token: String,
    worker: usize,
    until: Instant,
) -> Result<(Vec<u32>, u64), BenchError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let (mut latencies, mut errors, mut i) = (Vec::new(), 0u64, 0usize);
    while Instant::now() < until {
        i += 1;
        let body = batch(
            &format!("w{worker}-{i}-{}", std::process::id()),
            10,
            i % 2 == 0,
        );
        let request = Request::post("/graphql")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::from(body)))?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        let bytes = response.into_body().collect().await?.to_bytes();
        latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        if !ok || memchr_errors(&bytes) {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A websocket (`graphql-transport-ws`) signed in with `token`, with `query` subscribed as id 1.
async fn subscribe_ws(
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

/// A subscriber: connects, subscribes to the camera's events, and reports (frameId, receive time).
async fn subscriber(
    port: u16,
    token: String,
    ready: tokio::sync::mpsc::Sender<()>,
    out: tokio::sync::mpsc::UnboundedSender<(String, Instant)>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), BenchError> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = subscribe_ws(
        port,
        &token,
        "subscription { perceptionEvents(filter: {cameraIds: [\"bench\"]}) { payload } }",
    )
    .await?;
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

async fn perception(options: &Options) -> Result<String, BenchError> {
    let server = start_server(&[("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned())])?;
    let port = server.port;
    let admin = admin_token(port).await?;
    gql(port, Some(&admin), "mutation { createCamera(input: {id: \"bench\", name: \"bench\", streamUrl: \"rtsp://127.0.0.1:9/x\", recordEnabled: false}) { id } }", serde_json::json!({})).await?;
    gql(port, Some(&admin), "mutation { createZone(input: {cameraId: \"bench\", name: \"right\", confirmFrames: 1, points: [{x: 0.5, y: 0}, {x: 1, y: 0}, {x: 1, y: 1}, {x: 0.5, y: 1}]}) { id } }", serde_json::json!({})).await?;
    let key = gql(
        port,
        Some(&admin),
        "mutation { createApiKey(input: {name: \"worker\", role: INTEGRATION}) { key } }",
        serde_json::json!({}),
    )
    .await?;
    let key = key["createApiKey"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let worker = gql(
        port,
        None,
        "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
        serde_json::json!({"k": key}),
    )
    .await?;
    let worker = worker["exchangeApiKey"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Ingest throughput, batches of 10, 8 and 32 concurrent workers.
    let mut rows = String::new();
    for workers in [8usize, 32] {
        let mut runs = Vec::new();
        for _ in 0..options.rounds {
            let until = Instant::now() + Duration::from_secs(options.seconds);
            let started = Instant::now();
            let tasks: Vec<_> = (0..workers)
                .map(|w| {
                    tokio::spawn(ingest_loop(
                        port,
                        worker.clone(),
                        w + 1000 * runs.len(),
                        until,
                    ))
                })
                .collect();
            let (mut latencies, mut errors) = (Vec::new(), 0);
            for t in tasks {
                let (l, e) = t.await??;
                latencies.extend(l);
                errors += e;
            }
            if errors > 0 {
                return Err(format!("{errors} ingest errors").into());
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort_unstable();
            let pick = |q: f64| {
                latencies
                    .get(((latencies.len() as f64 - 1.0) * q) as usize)
                    .copied()
                    .unwrap_or(0) as f64
                    / 1000.0
            };
            runs.push((
                latencies.len() as f64 * 10.0 / elapsed,
                pick(0.5),
                pick(0.99),
            ));
        }
        let m =
            |f: fn(&(f64, f64, f64)) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        println!(
            "ingest, {workers} workers: {:.0} detections/s, p50 {:.2} ms, p99 {:.2} ms",
            m(|r| r.0),
            m(|r| r.1),
            m(|r| r.2)
        );
        rows.push_str(&format!(
            "| SQLite | {workers} | {:.0} | {:.2} ms | {:.2} ms |\n",
            m(|r| r.0),
            m(|r| r.1),
            m(|r| r.2)
        ));
    }

    // 1,000 subscribers: memory per idle subscription, then delivery latency at 100 events/s.
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(1000);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let subscribers = 1000;
    let mut handles = Vec::new();
    for _ in 0..subscribers {
        handles.push(tokio::spawn(subscriber(
            port,
            admin.clone(),
            ready_tx.clone(),
            out_tx.clone(),
            stop_rx.clone(),
        )));
    }
    for _ in 0..subscribers {
        ready_rx
            .recv()
            .await
            .ok_or("a subscriber failed to start")?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    let per_subscription = (after.saturating_sub(before)) as f64 * 1024.0 / subscribers as f64;
    println!(
        "RSS {before} KiB -> {after} KiB with {subscribers} idle subscriptions: {:.1} KB each",
        per_subscription / 1000.0
    );
    let mut sent = std::collections::HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let events = 100 * options.seconds as usize;
    let mut calls = Vec::new();
    for i in 0..events {
        ticker.tick().await;
        let frame = format!("lat-{i}");
        let body = batch(&frame, 1, i % 2 == 0);
        sent.insert(frame, Instant::now());
        let port2 = port;
        let token = worker.clone();
        calls.push(tokio::spawn(async move {
            let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            gql(port2, Some(&token), INGEST_DOC, value["variables"].clone())
                .await
                .map(|v| v["ingestDetections"]["events"].as_u64().unwrap_or(0))
                .map_err(|e| e.to_string())
        }));
    }
    let (mut produced, mut failed) = (0u64, Vec::new());
    for call in calls {
        match call.await {
            Ok(Ok(n)) => produced += n,
            Ok(Err(e)) => failed.push(e),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !failed.is_empty() {
        println!("{} ingest calls failed, first: {}", failed.len(), failed[0]);
    }
    println!("{produced} events produced by {events} batches");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    drop(out_tx);
    for h in handles {
        let _ = h.await;
    }
    let mut latencies = Vec::new();
    while let Ok((frame, at)) = out_rx.try_recv() {
        if let Some(sent_at) = sent.get(&frame) {
            latencies.push(at.saturating_duration_since(*sent_at).as_secs_f64() * 1000.0);
        }
    }
    let delivered = latencies.len();
    let p50 = percentile(&mut latencies, 0.5);
    let p99 = percentile(&mut latencies, 0.99);
    println!(
        "delivery to {subscribers} subscribers: {delivered} messages of {} expected, p50 {p50:.1} ms, p99 {p99:.1} ms",
        events * subscribers
    );
    Ok(format!(
        "A release server on SQLite; one camera with one zone; workers post batches of 10 detections through `ingestDetections` over keep-alive HTTP \
         (unique frame ids, so every batch commits an outbox row, 10 detections and runs the zone engine), {} s per run, median of {} runs.\n\n\
         | backend | workers | detections/s | commit p50 | commit p99 |\n|---|---|---|---|---|\n{rows}\n\
         1,000 websocket subscribers (`perceptionEvents` for the camera) on the same 2-core machine as the server, with ingest at 100 events/s for {} s \
         (each batch moves one track across the zone line; the calls are concurrent, so two that arrive out of order make one crossing, not two):\n\n\
         | measure | value | target |\n|---|---|---|\n\
         | delivered (events the batches produced × subscribers; {events} batches, {} failed calls) | {delivered} of {} | all |\n\
         | ingest call to receipt, p50 | {p50:.1} ms | |\n\
         | ingest call to receipt, p99 | {p99:.1} ms | ≤ 50 ms |\n\
         | server memory per idle subscription (RSS growth / 1,000) | {:.1} KB | ≤ 64 KB |",
        options.seconds,
        options.rounds,
        options.seconds,
        failed.len(),
        produced as usize * subscribers,
        per_subscription / 1000.0,
    ))
}

/// CPU seconds a process has used (user + system), from `/proc/<pid>/stat`.
fn process_cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // After the command: state is field 3, so utime (14) and stime (15) are 11 and 12 here.
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// Runs ffmpeg with `args` for `seconds`; returns the CPU seconds it used.
async fn ffmpeg_cpu(args: &[String], seconds: u64) -> Result<f64, BenchError> {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("ffmpeg exited at once")?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = process_cpu_seconds(pid);
    child.kill().await?;
    Ok(cpu)
}

/// The worker contract: sampler CPU per granted frame, frame-pull latency, and the latency from
/// a frame's capture to the zone event it causes reaching a subscriber, with the reference worker.
async fn workers(options: &Options) -> Result<String, BenchError> {
    let dir = std::env::temp_dir().join(format!("heldar-bench-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // 1. Sampler cost over a 1280×720 25 fps H.264 file, as a camera's stream would be.
    let source = dir.join("source.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25",
            "-t",
            "20",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&source)
        .status()?;
    if !made.success() {
        return Err("ffmpeg could not make the test stream".into());
    }
    let url = format!("file://{}", source.display());
    let run_for = options.seconds.max(5);
    let mut decode_only = heldar::fleet::ffmpeg::input_args(&url);
    decode_only.splice(0..0, ["-nostdin", "-loglevel", "error"].map(String::from));
    decode_only.extend(["-an", "-f", "null", "-"].map(String::from));
    let baseline = ffmpeg_cpu(&decode_only, run_for).await? / run_for as f64;
    println!(
        "decoding 1280x720 at 25 fps alone: {:.1}% of a core",
        baseline * 100.0
    );
    let mut sampler_rows = String::new();
    for width in [640, 1280] {
        for fps in [1.0, 5.0, 10.0] {
            let out = dir.join(format!("latest_{width}_{fps}.jpg"));
            let args = heldar::fleet::ffmpeg::sample_args(&url, fps, width, &out);
            let cpu = ffmpeg_cpu(&args, run_for).await? / run_for as f64;
            let extra = (cpu - baseline).max(0.0);
            println!(
                "sampler {width} px at {fps} fps: {:.1}% of a core ({:.1} ms per frame above decoding)",
                cpu * 100.0,
                extra * 1000.0 / fps
            );
            sampler_rows.push_str(&format!(
                "| {width} | {fps} | {:.1} % | {:.1} ms |\n",
                cpu * 100.0,
                extra * 1000.0 / fps
            ));
        }
    }

    // 2 and 3: a server with the demo scene, a motion task and a zone; the reference worker.
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("HELDAR_ALLOW_LOCAL_SOURCES", "true".to_owned()),
        ("HELDAR_INGEST_PROVENANCE", "enforce".to_owned()),
    ])?;
    let port = server.port;
    let admin = admin_token(port).await?;
    let scene = heldar::demo::DEMO_SOURCE.replace("horizontal=0.005", "horizontal=0.02");
    gql(port, Some(&admin), "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }",
        serde_json::json!({"i": {"id": "demo", "name": "demo", "streamUrl": scene, "recordEnabled": false}})).await?;
    gql(port, Some(&admin), "mutation { createZone(input: {cameraId: \"demo\", name: \"middle\", confirmFrames: 1, points: [{x: 0.35, y: 0}, {x: 0.65, y: 0}, {x: 0.65, y: 1}, {x: 0.35, y: 1}]}) { id } }", serde_json::json!({})).await?;
    gql(port, Some(&admin), "mutation { createAiTask(input: {cameraId: \"demo\", taskType: \"motion\", fps: 5, width: 640}) { id } }", serde_json::json!({})).await?;
    let key = gql(
        port,
        Some(&admin),
        "mutation { createApiKey(input: {name: \"worker\", role: INTEGRATION}) { key } }",
        serde_json::json!({}),
    )
    .await?;
    let key = key["createApiKey"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = gql(
        port,
        None,
        "mutation($k: String!) { exchangeApiKey(apiKey: $k) { accessToken } }",
        serde_json::json!({"k": key}),
    )
    .await?;
    let token = token["exchangeApiKey"]["accessToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let lease = gql(port, Some(&token), "mutation { leaseAiTasks(input: {workerId: \"bench-pull\", ttlSeconds: 120}) { leaseId tasks { frameUrl } } }", serde_json::json!({})).await?;
    let frame_url = lease["leaseAiTasks"]["tasks"][0]["frameUrl"]
        .as_str()
        .ok_or("no task leased")?
        .to_owned();
    let lease_id = lease["leaseAiTasks"]["leaseId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Frame pulls over one keep-alive connection, with the ticket.
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let waited = Instant::now();
    let mut pulls = Vec::new();
    let mut bytes = 0usize;
    while pulls.len() < 500 {
        let request = Request::get(frame_url.as_str())
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        let ticketed = response.headers().contains_key("x-frame-ticket");
        let body = response.into_body().collect().await?.to_bytes();
        if status == 404 {
            if waited.elapsed() > Duration::from_secs(20) {
                return Err("the sampler produced no frame in 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if !status.is_success() || !ticketed {
            return Err(format!("frame pull answered {status} (ticket: {ticketed})").into());
        }
        bytes = body.len();
        pulls.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let pull_p50 = percentile(&mut pulls, 0.5);
    let pull_p99 = percentile(&mut pulls, 0.99);
    println!("frame pull with ticket ({bytes} bytes): p50 {pull_p50:.2} ms, p99 {pull_p99:.2} ms");
    gql(
        port,
        Some(&token),
        "mutation($l: String!) { releaseAiLease(leaseId: $l) }",
        serde_json::json!({"l": lease_id}),
    )
    .await?;

    // Capture to subscriber: the worker runs here; a subscriber watches the zone's events.
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut ws = subscribe_ws(
        port,
        &admin,
        "subscription { perceptionEvents(filter: {kinds: [\"ZONE_ENTER\", \"ZONE_EXIT\"]}) { kind payload } }",
    )
    .await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(heldar::worker::run(
        heldar::worker::WorkerOptions {
            server: format!("http://127.0.0.1:{port}"),
            api_key: key,
            worker_id: "bench-worker".into(),
            task_types: vec!["motion".into()],
            lease_seconds: 60,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let watch = Duration::from_secs(options.seconds.max(30));
    let until = tokio::time::Instant::now() + watch;
    let mut latencies = Vec::new();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, ws.next()).await {
        let received = chrono::Utc::now().timestamp_millis();
        let Message::Text(text) = message else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(text.as_str())?;
        if value["type"] == "ping" {
            ws.send(Message::text(r#"{"type":"pong"}"#)).await?;
            continue;
        }
        let event = &value["payload"]["data"]["perceptionEvents"];
        let captured = event["payload"]["frameId"]
            .as_str()
            .and_then(|f| f.rsplit(':').next())
            .and_then(|ms| ms.parse::<i64>().ok());
        if let (Some(kind), Some(captured)) = (event["kind"].as_str(), captured) {
            *kinds.entry(kind.to_owned()).or_default() += 1;
            latencies.push((received - captured) as f64);
        }
    }
    let _ = stop_tx.send(());
    let _ = worker.await;
    let events = latencies.len();
    if events == 0 {
        return Err("the worker produced no zone event".into());
    }
    let e2e_p50 = percentile(&mut latencies, 0.5);
    let e2e_max = latencies.iter().copied().fold(0.0, f64::max);
    println!(
        "capture to subscriber over {events} zone events {kinds:?}: p50 {e2e_p50:.0} ms, max {e2e_max:.0} ms"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "**Sampler cost.** The sampler's own ffmpeg command (`sampler::ffmpeg_args`) over a 1280×720, 25 fps H.264 stream \
         (a file played in real time, as a camera delivers it), {run_for} s per row, CPU from `/proc`. Decoding that stream \
         alone costs {:.1} % of a core: it is paid once per sampler whatever rate is granted.\n\n\
         | width | granted fps | CPU (of one core) | CPU per granted frame above decoding |\n|---|---|---|---|\n{sampler_rows}\n\
         **Frame pull.** 500 pulls of the demo camera's latest 640-px frame ({bytes} bytes) over one keep-alive connection by the \
         lease holder, each answered with a fresh ticket: p50 {pull_p50:.2} ms, p99 {pull_p99:.2} ms.\n\n\
         **Capture to subscriber.** The demo scene (the box crossing every 5 s), a motion task at 5 fps and 640 px, a zone across \
         the middle, the reference worker (`heldar::worker::run`, in the load generator) and one websocket subscriber, for {} s. \
         Latency is the subscriber's receive time minus the frame's capture time (from the event's frame id): {events} zone events \
         ({kinds:?}), p50 {e2e_p50:.0} ms, max {e2e_max:.0} ms. It includes waiting for the worker's next pull (up to 200 ms at 5 fps).",
        baseline * 100.0,
        watch.as_secs(),
    ))
}
