//! `graphql-vs-raw`: an authenticated GraphQL query against a plain axum JSON route of the same
//! binary (built with the `bench-routes` feature).

use std::time::Instant;

use crate::harness::client::admin_token;
use crate::harness::load::{Run, load};
use crate::harness::server::{ADMIN_PASSWORD, start_server};
use crate::harness::stats::{cpu_seconds, median};
use crate::{BenchError, Options};

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
         **Authenticated GraphQL / raw throughput ratio: {:.2}** (median of per-round ratios; the published async-graphql figure is 0.41, target ≥ 0.8). \
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
