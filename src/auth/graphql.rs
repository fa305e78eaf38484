//! Sign-in, sessions, users and API keys over GraphQL.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{api_key, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::audit::Actor;
use crate::auth::accounts::{self, NewApiKey, NewUser, UserChanges};
use crate::auth::principal::{CameraScope, Capability, Principal, PrincipalKind, Role};
use crate::auth::sessions::{self, Issued, scope_from_json};
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::paging::{Counted, Keyset, Order, PageArgs, paged};

/// The caller, as the API shows it.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Principal")]
pub struct PrincipalView {
    /// User id or API key id.
    pub id: ID,
    /// Username or key name.
    pub name: String,
    /// Role in force now.
    pub role: Role,
    /// User or API key.
    pub kind: PrincipalKind,
    /// Cameras the credential is limited to; null means every camera.
    pub camera_ids: Option<Vec<ID>>,
    /// When the access token in use expires.
    pub expires_at: DateTime<Utc>,
}

impl From<&Principal> for PrincipalView {
    fn from(p: &Principal) -> Self {
        PrincipalView {
            id: ID(p.id.clone()),
            name: p.name.clone(),
            role: p.role,
            kind: p.kind,
            camera_ids: match &p.scope {
                CameraScope::All => None,
                CameraScope::Cameras(ids) => Some(ids.iter().cloned().map(ID).collect()),
            },
            expires_at: p.expires_at,
        }
    }
}

/// Tokens from `login` or `refreshSession`.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived access token: send it as `Authorization: Bearer <token>` and in the websocket `connection_init` payload.
    pub access_token: String,
    /// Opaque refresh token: spend it once with `refreshSession` for new tokens.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// When the session ends unless refreshed before.
    pub refresh_expires_at: DateTime<Utc>,
    /// The signed-in user: id, name, role and camera limit.
    pub principal: PrincipalView,
}

/// A short access token for a machine, from `exchangeApiKey`.
#[derive(SimpleObject)]
pub struct ApiKeyToken {
    /// Short-lived access token; exchange the key again before it expires.
    pub access_token: String,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// The key's identity, role and cameras.
    pub principal: PrincipalView,
}

impl TryFrom<Issued> for AuthPayload {
    type Error = AppError;
    fn try_from(issued: Issued) -> Result<Self, AppError> {
        Ok(AuthPayload {
            refresh_token: issued
                .refresh_token
                .ok_or_else(|| AppError::internal("session without refresh token"))?,
            refresh_expires_at: issued.refresh_expires_at.unwrap_or(issued.expires_at),
            principal: PrincipalView::from(&issued.principal),
            access_token: issued.access_token,
            expires_at: issued.expires_at,
        })
    }
}

fn camera_ids(value: Option<&serde_json::Value>) -> Option<Vec<ID>> {
    match scope_from_json(value) {
        CameraScope::All => None,
        CameraScope::Cameras(ids) => Some(ids.into_iter().map(ID).collect()),
    }
}

/// A person who signs in with a password.
#[derive(SimpleObject)]
pub struct User {
    /// Stable id (`usr_…`).
    #[graphql(owned)]
    pub id: ID,
    /// Login name used to sign in; unique among users.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: Option<String>,
    /// Role the user acts with.
    pub role: Role,
    /// Whether the user may sign in.
    pub active: bool,
    /// Cameras the user is limited to; null means every camera.
    pub camera_ids: Option<Vec<ID>>,
    /// Wrong passwords since the last successful sign-in, unlock or admin edit; reaching HELDAR_LOGIN_MAX_FAILURES locks the account.
    pub failed_login_count: i32,
    /// Sign-ins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When an admin last changed or unlocked the user (sign-ins do not count).
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<user::Model> for User {
    type Error = AppError;
    fn try_from(m: user::Model) -> Result<Self, AppError> {
        Ok(User {
            role: m.role.parse().map_err(AppError::internal)?,
            camera_ids: camera_ids(m.camera_ids.as_ref()),
            id: ID(m.id),
            username: m.username,
            display_name: m.display_name,
            active: m.active,
            failed_login_count: m.failed_login_count,
            locked_until: m.locked_until,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// A machine credential. The key itself is shown once, by `createApiKey`.
#[derive(SimpleObject)]
pub struct ApiKey {
    /// Stable id (`key_…`).
    #[graphql(owned)]
    pub id: ID,
    /// Label an admin gave the key at creation; not necessarily unique.
    pub name: String,
    /// First characters of the key, to recognise it.
    pub prefix: String,
    /// Role the key acts with.
    pub role: Role,
    /// Cameras the key is limited to; null means every camera.
    pub camera_ids: Option<Vec<ID>>,
    /// The key stops working then.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last exchange (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Id of the admin who created it.
    pub created_by: ID,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<api_key::Model> for ApiKey {
    type Error = AppError;
    fn try_from(m: api_key::Model) -> Result<Self, AppError> {
        Ok(ApiKey {
            role: m.role.parse().map_err(AppError::internal)?,
            camera_ids: camera_ids(m.camera_ids.as_ref()),
            id: ID(m.id),
            name: m.name,
            prefix: m.key_prefix,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            last_used_at: m.last_used_at,
            created_by: ID(m.created_by),
            created_at: m.created_at,
        })
    }
}

/// A new API key and the key itself.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The key's record as `apiKeys` lists it; it never contains the secret.
    pub api_key: ApiKey,
    /// The secret key: shown only now; exchange it with `exchangeApiKey`.
    pub key: String,
}

/// A new user.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// Login name: 1 to 64 letters, digits, `.`, `_`, `-`, `@`.
    pub username: String,
    /// Password, 8 to 1024 bytes.
    pub password: String,
    /// Role (default VIEWER).
    #[graphql(default_with = "Role::Viewer")]
    pub role: Role,
    /// Name shown in the UI.
    pub display_name: Option<String>,
    /// Limit the user to these cameras (omit for every camera).
    pub camera_ids: Option<Vec<ID>>,
}

/// Changes to a user; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// The user to change.
    pub id: ID,
    /// New role; the last active admin cannot be demoted, and ADMIN is refused while the user has a camera limit.
    pub role: Option<Role>,
    /// New display name (empty clears it).
    pub display_name: Option<String>,
    /// Activate or deactivate; deactivating ends the user's sessions.
    pub active: Option<bool>,
    /// New password; ends the user's sessions.
    pub password: Option<String>,
    /// New camera limit; null lifts it.
    pub camera_ids: async_graphql::MaybeUndefined<Vec<ID>>,
}

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// Label, 1 to 100 characters.
    pub name: String,
    /// Role (default INTEGRATION).
    #[graphql(default_with = "Role::Integration")]
    pub role: Role,
    /// Limit the key to these cameras (omit for every camera).
    pub camera_ids: Option<Vec<ID>>,
    /// When the key stops working (omit for never).
    pub expires_at: Option<DateTime<Utc>>,
}

fn ids(list: Option<Vec<ID>>) -> Option<Vec<String>> {
    list.map(|ids| ids.into_iter().map(|id| id.0).collect())
}

/// Requires the admin capability and no camera limit (user and key management is fleet-wide).
fn require_fleet_admin<'a>(ctx: &'a Context<'_>) -> Result<&'a Principal, AppError> {
    let principal = ctx.require(Capability::Admin)?;
    if principal.scope != CameraScope::All {
        return Err(AppError::Forbidden(
            "camera-scoped credentials cannot manage users or API keys".into(),
        ));
    }
    Ok(principal)
}

/// Queries about identity.
#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The caller: who the access token belongs to, with the role in force now.
    async fn me(&self, ctx: &Context<'_>) -> Result<PrincipalView, AppError> {
        Ok(PrincipalView::from(ctx.principal()?))
    }

    /// Users, ordered by username (admins).
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<User>, AppError> {
        require_fleet_admin(ctx)?;
        let keyset = Keyset::by_text(
            user::Column::Username,
            Order::OldestFirst,
            |row: &user::Model| row.username.clone(),
        );
        let args = PageArgs::new(first, after, last, before);
        paged(
            &ctx.state()?.db,
            user::Entity::find(),
            &keyset,
            &args,
            User::try_from,
        )
        .await
    }

    /// API keys, newest first (admins).
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Include revoked keys.", default_with = "Some(false)")]
        include_revoked: Option<bool>,
        #[graphql(desc = "Page forward: at most this many (1 to 500, default 50) after `after`.")]
        first: Option<i32>,
        #[graphql(desc = "Cursor to page forward from (an edge's `cursor`).")] after: Option<
            String,
        >,
        #[graphql(
            desc = "Page backward: at most this many (1 to 500) before `before`, or the end of the list."
        )]
        last: Option<i32>,
        #[graphql(desc = "Cursor to page backward from.")] before: Option<String>,
    ) -> Result<Counted<ApiKey>, AppError> {
        let include_revoked = include_revoked.unwrap_or(false);
        require_fleet_admin(ctx)?;
        let mut query = api_key::Entity::find();
        if !include_revoked {
            query = query.filter(api_key::Column::RevokedAt.is_null());
        }
        let keyset = Keyset::by_text(
            api_key::Column::Id,
            Order::NewestFirst,
            |row: &api_key::Model| row.id.clone(),
        );
        let args = PageArgs::new(first, after, last, before);
        paged(&ctx.state()?.db, query, &keyset, &args, ApiKey::try_from).await
    }
}

/// Mutations about identity.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with a password. Unknown users, wrong passwords and locked accounts get the same error.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's login name (surrounding spaces are ignored).")]
        username: String,
        #[graphql(desc = "The user's password (at most 1024 bytes).")] password: String,
    ) -> Result<AuthPayload, AppError> {
        let address = ctx
            .data_opt::<crate::auth::throttle::ClientAddress>()
            .map(|a| a.0);
        AuthPayload::try_from(sessions::login(ctx.state()?, &username, password, address).await?)
    }

    /// Spends a refresh token for a new access token and a new refresh token. Reusing a spent refresh token ends the session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token from `login` or the previous refresh.")] refresh_token: String,
    ) -> Result<AuthPayload, AppError> {
        AuthPayload::try_from(sessions::refresh(ctx.state()?, &refresh_token).await?)
    }

    /// Exchanges an API key for a short access token carrying the key's role and cameras.
    async fn exchange_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key from `createApiKey` (`hak_…`).")] api_key: String,
    ) -> Result<ApiKeyToken, AppError> {
        let issued = sessions::exchange_api_key(ctx.state()?, &api_key).await?;
        Ok(ApiKeyToken {
            principal: PrincipalView::from(&issued.principal),
            access_token: issued.access_token,
            expires_at: issued.expires_at,
        })
    }

    /// Ends the caller's session: its access and refresh tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool, AppError> {
        let principal = ctx.principal()?;
        let state = ctx.state()?;
        if principal.kind == PrincipalKind::User {
            let now = state.clock.now();
            sessions::revoke_session(&state.db, &principal.session_id, "logout", now).await?;
            state.auth_cache.invalidate();
            crate::audit::record(
                &state.db,
                &Actor::from(principal),
                crate::audit::Entry::new("logout", "session", &principal.session_id),
                now,
            )
            .await;
        }
        Ok(true)
    }

    /// Creates a user (admins).
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's login name, password, role and camera limit.")]
        input: CreateUserInput,
    ) -> Result<User, AppError> {
        let actor = Actor::from(require_fleet_admin(ctx)?);
        let new = NewUser {
            username: input.username,
            password: input.password,
            role: input.role,
            display_name: input.display_name,
            camera_ids: ids(input.camera_ids),
        };
        User::try_from(accounts::create_user(ctx.state()?, &actor, new).await?)
    }

    /// Changes a user (admins). The last active admin cannot be demoted or deactivated.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id and the fields to change; omitted ones stay as they are.")]
        input: UpdateUserInput,
    ) -> Result<User, AppError> {
        let actor = Actor::from(require_fleet_admin(ctx)?);
        let changes = UserChanges {
            role: input.role,
            display_name: input.display_name,
            active: input.active,
            password: input.password,
            camera_ids: match input.camera_ids {
                async_graphql::MaybeUndefined::Undefined => None,
                async_graphql::MaybeUndefined::Null => Some(None),
                async_graphql::MaybeUndefined::Value(list) => Some(ids(Some(list))),
            },
        };
        User::try_from(accounts::update_user(ctx.state()?, &actor, &input.id, changes).await?)
    }

    /// Deletes a user (admins). Nobody deletes themselves; the last active admin stays.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to delete.")] id: ID,
    ) -> Result<bool, AppError> {
        let actor = Actor::from(require_fleet_admin(ctx)?);
        accounts::delete_user(ctx.state()?, &actor, &id).await?;
        Ok(true)
    }

    /// Clears a user's sign-in lockout (admins).
    async fn unlock_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the user whose lockout to clear (`usr_…`).")] id: ID,
    ) -> Result<User, AppError> {
        let actor = Actor::from(require_fleet_admin(ctx)?);
        User::try_from(accounts::unlock_user(ctx.state()?, &actor, &id).await?)
    }

    /// Creates an API key (admins); the key is in the payload and never shown again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Name, role, camera limit and expiry of the key.")]
        input: CreateApiKeyInput,
    ) -> Result<CreateApiKeyPayload, AppError> {
        let actor = Actor::from(require_fleet_admin(ctx)?);
        let new = NewApiKey {
            name: input.name,
            role: input.role,
            camera_ids: ids(input.camera_ids),
            expires_at: input.expires_at,
        };
        let (row, key) = accounts::create_api_key(ctx.state()?, &actor, new).await?;
        Ok(CreateApiKeyPayload {
            api_key: ApiKey::try_from(row)?,
            key,
        })
    }

    /// Revokes an API key (admins); tokens from it stop working on their next request.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to revoke.")] id: ID,
    ) -> Result<ApiKey, AppError> {
        let actor = Actor::from(require_fleet_admin(ctx)?);
        ApiKey::try_from(accounts::revoke_api_key(ctx.state()?, &actor, &id).await?)
    }
}
