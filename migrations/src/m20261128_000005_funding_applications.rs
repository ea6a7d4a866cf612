//! Funding applications, their disbursements, and the funding alert ledger of the scanner.
//!
//! "One live application per project and window" is a partial unique index over the live
//! states (DRAFT, SUBMITTED, APPROVED); both SQLite and PostgreSQL support it, so it is written
//! as plain SQL.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum FundingWindows {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum FundingApplications {
    Table,
    Id,
    ApplicationId,
    Uid,
    ProjectPk,
    WindowPk,
    State,
    RequestedAmountYuan,
    ApprovedAmountYuan,
    DisbursedAmountYuan,
    Description,
    StateReason,
    StateActor,
    StateChangedAtUs,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum FundingDisbursements {
    Table,
    Id,
    ApplicationPk,
    AmountYuan,
    DisbursementDate,
    Note,
    Actor,
    CreatedAtUs,
}

/// One row per funding alert raised (or, for CLOSED, per closed window checked); the unique key
/// (window, kind, day) keeps each alert once-only across restarts and replicas.
#[derive(DeriveIden)]
enum FundingWindowAlerts {
    Table,
    Id,
    WindowPk,
    Kind,
    Day,
    CreatedAtUs,
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
        use FundingApplications as A;
        use FundingDisbursements as D;
        use FundingWindowAlerts as L;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(big_pk_auto(A::Id))
                    .col(string(A::ApplicationId))
                    .col(string(A::Uid))
                    .col(big_integer(A::ProjectPk))
                    .col(big_integer(A::WindowPk))
                    .col(string(A::State))
                    .col(big_integer(A::RequestedAmountYuan))
                    .col(big_integer(A::ApprovedAmountYuan))
                    .col(big_integer(A::DisbursedAmountYuan))
                    .col(text(A::Description))
                    .col(text(A::StateReason))
                    .col(string(A::StateActor))
                    .col(big_integer(A::StateChangedAtUs))
                    .col(big_integer(A::CreatedAtUs))
                    .col(big_integer(A::UpdatedAtUs))
                    .col(big_integer(A::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_applications_project")
                            .from(A::Table, A::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_applications_window")
                            .from(A::Table, A::WindowPk)
                            .to(FundingWindows::Table, FundingWindows::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_funding_applications_project_application_id",
            A::Table,
            vec![A::ProjectPk.into_iden(), A::ApplicationId.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "uq_funding_applications_uid",
            A::Table,
            vec![A::Uid.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "ix_funding_applications_window_state",
            A::Table,
            vec![A::WindowPk.into_iden(), A::State.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "ix_funding_applications_created",
            A::Table,
            vec![A::CreatedAtUs.into_iden(), A::Uid.into_iden()],
            false,
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_funding_applications_live \
                 ON funding_applications (project_pk, window_pk) \
                 WHERE state IN ('DRAFT', 'SUBMITTED', 'APPROVED')",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(big_pk_auto(D::Id))
                    .col(big_integer(D::ApplicationPk))
                    .col(big_integer(D::AmountYuan))
                    .col(integer(D::DisbursementDate))
                    .col(text(D::Note))
                    .col(string(D::Actor))
                    .col(big_integer(D::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_disbursements_application")
                            .from(D::Table, D::ApplicationPk)
                            .to(A::Table, A::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_funding_disbursements_application",
            D::Table,
            vec![D::ApplicationPk.into_iden(), D::Id.into_iden()],
            false,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(big_pk_auto(L::Id))
                    .col(big_integer(L::WindowPk))
                    .col(string(L::Kind))
                    .col(integer(L::Day))
                    .col(big_integer(L::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_window_alerts_window")
                            .from(L::Table, L::WindowPk)
                            .to(FundingWindows::Table, FundingWindows::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_funding_window_alerts",
            L::Table,
            vec![
                L::WindowPk.into_iden(),
                L::Kind.into_iden(),
                L::Day.into_iden(),
            ],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            FundingWindowAlerts::Table.into_iden(),
            FundingDisbursements::Table.into_iden(),
            FundingApplications::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
