//! The problem ledger's reports, blockers and lists (issue 20): the civil day a problem was
//! last resolved (`resolved_on`, empty while it is not RESOLVED or CLOSED), which the rankings
//! compare with its deadline; an index on (project, milestone, state) through which a milestone
//! finds its open linked problems (AT_RISK, DESIGN §5); and the list's indexes made covering.
//! ListProblems reads newest first; with migration 13's indexes the weekly meeting's query
//! ("overdue problems of one unit") walked the creation order and fetched every row to test its
//! state and deadline, thousands per page, or SQLite skip-scanned the unit index and sorted
//! every overdue problem. With (unit, created, uid, state, deadline) and (created, uid, state,
//! deadline) the test is answered from the index: p99 of the first page over 100,000 problems
//! from 12–49 ms to 3.4–4.9 ms on SQLite and from 23–38 ms to 2.8–7 ms on PostgreSQL
//! (BENCHMARKS.md, `pipeline-bench problems`). The old indexes are their prefixes and go: while
//! they exist SQLite keeps choosing its skip-scan.
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
    ResponsibleUnit,
    CreatedAtUs,
    Uid,
    Deadline,
}

const LINK_INDEX: &str = "ix_problems_project_milestone_state";
const UNIT_INDEX: &str = "ix_problems_unit_created";
const CREATED_INDEX: &str = "ix_problems_created_state_deadline";
/// Migration 13's, replaced.
const OLD_UNIT_INDEX: &str = "ix_problems_unit_state_deadline";
const OLD_CREATED_INDEX: &str = "ix_problems_created";

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
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(UNIT_INDEX)
                    .table(Problems::Table)
                    .col(Problems::ResponsibleUnit)
                    .col(Problems::CreatedAtUs)
                    .col(Problems::Uid)
                    .col(Problems::State)
                    .col(Problems::Deadline)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(CREATED_INDEX)
                    .table(Problems::Table)
                    .col(Problems::CreatedAtUs)
                    .col(Problems::Uid)
                    .col(Problems::State)
                    .col(Problems::Deadline)
                    .to_owned(),
            )
            .await?;
        for old in [OLD_UNIT_INDEX, OLD_CREATED_INDEX] {
            manager
                .drop_index(Index::drop().name(old).table(Problems::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD_UNIT_INDEX)
                    .table(Problems::Table)
                    .col(Problems::ResponsibleUnit)
                    .col(Problems::State)
                    .col(Problems::Deadline)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(OLD_CREATED_INDEX)
                    .table(Problems::Table)
                    .col(Problems::CreatedAtUs)
                    .col(Problems::Uid)
                    .to_owned(),
            )
            .await?;
        for new in [UNIT_INDEX, CREATED_INDEX] {
            manager
                .drop_index(Index::drop().name(new).table(Problems::Table).to_owned())
                .await?;
        }
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
