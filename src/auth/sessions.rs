//! Sign-in, sessions, API keys, users: the rules, over the store.

use chrono::{DateTime, Duration, Utc};
use entity::{api_key, refresh_token, session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionTrait, Value,
};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::password::{self, Verdict};
use crate::auth::principal::{CameraScope, Principal, PrincipalKind, Role};
use crate::auth::token::{self, Claims, TokenKind};
use crate::error::AppError;
use crate::state::AppState;

/// The one message for every failed sign-in: unknown user, wrong password, locked, inactive.
pub const LOGIN_FAILED: &str = "invalid username or password";

/// Tokens handed out by a sign-in or a refresh.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token (JWT).
    pub access_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// The new refresh token (sessions only).
    pub refresh_token: Option<String>,
    /// When the session ends if not refreshed.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// Who the tokens are for.
    pub principal: Principal,
}

fn unauthenticated(message: &str) -> AppError {
    AppError::Unauthenticated(message.to_owned())
}

/// Parses a stored camera list: NULL is every camera; anything unreadable is no camera (fails closed).
pub fn scope_from_json(value: Option<&serde_json::Value>) -> CameraScope {
    match value {
        None | Some(serde_json::Value::Null) => CameraScope::All,
        Some(value) => CameraScope::Cameras(
            serde_json::from_value::<Vec<String>>(value.clone()).unwrap_or_default(),
        ),
    }
}

/// Normalises a camera id list from input: trimmed, non-blank, de-duplicated, not empty.
pub fn parse_camera_ids(
    field: &str,
    ids: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, AppError> {
    let Some(ids) = ids else { return Ok(None) };
    let mut out: Vec<String> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let id = id.trim();
        if id.is_empty() || id.len() > 128 {
            return Err(AppError::bad_input(
                format!("{field}[{i}]"),
                "must be a camera id of 1 to 128 characters",
            ));
        }
        if !out.iter().any(|existing| existing == id) {
            out.push(id.to_owned());
        }
    }
    if out.is_empty() {
        return Err(AppError::bad_input(
            field,
            "must list at least one camera (omit it for every camera)",
        ));
    }
    Ok(Some(out))
}

fn parse_role(stored: &str) -> Result<Role, AppError> {
    stored
        .parse()
        .map_err(|_| AppError::internal(format!("unparseable stored role `{stored}`")))
}

/// Makes a principal from a verified token, checking the credential is still good *now*: a
/// revoked session or key, a deactivated or deleted user, or a changed role takes effect on the
/// next request. One primary-key lookup per request.
pub async fn principal_for(state: &AppState, claims: &Claims) -> Result<Principal, AppError> {
    let now = state.clock.now();
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
    if let Some(mut principal) = state.auth_cache.get(&claims.sid, &claims.sub, now) {
        principal.expires_at = expires_at;
        return Ok(principal);
    }
    let epoch = state.auth_cache.epoch();
    let (principal, valid_until) = load_principal(state, claims, now, expires_at).await?;
    state
        .auth_cache
        .put(&claims.sid, &principal, epoch, valid_until);
    Ok(principal)
}

/// The principal behind a credential named by its kind, session (or key) id and subject, checked
/// now as [`principal_for`] checks a token: links handed out earlier (signed media URLs) stop
/// working once the credential behind them is revoked, deactivated or deleted.
pub async fn principal_of(
    state: &AppState,
    kind: TokenKind,
    sid: &str,
    sub: &str,
) -> Result<Principal, AppError> {
    let claims = Claims {
        iss: String::new(),
        aud: String::new(),
        sub: sub.to_owned(),
        sid: sid.to_owned(),
        kind,
        iat: 0,
        nbf: 0,
        exp: state.clock.now().timestamp(),
        jti: String::new(),
    };
    principal_for(state, &claims).await
}

/// The database half of [`principal_for`]: the principal and when its credential ends.
async fn load_principal(
    state: &AppState,
    claims: &Claims,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(Principal, Option<DateTime<Utc>>), AppError> {
    match claims.kind {
        TokenKind::User => {
            let found = session::Entity::find_by_id(claims.sid.clone())
                .find_also_related(user::Entity)
                .one(&state.db)
                .await?;
            let Some((session, Some(user))) = found else {
                return Err(unauthenticated("session ended; sign in again"));
            };
            // A session nobody refreshed for the idle time has ended, as it has for a refresh:
            // the links and streams handed out under it end with it.
            let ends = session.idle_expires_at.min(session.absolute_expires_at);
            if session.user_id != claims.sub
                || session.revoked_at.is_some()
                || ends <= now
                || !user.active
            {
                return Err(unauthenticated("session ended; sign in again"));
            }
            let principal = user_principal(&user, session.id.clone(), expires_at)?;
            Ok((principal, Some(ends)))
        }
        TokenKind::ApiKey => {
            let key = api_key::Entity::find_by_id(claims.sid.clone())
                .one(&state.db)
                .await?;
            let Some(key) = key else {
                return Err(unauthenticated("API key revoked"));
            };
            if key.id != claims.sub
                || key.revoked_at.is_some()
                || key.expires_at.is_some_and(|at| at <= now)
            {
                return Err(unauthenticated("API key revoked or expired"));
            }
            let valid_until = key.expires_at;
            let principal = key_principal(&key, expires_at)?;
            Ok((principal, valid_until))
        }
    }
}

/// The principal of a user's session.
fn user_principal(
    user: &user::Model,
    session_id: String,
    expires_at: DateTime<Utc>,
) -> Result<Principal, AppError> {
    Ok(Principal {
        id: user.id.clone(),
        name: user.username.clone(),
        role: parse_role(&user.role)?,
        kind: PrincipalKind::User,
        scope: scope_from_json(user.camera_ids.as_ref()),
        session_id,
        expires_at,
    })
}

/// The principal of an API key (its id doubles as the session id).
fn key_principal(key: &api_key::Model, expires_at: DateTime<Utc>) -> Result<Principal, AppError> {
    Ok(Principal {
        id: key.id.clone(),
        name: key.name.clone(),
        role: parse_role(&key.role)?,
        kind: PrincipalKind::ApiKey,
        scope: scope_from_json(key.camera_ids.as_ref()),
        session_id: key.id.clone(),
        expires_at,
    })
}

/// Verifies an access token and resolves its principal.
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let claims = state.tokens.verify(token, state.clock.now())?;
    principal_for(state, &claims).await
}

fn access_token(
    state: &AppState,
    kind: TokenKind,
    sub: &str,
    sid: &str,
    not_after: Option<DateTime<Utc>>,
) -> Result<(String, DateTime<Utc>), AppError> {
    let now = state.clock.now();
    let mut expires_at = now + Duration::seconds(state.config.access_token_ttl_secs as i64);
    if let Some(limit) = not_after {
        expires_at = expires_at.min(limit);
    }
    let claims = Claims {
        iss: token::ISSUER.into(),
        aud: token::AUDIENCE.into(),
        sub: sub.into(),
        sid: sid.into(),
        kind,
        iat: now.timestamp(),
        nbf: now.timestamp(),
        exp: expires_at.timestamp(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
    };
    Ok((
        state.tokens.issue(&claims)?,
        DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at),
    ))
}

/// Adds "clear the failed-login count and any lock" to a user update.
pub fn clear_lockout(
    update: sea_orm::UpdateMany<user::Entity>,
) -> sea_orm::UpdateMany<user::Entity> {
    update
        .col_expr(user::Column::FailedLoginCount, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Value::ChronoDateTimeUtc(None)),
        )
}

/// Audits a sign-in that matched no usable account and returns the uniform error.
async fn anonymous_failure(state: &AppState, username: &str, now: DateTime<Utc>) -> AppError {
    let entry = Entry::new("login_failed", "user", username);
    audit::record(&state.db, &Actor::anonymous(username), entry, now).await;
    unauthenticated(LOGIN_FAILED)
}

/// The audit actor for a user row.
fn user_actor(user: &user::Model) -> Actor {
    Actor {
        id: user.id.clone(),
        name: user.username.clone(),
        kind: "user",
        role: Some(user.role.clone()),
    }
}

/// Signs in with a password: a new session, an access token and a refresh token.
///
/// Before any hashing, the attempt is throttled per client `address` and per username, and
/// (for an account) takes one of the failures its lockout allows, atomically: however many
/// guesses are in flight, at most the lockout threshold of them are ever checked, and none
/// once the account is locked.
pub async fn login(
    state: &AppState,
    username: &str,
    password: String,
    address: Option<std::net::IpAddr>,
) -> Result<Issued, AppError> {
    let now = state.clock.now();
    let username = username.trim();
    let attempt = state
        .login_throttle
        .reserve(address, &audit::truncated(username))
        .map_err(|wait| {
            crate::telemetry::login_throttled();
            AppError::RateLimited {
                message: "too many failed sign-ins; retry later".into(),
                retry_after_secs: wait.as_secs().max(1),
            }
        })?;
    // Absurd inputs are refused before hashing (long-password DoS), with the same message.
    if password.len() > *password::LENGTH.end() || username.is_empty() || username.len() > 128 {
        return Err(anonymous_failure(state, username, now).await);
    }
    let found = super::accounts::find_by_username(state, username).await?;
    let usable = found.as_ref().filter(|u| u.active);
    let mut failures = 0;
    if let Some(user) = usable {
        match take_attempt(state, user, now).await? {
            Some(count) => failures = count,
            None => {
                // A hash is spent as for any other refusal, so the time taken does not tell
                // a locked account from an unknown name.
                state.hasher.verify(password, None).await?;
                let entry = Entry::new("login_refused_locked", "user", &user.id);
                audit::record(&state.db, &user_actor(user), entry, now).await;
                return Err(unauthenticated(LOGIN_FAILED));
            }
        }
    }
    let verdict = state
        .hasher
        .verify(password, usable.map(|u| u.password_hash.clone()))
        .await?;
    let Some(user) = usable else {
        return Err(anonymous_failure(state, username, now).await);
    };
    let actor = user_actor(user);
    if verdict == Verdict::Mismatch {
        record_failure(state, user, &actor, failures, now).await?;
        return Err(unauthenticated(LOGIN_FAILED));
    }
    // A lock set meanwhile by a concurrent failure wins.
    let mut update = clear_lockout(user::Entity::update_many())
        .filter(user::Column::Id.eq(user.id.clone()))
        .filter(user::Column::LockedUntil.is_null());
    if let Verdict::MatchRehashed(hash) = verdict {
        update = update.col_expr(user::Column::PasswordHash, Expr::value(hash));
    }
    if update.exec(&state.db).await?.rows_affected == 0 {
        let entry = Entry::new("login_refused_locked", "user", &user.id);
        audit::record(&state.db, &actor, entry, now).await;
        return Err(unauthenticated(LOGIN_FAILED));
    }
    state.login_throttle.succeeded(attempt);
    let issued = start_session(state, user, now).await?;
    audit::record(
        &state.db,
        &actor,
        Entry::new("login", "session", &issued.principal.session_id),
        now,
    )
    .await;
    Ok(issued)
}

/// Takes one of the failed attempts the account's lockout allows, before the password is
/// checked: the failure count goes up at once (a match sets it back to zero). `None` when the
/// account is locked or its allowance is spent by attempts still in flight.
async fn take_attempt(
    state: &AppState,
    user: &user::Model,
    now: DateTime<Utc>,
) -> Result<Option<i32>, AppError> {
    let max = state.config.login_max_failures;
    // A lapsed lock starts a fresh count.
    clear_lockout(user::Entity::update_many())
        .filter(user::Column::Id.eq(user.id.clone()))
        .filter(user::Column::LockedUntil.lte(now))
        .exec(&state.db)
        .await?;
    let mut take = user::Entity::update_many()
        .col_expr(
            user::Column::FailedLoginCount,
            sea_orm::sea_query::ExprTrait::add(
                Expr::col(user::Column::FailedLoginCount),
                Expr::value(1),
            ),
        )
        .filter(user::Column::Id.eq(user.id.clone()))
        .filter(user::Column::LockedUntil.is_null());
    if max > 0 {
        take = take.filter(user::Column::FailedLoginCount.lt(max as i32));
    }
    let taken = take.exec_with_returning(&state.db).await?;
    if let Some(user) = taken.first() {
        return Ok(Some(user.failed_login_count));
    }
    if max > 0 {
        // The allowance is spent but no lock was written (the attempt that reached it was
        // dropped before its hash finished): lock now, so the account comes back by itself.
        let until = now + Duration::seconds(state.config.login_lockout_secs as i64);
        user::Entity::update_many()
            .col_expr(user::Column::LockedUntil, Expr::value(until))
            .filter(user::Column::Id.eq(user.id.clone()))
            .filter(user::Column::LockedUntil.is_null())
            .filter(user::Column::FailedLoginCount.gte(max as i32))
            .exec(&state.db)
            .await?;
    }
    Ok(None)
}

/// Audits a failed login (its attempt was counted by [`take_attempt`]); the attempt that
/// reached the threshold locks the account and audits the lockout, exactly once.
async fn record_failure(
    state: &AppState,
    user: &user::Model,
    actor: &Actor,
    count: i32,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let max = state.config.login_max_failures;
    audit::record(
        &state.db,
        actor,
        Entry::new("login_failed", "user", &user.id).detail(json!({"failures": count})),
        now,
    )
    .await;
    if max > 0 && count >= max as i32 {
        let until = now + Duration::seconds(state.config.login_lockout_secs as i64);
        let locked = user::Entity::update_many()
            .col_expr(user::Column::LockedUntil, Expr::value(until))
            .filter(user::Column::Id.eq(user.id.clone()))
            .filter(user::Column::LockedUntil.is_null())
            .exec(&state.db)
            .await?;
        if locked.rows_affected == 1 {
            tracing::warn!(user = %user.username, failures = count, "account locked after failed logins");
            let entry = Entry::new("login_locked", "user", &user.id)
                .detail(json!({"failures": count, "lockedUntil": until}));
            audit::record(&state.db, actor, entry, now).await;
        }
    }
    Ok(())
}

async fn start_session(
    state: &AppState,
    user: &user::Model,
    now: DateTime<Utc>,
) -> Result<Issued, AppError> {
    let session_id = crate::ids::new_id("ses");
    let absolute = now + Duration::seconds(state.config.session_max_secs as i64);
    let idle = (now + Duration::seconds(state.config.session_idle_secs as i64)).min(absolute);
    let refresh = token::random_token("hrt_");
    let txn = state.db.begin().await?;
    session::ActiveModel {
        id: Set(session_id.clone()),
        user_id: Set(user.id.clone()),
        created_at: Set(now),
        last_used_at: Set(now),
        idle_expires_at: Set(idle),
        absolute_expires_at: Set(absolute),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(&txn)
    .await?;
    refresh_token::ActiveModel {
        token_hash: Set(token::sha256_hex(&refresh)),
        session_id: Set(session_id.clone()),
        created_at: Set(now),
        used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    // An access token outlives neither the session's idle end nor its absolute end.
    let (access, expires_at) =
        access_token(state, TokenKind::User, &user.id, &session_id, Some(idle))?;
    Ok(Issued {
        access_token: access,
        expires_at,
        refresh_token: Some(refresh),
        refresh_expires_at: Some(idle),
        principal: user_principal(user, session_id, expires_at)?,
    })
}

/// Revokes a session (logout, reuse); its access tokens stop working at once.
pub async fn revoke_session(
    db: &impl ConnectionTrait,
    session_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    revoke_sessions_where(db, session::Column::Id, session_id, reason, now).await
}

/// Revokes every live session of a user (password change, deactivation).
pub async fn revoke_user_sessions(
    db: &impl ConnectionTrait,
    user_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    revoke_sessions_where(db, session::Column::UserId, user_id, reason, now).await
}

async fn revoke_sessions_where(
    db: &impl ConnectionTrait,
    column: session::Column,
    value: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .col_expr(session::Column::RevokedReason, Expr::value(reason))
        .filter(column.eq(value))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Exchanges a refresh token for new tokens. The presented token is spent; presenting a spent
/// token again is treated as theft and ends the whole session.
pub async fn refresh(state: &AppState, presented: &str) -> Result<Issued, AppError> {
    const REFUSED: &str = "invalid or expired refresh token; sign in again";
    let now = state.clock.now();
    let hash = token::sha256_hex(presented);
    let Some(row) = refresh_token::Entity::find_by_id(hash.clone())
        .one(&state.db)
        .await?
    else {
        return Err(unauthenticated(REFUSED));
    };
    let found = session::Entity::find_by_id(row.session_id.clone())
        .find_also_related(user::Entity)
        .one(&state.db)
        .await?;
    let Some((session, Some(user))) = found else {
        return Err(unauthenticated(REFUSED));
    };
    let actor = user_actor(&user);
    // Atomic: of two concurrent uses of one token, exactly one spends it.
    let spent = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&state.db)
        .await?;
    if spent.rows_affected != 1 {
        if session.revoked_at.is_none() {
            revoke_session(&state.db, &session.id, "refresh token reuse", now).await?;
            state.auth_cache.invalidate();
            tracing::warn!(session = %session.id, user = %user.username, "refresh token reused; session revoked");
            audit::record(
                &state.db,
                &actor,
                Entry::new("refresh_token_reuse", "session", &session.id),
                now,
            )
            .await;
        }
        return Err(unauthenticated(REFUSED));
    }
    if session.revoked_at.is_some()
        || session.idle_expires_at <= now
        || session.absolute_expires_at <= now
        || !user.active
    {
        return Err(unauthenticated(REFUSED));
    }
    let next = token::random_token("hrt_");
    let idle = (now + Duration::seconds(state.config.session_idle_secs as i64))
        .min(session.absolute_expires_at);
    let txn = state.db.begin().await?;
    refresh_token::ActiveModel {
        token_hash: Set(token::sha256_hex(&next)),
        session_id: Set(session.id.clone()),
        created_at: Set(now),
        used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .col_expr(session::Column::IdleExpiresAt, Expr::value(idle))
        .filter(session::Column::Id.eq(session.id.clone()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let (access, expires_at) =
        access_token(state, TokenKind::User, &user.id, &session.id, Some(idle))?;
    Ok(Issued {
        access_token: access,
        expires_at,
        refresh_token: Some(next),
        refresh_expires_at: Some(idle),
        principal: user_principal(&user, session.id.clone(), expires_at)?,
    })
}

/// Exchanges an API key for a short access token carrying the key's role and scope.
pub async fn exchange_api_key(state: &AppState, presented: &str) -> Result<Issued, AppError> {
    const REFUSED: &str = "invalid, revoked or expired API key";
    let now = state.clock.now();
    let key = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(token::sha256_hex(presented.trim())))
        .one(&state.db)
        .await?;
    let Some(key) = key else {
        return Err(unauthenticated(REFUSED));
    };
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
        return Err(unauthenticated(REFUSED));
    }
    // Debounced: one write a minute at most, so busy workers do not stall the writer.
    if key
        .last_used_at
        .is_none_or(|at| now - at > Duration::seconds(60))
    {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(key.id.clone()))
            .exec(&state.db)
            .await?;
    }
    let (access, expires_at) =
        access_token(state, TokenKind::ApiKey, &key.id, &key.id, key.expires_at)?;
    Ok(Issued {
        access_token: access,
        expires_at,
        refresh_token: None,
        refresh_expires_at: None,
        principal: key_principal(&key, expires_at)?,
    })
}
