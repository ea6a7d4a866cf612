//! Justifications (正当理由) that exempt lights while valid, and the once-only ledger of the
//! monthly cycle's time-driven alerts (a missing report, a changed pace light, an expired
//! justification): its unique key is what makes each alert once-only across restarts and
//! replicas.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Justifications {
    Table,
    Id,
    ProjectPk,
    JustificationId,
    Uid,
    Scope,
    /// The milestone's id within the project, for MILESTONE; empty otherwise.
    MilestoneId,
    Reason,
    EvidenceNote,
    /// Civil day numbers, inclusive.
    ValidFrom,
    ValidTo,
    Approver,
    RevokeReason,
    RevokedAtUs,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[derive(DeriveIden)]
enum InvestmentAlerts {
    Table,
    Id,
    ProjectPk,
    Kind,
    /// The month index for report and pace alerts, the justification's row for expiry.
    Period,
    CreatedAtUs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Justifications as J;
        manager
            .create_table(
                Table::create()
                    .table(J::Table)
                    .col(big_pk_auto(J::Id))
                    .col(big_integer(J::ProjectPk))
                    .col(string(J::JustificationId))
                    .col(string(J::Uid))
                    .col(string(J::Scope))
                    .col(string(J::MilestoneId))
                    .col(string(J::Reason))
                    .col(text(J::EvidenceNote))
                    .col(integer(J::ValidFrom))
                    .col(integer(J::ValidTo))
                    .col(string(J::Approver))
                    .col(text(J::RevokeReason))
                    .col(big_integer_null(J::RevokedAtUs))
                    .col(big_integer(J::CreatedAtUs))
                    .col(big_integer(J::UpdatedAtUs))
                    .col(big_integer(J::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_justifications_project")
                            .from(J::Table, J::ProjectPk)
                            .to(Projects::Table, Projects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_justifications_project_id")
                    .table(J::Table)
                    .col(J::ProjectPk)
                    .col(J::JustificationId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_justifications_valid_to")
                    .table(J::Table)
                    .col(J::ValidTo)
                    .to_owned(),
            )
            .await?;

        use InvestmentAlerts as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(big_pk_auto(A::Id))
                    .col(big_integer(A::ProjectPk))
                    .col(string(A::Kind))
                    .col(big_integer(A::Period))
                    .col(big_integer(A::CreatedAtUs))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_investment_alerts_once")
                    .table(A::Table)
                    .col(A::ProjectPk)
                    .col(A::Kind)
                    .col(A::Period)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            InvestmentAlerts::Table.into_iden(),
            Justifications::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
