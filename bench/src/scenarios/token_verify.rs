//! `token-verify`: in-process cost of verifying an access token and of the revocation lookup.

use std::time::Instant;

use crate::harness::server::ADMIN_PASSWORD;
use crate::harness::stats::median;
use crate::{BenchError, Options};

pub(crate) async fn token_verify(options: &Options) -> Result<String, BenchError> {
    let dir = std::env::temp_dir().join(format!("heldar-bench-verify-{}", std::process::id()));
    let mut config = heldar::config::Config::for_tests(&dir);
    config.admin_password = Some(heldar::config::Secret::from(ADMIN_PASSWORD.to_owned()));
    let state = heldar::app::admin_state(config).await?;
    heldar::auth::accounts::bootstrap_admin(&state).await?;
    let token = heldar::auth::sessions::login(&state, "admin", ADMIN_PASSWORD.to_owned(), None)
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
