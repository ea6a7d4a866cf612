//! Schema migrations of the pipeline service. The same migrations serve SQLite and PostgreSQL.
//! A migration is never edited once it has landed on `main`; changes come as new files.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_project_library;
mod m20261128_000002_milestones;
mod m20261128_000003_subscriptions;
mod m20261128_000004_funding_windows;
mod m20261128_000005_funding_applications;
mod m20261128_000006_access;
mod m20261128_000007_bulletins;
mod m20261128_000008_milestone_township;
mod m20261128_000009_request_ids_per_caller;
mod m20261129_000010_investment_cycle;
mod m20261129_000011_justifications;
mod m20261130_000012_statistics_enrolment;
mod m20261130_000013_problems;
mod m20261130_000014_problem_alerts;
mod m20261130_000015_problem_blockers;
mod m20261130_000016_rule_set_escalation;

/// Runs every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_project_library::Migration),
            Box::new(m20261128_000002_milestones::Migration),
            Box::new(m20261128_000003_subscriptions::Migration),
            Box::new(m20261128_000004_funding_windows::Migration),
            Box::new(m20261128_000005_funding_applications::Migration),
            Box::new(m20261128_000006_access::Migration),
            Box::new(m20261128_000007_bulletins::Migration),
            Box::new(m20261128_000008_milestone_township::Migration),
            Box::new(m20261128_000009_request_ids_per_caller::Migration),
            Box::new(m20261129_000010_investment_cycle::Migration),
            Box::new(m20261129_000011_justifications::Migration),
            Box::new(m20261130_000012_statistics_enrolment::Migration),
            Box::new(m20261130_000013_problems::Migration),
            Box::new(m20261130_000014_problem_alerts::Migration),
            Box::new(m20261130_000015_problem_blockers::Migration),
            Box::new(m20261130_000016_rule_set_escalation::Migration),
        ]
    }
}
