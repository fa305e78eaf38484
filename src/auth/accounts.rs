//! Managing users and API keys (admins, and the CLI).

use chrono::{DateTime, Utc};
use entity::{api_key, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, TransactionTrait,
};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::password;
use crate::auth::principal::Role;
use crate::auth::sessions::{clear_lockout, parse_camera_ids, revoke_user_sessions};
use crate::auth::token;
use crate::error::AppError;
use crate::state::AppState;

/// A new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Initial password.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Display name.
    pub display_name: Option<String>,
    /// Camera limit.
    pub camera_ids: Option<Vec<String>>,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New role.
    pub role: Option<Role>,
    /// New display name (empty clears it).
    pub display_name: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// New password.
    pub password: Option<String>,
    /// New camera limit; `Some(None)` lifts it.
    pub camera_ids: Option<Option<Vec<String>>>,
}

fn check_username(field: &str, username: &str) -> Result<String, AppError> {
    let username = username.trim();
    let ok = (1..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(username.to_owned())
    } else {
        Err(AppError::bad_input(
            field,
            "must be 1 to 64 characters of letters, digits, `.`, `_`, `-` or `@`",
        ))
    }
}

fn check_scope(field: &str, role: Role, camera_ids: &Option<Vec<String>>) -> Result<(), AppError> {
    if role == Role::Admin && camera_ids.is_some() {
        return Err(AppError::bad_input(
            field,
            "an admin cannot be limited to cameras",
        ));
    }
    Ok(())
}

/// Creates a user.
pub async fn create_user(
    state: &AppState,
    actor: &Actor,
    new: NewUser,
) -> Result<user::Model, AppError> {
    let username = check_username("input.username", &new.username)?;
    password::check_length("input.password", &new.password)?;
    let camera_ids = parse_camera_ids("input.cameraIds", new.camera_ids)?;
    check_scope("input.cameraIds", new.role, &camera_ids)?;
    if user::Entity::find()
        .filter(user::Column::Username.eq(username.clone()))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "username `{username}` is taken"
        )));
    }
    let hash = state.hasher.hash(new.password).await?;
    let now = state.clock.now();
    let id = crate::ids::new_id("usr");
    let created = user::ActiveModel {
        id: Set(id.clone()),
        username: Set(username.clone()),
        password_hash: Set(hash),
        role: Set(new.role.as_str().to_owned()),
        display_name: Set(new
            .display_name
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())),
        camera_ids: Set(camera_ids.as_ref().map(|ids| json!(ids))),
        active: Set(true),
        failed_login_count: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&state.db)
    .await
    .map_err(|err| match AppError::from(err) {
        AppError::Conflict(_) => AppError::Conflict(format!("username `{username}` is taken")),
        other => other,
    })?;
    let detail = json!({"username": username, "role": new.role.as_str(), "cameraIds": camera_ids});
    audit::record(
        &state.db,
        actor,
        Entry::new("create_user", "user", &id).detail(detail),
        now,
    )
    .await;
    Ok(created)
}

/// Finds a user or `NOT_FOUND`.
pub async fn find_user(state: &AppState, id: &str) -> Result<user::Model, AppError> {
    user::Entity::find_by_id(id.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user `{id}`")))
}

/// Changes a user. Demoting or deactivating the last active admin is refused atomically.
pub async fn update_user(
    state: &AppState,
    actor: &Actor,
    id: &str,
    changes: UserChanges,
) -> Result<user::Model, AppError> {
    let current = find_user(state, id).await?;
    if let Some(password) = &changes.password {
        password::check_length("input.password", password)?;
    }
    let camera_ids = match changes.camera_ids.clone() {
        Some(ids) => Some(parse_camera_ids("input.cameraIds", ids)?),
        None => None,
    };
    let role = changes
        .role
        .unwrap_or(current.role.parse().map_err(AppError::internal)?);
    let effective_scope = camera_ids.clone().unwrap_or_else(|| {
        current
            .camera_ids
            .as_ref()
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
    });
    check_scope("input.cameraIds", role, &effective_scope)?;
    let hash = match changes.password.clone() {
        Some(password) => Some(state.hasher.hash(password).await?),
        None => None,
    };
    let now = state.clock.now();
    let loses_admin = current.role == "admin"
        && current.active
        && (role != Role::Admin || changes.active == Some(false));

    let txn = state.db.begin().await?;
    if loses_admin {
        lock_admins(&txn).await?;
        if other_active_admins(&txn, id).await? == 0 {
            return Err(AppError::Conflict(
                "cannot demote or deactivate the last active admin".into(),
            ));
        }
    }
    user_update(id, role, &changes, hash, &camera_ids, now)
        .exec(&txn)
        .await?;
    if changes.password.is_some() {
        revoke_user_sessions(&txn, id, "password changed", now).await?;
    }
    if changes.active == Some(false) {
        revoke_user_sessions(&txn, id, "user deactivated", now).await?;
    }
    txn.commit().await?;
    state.auth_cache.invalidate();

    let detail = json!({
        "role": changes.role.map(|r| r.as_str()),
        "active": changes.active,
        "passwordChanged": changes.password.is_some(),
        "displayName": changes.display_name,
        "cameraIds": camera_ids,
    });
    audit::record(
        &state.db,
        actor,
        Entry::new("update_user", "user", id).detail(detail),
        now,
    )
    .await;
    find_user(state, id).await
}

/// The UPDATE of a user edit. Any admin edit clears a lockout, as an unlock would.
fn user_update(
    id: &str,
    role: Role,
    changes: &UserChanges,
    hash: Option<String>,
    camera_ids: &Option<Option<Vec<String>>>,
    now: chrono::DateTime<chrono::Utc>,
) -> sea_orm::UpdateMany<user::Entity> {
    let mut update = clear_lockout(user::Entity::update_many())
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .col_expr(user::Column::Role, Expr::value(role.as_str()))
        .filter(user::Column::Id.eq(id));
    if let Some(display) = &changes.display_name {
        let display = display.trim();
        update = update.col_expr(
            user::Column::DisplayName,
            Expr::value(if display.is_empty() {
                sea_orm::Value::String(None)
            } else {
                display.to_owned().into()
            }),
        );
    }
    if let Some(active) = changes.active {
        update = update.col_expr(user::Column::Active, Expr::value(active));
    }
    if let Some(hash) = hash {
        update = update.col_expr(user::Column::PasswordHash, Expr::value(hash));
    }
    if let Some(ids) = camera_ids {
        update = update.col_expr(
            user::Column::CameraIds,
            Expr::value(ids.as_ref().map(|ids| json!(ids))),
        );
    }
    update
}

/// Deletes a user; refuses yourself and the last active admin.
pub async fn delete_user(state: &AppState, actor: &Actor, id: &str) -> Result<(), AppError> {
    if actor.id == id {
        return Err(AppError::bad_input(
            "id",
            "you cannot delete your own account",
        ));
    }
    let current = find_user(state, id).await?;
    let now = state.clock.now();
    let txn = state.db.begin().await?;
    if current.role == "admin" && current.active {
        lock_admins(&txn).await?;
        if other_active_admins(&txn, id).await? == 0 {
            return Err(AppError::Conflict(
                "cannot delete the last active admin".into(),
            ));
        }
    }
    user::Entity::delete_by_id(id.to_owned()).exec(&txn).await?;
    txn.commit().await?;
    state.auth_cache.invalidate();
    audit::record(
        &state.db,
        actor,
        Entry::new("delete_user", "user", id).detail(json!({"username": current.username})),
        now,
    )
    .await;
    Ok(())
}

/// The user signing in as `username`, if any.
pub async fn find_by_username(
    state: &AppState,
    username: &str,
) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(&state.db)
        .await?)
}

/// Clears a user's lockout.
pub async fn unlock_user(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<user::Model, AppError> {
    find_user(state, id).await?;
    let now = state.clock.now();
    clear_lockout(user::Entity::update_many())
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(&state.db)
        .await?;
    audit::record(&state.db, actor, Entry::new("unlock_user", "user", id), now).await;
    find_user(state, id).await
}

/// A new API key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Label.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Camera limit.
    pub camera_ids: Option<Vec<String>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates an API key; returns the row and the key itself, which is never shown again.
pub async fn create_api_key(
    state: &AppState,
    actor: &Actor,
    new: NewApiKey,
) -> Result<(api_key::Model, String), AppError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::bad_input(
            "input.name",
            "must be 1 to 100 characters",
        ));
    }
    let camera_ids = parse_camera_ids("input.cameraIds", new.camera_ids)?;
    check_scope("input.cameraIds", new.role, &camera_ids)?;
    let now = state.clock.now();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::bad_input(
            "input.expiresAt",
            "must be in the future",
        ));
    }
    let key = token::random_token("hak_");
    let id = crate::ids::new_id("key");
    let created = api_key::ActiveModel {
        id: Set(id.clone()),
        name: Set(name.clone()),
        key_hash: Set(token::sha256_hex(&key)),
        key_prefix: Set(key.chars().take(12).collect()),
        role: Set(new.role.as_str().to_owned()),
        camera_ids: Set(camera_ids.as_ref().map(|ids| json!(ids))),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_by: Set(actor.id.clone()),
        created_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    let detail = json!({"name": name, "role": new.role.as_str(), "cameraIds": camera_ids, "expiresAt": new.expires_at});
    audit::record(
        &state.db,
        actor,
        Entry::new("create_api_key", "api_key", &id).detail(detail),
        now,
    )
    .await;
    Ok((created, key))
}

/// Revokes an API key (soft: the row stays); its tokens stop working on their next request.
pub async fn revoke_api_key(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<api_key::Model, AppError> {
    let now = state.clock.now();
    let key = api_key::Entity::find_by_id(id.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no API key `{id}`")))?;
    if key.revoked_at.is_none() {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&state.db)
            .await?;
        state.auth_cache.invalidate();
        audit::record(
            &state.db,
            actor,
            Entry::new("revoke_api_key", "api_key", id).detail(json!({"name": key.name})),
            now,
        )
        .await;
    }
    api_key::Entity::find_by_id(id.to_owned())
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no API key `{id}`")))
}

/// Serialises last-admin checks on PostgreSQL (SQLite serialises every writer already).
pub async fn lock_admins(txn: &impl ConnectionTrait) -> Result<(), AppError> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(727001)")
            .await?;
    }
    Ok(())
}

/// How many active admins other than `except` exist.
pub async fn other_active_admins(db: &impl ConnectionTrait, except: &str) -> Result<u64, AppError> {
    Ok(user::Entity::find()
        .filter(user::Column::Role.eq("admin"))
        .filter(user::Column::Active.eq(true))
        .filter(user::Column::Id.ne(except))
        .count(db)
        .await?)
}

/// Creates the first admin when there is no user at all; returns the generated password, if any.
pub async fn bootstrap_admin(state: &AppState) -> Result<Option<(String, String)>, AppError> {
    if user::Entity::find().count(&state.db).await? > 0 {
        return Ok(None);
    }
    let username = state.config.admin_username.trim().to_owned();
    let (password, generated) = match &state.config.admin_password {
        Some(password) => (password.expose().to_owned(), false),
        None => (token::random_token("")[..20].to_owned(), true),
    };
    let new = NewUser {
        username: username.clone(),
        password: password.clone(),
        role: Role::Admin,
        display_name: None,
        camera_ids: None,
    };
    create_user(state, &Actor::system(), new).await?;
    Ok(generated.then_some((username, password)))
}
