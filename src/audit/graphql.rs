//! `auditLog`: the audit trail, newest first.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::auth::principal::{CameraScope, Capability};
use crate::error::AppError;
use crate::graphql::ContextExt;
use crate::graphql::paging::{connection, decode_cursor, page_size};

/// One audited action.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// Position in the log (increasing).
    pub seq: i64,
    /// User id, key id, `system` or `anonymous`.
    pub actor_id: ID,
    /// Username or key name at the time.
    pub actor_name: String,
    /// `user`, `api_key`, `system` or `anonymous`.
    pub actor_kind: String,
    /// The actor's role at the time.
    pub role: Option<String>,
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
            seq: m.seq,
            actor_id: ID(m.actor_id),
            actor_name: m.actor_name,
            actor_kind: m.actor_kind,
            role: m.role,
            action: m.action,
            target_type: m.target_type,
            target_id: m.target_id,
            camera_id: m.camera_id.map(ID),
            detail: Json(m.detail),
            created_at: m.created_at,
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
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Conditions the entries must all meet (omit for every entry).")]
        filter: Option<AuditFilter>,
        #[graphql(desc = "Page size, 1 to 500 (default 50).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last entry of the previous page.")] after: Option<String>,
    ) -> Result<Connection<String, AuditEntry>, AppError> {
        let principal = ctx.require(Capability::RegistryManage)?;
        let state = ctx.state()?;
        let limit = page_size(first)?;
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
        if let Some(after) = &after {
            let seq: i64 = decode_cursor(after)?
                .parse()
                .map_err(|_| AppError::bad_input("after", "not a cursor this server issued"))?;
            condition = condition.add(audit_log::Column::Seq.lt(seq));
        }
        let rows = audit_log::Entity::find()
            .filter(condition)
            .order_by_desc(audit_log::Column::Seq)
            .limit(limit + 1)
            .all(&state.db)
            .await?;
        connection(
            rows,
            limit,
            after.is_some(),
            |row| row.seq.to_string(),
            |row| Ok(AuditEntry::from(row)),
        )
    }
}
