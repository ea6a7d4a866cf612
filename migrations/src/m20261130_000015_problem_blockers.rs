//! The problem ledger's reports and blockers (issue 20): the civil day a problem was last
//! resolved (`resolved_on`, empty while it is not RESOLVED or CLOSED), which the rankings
//! compare with its deadline; and an index on (project, milestone, state) through which a
//! milestone finds its open linked problems (AT_RISK, DESIGN §5).
//!
//! Problems resolved before this migration get the day of their `resolved_at_us` in UTC+8:
//! the county's zone (Asia/Shanghai) has kept that offset since 1991. The service writes the
//! jurisdiction's date of its own clock from now on.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Problems {
    Table,
    ResolvedOn,
    ProjectPk,
    MilestoneId,
    State,
}

const LINK_INDEX: &str = "ix_problems_project_milestone_state";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Problems::Table)
                    .add_column(integer_null(Problems::ResolvedOn))
                    .to_owned(),
            )
            .await?;
        // Integer division rounds toward zero; every stored instant is after 1970.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE problems SET resolved_on = CAST((resolved_at_us / 1000000 + 28800) / 86400 AS INTEGER) \
                 WHERE resolved_at_us IS NOT NULL",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(LINK_INDEX)
                    .table(Problems::Table)
                    .col(Problems::ProjectPk)
                    .col(Problems::MilestoneId)
                    .col(Problems::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(LINK_INDEX)
                    .table(Problems::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Problems::Table)
                    .drop_column(Problems::ResolvedOn)
                    .to_owned(),
            )
            .await
    }
}
