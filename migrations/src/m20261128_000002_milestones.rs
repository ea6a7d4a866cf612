//! Milestones, their date revisions, the once-only alert ledger of the scanner, and two event
//! columns (light, slip days) that stream filters will use.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Milestones {
    Table,
    Id,
    ProjectPk,
    MilestoneId,
    Uid,
    Kind,
    Title,
    Description,
    BaselineDate,
    ForecastDate,
    ActualDate,
    SlipCount,
    DaysSlipped,
    RevisionCount,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum MilestoneRevisions {
    Table,
    Id,
    MilestonePk,
    Number,
    Field,
    OldDate,
    NewDate,
    Reason,
    Actor,
    RecordedOn,
    CreatedAtUs,
}

/// One row per alert ever emitted; its unique key is what makes the scanner's alerts
/// once-only across restarts and replicas.
#[derive(DeriveIden)]
enum MilestoneAlerts {
    Table,
    Id,
    MilestonePk,
    Kind,
    BaselineDate,
    CreatedAtUs,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Light,
    SlipDays,
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    columns: Vec<DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Milestones::Table)
                    .col(big_pk_auto(Milestones::Id))
                    .col(big_integer(Milestones::ProjectPk))
                    .col(string(Milestones::MilestoneId))
                    .col(string(Milestones::Uid))
                    .col(string(Milestones::Kind))
                    .col(string(Milestones::Title))
                    .col(text(Milestones::Description))
                    .col(integer(Milestones::BaselineDate))
                    .col(integer(Milestones::ForecastDate))
                    .col(integer_null(Milestones::ActualDate))
                    .col(integer(Milestones::SlipCount))
                    .col(integer(Milestones::DaysSlipped))
                    .col(integer(Milestones::RevisionCount))
                    .col(big_integer(Milestones::CreatedAtUs))
                    .col(big_integer(Milestones::UpdatedAtUs))
                    .col(big_integer(Milestones::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_milestones_project")
                            .from(Milestones::Table, Milestones::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        use Milestones as M;
        index(
            manager,
            "uq_milestones_project_milestone_id",
            M::Table,
            vec![M::ProjectPk.into_iden(), M::MilestoneId.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "uq_milestones_uid",
            M::Table,
            vec![M::Uid.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ix_milestones_baseline",
            M::Table,
            vec![M::BaselineDate.into_iden(), M::Uid.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_milestones_open",
            M::Table,
            vec![M::ActualDate.into_iden(), M::BaselineDate.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_milestones_project",
            M::Table,
            vec![M::ProjectPk.into_iden(), M::BaselineDate.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(MilestoneRevisions::Table)
                    .col(big_pk_auto(MilestoneRevisions::Id))
                    .col(big_integer(MilestoneRevisions::MilestonePk))
                    .col(integer(MilestoneRevisions::Number))
                    .col(string(MilestoneRevisions::Field))
                    .col(integer_null(MilestoneRevisions::OldDate))
                    .col(integer(MilestoneRevisions::NewDate))
                    .col(text(MilestoneRevisions::Reason))
                    .col(string(MilestoneRevisions::Actor))
                    .col(integer(MilestoneRevisions::RecordedOn))
                    .col(big_integer(MilestoneRevisions::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_milestone_revisions_milestone")
                            .from(MilestoneRevisions::Table, MilestoneRevisions::MilestonePk)
                            .to(Milestones::Table, Milestones::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_milestone_revisions_number",
            MilestoneRevisions::Table,
            vec![
                MilestoneRevisions::MilestonePk.into_iden(),
                MilestoneRevisions::Number.into_iden(),
            ],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(MilestoneAlerts::Table)
                    .col(big_pk_auto(MilestoneAlerts::Id))
                    .col(big_integer(MilestoneAlerts::MilestonePk))
                    .col(string(MilestoneAlerts::Kind))
                    .col(integer(MilestoneAlerts::BaselineDate))
                    .col(big_integer(MilestoneAlerts::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_milestone_alerts_milestone")
                            .from(MilestoneAlerts::Table, MilestoneAlerts::MilestonePk)
                            .to(Milestones::Table, Milestones::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_milestone_alerts_once",
            MilestoneAlerts::Table,
            vec![
                MilestoneAlerts::MilestonePk.into_iden(),
                MilestoneAlerts::Kind.into_iden(),
                MilestoneAlerts::BaselineDate.into_iden(),
            ],
            true,
        )
        .await?;

        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(string_null(Events::Light))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(integer_null(Events::SlipDays))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::SlipDays)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::Light)
                    .to_owned(),
            )
            .await?;
        for table in [
            MilestoneAlerts::Table.into_iden(),
            MilestoneRevisions::Table.into_iden(),
            Milestones::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
