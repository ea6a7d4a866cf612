//! The problem escalation ladder (issue 20) as part of each light rule set revision: three
//! thresholds in days, "unit,leader,county" (e.g. "0,7,15"), of the responsible unit, the
//! responsible leader and the county leader. Revisions published before this migration get the
//! ladder the server used by default until now, 0,7,15.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LightRuleSets {
    Table,
    ProblemEscalationDays,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LightRuleSets::Table)
                    .add_column(string(LightRuleSets::ProblemEscalationDays).default("0,7,15"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LightRuleSets::Table)
                    .drop_column(LightRuleSets::ProblemEscalationDays)
                    .to_owned(),
            )
            .await
    }
}
