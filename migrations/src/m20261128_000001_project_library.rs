//! The project library, its prerequisites and stage history, the event log with its sequence
//! counter, and the idempotency records of request ids.
//!
//! Conventions of the schema: instants are BIGINT microseconds since the Unix epoch (UTC), civil
//! dates are INTEGER days since 1970-01-01, enums are their API value names without the prefix
//! (e.g. `CONSTRUCTION`), money is BIGINT yuan, and every mutable row has a `version` that the
//! API exposes as its etag.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    ProjectId,
    Uid,
    DisplayName,
    Description,
    ProjectCode,
    Category,
    InvestmentType,
    Township,
    Department,
    Owner,
    Leader,
    TotalInvestmentYuan,
    AnnualPlannedInvestmentYuan,
    CompletedInvestmentYuan,
    Stage,
    SuspendedFromStage,
    StageChangedAtUs,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum Prerequisites {
    Table,
    Id,
    ProjectPk,
    PrerequisiteId,
    Uid,
    Kind,
    Title,
    State,
    DueDate,
    Note,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum StageChanges {
    Table,
    Id,
    ProjectPk,
    FromStage,
    ToStage,
    Reason,
    Actor,
    EffectiveDate,
    CreatedAtUs,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    TransactionEndSeq,
    Kind,
    ProjectId,
    Resource,
    Township,
    Department,
    Leader,
    Actor,
    CreatedAtUs,
    Payload,
}

#[derive(DeriveIden)]
enum EventCounter {
    Table,
    Id,
    LastSeq,
}

#[derive(DeriveIden)]
enum RequestIds {
    Table,
    Method,
    RequestId,
    Fingerprint,
    Response,
    CreatedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .col(big_pk_auto(Projects::Id))
                    .col(string(Projects::ProjectId))
                    .col(string(Projects::Uid))
                    .col(string(Projects::DisplayName))
                    .col(text(Projects::Description))
                    .col(string_null(Projects::ProjectCode))
                    .col(string(Projects::Category))
                    .col(string(Projects::InvestmentType))
                    .col(string(Projects::Township))
                    .col(string(Projects::Department))
                    .col(string(Projects::Owner))
                    .col(string(Projects::Leader))
                    .col(big_integer(Projects::TotalInvestmentYuan))
                    .col(big_integer(Projects::AnnualPlannedInvestmentYuan))
                    .col(big_integer(Projects::CompletedInvestmentYuan))
                    .col(string(Projects::Stage))
                    .col(string_null(Projects::SuspendedFromStage))
                    .col(big_integer(Projects::StageChangedAtUs))
                    .col(big_integer(Projects::CreatedAtUs))
                    .col(big_integer(Projects::UpdatedAtUs))
                    .col(big_integer(Projects::Version))
                    .to_owned(),
            )
            .await?;
        let project_indexes: [(&str, Vec<Projects>, bool); 9] = [
            ("uq_projects_project_id", vec![Projects::ProjectId], true),
            (
                "uq_projects_project_code",
                vec![Projects::ProjectCode],
                true,
            ),
            (
                "ix_projects_created",
                vec![Projects::CreatedAtUs, Projects::ProjectId],
                false,
            ),
            (
                "ix_projects_display_name",
                vec![Projects::DisplayName, Projects::ProjectId],
                false,
            ),
            (
                "ix_projects_total_investment",
                vec![Projects::TotalInvestmentYuan, Projects::ProjectId],
                false,
            ),
            (
                "ix_projects_township",
                vec![
                    Projects::Township,
                    Projects::CreatedAtUs,
                    Projects::ProjectId,
                ],
                false,
            ),
            (
                "ix_projects_department",
                vec![
                    Projects::Department,
                    Projects::CreatedAtUs,
                    Projects::ProjectId,
                ],
                false,
            ),
            (
                "ix_projects_leader",
                vec![Projects::Leader, Projects::CreatedAtUs, Projects::ProjectId],
                false,
            ),
            (
                "ix_projects_stage",
                vec![Projects::Stage, Projects::CreatedAtUs, Projects::ProjectId],
                false,
            ),
        ];
        for (name, columns, unique) in project_indexes {
            let mut index = Index::create();
            index.name(name).table(Projects::Table);
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Prerequisites::Table)
                    .col(big_pk_auto(Prerequisites::Id))
                    .col(big_integer(Prerequisites::ProjectPk))
                    .col(string(Prerequisites::PrerequisiteId))
                    .col(string(Prerequisites::Uid))
                    .col(string(Prerequisites::Kind))
                    .col(string(Prerequisites::Title))
                    .col(string(Prerequisites::State))
                    .col(integer_null(Prerequisites::DueDate))
                    .col(text(Prerequisites::Note))
                    .col(big_integer(Prerequisites::CreatedAtUs))
                    .col(big_integer(Prerequisites::UpdatedAtUs))
                    .col(big_integer(Prerequisites::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_prerequisites_project")
                            .from(Prerequisites::Table, Prerequisites::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_prerequisites_project_prerequisite_id")
                    .table(Prerequisites::Table)
                    .col(Prerequisites::ProjectPk)
                    .col(Prerequisites::PrerequisiteId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_prerequisites_project")
                    .table(Prerequisites::Table)
                    .col(Prerequisites::ProjectPk)
                    .col(Prerequisites::CreatedAtUs)
                    .col(Prerequisites::PrerequisiteId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StageChanges::Table)
                    .col(big_pk_auto(StageChanges::Id))
                    .col(big_integer(StageChanges::ProjectPk))
                    .col(string(StageChanges::FromStage))
                    .col(string(StageChanges::ToStage))
                    .col(text(StageChanges::Reason))
                    .col(string(StageChanges::Actor))
                    .col(integer(StageChanges::EffectiveDate))
                    .col(big_integer(StageChanges::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_stage_changes_project")
                            .from(StageChanges::Table, StageChanges::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_stage_changes_project")
                    .table(StageChanges::Table)
                    .col(StageChanges::ProjectPk)
                    .col(StageChanges::Id)
                    .to_owned(),
            )
            .await?;

        // The log itself: `seq` comes from event_counter, never from an auto-increment, so that
        // numbers follow commit order without gaps on every backend.
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_integer(Events::Seq).primary_key())
                    .col(big_integer(Events::TransactionEndSeq))
                    .col(string(Events::Kind))
                    .col(string(Events::ProjectId))
                    .col(string(Events::Resource))
                    .col(string(Events::Township))
                    .col(string(Events::Department))
                    .col(string(Events::Leader))
                    .col(string(Events::Actor))
                    .col(big_integer(Events::CreatedAtUs))
                    .col(blob(Events::Payload))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_project")
                    .table(Events::Table)
                    .col(Events::ProjectId)
                    .col(Events::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EventCounter::Table)
                    .col(integer(EventCounter::Id).primary_key())
                    .col(big_integer(EventCounter::LastSeq))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(EventCounter::Table)
                    .columns([EventCounter::Id, EventCounter::LastSeq])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RequestIds::Table)
                    .col(string(RequestIds::Method))
                    .col(string(RequestIds::RequestId))
                    .col(string(RequestIds::Fingerprint))
                    .col(blob(RequestIds::Response))
                    .col(big_integer(RequestIds::CreatedAtUs))
                    .primary_key(
                        Index::create()
                            .col(RequestIds::Method)
                            .col(RequestIds::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RequestIds::Table.into_iden(),
            EventCounter::Table.into_iden(),
            Events::Table.into_iden(),
            StageChanges::Table.into_iden(),
            Prerequisites::Table.into_iden(),
            Projects::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
