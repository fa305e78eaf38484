//! Identity and access: passwords, tokens, sessions, API keys, roles and camera scopes.

pub mod accounts;
pub mod cache;
pub mod graphql;
pub mod password;
pub mod principal;
pub mod sessions;
pub mod throttle;
pub mod token;

use std::time::Duration;

use axum::http::HeaderValue;
use serde_json::{Map, Value as Json};

use crate::auth::principal::RequestAuth;
use crate::error::AppError;
use crate::state::AppState;

/// What `connection_init` resolved to: the caller and when its credential stops being valid.
#[derive(Debug, Clone)]
pub struct ConnectionAuth {
    /// Authentication attached to every operation of the socket.
    pub auth: RequestAuth,
    /// When the socket must be closed with 4403 so the client refreshes its token.
    pub expires_at: Option<tokio::time::Instant>,
    /// The access token, re-checked whenever an operation starts.
    pub token: Option<String>,
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Resolves an `Authorization` header: none is anonymous; anything present must verify, and a
/// refusal is kept (not downgraded to anonymous) so guarded fields report why.
pub async fn authenticate_header(state: &AppState, header: Option<&HeaderValue>) -> RequestAuth {
    let Some(header) = header else {
        return RequestAuth::Anonymous;
    };
    let Some(token) = header.to_str().ok().and_then(bearer) else {
        return RequestAuth::Invalid(
            "the Authorization header must be `Bearer <access token>`".into(),
        );
    };
    match sessions::authenticate_token(state, token).await {
        Ok(principal) => RequestAuth::Authenticated(principal),
        Err(AppError::Unauthenticated(reason)) => RequestAuth::Invalid(reason),
        Err(err) => RequestAuth::Invalid(if matches!(err, AppError::Unavailable(_)) {
            "authentication unavailable: database busy; retry shortly".into()
        } else {
            tracing::error!(error = %err, "authentication failed");
            "authentication failed".into()
        }),
    }
}

/// The websocket `connection_init` hook: the payload must carry `{"authorization": "Bearer …"}`.
/// The socket is closed with 4403 when the token expires, so the client refreshes and reconnects.
pub async fn connection_init(
    state: &AppState,
    payload: Option<Map<String, Json>>,
) -> Result<ConnectionAuth, AppError> {
    let value = payload
        .as_ref()
        .and_then(|p| p.get("authorization").or_else(|| p.get("Authorization")))
        .and_then(Json::as_str)
        .ok_or_else(|| {
            AppError::Unauthenticated(
                "connection_init payload needs `authorization: Bearer <access token>`".into(),
            )
        })?;
    let token = bearer(value).ok_or_else(|| {
        AppError::Unauthenticated("authorization must be `Bearer <access token>`".into())
    })?;
    let principal = sessions::authenticate_token(state, token).await?;
    let remaining = (principal.expires_at - state.clock.now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    Ok(ConnectionAuth {
        auth: RequestAuth::Authenticated(principal),
        expires_at: Some(tokio::time::Instant::now() + remaining),
        token: Some(token.to_owned()),
    })
}

/// Whether an open socket's credential still stands as it was accepted: `Err` with the reason
/// when it was revoked, expired, or now grants something else (role, scope), so the socket is
/// closed and the client signs in again; `Ok` also when the check itself cannot run now
/// (a busy database), in which case the next check decides.
pub async fn still_valid(state: &AppState, auth: &ConnectionAuth) -> Result<(), String> {
    let RequestAuth::Authenticated(before) = &auth.auth else {
        return Ok(());
    };
    match recheck(state, auth).await {
        Ok(RequestAuth::Authenticated(now))
            if now.role == before.role && now.scope == before.scope =>
        {
            Ok(())
        }
        Ok(_) => Err("credential changed; sign in again".into()),
        Err(AppError::Unavailable(_)) => Ok(()),
        Err(AppError::Unauthenticated(reason)) => Err(reason),
        Err(_) => Err("credential no longer valid".into()),
    }
}

/// When a long-lived stream (a websocket, an SSE stream) checks its credential again without
/// being told of a change: a change made on this instance is signalled at once
/// ([`AuthCache::changes`](cache::AuthCache::changes)), one made by another instance sharing
/// the database is not, so on PostgreSQL (the only database instances can share) the stream
/// re-checks every auth cache lifetime (at least a second); elsewhere never.
pub struct Recheck(Option<tokio::time::Interval>);

impl Recheck {
    /// The timer for this server's database.
    pub fn new(state: &AppState) -> Recheck {
        let shared = sea_orm::ConnectionTrait::get_database_backend(&state.db)
            == sea_orm::DatabaseBackend::Postgres;
        Recheck(shared.then(|| {
            let every = state.auth_cache.ttl().max(Duration::from_secs(1));
            let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            timer
        }))
    }

    /// Waits for the next check (forever when none is needed).
    pub async fn tick(&mut self) {
        match &mut self.0 {
            Some(timer) => {
                timer.tick().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Re-checks a socket's credential before an operation starts, so a revoked session, a
/// deactivated user or a changed role applies to every new subscription.
pub async fn recheck(state: &AppState, auth: &ConnectionAuth) -> Result<RequestAuth, AppError> {
    match &auth.token {
        Some(token) => Ok(RequestAuth::Authenticated(
            sessions::authenticate_token(state, token).await?,
        )),
        None => Ok(auth.auth.clone()),
    }
}
