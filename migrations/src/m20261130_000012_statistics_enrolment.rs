//! Statistics enrolment (入库纳统, DESIGN §2): the day a project was registered in the
//! statistics system, as a civil day number, empty until it is; and an index for the scanner's
//! walk over achieved construction starts. Existing projects start without an enrolment date.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    StatisticsEnrolmentDate,
}

#[derive(DeriveIden)]
enum Milestones {
    Table,
    ProjectPk,
    Kind,
    ActualDate,
}

const STARTED_INDEX: &str = "ix_milestones_project_kind_actual";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column(integer_null(Projects::StatisticsEnrolmentDate))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(STARTED_INDEX)
                    .table(Milestones::Table)
                    .col(Milestones::ProjectPk)
                    .col(Milestones::Kind)
                    .col(Milestones::ActualDate)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(STARTED_INDEX)
                    .table(Milestones::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .drop_column(Projects::StatisticsEnrolmentDate)
                    .to_owned(),
            )
            .await
    }
}
