//! Stored webhooks: create, change, list, the delivery log, a webhook's owner's scope, and the
//! flush that persists a worker's progress only while it still holds the webhook as it found it.

use chrono::{DateTime, Utc};
use entity::{api_key, event, user, webhook, webhook_delivery};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

use crate::auth::principal::{CameraScope, Capability, Role};
use crate::error::AppError;
use crate::events::model::EventKind;

/// Who owns a webhook: `user` or `api_key`, and the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `user` or `api_key`.
    pub kind: &'static str,
    /// The user or API key id.
    pub id: String,
}

/// The owner's camera scope now, or `None` when the owner may no longer read events (deleted,
/// deactivated, revoked or expired): such a webhook delivers nothing until it is changed.
pub async fn owner_scope(
    db: &impl ConnectionTrait,
    hook: &webhook::Model,
    now: DateTime<Utc>,
) -> Result<Option<CameraScope>, AppError> {
    let (role, ids) = match hook.owner_kind.as_str() {
        "user" => match user::Entity::find_by_id(hook.owner_id.clone())
            .one(db)
            .await?
        {
            Some(u) if u.active => (u.role, u.camera_ids),
            _ => return Ok(None),
        },
        _ => match api_key::Entity::find_by_id(hook.owner_id.clone())
            .one(db)
            .await?
        {
            Some(k) if k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now) => {
                (k.role, k.camera_ids)
            }
            _ => return Ok(None),
        },
    };
    let Ok(role) = role.parse::<Role>() else {
        return Ok(None);
    };
    if !role.grants(Capability::EventsRead) {
        return Ok(None);
    }
    Ok(Some(crate::auth::sessions::scope_from_json(ids.as_ref())))
}

/// The events a webhook receives: its kinds, cameras and severity floor, parsed once from the
/// stored row, within its owner's scope (events without a camera only for an owner who sees
/// every camera).
#[derive(Debug, Clone)]
pub struct Filter {
    kinds: Option<Vec<String>>,
    cameras: Option<Vec<String>>,
    min_severity: Option<crate::events::model::Severity>,
}

impl Filter {
    /// The filter of a stored webhook.
    pub fn of(hook: &webhook::Model) -> Filter {
        Filter {
            kinds: json_list(hook.kinds.as_ref()),
            cameras: json_list(hook.camera_ids.as_ref()),
            min_severity: hook.min_severity,
        }
    }

    /// As a query condition on the event log.
    pub fn condition(&self, scope: &CameraScope) -> Condition {
        let mut c = Condition::all();
        if let CameraScope::Cameras(ids) = scope {
            c = c.add(event::Column::CameraId.is_in(ids.clone()));
        }
        if let Some(ids) = &self.cameras {
            c = c.add(event::Column::CameraId.is_in(ids.clone()));
        }
        if let Some(kinds) = &self.kinds {
            c = c.add(event::Column::Kind.is_in(kinds.clone()));
        }
        if let Some(min) = self.min_severity {
            c = c.add(event::Column::Severity.is_in(crate::events::model::at_least(min)));
        }
        c
    }

    /// [`condition`](Self::condition) applied to one event in memory (events from the bus).
    pub fn wants(&self, scope: &CameraScope, e: &event::Model) -> bool {
        let camera_ok = |allowed: &[String]| {
            e.camera_id
                .as_ref()
                .is_some_and(|c| allowed.iter().any(|a| a == c))
        };
        let scoped = match scope {
            CameraScope::All => true,
            CameraScope::Cameras(ids) => camera_ok(ids),
        };
        scoped
            && self.cameras.as_deref().is_none_or(camera_ok)
            && self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&e.kind))
            && self.min_severity.is_none_or(|min| e.severity >= min)
    }
}

/// A stored JSON list of strings (`None` for null: no restriction).
pub fn json_list(value: Option<&serde_json::Value>) -> Option<Vec<String>> {
    value
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v.clone()).unwrap_or_default())
}

/// Kinds as stored.
pub fn kinds_json(kinds: &[EventKind]) -> serde_json::Value {
    serde_json::json!(kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>())
}

/// One webhook.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<webhook::Model, AppError> {
    webhook::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no webhook `{id}`")))
}

/// Every webhook (admins) or the owner's, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    owner: Option<&str>,
) -> Result<Vec<webhook::Model>, AppError> {
    let mut q = webhook::Entity::find().order_by_asc(webhook::Column::CreatedAt);
    if let Some(owner) = owner {
        q = q.filter(webhook::Column::OwnerId.eq(owner));
    }
    Ok(q.order_by_asc(webhook::Column::Id).all(db).await?)
}

/// Enabled webhooks, for the supervisor.
pub async fn enabled(db: &impl ConnectionTrait) -> Result<Vec<webhook::Model>, AppError> {
    Ok(webhook::Entity::find()
        .filter(webhook::Column::Enabled.eq(true))
        .all(db)
        .await?)
}

/// Takes or renews the delivery lease of a webhook for `me` until `until`; whether it is ours.
pub async fn lease(
    db: &impl ConnectionTrait,
    id: &str,
    me: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, AppError> {
    let claim = crate::db::claim::<webhook::Entity>(
        db,
        None,
        Condition::all().add(webhook::Column::Id.eq(id)),
        Condition::any()
            .add(webhook::Column::LeasedBy.is_null())
            .add(webhook::Column::LeasedBy.eq(me))
            .add(webhook::Column::LeaseUntil.lt(now)),
        vec![
            (webhook::Column::LeasedBy, Expr::value(me)),
            (webhook::Column::LeaseUntil, Expr::value(until)),
        ],
    )
    .await?;
    Ok(claim == crate::db::Claim::Won)
}

/// Gives up this instance's leases (at shutdown), so another instance takes over at once.
pub async fn release_leases(db: &impl ConnectionTrait, me: &str) -> Result<(), AppError> {
    webhook::Entity::update_many()
        .col_expr(
            webhook::Column::LeasedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            webhook::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(webhook::Column::LeasedBy.eq(me))
        .exec(db)
        .await?;
    Ok(())
}

/// A worker's progress since its last flush.
#[derive(Debug, Default)]
pub struct Progress {
    /// Attempts made.
    pub deliveries: Vec<webhook_delivery::ActiveModel>,
    /// The last event delivered.
    pub cursor: i64,
    /// When the event being retried first failed.
    pub retrying_since: Option<DateTime<Utc>>,
    /// Since when the webhook has been failing.
    pub failing_since: Option<DateTime<Utc>>,
    /// A flush happened since the worker last looked (retries save before they wait).
    pub attempted_flush: bool,
}

/// Persists a worker's progress in one transaction, only if the webhook is unchanged since the
/// worker loaded it (`updated_at`) and still leased to `me`; `false` means the worker must stop
/// (the webhook was changed, deleted or taken over), and nothing was written.
pub async fn flush(
    db: &sea_orm::DatabaseConnection,
    hook: &webhook::Model,
    me: &str,
    progress: &mut Progress,
) -> Result<bool, AppError> {
    let txn = db.begin().await?;
    let updated = webhook::Entity::update_many()
        .col_expr(webhook::Column::Cursor, Expr::value(progress.cursor))
        .col_expr(
            webhook::Column::RetryingSince,
            Expr::value(progress.retrying_since),
        )
        .col_expr(
            webhook::Column::FailingSince,
            Expr::value(progress.failing_since),
        )
        .filter(webhook::Column::Id.eq(hook.id.clone()))
        .filter(webhook::Column::UpdatedAt.eq(hook.updated_at))
        .filter(webhook::Column::LeasedBy.eq(me))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    let deliveries = std::mem::take(&mut progress.deliveries);
    if !deliveries.is_empty() {
        webhook_delivery::Entity::insert_many(deliveries)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Inserts a webhook.
pub async fn insert(
    db: &impl ConnectionTrait,
    row: webhook::ActiveModel,
) -> Result<webhook::Model, AppError> {
    Ok(row.insert(db).await?)
}

/// Applies a change and bumps `updated_at`, which makes a running worker stop at its next flush.
pub async fn update(
    db: &impl ConnectionTrait,
    mut row: webhook::ActiveModel,
    now: DateTime<Utc>,
) -> Result<webhook::Model, AppError> {
    row.updated_at = Set(now);
    Ok(row.update(db).await?)
}

/// Deletes a webhook and its delivery log.
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), AppError> {
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::WebhookId.eq(id))
        .exec(db)
        .await?;
    webhook::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}
