//! `auditLog`: the audit trail, newest first.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};

use crate::auth::principal::{CameraScope, Capability, Role};
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::paging::{Counted, KeyPart, Keyset, Order, PageArgs, paged};
use crate::graphql::scalars::Long;

/// One audited action.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// The entry's id (`aud_<seq>`), for `node(id:)`.
    #[graphql(owned)]
    pub id: ID,
    /// Position in the log (increasing).
    pub seq: Long,
    /// User id, key id, `system` or `anonymous`.
    pub actor_id: ID,
    /// Username or key name at the time.
    pub actor_name: String,
    /// What kind of actor acted.
    pub actor_kind: ActorKind,
    /// The actor's role at the time; null for the system and anonymous callers.
    pub role: Option<Role>,
    /// What happened, e.g. `login`, `login_locked`, `create_user`, `revoke_api_key`.
    pub action: String,
    /// Kind of the thing acted on.
    pub target_type: Option<String>,
    /// Id of the thing acted on.
    pub target_id: Option<String>,
    /// Camera concerned, if any.
    pub camera_id: Option<ID>,
    /// Details of the action.
    pub detail: Json<serde_json::Value>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(m: audit_log::Model) -> Self {
        AuditEntry {
            id: ID(format!("aud_{}", m.seq)),
            seq: Long(m.seq),
            actor_id: ID(m.actor_id),
            actor_name: m.actor_name,
            actor_kind: ActorKind::of_stored(&m.actor_kind),
            role: m.role.as_deref().and_then(|r| r.parse().ok()),
            action: m.action,
            target_type: m.target_type,
            target_id: m.target_id,
            camera_id: m.camera_id.map(ID),
            detail: Json(m.detail),
            created_at: m.created_at,
        }
    }
}

/// Who an audit entry's actor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ActorKind {
    /// A signed-in user.
    User,
    /// A machine with an API key.
    ApiKey,
    /// The server itself (start-up, the command line, background work).
    System,
    /// An unauthenticated caller (failed sign-ins).
    Anonymous,
}

impl ActorKind {
    /// The kind of a stored actor (`user`, `api_key`, `system`, `anonymous`).
    fn of_stored(stored: &str) -> ActorKind {
        match stored {
            "user" => ActorKind::User,
            "api_key" => ActorKind::ApiKey,
            "anonymous" => ActorKind::Anonymous,
            _ => ActorKind::System,
        }
    }
}

/// Which audit entries to list.
#[derive(InputObject, Default)]
pub struct AuditFilter {
    /// Only this actor's entries.
    pub actor_id: Option<ID>,
    /// Only entries with exactly this action, e.g. `login_failed`.
    pub action: Option<String>,
    /// Only entries about this camera.
    pub camera_id: Option<ID>,
    /// Entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub to: Option<DateTime<Utc>>,
}

/// Audit queries.
#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit log, newest first (admins and managers). Camera-scoped readers see only entries about their cameras.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a GraphQL argument; Relay paging alone adds four"
    )]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the entries must all meet (omit for every entry).")]
        filter: Option<AuditFilter>,
        #[graphql(
            desc = "NEWEST_FIRST (the default) or OLDEST_FIRST.",
            default_with = "Some(Order::NewestFirst)"
        )]
        order: Option<Order>,
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
    ) -> Result<Counted<AuditEntry>, AppError> {
        let order = order.unwrap_or(Order::NewestFirst);
        let principal = ctx.require(Capability::RegistryManage)?;
        let state = ctx.state()?;
        let filter = filter.unwrap_or_default();
        let mut condition = Condition::all();
        if let Some(actor) = filter.actor_id {
            condition = condition.add(audit_log::Column::ActorId.eq(actor.0));
        }
        if let Some(action) = filter.action {
            condition = condition.add(audit_log::Column::Action.eq(action));
        }
        if let Some(camera) = filter.camera_id {
            // A camera-limited reader asking about another camera is refused, not shown nothing.
            ctx.require_camera(Capability::RegistryManage, &camera)?;
            condition = condition.add(audit_log::Column::CameraId.eq(camera.0));
        }
        if let Some(from) = filter.from {
            condition = condition.add(audit_log::Column::CreatedAt.gte(from));
        }
        if let Some(to) = filter.to {
            condition = condition.add(audit_log::Column::CreatedAt.lt(to));
        }
        if let CameraScope::Cameras(ids) = &principal.scope {
            condition = condition.add(audit_log::Column::CameraId.is_in(ids.clone()));
        }
        let keyset = Keyset {
            parts: vec![KeyPart::Int(audit_log::Column::Seq)],
            order,
            key_of: |row: &audit_log::Model| row.seq.to_string(),
        };
        let args = PageArgs::new(first, after, last, before);
        let query = audit_log::Entity::find().filter(condition);
        paged(&state.db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(AuditEntry::from(row))
        })
        .await
    }
}
