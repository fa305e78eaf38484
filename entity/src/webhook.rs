//! `webhooks`: receivers of the event log over HTTP, each with its own durable cursor.

use sea_orm::entity::prelude::*;

/// One webhook.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    /// `whk_<uuid>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The receiver's URL (http or https).
    pub url: String,
    /// Event kinds delivered (JSON list of stored names); null = every kind.
    pub kinds: Option<Json>,
    /// Cameras delivered (JSON list of ids); null = every camera in the owner's scope.
    pub camera_ids: Option<Json>,
    /// Lowest severity delivered; null = all.
    pub min_severity: Option<crate::vocab::Severity>,
    /// `user` or `api_key`.
    pub owner_kind: String,
    /// The owner's user or API key id; the webhook sees only what its owner may see.
    pub owner_id: String,
    /// The signing secret (`whsec_<base64>`).
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing.
    pub previous_secret_until: Option<DateTimeUtc>,
    /// The last event sequence delivered (or skipped as not matching).
    pub cursor: i64,
    /// Deliveries run only while enabled.
    pub enabled: bool,
    /// Since when deliveries have failed for longer than the retry window (null while healthy).
    pub failing_since: Option<DateTimeUtc>,
    /// When the event at the cursor first failed (null while nothing is being retried).
    pub retrying_since: Option<DateTimeUtc>,
    /// The instance delivering it now.
    pub leased_by: Option<String>,
    /// The lease lapses then unless renewed.
    pub lease_until: Option<DateTimeUtc>,
    /// Created.
    pub created_at: DateTimeUtc,
    /// Last changed.
    pub updated_at: DateTimeUtc,
}

/// Relations of `webhooks`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
