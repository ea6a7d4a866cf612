//! The problem ledger (问题清单): problems blocking a project, each with a responsible unit and
//! a deadline, and the revisions that record every change of one (who, when, what, why).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Problems {
    Table,
    Id,
    ProjectPk,
    ProblemId,
    Uid,
    Category,
    Description,
    /// The token that raised it.
    RaisedBy,
    /// Civil day numbers.
    RaiseDate,
    ResponsibleUnit,
    ResponsibleLeader,
    Deadline,
    /// The blocked milestone's id within the project; empty for none.
    MilestoneId,
    State,
    ResolutionNote,
    ExtensionCount,
    ResolvedAtUs,
    ClosedAtUs,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum ProblemRevisions {
    Table,
    Id,
    ProblemPk,
    Number,
    Action,
    Actor,
    CreatedAtUs,
    /// Empty for the creation.
    FromState,
    ToState,
    /// Comma-separated Problem field names (UPDATED only).
    ChangedFields,
    Reason,
    /// Civil day numbers.
    OldDeadline,
    NewDeadline,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Problems as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(big_pk_auto(P::Id))
                    .col(big_integer(P::ProjectPk))
                    .col(string(P::ProblemId))
                    .col(string(P::Uid))
                    .col(string(P::Category))
                    .col(text(P::Description))
                    .col(string(P::RaisedBy))
                    .col(integer(P::RaiseDate))
                    .col(string(P::ResponsibleUnit))
                    .col(string(P::ResponsibleLeader))
                    .col(integer(P::Deadline))
                    .col(string(P::MilestoneId))
                    .col(string(P::State))
                    .col(text(P::ResolutionNote))
                    .col(integer(P::ExtensionCount))
                    .col(big_integer_null(P::ResolvedAtUs))
                    .col(big_integer_null(P::ClosedAtUs))
                    .col(big_integer(P::CreatedAtUs))
                    .col(big_integer(P::UpdatedAtUs))
                    .col(big_integer(P::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_problems_project")
                            .from(P::Table, P::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_problems_project_id")
                    .table(P::Table)
                    .col(P::ProjectPk)
                    .col(P::ProblemId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The scheduling meeting's question: overdue problems of a responsible unit.
        manager
            .create_index(
                Index::create()
                    .name("ix_problems_unit_state_deadline")
                    .table(P::Table)
                    .col(P::ResponsibleUnit)
                    .col(P::State)
                    .col(P::Deadline)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_problems_created")
                    .table(P::Table)
                    .col(P::CreatedAtUs)
                    .col(P::Uid)
                    .to_owned(),
            )
            .await?;

        use ProblemRevisions as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(big_pk_auto(R::Id))
                    .col(big_integer(R::ProblemPk))
                    .col(integer(R::Number))
                    .col(string(R::Action))
                    .col(string(R::Actor))
                    .col(big_integer(R::CreatedAtUs))
                    .col(string(R::FromState))
                    .col(string(R::ToState))
                    .col(text(R::ChangedFields))
                    .col(text(R::Reason))
                    .col(integer_null(R::OldDeadline))
                    .col(integer_null(R::NewDeadline))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_problem_revisions_problem")
                            .from(R::Table, R::ProblemPk)
                            .to(P::Table, P::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_problem_revisions_number")
                    .table(R::Table)
                    .col(R::ProblemPk)
                    .col(R::Number)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ProblemRevisions::Table.into_iden(),
            Problems::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
