//! Webhooks over GraphQL: create (the secret shown once), change, rotate the secret, rewind,
//! delete, list, and the delivery log. Admins manage every webhook; a manager manages its own,
//! for cameras in its scope.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{webhook, webhook_delivery};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::json;

use crate::audit::{self, Actor, Entry};
use crate::auth::principal::{Capability, Principal, PrincipalKind};
use crate::error::AppError;
use crate::events::model::{EventKind, Severity};
use crate::graphql::ContextExt;
use crate::graphql::paging::{
    Counted, KeyPart, Keyset, Order, PageArgs, decode_cursor, encode_cursor, paged,
};
use crate::webhooks::model;
use crate::webhooks::store;

/// Where a webhook's deliveries stand.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum WebhookState {
    /// Delivering (or waiting for events).
    Active,
    /// The receiver refused or missed the current event; retrying with growing waits.
    Retrying,
    /// The receiver has failed for longer than the retry window; still retrying at the longest
    /// wait, and nothing is skipped.
    Failing,
    /// Switched off; its cursor waits where it is.
    Disabled,
}

/// A receiver of the event log over HTTP: each matching event is POSTed as JSON, signed the
/// Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`), in order,
/// until the receiver answers 2xx.
#[derive(SimpleObject, Clone)]
pub struct Webhook {
    /// The webhook's id (`whk_…`).
    pub id: ID,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Event kinds delivered; null for every kind.
    pub kinds: Option<Vec<EventKind>>,
    /// Cameras whose events are delivered; null for every camera the owner may see.
    pub camera_ids: Option<Vec<ID>>,
    /// Lowest severity delivered; null for all.
    pub min_severity: Option<Severity>,
    /// Whether deliveries run.
    pub enabled: bool,
    /// Where deliveries stand.
    pub state: WebhookState,
    /// The last event delivered, as a `perceptionEvents` cursor (null before the first).
    pub cursor: Option<String>,
    /// When the event being retried first failed; null when nothing is being retried.
    pub retrying_since: Option<DateTime<Utc>>,
    /// When the webhook was marked failing; null while healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs deliveries (a second
    /// signature in `webhook-signature`); null when only the current secret signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Id of the user or API key that owns it; it sees only that owner's cameras.
    pub owner_id: ID,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    fn from_row(m: webhook::Model, now: DateTime<Utc>) -> Webhook {
        let state = if !m.enabled {
            WebhookState::Disabled
        } else if m.failing_since.is_some() {
            WebhookState::Failing
        } else if m.retrying_since.is_some() {
            WebhookState::Retrying
        } else {
            WebhookState::Active
        };
        Webhook {
            id: ID(m.id),
            url: m.url,
            kinds: store::json_list(m.kinds.as_ref())
                .map(|k| k.iter().map(|k| EventKind::of_stored(k)).collect()),
            camera_ids: store::json_list(m.camera_ids.as_ref())
                .map(|ids| ids.into_iter().map(ID).collect()),
            min_severity: m.min_severity,
            enabled: m.enabled,
            state,
            cursor: (m.cursor > 0).then(|| encode_cursor(&m.cursor.to_string())),
            retrying_since: m.retrying_since,
            failing_since: m.failing_since,
            previous_secret_until: m
                .previous_secret_until
                .filter(|u| model::previous_in_force(Some(*u), now)),
            owner_id: ID(m.owner_id),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A webhook and its signing secret, which is shown here only.
#[derive(SimpleObject)]
pub struct CreatedWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`): keep it now; it is never shown again.
    pub secret: String,
}

/// One attempt to deliver an event.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// The attempt's id.
    pub id: ID,
    /// The event delivered (`evt_<seq>`, also the `webhook-id` header).
    pub event_id: ID,
    /// The event's cursor.
    pub event_cursor: String,
    /// 1 for the first attempt at this event, then 2, 3, ...
    pub attempt: i32,
    /// The HTTP status answered; null when no answer came (refused, timed out, unreachable).
    pub status: Option<i32>,
    /// Whether the receiver took it (a 2xx answer).
    pub ok: bool,
    /// Milliseconds from sending to the answer or the failure.
    pub latency_ms: i32,
    /// Why it failed; null when it did not.
    pub error: Option<String>,
    /// The first 256 bytes of the answer's body.
    pub response_prefix: Option<String>,
    /// When the attempt was made.
    pub at: DateTime<Utc>,
}

impl From<webhook_delivery::Model> for WebhookDelivery {
    fn from(m: webhook_delivery::Model) -> Self {
        WebhookDelivery {
            id: ID(format!("whd_{}", m.id)),
            event_id: ID(format!("evt_{}", m.event_seq)),
            event_cursor: encode_cursor(&m.event_seq.to_string()),
            attempt: m.attempt,
            status: m.status,
            ok: m.ok,
            latency_ms: m.latency_ms,
            error: m.error,
            response_prefix: m.response_prefix,
            at: m.at,
        }
    }
}

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// The receiver: an http or https URL without credentials. Loopback, private and link-local
    /// addresses are refused unless `HELDAR_WEBHOOK_ALLOWED_HOSTS` lists them.
    pub url: String,
    /// Only these event kinds (omit for every kind).
    pub kinds: Option<Vec<EventKind>>,
    /// Only these cameras' events, each in your scope (omit for every camera in your scope,
    /// whatever it is when each event is delivered).
    pub camera_ids: Option<Vec<ID>>,
    /// Only events at least this severe (omit for all).
    pub min_severity: Option<Severity>,
    /// The signing secret, `whsec_` and base64 of 24 to 64 bytes (omit to have one generated).
    pub secret: Option<String>,
    /// Deliver only events recorded from now on (true, the default) or replay the whole stored
    /// log first (false).
    #[graphql(default = true)]
    pub from_now: bool,
}

/// Changes to a webhook; omitted fields keep their value, null clears a filter.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// A new receiver URL (the same rules as at creation).
    pub url: Option<String>,
    /// Only these kinds; null for every kind.
    pub kinds: MaybeUndefined<Vec<EventKind>>,
    /// Only these cameras; null for every camera in the owner's scope.
    pub camera_ids: MaybeUndefined<Vec<ID>>,
    /// Lowest severity; null for all.
    pub min_severity: MaybeUndefined<Severity>,
    /// Switch deliveries on or off.
    pub enabled: Option<bool>,
}

/// Webhook queries.
#[derive(Default)]
pub struct WebhooksQuery;

/// Webhook mutations.
#[derive(Default)]
pub struct WebhooksMutation;

fn is_admin(p: &Principal) -> bool {
    p.can(Capability::Admin)
}

/// The webhook if the caller may manage it; a manager gets NOT_FOUND for someone else's.
async fn owned(ctx: &Context<'_>, id: &ID) -> Result<(webhook::Model, Principal), AppError> {
    let principal = ctx.require(Capability::RegistryManage)?.clone();
    let hook = store::find(&ctx.state()?.db, id.as_str()).await?;
    if !is_admin(&principal) && hook.owner_id != principal.id {
        return Err(AppError::NotFound(format!("no webhook `{}`", id.as_str())));
    }
    Ok((hook, principal))
}

/// Cameras named by a filter, each in the caller's scope, without repeats.
fn camera_filter(
    ctx: &Context<'_>,
    field: &str,
    ids: &[ID],
) -> Result<serde_json::Value, AppError> {
    crate::graphql::input::distinct(field, ids)?;
    if ids.is_empty() {
        return Err(AppError::bad_input(
            field,
            "must list at least one camera (omit it for every camera)",
        ));
    }
    for id in ids {
        ctx.require_camera(Capability::RegistryManage, id.as_str())?;
    }
    Ok(json!(ids.iter().map(|i| i.as_str()).collect::<Vec<_>>()))
}

fn kinds_filter(field: &str, kinds: &[EventKind]) -> Result<serde_json::Value, AppError> {
    if kinds.is_empty() {
        return Err(AppError::bad_input(
            field,
            "must list at least one kind (omit it for every kind)",
        ));
    }
    if kinds.contains(&EventKind::Other) {
        return Err(AppError::bad_input(
            field,
            "OTHER is not a kind events are recorded with",
        ));
    }
    Ok(store::kinds_json(kinds))
}

#[Object]
impl WebhooksQuery {
    /// Webhooks: every one for admins, your own for managers.
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<Webhook>, AppError> {
        let principal = ctx.require(Capability::RegistryManage)?;
        let state = ctx.state()?;
        let owner = (!is_admin(principal)).then_some(principal.id.as_str());
        let now = state.clock.now();
        Ok(store::list(&state.db, owner)
            .await?
            .into_iter()
            .map(|m| Webhook::from_row(m, now))
            .collect())
    }

    /// A webhook's delivery attempts, newest first.
    #[graphql(complexity = "crate::graphql::cost::page(first, None, child_complexity)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] webhook_id: ID,
        #[graphql(desc = "At most this many (1 to 500, default 50).")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor (an edge's `cursor`).")] after: Option<String>,
    ) -> Result<Counted<WebhookDelivery>, AppError> {
        let (hook, _) = owned(ctx, &webhook_id).await?;
        let query = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::WebhookId.eq(hook.id));
        let keyset = Keyset {
            parts: vec![KeyPart::Int(webhook_delivery::Column::Id)],
            order: Order::NewestFirst,
            key_of: |row: &webhook_delivery::Model| row.id.to_string(),
        };
        let args = PageArgs::new(first, after, None, None);
        paged(&ctx.state()?.db, query, &keyset, &args, |row| {
            Ok::<_, AppError>(WebhookDelivery::from(row))
        })
        .await
    }
}

#[Object]
impl WebhooksMutation {
    /// Creates a webhook owned by the caller; its secret is in the answer and nowhere else.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The receiver and what it gets.")] input: CreateWebhookInput,
    ) -> Result<CreatedWebhook, AppError> {
        let principal = ctx.require(Capability::RegistryManage)?;
        let state = ctx.state()?;
        let url = model::parse_url("input.url", &input.url)?;
        let kinds = match &input.kinds {
            Some(k) => Some(kinds_filter("input.kinds", k)?),
            None => None,
        };
        let camera_ids = match &input.camera_ids {
            Some(ids) => Some(camera_filter(ctx, "input.cameraIds", ids)?),
            None => None,
        };
        let secret = match &input.secret {
            Some(s) => model::parse_secret("input.secret", s)?,
            None => model::generate_secret(),
        };
        state.webhooks.check_target("input.url", &url).await?;
        let cursor = if input.from_now {
            crate::events::store::newest_seq(&state.db).await?
        } else {
            0
        };
        let now = state.clock.now();
        let id = format!("whk_{}", uuid::Uuid::new_v4().simple());
        let sealed = state.webhooks.sealer.seal(&id, &secret);
        let row = webhook::ActiveModel {
            id: Set(id),
            url: Set(url.to_string()),
            kinds: Set(kinds),
            camera_ids: Set(camera_ids),
            min_severity: Set(input.min_severity),
            owner_kind: Set(owner_kind(principal).to_owned()),
            owner_id: Set(principal.id.clone()),
            secret: Set(sealed),
            previous_secret: Set(None),
            previous_secret_until: Set(None),
            cursor: Set(cursor),
            enabled: Set(true),
            failing_since: Set(None),
            retrying_since: Set(None),
            leased_by: Set(None),
            lease_until: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let created = store::insert(&state.db, row).await?;
        let entry = Entry::new("create_webhook", "webhook", &created.id)
            .detail(json!({"url": model::redacted(&created.url)}));
        audit::record(&state.db, &Actor::from(principal), entry, now).await;
        state.webhooks.changed.notify_one();
        Ok(CreatedWebhook {
            webhook: Webhook::from_row(created, now),
            secret,
        })
    }

    /// Changes a webhook. Its worker restarts with the change; the cursor stays where it is.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] id: ID,
        #[graphql(desc = "What to change.")] input: UpdateWebhookInput,
    ) -> Result<Webhook, AppError> {
        let (hook, principal) = owned(ctx, &id).await?;
        let state = ctx.state()?;
        let url = match &input.url {
            Some(raw) => {
                let url = model::parse_url("input.url", raw)?;
                state.webhooks.check_target("input.url", &url).await?;
                Some(url.to_string())
            }
            None => None,
        };
        let kinds = match input.kinds {
            MaybeUndefined::Value(k) => MaybeUndefined::Value(kinds_filter("input.kinds", &k)?),
            MaybeUndefined::Null => MaybeUndefined::Null,
            MaybeUndefined::Undefined => MaybeUndefined::Undefined,
        };
        let cameras = match input.camera_ids {
            MaybeUndefined::Value(ids) => {
                MaybeUndefined::Value(camera_filter(ctx, "input.cameraIds", &ids)?)
            }
            MaybeUndefined::Null => MaybeUndefined::Null,
            MaybeUndefined::Undefined => MaybeUndefined::Undefined,
        };
        let (updated, now) = change(
            state,
            &principal,
            &hook.id,
            "update_webhook",
            |row| {
                if let Some(url) = url {
                    row.url = Set(url);
                }
                set_or_clear(&mut row.kinds, kinds);
                set_or_clear(&mut row.camera_ids, cameras);
                set_or_clear(&mut row.min_severity, input.min_severity);
                if let Some(enabled) = input.enabled {
                    row.enabled = Set(enabled);
                }
            },
            |updated| json!({"url": model::redacted(&updated.url), "enabled": updated.enabled}),
        )
        .await?;
        Ok(Webhook::from_row(updated, now))
    }

    /// Replaces the signing secret. For `overlapSeconds` the old secret signs too (a second
    /// signature in `webhook-signature`), so the receiver can switch without losing a delivery.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] id: ID,
        #[graphql(desc = "The new secret (`whsec_…`); omit to have one generated.")] secret: Option<
            String,
        >,
        #[graphql(
            desc = "Seconds the old secret keeps signing (0 to 604800, default 86400).",
            default_with = "Some(86400)"
        )]
        overlap_seconds: Option<i32>,
    ) -> Result<CreatedWebhook, AppError> {
        let overlap_seconds = overlap_seconds.unwrap_or(86400);
        let (hook, principal) = owned(ctx, &id).await?;
        let state = ctx.state()?;
        crate::graphql::input::in_range("overlapSeconds", overlap_seconds, 0, 604_800)?;
        let secret = match &secret {
            Some(s) => model::parse_secret("secret", s)?,
            None => model::generate_secret(),
        };
        let until = state.clock.now() + chrono::Duration::seconds(i64::from(overlap_seconds));
        let new_secret = state.webhooks.sealer.seal(&hook.id, &secret);
        let (updated, now) = change(
            state,
            &principal,
            &hook.id,
            "rotate_webhook_secret",
            |row| {
                let mut previous = row.secret.clone();
                row.previous_secret = Set(previous.take());
                row.previous_secret_until = Set(Some(until));
                row.secret = Set(new_secret);
            },
            |_| json!({"overlapSeconds": overlap_seconds}),
        )
        .await?;
        Ok(CreatedWebhook {
            webhook: Webhook::from_row(updated, now),
            secret,
        })
    }

    /// Delivers again, in order, every matching event after `after` (a `perceptionEvents` or
    /// delivery `eventCursor`); also retries a failing webhook at once.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] id: ID,
        #[graphql(desc = "Deliver every event after this cursor again.")] after: String,
    ) -> Result<Webhook, AppError> {
        let (hook, principal) = owned(ctx, &id).await?;
        let state = ctx.state()?;
        let seq: i64 = decode_cursor(&after)?
            .parse()
            .map_err(|_| AppError::bad_input("after", "not a cursor this server issued"))?;
        let (updated, now) = change(
            state,
            &principal,
            &hook.id,
            "redeliver_webhook",
            |row| {
                row.cursor = Set(seq.max(0));
                row.retrying_since = Set(None);
            },
            |_| json!({"after": seq}),
        )
        .await?;
        Ok(Webhook::from_row(updated, now))
    }

    /// Deletes a webhook and its delivery log; returns its id.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook.")] id: ID,
    ) -> Result<ID, AppError> {
        let (hook, principal) = owned(ctx, &id).await?;
        let state = ctx.state()?;
        state
            .webhooks
            .while_stopped(&hook.id, store::delete(&state.db, &hook.id))
            .await?;
        let now = state.clock.now();
        let entry = Entry::new("delete_webhook", "webhook", &hook.id)
            .detail(json!({"url": model::redacted(&hook.url)}));
        audit::record(&state.db, &Actor::from(&principal), entry, now).await;
        state.webhooks.changed.notify_one();
        Ok(id)
    }
}

/// Changes a webhook as its worker left it: stops this instance's worker (it saves its progress
/// first), applies `edit` to the saved row, bumps `updated_at` (a worker on another instance
/// stops at its next save), audits `action` with `detail`, and wakes the supervisor.
async fn change(
    state: &crate::state::AppState,
    principal: &Principal,
    id: &str,
    action: &str,
    edit: impl FnOnce(&mut webhook::ActiveModel),
    detail: impl FnOnce(&webhook::Model) -> serde_json::Value,
) -> Result<(webhook::Model, DateTime<Utc>), AppError> {
    let now = state.clock.now();
    let write = async {
        let mut row = store::find(&state.db, id).await?.into_active_model();
        edit(&mut row);
        store::update(&state.db, row, now).await
    };
    let updated = state.webhooks.while_stopped(id, write).await?;
    let entry = Entry::new(action, "webhook", &updated.id).detail(detail(&updated));
    audit::record(&state.db, &Actor::from(principal), entry, now).await;
    state.webhooks.changed.notify_one();
    Ok((updated, now))
}

/// A nullable column from an input field: omitted keeps it, null clears it.
fn set_or_clear<T>(column: &mut sea_orm::ActiveValue<Option<T>>, value: MaybeUndefined<T>)
where
    T: Into<sea_orm::Value>,
    Option<T>: Into<sea_orm::Value>,
{
    match value {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => *column = Set(None),
        MaybeUndefined::Value(v) => *column = Set(Some(v)),
    }
}

fn owner_kind(p: &Principal) -> &'static str {
    match p.kind {
        PrincipalKind::User => "user",
        PrincipalKind::ApiKey => "api_key",
    }
}
