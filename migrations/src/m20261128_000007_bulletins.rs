//! Published bulletins (通报). The payload is the encoded `pipeline.v1.Bulletin` exactly as it was
//! computed, so a bulletin reads back unchanged whatever happens to the data later.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Bulletins {
    Table,
    Id,
    BulletinId,
    Uid,
    Title,
    StatusDate,
    Payload,
    Publisher,
    CreatedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Bulletins as B;
        manager
            .create_table(
                Table::create()
                    .table(B::Table)
                    .col(big_pk_auto(B::Id))
                    .col(string(B::BulletinId))
                    .col(string(B::Uid))
                    .col(string(B::Title))
                    .col(integer(B::StatusDate))
                    .col(blob(B::Payload))
                    .col(string(B::Publisher))
                    .col(big_integer(B::CreatedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_bulletins_bulletin_id")
                    .table(B::Table)
                    .col(B::BulletinId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_bulletins_status_date")
                    .table(B::Table)
                    .col(B::StatusDate)
                    .col(B::BulletinId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Bulletins::Table).to_owned())
            .await
    }
}
