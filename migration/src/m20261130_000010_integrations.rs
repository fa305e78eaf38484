//! Integrations: webhooks and their delivery log, review items and who reviewed them, and the
//! cursors of server-side readers of the event log (the review grouper, the MQTT publisher).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `webhooks`, `webhook_deliveries`, `review_items`, `review_marks`, `stream_cursors`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Url,
    Kinds,
    CameraIds,
    MinSeverity,
    OwnerKind,
    OwnerId,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    Cursor,
    Enabled,
    FailingSince,
    RetryingSince,
    LeasedBy,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventSeq,
    Attempt,
    Status,
    Ok,
    LatencyMs,
    Error,
    ResponsePrefix,
    Redelivery,
    At,
}

#[derive(DeriveIden)]
enum ReviewItems {
    Table,
    Id,
    CameraId,
    Severity,
    StartedAt,
    EndedAt,
    FirstSeq,
    LastSeq,
    Labels,
    ZoneIds,
    ThumbnailAt,
    EventCount,
}

#[derive(DeriveIden)]
enum ReviewMarks {
    Table,
    ItemId,
    HolderId,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum StreamCursors {
    Table,
    Name,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(string(Webhooks::Id).primary_key())
                    .col(string(Webhooks::Url))
                    .col(json_null(Webhooks::Kinds))
                    .col(json_null(Webhooks::CameraIds))
                    .col(string_null(Webhooks::MinSeverity))
                    .col(string(Webhooks::OwnerKind))
                    .col(string(Webhooks::OwnerId))
                    .col(string(Webhooks::Secret))
                    .col(string_null(Webhooks::PreviousSecret))
                    .col(timestamp_with_time_zone_null(Webhooks::PreviousSecretUntil))
                    .col(big_integer(Webhooks::Cursor))
                    .col(boolean(Webhooks::Enabled))
                    .col(timestamp_with_time_zone_null(Webhooks::FailingSince))
                    .col(timestamp_with_time_zone_null(Webhooks::RetryingSince))
                    .col(string_null(Webhooks::LeasedBy))
                    .col(timestamp_with_time_zone_null(Webhooks::LeaseUntil))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(big_pk_auto(WebhookDeliveries::Id))
                    .col(string(WebhookDeliveries::WebhookId))
                    .col(big_integer(WebhookDeliveries::EventSeq))
                    .col(integer(WebhookDeliveries::Attempt))
                    .col(integer_null(WebhookDeliveries::Status))
                    .col(boolean(WebhookDeliveries::Ok))
                    .col(integer(WebhookDeliveries::LatencyMs))
                    .col(string_null(WebhookDeliveries::Error))
                    .col(string_null(WebhookDeliveries::ResponsePrefix))
                    .col(boolean(WebhookDeliveries::Redelivery))
                    .col(timestamp_with_time_zone(WebhookDeliveries::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_webhook")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReviewItems::Table)
                    .col(string(ReviewItems::Id).primary_key())
                    .col(string(ReviewItems::CameraId))
                    .col(string(ReviewItems::Severity))
                    .col(timestamp_with_time_zone(ReviewItems::StartedAt))
                    .col(timestamp_with_time_zone(ReviewItems::EndedAt))
                    .col(big_integer(ReviewItems::FirstSeq))
                    .col(big_integer(ReviewItems::LastSeq))
                    .col(json(ReviewItems::Labels))
                    .col(json(ReviewItems::ZoneIds))
                    .col(timestamp_with_time_zone(ReviewItems::ThumbnailAt))
                    .col(integer(ReviewItems::EventCount))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_items_camera_started")
                    .table(ReviewItems::Table)
                    .col(ReviewItems::CameraId)
                    .col(ReviewItems::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_review_items_started")
                    .table(ReviewItems::Table)
                    .col(ReviewItems::StartedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ReviewMarks::Table)
                    .col(string(ReviewMarks::ItemId))
                    .col(string(ReviewMarks::HolderId))
                    .col(timestamp_with_time_zone(ReviewMarks::ReviewedAt))
                    .primary_key(
                        Index::create()
                            .col(ReviewMarks::ItemId)
                            .col(ReviewMarks::HolderId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReviewMarks::Table, ReviewMarks::ItemId)
                            .to(ReviewItems::Table, ReviewItems::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StreamCursors::Table)
                    .col(string(StreamCursors::Name).primary_key())
                    .col(big_integer(StreamCursors::Seq))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StreamCursors::Table.into_iden(),
            ReviewMarks::Table.into_iden(),
            ReviewItems::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
