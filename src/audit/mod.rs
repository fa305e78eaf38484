//! The audit log: append-only, written for every change and sign-in, never edited by the API.

pub mod graphql;

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value as Json;

use crate::auth::principal::{Principal, PrincipalKind};

/// Who did something.
#[derive(Debug, Clone)]
pub struct Actor {
    /// User id, key id, `system` or `anonymous`.
    pub id: String,
    /// Name at the time.
    pub name: String,
    /// user | api_key | system | anonymous.
    pub kind: &'static str,
    /// Role at the time.
    pub role: Option<String>,
}

impl Actor {
    /// The server itself (bootstrap, CLI).
    pub fn system() -> Actor {
        Actor {
            id: "system".into(),
            name: "system".into(),
            kind: "system",
            role: None,
        }
    }

    /// Someone not signed in (failed logins).
    pub fn anonymous(name: &str) -> Actor {
        Actor {
            id: "anonymous".into(),
            name: name.chars().take(128).collect(),
            kind: "anonymous",
            role: None,
        }
    }
}

impl From<&Principal> for Actor {
    fn from(principal: &Principal) -> Actor {
        Actor {
            id: principal.id.clone(),
            name: principal.name.clone(),
            kind: match principal.kind {
                PrincipalKind::User => "user",
                PrincipalKind::ApiKey => "api_key",
            },
            role: Some(principal.role.as_str().to_owned()),
        }
    }
}

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// What happened.
    pub action: &'a str,
    /// Kind of the thing acted on.
    pub target_type: Option<&'a str>,
    /// Id of the thing acted on.
    pub target_id: Option<&'a str>,
    /// Camera concerned.
    pub camera_id: Option<&'a str>,
    /// Details (never secrets).
    pub detail: Json,
}

impl<'a> Entry<'a> {
    /// An entry about `target_type` `target_id`.
    pub fn new(action: &'a str, target_type: &'a str, target_id: &'a str) -> Self {
        Entry {
            action,
            target_type: Some(target_type),
            target_id: Some(target_id),
            camera_id: None,
            detail: Json::Object(Default::default()),
        }
    }

    /// Adds details.
    pub fn detail(mut self, detail: Json) -> Self {
        self.detail = detail;
        self
    }
}

/// Longest text kept from a caller-supplied value (usernames, ids) in an audit row.
pub const MAX_TEXT: usize = 128;

/// Largest detail object kept (serialised bytes); a larger one is replaced by its size.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// `text` cut to [`MAX_TEXT`] characters, marked with `…` when cut: audit rows are kept for a
/// year, so what an anonymous caller sends must not decide their size.
pub fn truncated(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A detail object with every string truncated, and at most [`MAX_DETAIL_BYTES`] in all.
fn bounded(detail: Json) -> Json {
    fn cut(value: Json) -> Json {
        match value {
            Json::String(text) => Json::String(truncated(&text)),
            Json::Array(items) => Json::Array(items.into_iter().map(cut).collect()),
            Json::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, cut(v))).collect()),
            other => other,
        }
    }
    let detail = cut(detail);
    let size = detail.to_string().len();
    if size > MAX_DETAIL_BYTES {
        serde_json::json!({"truncated": true, "bytes": size})
    } else {
        detail
    }
}

/// Appends an entry. Best effort: a failure is logged and never fails the request it records.
pub async fn record(db: &impl ConnectionTrait, actor: &Actor, entry: Entry<'_>, at: DateTime<Utc>) {
    let row = audit_log::ActiveModel {
        actor_id: Set(truncated(&actor.id)),
        actor_name: Set(truncated(&actor.name)),
        actor_kind: Set(actor.kind.to_owned()),
        role: Set(actor.role.clone()),
        action: Set(entry.action.to_owned()),
        target_type: Set(entry.target_type.map(str::to_owned)),
        target_id: Set(entry.target_id.map(truncated)),
        camera_id: Set(entry.camera_id.map(truncated)),
        detail: Set(bounded(entry.detail)),
        created_at: Set(at),
        ..Default::default()
    };
    if let Err(err) = row.insert(db).await {
        tracing::error!(action = entry.action, error = %err, "could not write an audit entry");
    }
}
