//! `login`: sign-in throughput and latency under 8 concurrent clients (argon2id-bound).

use crate::harness::load::{Run, load};
use crate::harness::server::{ADMIN_PASSWORD, start_server};
use crate::harness::stats::median;
use crate::{BenchError, Options};

pub(crate) async fn login(options: &Options) -> Result<String, BenchError> {
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("HELDAR_LOGIN_MAX_FAILURES", "0".into()),
    ])?;
    let body = format!(
        r#"{{"query":"mutation {{ login(username: \"admin\", password: \"{ADMIN_PASSWORD}\") {{ accessToken }} }}"}}"#
    );
    let options = Options {
        connections: 8,
        scenario: options.scenario,
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
