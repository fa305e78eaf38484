//! Refetching any object by its id: the Relay `Node` interface and `node(id:)` / `nodes(ids:)`.
//!
//! Ids are already global: every kind but cameras carries a type prefix and a UUIDv7
//! (`usr_…`, `key_…`, `seg_…`, `clip_…`, `hold_…`, `zone_…`, `ait_…`), events and audit entries
//! are `evt_<seq>` and `aud_<seq>`, and a camera's id is its slug, which never takes one of those
//! prefixed forms. A caller gets `null` for an id that does not exist and, alike, for one outside
//! its camera scope; it gets FORBIDDEN only when its role lacks the capability to read that kind.

use async_graphql::{Context, ID, Interface, Object};
use sea_orm::EntityTrait;

use crate::ai::graphql::AiTask;
use crate::audit::graphql::AuditEntry;
use crate::auth::graphql::{ApiKey, User};
use crate::auth::principal::{CameraScope, Capability};
use crate::cameras::graphql::Camera;
use crate::error::AppError;
use crate::events::graphql::PerceptionEvent;
use crate::evidence::graphql::exports::ClipExport;
use crate::evidence::graphql::holds::EvidenceHold;
use crate::footage::graphql::Segment;
use crate::graphql::ContextExt;
use crate::zones::graphql::Zone;

/// An object that can be fetched again by its id with `node(id:)`.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "The object's id, unique across every kind."
))]
pub enum Node {
    /// A camera.
    Camera(Camera),
    /// A recorded segment.
    Segment(Segment),
    /// A clip export job.
    ClipExport(ClipExport),
    /// An evidence hold.
    EvidenceHold(EvidenceHold),
    /// A zone.
    Zone(Zone),
    /// An AI task.
    AiTask(AiTask),
    /// An event of the log.
    PerceptionEvent(PerceptionEvent),
    /// An audit log entry.
    AuditEntry(AuditEntry),
    /// A user.
    User(User),
    /// An API key.
    ApiKey(ApiKey),
}

/// The object with `id`, if the caller may see it.
async fn resolve(ctx: &Context<'_>, id: &str) -> Result<Option<Node>, AppError> {
    let db = &ctx.state()?.db;
    // The row if it exists and its camera is in the caller's scope.
    macro_rules! in_scope {
        ($entity:path, $cap:expr, $camera:expr) => {{
            let principal = ctx.require($cap)?;
            match <$entity>::find_by_id(id.to_owned()).one(db).await? {
                Some(row) if principal.scope.allows(&$camera(&row)) => Some(row),
                _ => None,
            }
        }};
    }
    let prefix = crate::ids::generated_prefix(id).unwrap_or("");
    let rest = id.split_once('_').map_or("", |(_, rest)| rest);
    let node = match prefix {
        "seg" => in_scope!(
            entity::segment::Entity,
            Capability::VideoPlayback,
            |r: &entity::segment::Model| r.camera_id.clone()
        )
        .map(|r| Node::Segment(r.into())),
        "clip" => in_scope!(
            entity::clip_export::Entity,
            Capability::VideoExport,
            |r: &entity::clip_export::Model| r.camera_id.clone()
        )
        .map(|r| Node::ClipExport(ClipExport(r))),
        "hold" => in_scope!(
            entity::evidence_hold::Entity,
            Capability::EventsRead,
            |r: &entity::evidence_hold::Model| r.camera_id.clone()
        )
        .map(|r| Node::EvidenceHold(r.into())),
        "zone" => in_scope!(
            entity::zone::Entity,
            Capability::EventsRead,
            |r: &entity::zone::Model| r.camera_id.clone()
        )
        .map(|r| Node::Zone(r.into())),
        "ait" => in_scope!(
            entity::ai_task::Entity,
            Capability::AiTasks,
            |r: &entity::ai_task::Model| r.camera_id.clone()
        )
        .map(|r| Node::AiTask(r.into())),
        "usr" | "key" => return admin_node(ctx, prefix, id).await,
        "evt" | "aud" => return sequenced(ctx, prefix, rest).await,
        _ => in_scope!(
            entity::camera::Entity,
            Capability::CameraRead,
            |r: &entity::camera::Model| r.id.clone()
        )
        .map(|r| Node::Camera(r.into())),
    };
    Ok(node)
}

/// Users and API keys: admins of the whole fleet only.
async fn admin_node(ctx: &Context<'_>, prefix: &str, id: &str) -> Result<Option<Node>, AppError> {
    let principal = ctx.require(Capability::Admin)?;
    if principal.scope != CameraScope::All {
        return Err(AppError::Forbidden(
            "users and API keys are for admins of every camera".into(),
        ));
    }
    let db = &ctx.state()?.db;
    Ok(if prefix == "usr" {
        match entity::user::Entity::find_by_id(id.to_owned())
            .one(db)
            .await?
        {
            Some(row) => Some(Node::User(User::try_from(row)?)),
            None => None,
        }
    } else {
        match entity::api_key::Entity::find_by_id(id.to_owned())
            .one(db)
            .await?
        {
            Some(row) => Some(Node::ApiKey(ApiKey::try_from(row)?)),
            None => None,
        }
    })
}

/// Events (`evt_<seq>`) and audit entries (`aud_<seq>`); one without a camera is visible only to
/// callers of every camera.
async fn sequenced(ctx: &Context<'_>, prefix: &str, seq: &str) -> Result<Option<Node>, AppError> {
    let cap = if prefix == "evt" {
        Capability::EventsRead
    } else {
        Capability::RegistryManage
    };
    let principal = ctx.require(cap)?;
    let Ok(seq) = seq.parse::<i64>() else {
        return Ok(None);
    };
    let db = &ctx.state()?.db;
    let visible = |camera: &Option<String>| match camera {
        Some(camera) => principal.scope.allows(camera),
        None => principal.scope == CameraScope::All,
    };
    Ok(if prefix == "evt" {
        entity::event::Entity::find_by_id(seq)
            .one(db)
            .await?
            .filter(|e| visible(&e.camera_id))
            .map(|e| Node::PerceptionEvent(e.into()))
    } else {
        entity::audit_log::Entity::find_by_id(seq)
            .one(db)
            .await?
            .filter(|a| visible(&a.camera_id))
            .map(|a| Node::AuditEntry(a.into()))
    })
}

/// Refetching by id.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this id, or null when it does not exist or lies outside the caller's cameras. FORBIDDEN when the caller's role cannot read that kind at all.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of any object that implements `Node`.")] id: ID,
    ) -> Result<Option<Node>, AppError> {
        ctx.principal()?;
        resolve(ctx, &id).await
    }

    /// The objects with these ids, in the same order (null for each that `node` would give null for).
    #[graphql(complexity = "crate::graphql::cost::list(ids.len(), child_complexity)")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Up to 100 ids.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>, AppError> {
        ctx.principal()?;
        if ids.len() > 100 {
            return Err(AppError::bad_input("ids", "at most 100 ids"));
        }
        crate::graphql::input::distinct("ids", &ids)?;
        let mut nodes = Vec::with_capacity(ids.len());
        for id in &ids {
            nodes.push(resolve(ctx, id).await?);
        }
        Ok(nodes)
    }
}
