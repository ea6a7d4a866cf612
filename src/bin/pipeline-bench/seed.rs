//! A large data set made in the database itself: `projects` projects, `milestones_per_project`
//! milestones each (contract signing, construction start, trial production, completion, then
//! custom ones) with baselines spread over 2026 and the first half of 2027, forecasts from
//! 20 days early to 40 days late, about two thirds of the past ones achieved, and one land
//! prerequisite per project, open for a third of them; nine in ten started projects are enrolled
//! in the statistics system 20 days after their start. Inserted with recursive CTEs, which
//! SQLite and PostgreSQL both run, so the same statements seed both backends in seconds.
//!
//! `seed_investment` then adds the monthly cycle (issue 17) to the projects in CONSTRUCTION
//! (one in six): a 2026 plan and a report for each month of 2026.

use std::time::Instant;

use chrono::NaiveDate;
use pipeline::domain::values::day_number;
use pipeline::store::Store;
use sea_orm::ConnectionTrait;

/// The status date the data set is built around.
pub fn status_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 15).expect("date")
}

/// The year of the seeded plans and reports.
pub const PLAN_YEAR: i32 = 2026;

/// A construction season (per cent of the annual plan, January first; sums to 100), for the
/// projects seeded with a monthly plan.
const SEASON_PERCENT: [i64; 12] = [2, 3, 6, 8, 10, 10, 10, 10, 9, 12, 12, 8];

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
    // Nine in ten projects with an achieved construction start were enrolled in the statistics
    // system 20 days after it; the rest are left for the scanner's enrolment alerts.
    db.execute_unprepared(
        "UPDATE projects SET statistics_enrolment_date = (SELECT MIN(m.actual_date) + 20 \
         FROM milestones m WHERE m.project_pk = projects.id AND m.kind = 'CONSTRUCTION_START') \
         WHERE project_id LIKE 'bench-%' AND id % 10 <> 0",
    )
    .await?;
    // Fresh statistics, as a long-running database would have.
    db.execute_unprepared("ANALYZE").await?;
    store.close().await?;
    Ok(started.elapsed().as_secs_f64())
}

/// What `seed_investment` made.
pub struct InvestmentSeed {
    pub seconds: f64,
    /// Projects with a 2026 plan (every seeded project in CONSTRUCTION).
    pub plans: u64,
    /// Of which with a monthly plan (the construction season); the rest use the default pace.
    pub monthly_plans: u64,
    /// Monthly reports, 12 per plan.
    pub reports: u64,
}

/// Gives every seeded project in CONSTRUCTION (one in six) a 2026 plan of its
/// `annual_planned_investment_yuan` (5,000万), every other one with the construction season
/// `SEASON_PERCENT` as its monthly plan and the rest with the default pace, and a report for
/// each month from 2026-01 to 2026-12. Each project puts in place a steady share of its monthly
/// plan, 41 % to 119 % by project, ±10 points by month, so that by 2026-10 about three in ten
/// are RED, three in ten YELLOW and four in ten GREEN under the default rule set (points
/// 10 / 30). Reports are submitted on days 1 to 8 of the next month (due on the 5th: three in
/// eight late). `reported_investment_yuan` becomes the sum of the reports and
/// `completed_investment_yuan` a carry-over below 3,000万 plus that sum, so it stays within
/// the total investment. Bulk `INSERT … SELECT` like `seed`, on either backend.
pub async fn seed_investment(url: &str) -> anyhow::Result<InvestmentSeed> {
    let started = Instant::now();
    let store = Store::connect(url).await?;
    let db = store.connection();
    let constructing = "p.stage = 'CONSTRUCTION' AND p.project_id LIKE 'bench-%'";
    let seasonal = "(p.id / 6) % 2 = 0";
    let season_text = SEASON_PERCENT
        .iter()
        .map(|w| format!("CAST(p.annual_planned_investment_yuan * {w} / 100 AS TEXT)"))
        .collect::<Vec<_>>()
        .join(" || ',' || ");
    db.execute_unprepared(&format!(
        "INSERT INTO investment_plans (project_pk, year, uid, total_yuan, monthly_yuan, \
         created_at_us, updated_at_us, version) \
         SELECT p.id, {PLAN_YEAR}, 'bench-plan-' || p.id, p.annual_planned_investment_yuan, \
         CASE WHEN {seasonal} THEN {season_text} ELSE '' END, 0, 0, 1 \
         FROM projects p WHERE {constructing}"
    ))
    .await?;
    let season_arms: String = SEASON_PERCENT
        .iter()
        .enumerate()
        .map(|(i, w)| format!(" WHEN {} THEN {w}", i + 1))
        .collect();
    let month_plan = format!(
        "CASE WHEN {seasonal} THEN p.annual_planned_investment_yuan * (CASE m{season_arms} END) / 100 \
         ELSE p.annual_planned_investment_yuan / 12 END"
    );
    let share = "(41 + (p.id * 13) % 80 + (p.id + m * 7) % 21 - 10)";
    // The first day of the month after each month of the year, as a civil day number.
    let next_month_arms: String = (1..=12u32)
        .map(|m| {
            let first =
                NaiveDate::from_ymd_opt(PLAN_YEAR + (m / 12) as i32, m % 12 + 1, 1).expect("date");
            format!(" WHEN {m} THEN {}", day_number(first))
        })
        .collect();
    db.execute_unprepared(&format!(
        "WITH RECURSIVE k(m) AS (SELECT 1 UNION ALL SELECT m + 1 FROM k WHERE m < 12) \
         INSERT INTO investment_reports (project_pk, month_index, uid, amount_yuan, \
         physical_progress, reporter, report_date, created_at_us, updated_at_us, version, \
         revision_count) \
         SELECT p.id, {} + m - 1, 'bench-report-' || p.id || '-' || m, \
         {month_plan} * {share} / 100, '', 'bench', (CASE m{next_month_arms} END) + (p.id + m) % 8, \
         0, 0, 1, 0 FROM projects p CROSS JOIN k WHERE {constructing}",
        PLAN_YEAR * 12
    ))
    .await?;
    let reported = "(SELECT COALESCE(SUM(r.amount_yuan), 0) FROM investment_reports r \
                    WHERE r.project_pk = projects.id)";
    db.execute_unprepared(&format!(
        "UPDATE projects SET reported_investment_yuan = {reported}, \
         completed_investment_yuan = completed_investment_yuan % 30000000 + {reported} \
         WHERE stage = 'CONSTRUCTION' AND project_id LIKE 'bench-%'"
    ))
    .await?;
    db.execute_unprepared("ANALYZE").await?;
    let count = async |sql: &str| -> anyhow::Result<u64> {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql.to_string(),
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no count from {sql}"))?;
        Ok(row.try_get_by_index::<i64>(0)? as u64)
    };
    let plans = count("SELECT COUNT(*) FROM investment_plans").await?;
    let monthly_plans =
        count("SELECT COUNT(*) FROM investment_plans WHERE monthly_yuan <> ''").await?;
    let reports = count("SELECT COUNT(*) FROM investment_reports").await?;
    store.close().await?;
    Ok(InvestmentSeed {
        seconds: started.elapsed().as_secs_f64(),
        plans,
        monthly_plans,
        reports,
    })
}
