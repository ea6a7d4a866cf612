//! The monthly investment cycle (DESIGN §11): annual plans, monthly reports with their
//! corrections, light rule sets as immutable revisions with the one active revision, and the
//! part of each project's completed investment that the reports account for.
//!
//! Existing projects keep their `completed_investment_yuan`; `reported_investment_yuan` starts
//! at 0, so all of it counts as carried over from before monthly reporting. The built-in rule
//! set `default@1` holds the service's defaults (the milestone flags' defaults, pace by points
//! 10/30, reports due on the 5th) and is active.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    ReportedInvestmentYuan,
}

#[derive(DeriveIden)]
enum InvestmentPlans {
    Table,
    Id,
    ProjectPk,
    Year,
    Uid,
    TotalYuan,
    /// The 12 monthly amounts, comma-separated, or empty for the default pace.
    MonthlyYuan,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum InvestmentReports {
    Table,
    Id,
    ProjectPk,
    /// year × 12 + month − 1.
    MonthIndex,
    Uid,
    AmountYuan,
    PhysicalProgress,
    Reporter,
    /// Civil day number of the submission in the jurisdiction's zone.
    ReportDate,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
    RevisionCount,
}

#[derive(DeriveIden)]
enum InvestmentReportRevisions {
    Table,
    Id,
    ReportPk,
    Number,
    OldAmountYuan,
    NewAmountYuan,
    OldPhysicalProgress,
    NewPhysicalProgress,
    Reason,
    Actor,
    CreatedAtUs,
}

#[derive(DeriveIden)]
enum LightRuleSets {
    Table,
    Id,
    RuleSetId,
    Revision,
    Uid,
    DisplayName,
    Description,
    MilestoneToleranceDays,
    WarningHorizonDays,
    PaceMeasure,
    PaceYellowPercent,
    PaceRedPercent,
    EscalateAfterMonths,
    RecoveryPolicy,
    EnrolmentYellowAfterMonths,
    EnrolmentRedAfterMonths,
    ReportDueDay,
    Publisher,
    CreatedAtUs,
}

/// One row, id 1: the active revision.
#[derive(DeriveIden)]
enum LightRuleSetActivation {
    Table,
    Id,
    RuleSetPk,
    ActivatedBy,
    ActivatedAtUs,
}

async fn unique(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    columns: Vec<DynIden>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table).unique();
    for column in columns {
        index.col(column);
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .add_column(big_integer(Projects::ReportedInvestmentYuan).default(0))
                    .to_owned(),
            )
            .await?;

        use InvestmentPlans as P;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(big_pk_auto(P::Id))
                    .col(big_integer(P::ProjectPk))
                    .col(integer(P::Year))
                    .col(string(P::Uid))
                    .col(big_integer(P::TotalYuan))
                    .col(text(P::MonthlyYuan))
                    .col(big_integer(P::CreatedAtUs))
                    .col(big_integer(P::UpdatedAtUs))
                    .col(big_integer(P::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_investment_plans_project")
                            .from(P::Table, P::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "uq_investment_plans_project_year",
            P::Table,
            vec![P::ProjectPk.into_iden(), P::Year.into_iden()],
        )
        .await?;

        use InvestmentReports as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(big_pk_auto(R::Id))
                    .col(big_integer(R::ProjectPk))
                    .col(integer(R::MonthIndex))
                    .col(string(R::Uid))
                    .col(big_integer(R::AmountYuan))
                    .col(text(R::PhysicalProgress))
                    .col(string(R::Reporter))
                    .col(integer(R::ReportDate))
                    .col(big_integer(R::CreatedAtUs))
                    .col(big_integer(R::UpdatedAtUs))
                    .col(big_integer(R::Version))
                    .col(integer(R::RevisionCount))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_investment_reports_project")
                            .from(R::Table, R::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "uq_investment_reports_project_month",
            R::Table,
            vec![R::ProjectPk.into_iden(), R::MonthIndex.into_iden()],
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_investment_reports_month")
                    .table(R::Table)
                    .col(R::MonthIndex)
                    .col(R::ProjectPk)
                    .to_owned(),
            )
            .await?;

        use InvestmentReportRevisions as V;
        manager
            .create_table(
                Table::create()
                    .table(V::Table)
                    .col(big_pk_auto(V::Id))
                    .col(big_integer(V::ReportPk))
                    .col(integer(V::Number))
                    .col(big_integer(V::OldAmountYuan))
                    .col(big_integer(V::NewAmountYuan))
                    .col(text(V::OldPhysicalProgress))
                    .col(text(V::NewPhysicalProgress))
                    .col(text(V::Reason))
                    .col(string(V::Actor))
                    .col(big_integer(V::CreatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_investment_report_revisions_report")
                            .from(V::Table, V::ReportPk)
                            .to(R::Table, R::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "uq_investment_report_revisions_number",
            V::Table,
            vec![V::ReportPk.into_iden(), V::Number.into_iden()],
        )
        .await?;

        use LightRuleSets as L;
        manager
            .create_table(
                Table::create()
                    .table(L::Table)
                    .col(big_pk_auto(L::Id))
                    .col(string(L::RuleSetId))
                    .col(integer(L::Revision))
                    .col(string(L::Uid))
                    .col(string(L::DisplayName))
                    .col(text(L::Description))
                    .col(integer(L::MilestoneToleranceDays))
                    .col(integer(L::WarningHorizonDays))
                    .col(string(L::PaceMeasure))
                    .col(integer(L::PaceYellowPercent))
                    .col(integer(L::PaceRedPercent))
                    .col(integer(L::EscalateAfterMonths))
                    .col(string(L::RecoveryPolicy))
                    .col(integer(L::EnrolmentYellowAfterMonths))
                    .col(integer(L::EnrolmentRedAfterMonths))
                    .col(integer(L::ReportDueDay))
                    .col(string(L::Publisher))
                    .col(big_integer(L::CreatedAtUs))
                    .to_owned(),
            )
            .await?;
        unique(
            manager,
            "uq_light_rule_sets_revision",
            L::Table,
            vec![L::RuleSetId.into_iden(), L::Revision.into_iden()],
        )
        .await?;

        use LightRuleSetActivation as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(integer(A::Id).primary_key())
                    .col(big_integer(A::RuleSetPk))
                    .col(string(A::ActivatedBy))
                    .col(big_integer(A::ActivatedAtUs))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_light_rule_set_activation_rule_set")
                            .from(A::Table, A::RuleSetPk)
                            .to(L::Table, L::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .exec_stmt(
                Query::insert()
                    .into_table(L::Table)
                    .columns([
                        L::RuleSetId,
                        L::Revision,
                        L::Uid,
                        L::DisplayName,
                        L::Description,
                        L::MilestoneToleranceDays,
                        L::WarningHorizonDays,
                        L::PaceMeasure,
                        L::PaceYellowPercent,
                        L::PaceRedPercent,
                        L::EscalateAfterMonths,
                        L::RecoveryPolicy,
                        L::EnrolmentYellowAfterMonths,
                        L::EnrolmentRedAfterMonths,
                        L::ReportDueDay,
                        L::Publisher,
                        L::CreatedAtUs,
                    ])
                    .values_panic([
                        "default".into(),
                        1.into(),
                        "5d0c9a3e-7f21-4c55-9b3e-2a1f0c6e8d01".into(),
                        "Built-in defaults".into(),
                        "The service's defaults: milestone tolerance 30 days, warning horizon 14 \
                         days; pace YELLOW from 10 points behind, RED above 30; no escalation; \
                         immediate recovery; enrolment lag 1/2 months; reports due on the 5th."
                            .into(),
                        30.into(),
                        14.into(),
                        "POINTS".into(),
                        10.into(),
                        30.into(),
                        0.into(),
                        "IMMEDIATE".into(),
                        1.into(),
                        2.into(),
                        5.into(),
                        "migration".into(),
                        0i64.into(),
                    ])
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO light_rule_set_activation (id, rule_set_pk, activated_by, activated_at_us) \
                 SELECT 1, id, 'migration', 0 FROM light_rule_sets \
                 WHERE rule_set_id = 'default' AND revision = 1",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LightRuleSetActivation::Table.into_iden(),
            LightRuleSets::Table.into_iden(),
            InvestmentReportRevisions::Table.into_iden(),
            InvestmentReports::Table.into_iden(),
            InvestmentPlans::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Projects::Table)
                    .drop_column(Projects::ReportedInvestmentYuan)
                    .to_owned(),
            )
            .await
    }
}
