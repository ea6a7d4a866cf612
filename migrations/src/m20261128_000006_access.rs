//! Access control: API tokens (only a SHA-256 hash of each secret is kept) and the owner of each
//! durable subscription.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Role,
    Departments,
    Townships,
    SecretHash,
    CreatedAtUs,
    RevokedAtUs,
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Owner,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ApiTokens as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(big_pk_auto(T::Id))
                    .col(string(T::Name))
                    .col(string(T::Role))
                    .col(text(T::Departments))
                    .col(text(T::Townships))
                    .col(string(T::SecretHash))
                    .col(big_integer(T::CreatedAtUs))
                    .col(big_integer_null(T::RevokedAtUs))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("uq_api_tokens_name", T::Name),
            ("uq_api_tokens_secret_hash", T::SecretHash),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(T::Table)
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        // Subscriptions made before tokens existed belong to no one; only admins see them.
        manager
            .alter_table(
                Table::alter()
                    .table(Subscriptions::Table)
                    .add_column(string(Subscriptions::Owner).default(""))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Subscriptions::Table)
                    .drop_column(Subscriptions::Owner)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).to_owned())
            .await
    }
}
