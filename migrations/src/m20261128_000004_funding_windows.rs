//! Funding windows. Eligibility lists are stored as comma-separated enum names (the API value
//! names without their prefix).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FundingWindows {
    Table,
    Id,
    WindowId,
    Uid,
    Channel,
    Title,
    Description,
    OpenDate,
    CloseDate,
    TargetCount,
    TargetAmountYuan,
    EligibleStages,
    EligibleCategories,
    EligibleInvestmentType,
    MinTotalInvestmentYuan,
    RequiredPrerequisites,
    CreatedAtUs,
    UpdatedAtUs,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use FundingWindows as W;
        manager
            .create_table(
                Table::create()
                    .table(W::Table)
                    .col(big_pk_auto(W::Id))
                    .col(string(W::WindowId))
                    .col(string(W::Uid))
                    .col(string(W::Channel))
                    .col(string(W::Title))
                    .col(text(W::Description))
                    .col(integer(W::OpenDate))
                    .col(integer(W::CloseDate))
                    .col(integer(W::TargetCount))
                    .col(big_integer(W::TargetAmountYuan))
                    .col(string(W::EligibleStages))
                    .col(string(W::EligibleCategories))
                    .col(string_null(W::EligibleInvestmentType))
                    .col(big_integer(W::MinTotalInvestmentYuan))
                    .col(string(W::RequiredPrerequisites))
                    .col(big_integer(W::CreatedAtUs))
                    .col(big_integer(W::UpdatedAtUs))
                    .col(big_integer(W::Version))
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            ("uq_funding_windows_window_id", vec![W::WindowId], true),
            (
                "ix_funding_windows_close",
                vec![W::CloseDate, W::WindowId],
                false,
            ),
            (
                "ix_funding_windows_open",
                vec![W::OpenDate, W::WindowId],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(W::Table);
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FundingWindows::Table).to_owned())
            .await
    }
}
