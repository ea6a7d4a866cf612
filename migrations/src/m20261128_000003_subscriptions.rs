//! Durable subscriptions, and a key-value table for facts about the database itself (the log's
//! epoch, how far retention has pruned the log).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    SubscriptionId,
    Uid,
    DisplayName,
    Filter,
    AckedSeq,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum PipelineMeta {
    Table,
    Key,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(big_pk_auto(Subscriptions::Id))
                    .col(string(Subscriptions::SubscriptionId))
                    .col(string(Subscriptions::Uid))
                    .col(string(Subscriptions::DisplayName))
                    .col(blob(Subscriptions::Filter))
                    .col(big_integer(Subscriptions::AckedSeq))
                    .col(big_integer(Subscriptions::CreatedAtUs))
                    .col(big_integer(Subscriptions::UpdatedAtUs))
                    .col(big_integer(Subscriptions::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_subscriptions_subscription_id")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::SubscriptionId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PipelineMeta::Table)
                    .col(string(PipelineMeta::Key).primary_key())
                    .col(string(PipelineMeta::Value))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PipelineMeta::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Subscriptions::Table).to_owned())
            .await
    }
}
