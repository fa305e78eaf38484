//! `graphql-vs-raw`: an authenticated GraphQL query against a plain axum JSON route of the same
//! binary (built with the `bench-routes` feature).

use std::time::Instant;

use crate::harness::client::admin_token;
use crate::harness::load::{Run, load};
use crate::harness::server::{ADMIN_PASSWORD, Server, start_server};
use crate::harness::stats::{cpu_seconds, median, process_cpu_seconds};
use crate::{BenchError, Options};

/// A load run with the server's CPU time per response over it, in microseconds: on a shared
/// machine it moves less than throughput, since time the server waits for its core is not in it.
async fn measured(
    server: &Server,
    run: impl std::future::Future<Output = Result<Run, BenchError>>,
) -> Result<(Run, f64), BenchError> {
    let before = process_cpu_seconds(server.child.id());
    let run = run.await?;
    let cpu = process_cpu_seconds(server.child.id()) - before;
    Ok((run, cpu * 1e6 / run.requests.max(1) as f64))
}

pub(crate) async fn graphql_vs_raw(options: &Options) -> Result<String, BenchError> {
    let server = start_server(&[
        ("HELDAR_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        // The limit is checked on every operation (its cost is measured) but set above
        // the load this scenario drives from one credential.
        ("HELDAR_RATE_LIMIT_PER_SEC", "100000000".to_owned()),
        ("HELDAR_RATE_LIMIT_BURST", "100000000".to_owned()),
    ])?;
    let query = r#"{"query":"{ serverInfo { version } }"}"#;
    let bare_query = r#"{"query":"{ __typename }"}"#;
    let token = Some(admin_token(server.port).await?);
    let (mut raw, mut gql, mut bare, mut floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    for round in 1..=options.rounds {
        let run = |path: &'static str, body: &'static str, token: Option<String>| {
            measured(&server, load(server.port, path, body, token, options))
        };
        let r = run("/bench/echo", query, None).await?;
        let g = run("/graphql", query, token.clone()).await?;
        let b = run("/graphql", bare_query, None).await?;
        let f = run("/bench/graphql-floor", query, None).await?;
        println!(
            "round {round}: raw {:>7.0} rps {:>5.1} µs | graphql+auth {:>7.0} rps {:>5.1} µs | bare graphql {:>7.0} rps | async-graphql alone {:>7.0} rps {:>5.1} µs | ratio {:.2}",
            r.0.rps,
            r.1,
            g.0.rps,
            g.1,
            b.0.rps,
            f.0.rps,
            f.1,
            g.0.rps / r.0.rps
        );
        let errors = r.0.errors + g.0.errors + b.0.errors + f.0.errors;
        if errors > 0 {
            return Err(
                format!("{errors} error responses: the figures would be meaningless").into(),
            );
        }
        raw.push(r);
        gql.push(g);
        bare.push(b);
        floor.push(f);
    }
    let loader_cpu = (cpu_seconds() - cpu_before) / wall.elapsed().as_secs_f64();
    // Per round: throughput against raw, and raw's CPU per response against the other's.
    let ratio = |runs: &[(Run, f64)], by: fn(&(Run, f64), &(Run, f64)) -> f64| {
        median(
            &mut raw
                .iter()
                .zip(runs)
                .map(|(r, x)| by(r, x))
                .collect::<Vec<_>>(),
        )
    };
    let by_rps = |r: &(Run, f64), x: &(Run, f64)| x.0.rps / r.0.rps;
    let by_cpu = |r: &(Run, f64), x: &(Run, f64)| r.1 / x.1;
    let row = |label: &str, runs: &[(Run, f64)]| {
        let m = |f: fn(&(Run, f64)) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        format!(
            "| {label} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs |\n",
            m(|r| r.0.rps),
            m(|r| r.0.p50_ms),
            m(|r| r.0.p99_ms),
            m(|r| r.1)
        )
    };
    Ok(format!(
        "{} concurrent keep-alive connections, {} s per run, {} rounds (raw, authenticated GraphQL, bare GraphQL, async-graphql alone in turn).\n\n\
         | endpoint | median rps | median p50 | median p99 | server CPU per response |\n|---|---|---|---|---|\n{}{}{}{}\n\
         **Authenticated GraphQL / raw throughput ratio: {:.2}** (median of per-round ratios; the published async-graphql figure is 0.41, target ≥ 0.8); by server CPU per response (raw's over GraphQL's, which the machine's noise moves less): {:.2}. \
         Bare GraphQL / raw: {:.2}. async-graphql alone / raw: {:.2} (by CPU {:.2}): the same query through `Schema::execute` of a one-field schema with a parsed-document cache and none of this server's work (no token, limits, metrics or extension), about the ceiling for a GraphQL route on this library. The authenticated query checks the JWT on every request (its signature on first use; a token seen before is remembered and only its times are checked) and resolves its principal through the revocation cache. \
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
        row(
            "`POST /bench/graphql-floor` `{ serverInfo { version } }`: async-graphql alone",
            &floor
        ),
        ratio(&gql, by_rps),
        ratio(&gql, by_cpu),
        ratio(&bare, by_rps),
        ratio(&floor, by_rps),
        ratio(&floor, by_cpu),
        loader_cpu * 100.0,
    ))
}
