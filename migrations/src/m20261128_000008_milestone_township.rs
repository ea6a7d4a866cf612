//! The project's township copied onto its milestones, with an index in list order, so that the
//! supervisor's morning query (one township's RED milestones by baseline) walks one index and
//! stops after a page instead of joining and sorting every milestone of the township. The store
//! keeps the copy in step when a project's township changes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Milestones {
    Table,
    Township,
    BaselineDate,
    Uid,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Milestones as M;
        manager
            .alter_table(
                Table::alter()
                    .table(M::Table)
                    .add_column(string(M::Township).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE milestones SET township = \
                 (SELECT p.township FROM projects p WHERE p.id = milestones.project_pk)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_milestones_township")
                    .table(M::Table)
                    .col(M::Township)
                    .col(M::BaselineDate)
                    .col(M::Uid)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_milestones_township")
                    .table(Milestones::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Milestones::Table)
                    .drop_column(Milestones::Township)
                    .to_owned(),
            )
            .await
    }
}
