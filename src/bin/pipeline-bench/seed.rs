//! A large data set made in the database itself: `projects` projects, `milestones_per_project`
//! milestones each (contract signing, construction start, trial production, completion, then
//! custom ones) with baselines spread over 2026 and the first half of 2027, forecasts from
//! 20 days early to 40 days late, about two thirds of the past ones achieved, and one land
//! prerequisite per project, open for a third of them. Inserted with recursive CTEs, which
//! SQLite and PostgreSQL both run, so the same statements seed both backends in seconds.

use std::time::Instant;

use chrono::NaiveDate;
use pipeline::domain::values::day_number;
use pipeline::store::Store;
use sea_orm::ConnectionTrait;

/// The status date the data set is built around.
pub fn status_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 15).expect("date")
}

/// How many distinct townships the data set uses (镇0 … 镇29).
pub const TOWNSHIPS: u64 = 30;

pub async fn seed(url: &str, projects: u64, milestones_per_project: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let store = Store::connect(url).await?;
    store.migrate().await?;
    let db = store.connection();
    let start = day_number(NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"));
    let status = day_number(status_date());
    let categories = [
        "TRANSPORT",
        "WATER",
        "ENERGY",
        "INDUSTRY",
        "URBAN",
        "AGRICULTURE",
        "SOCIAL",
        "ECOLOGY",
    ];
    let stages = [
        "CONCEPT",
        "RESERVE",
        "PREPARATION",
        "CONSTRUCTION",
        "TRIAL_PRODUCTION",
        "OPERATION",
    ];
    let case = |expr: &str, values: &[&str]| {
        let arms: String = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!(" WHEN {i} THEN '{v}'"))
            .collect();
        format!("CASE ({expr}) % {}{arms} END", values.len())
    };
    db.execute_unprepared(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {projects}) \
         INSERT INTO projects (project_id, uid, display_name, description, project_code, category, \
         investment_type, township, department, owner, leader, total_investment_yuan, \
         annual_planned_investment_yuan, completed_investment_yuan, stage, suspended_from_stage, \
         stage_changed_at_us, created_at_us, updated_at_us, version) \
         SELECT 'bench-' || i, 'bench-uid-' || i, '基准项目' || i, '', NULL, {}, \
         CASE i % 2 WHEN 0 THEN 'GOVERNMENT' ELSE 'ENTERPRISE' END, \
         '镇' || (i % {TOWNSHIPS}), '部门' || (i % 20), '', '领导' || (i % 50), \
         100000000 + i * 1000, 50000000, (i * 7919) % 60000000, {}, NULL, 0, i, i, 1 FROM n",
        case("i", &categories),
        case("i", &stages),
    ))
    .await?;
    let kinds = [
        "CONTRACT_SIGNING",
        "CONSTRUCTION_START",
        "TRIAL_PRODUCTION",
        "COMPLETION",
    ];
    let kind = format!(
        "CASE WHEN j <= {} THEN {} ELSE 'CUSTOM' END",
        kinds.len(),
        case("j - 1", &kinds)
    );
    let baseline = format!("({start} + (p.id * 37 + j * 101) % 545)");
    let forecast = format!("({baseline} + (p.id * 7 + j * 3) % 61 - 20)");
    let actual = format!(
        "CASE WHEN {baseline} < {status} AND (p.id + j) % 3 <> 0 \
         THEN {baseline} + (p.id + j) % 21 - 7 ELSE NULL END"
    );
    db.execute_unprepared(&format!(
        "WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < {milestones_per_project}) \
         INSERT INTO milestones (project_pk, milestone_id, uid, kind, title, description, \
         baseline_date, forecast_date, actual_date, slip_count, days_slipped, revision_count, \
         created_at_us, updated_at_us, version, township) \
         SELECT p.id, 'm' || j, p.uid || '-m' || j, {kind}, \
         CASE WHEN j > {} THEN '节点' || j ELSE '' END, '', {baseline}, \
         CASE WHEN {forecast} > {baseline} THEN {forecast} ELSE {baseline} END, {actual}, \
         0, 0, 0, 0, 0, 1, p.township FROM projects p CROSS JOIN k WHERE p.project_id LIKE 'bench-%'",
        kinds.len(),
    ))
    .await?;
    db.execute_unprepared(
        "INSERT INTO prerequisites (project_pk, prerequisite_id, uid, kind, title, state, due_date, \
         note, created_at_us, updated_at_us, version) \
         SELECT p.id, 'land', p.uid || '-land', 'LAND', '', \
         CASE WHEN p.id % 3 = 0 THEN 'IN_PROGRESS' ELSE 'DONE' END, NULL, '', 0, 0, 1 \
         FROM projects p WHERE p.project_id LIKE 'bench-%'",
    )
    .await?;
    // Fresh statistics, as a long-running database would have.
    db.execute_unprepared("ANALYZE").await?;
    store.close().await?;
    Ok(started.elapsed().as_secs_f64())
}
