//! The once-only ledger of the scanner's problem alerts (PROBLEM_OVERDUE, PROBLEM_ESCALATED):
//! its unique key (problem, rung, deadline) makes each alert once-only across restarts and
//! replicas, and an extended deadline a new key.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Problems {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProblemAlerts {
    Table,
    Id,
    ProblemPk,
    /// The rung of the escalation ladder, 0 first.
    Level,
    /// The deadline it was raised for, as a civil day number.
    Deadline,
    CreatedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ProblemAlerts as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(big_pk_auto(A::Id))
                    .col(big_integer(A::ProblemPk))
                    .col(integer(A::Level))
                    .col(integer(A::Deadline))
                    .col(big_integer(A::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_problem_alerts_problem")
                            .from(A::Table, A::ProblemPk)
                            .to(Problems::Table, Problems::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_problem_alerts_once")
                    .table(A::Table)
                    .col(A::ProblemPk)
                    .col(A::Level)
                    .col(A::Deadline)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ProblemAlerts::Table).to_owned())
            .await
    }
}
