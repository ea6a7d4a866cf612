//! Request ids are kept per caller: the key of a stored response becomes (caller, method,
//! request_id), where the caller is the token's name (unique for ever: a revoked token keeps
//! its name). Before this, two callers who sent the same request id to the same method shared
//! one stored response, so the second got the first one's answer without being authorized.
//!
//! Neither backend can change a primary key in place the same way (SQLite cannot alter one at
//! all), so the table is made anew. Responses stored before the upgrade are dropped: nothing
//! says which caller earned them, and replaying them to anyone is the fault this removes. So a
//! retry that straddles the upgrade is acted on as a new call (a create that named no id
//! creates a second resource); run the upgrade when no client is retrying.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RequestIds {
    Table,
    Caller,
    Method,
    RequestId,
    Fingerprint,
    Response,
    CreatedAtUs,
}

async fn recreate(manager: &SchemaManager<'_>, with_caller: bool) -> Result<(), DbErr> {
    use RequestIds as R;
    manager
        .drop_table(Table::drop().table(R::Table).to_owned())
        .await?;
    let mut table = Table::create();
    table.table(R::Table);
    let mut key = Index::create();
    if with_caller {
        table.col(string(R::Caller));
        key.col(R::Caller);
    }
    table
        .col(string(R::Method))
        .col(string(R::RequestId))
        .col(string(R::Fingerprint))
        .col(blob(R::Response))
        .col(big_integer(R::CreatedAtUs))
        .primary_key(key.col(R::Method).col(R::RequestId));
    manager.create_table(table.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, true).await
    }

    /// Back to one key per (method, request_id); the responses kept per caller are dropped,
    /// for the same reason as on the way up.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, false).await
    }
}
