//! Reports: aggregate queries for the pipeline summary, the rankings and the funding summary,
//! and the published bulletins. Every figure is computed by the database (GROUP BY and
//! conditional sums), never by loading rows into memory; what the figures mean is decided in
//! `domain::report`, whose definitions the SQL here mirrors.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, FromQueryResult, Set};

use super::applications::push_eligibility;
use super::entities::{bulletin, funding_window};
use super::error::{StoreError, conflict_on};
use super::funding::to_domain as window_to_domain;
use super::milestones::RuleSql;
use super::sql::{Sql, exact_sum, read_exact_sum};
use super::{Cursor, Page, SortKey, Store};
use crate::domain::funding::{ApplicationState, FundingWindow};
use crate::domain::milestone::{MilestoneKind, Policy};
use crate::domain::pace::YearMonth;
use crate::domain::problem::ProblemCategory;
use crate::domain::project::Stage;
use crate::domain::report::{
    self, Bulletin, DECLARED_STATES, Dimension, DueMilestones, FundingFigures, FundingSummary,
    KindCount, LightCount, ON_TIME_KINDS, OnTime, PaceFigures, PipelineSummary, ProblemCount,
    ReportFilter, SUMMARY_LIGHTS, StateTotals, Tally, UnitCounts, WindowFunding,
};
use crate::domain::values::{day_number, from_day_number};

/// Appends the conditions of `filter` on the project alias `p`.
fn push_filter(filter: &ReportFilter, sql: &mut Sql) {
    for (column, value) in [
        ("p.township", &filter.township),
        ("p.department", &filter.department),
        ("p.leader", &filter.leader),
    ] {
        if let Some(value) = value {
            sql.push(&format!(" AND {column} = ")).bind(value.clone());
        }
    }
    if let Some(category) = filter.category {
        sql.push(" AND p.category = ").bind(category.as_str());
    }
    if let Some(t) = filter.investment_type {
        sql.push(" AND p.investment_type = ").bind(t.as_str());
    }
}

/// The project column a ranking of `dimension` groups by.
fn dimension_column(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Department => "p.department",
        Dimension::Township => "p.township",
        Dimension::Leader => "p.leader",
    }
}

/// A sum of small numbers (counts, days) that is 0 rather than NULL over no rows, as a BIGINT
/// on both backends. Amounts of money are summed with `exact_sum` instead.
fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

fn count_if(condition: &str) -> String {
    sum(&format!("CASE WHEN {condition} THEN 1 ELSE 0 END"))
}

/// `DECLARED_STATES` as an SQL list of string literals.
fn declared_states() -> String {
    DECLARED_STATES
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Milestones joined to their projects, CANCELLED projects left out.
const MILESTONES: &str =
    " FROM milestones m JOIN projects p ON p.id = m.project_pk WHERE p.stage <> 'CANCELLED'";

/// Problems joined to their projects, CANCELLED projects left out.
const PROBLEMS: &str =
    " FROM problems pr JOIN projects p ON p.id = pr.project_pk WHERE p.stage <> 'CANCELLED'";

/// SQL over the alias `pr` mirroring `report::problem_marks` on a status date: the condition
/// of a judged problem, then the sums of judged (the rows), on time and days overdue.
fn problem_sums(status_date: NaiveDate) -> (String, [String; 2]) {
    let d = day_number(status_date);
    let year_start = day_number(report::year_start(status_date));
    let resolved = format!("(pr.resolved_on IS NOT NULL AND pr.resolved_on <= {d})");
    let end = format!("(CASE WHEN {resolved} THEN pr.resolved_on ELSE {d} END)");
    (
        format!("pr.deadline >= {year_start} AND pr.deadline < {d}"),
        [
            count_if(&format!("{resolved} AND pr.resolved_on <= pr.deadline")),
            sum(&format!(
                "CASE WHEN {end} > pr.deadline THEN {end} - pr.deadline ELSE 0 END"
            )),
        ],
    )
}

/// Open problems (`report::problem_unresolved_on` the status date) by category, and of those
/// the ones past their deadline, for the projects of `filter`.
async fn problem_counts(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    status_date: NaiveDate,
) -> Result<Vec<ProblemCount>, StoreError> {
    let d = day_number(status_date);
    let mut sql = Sql::new(
        conn.get_database_backend(),
        format!(
            "SELECT pr.category, COUNT(*), {}{PROBLEMS} AND pr.raise_date <= {d} \
             AND (pr.resolved_on IS NULL OR pr.resolved_on > {d})",
            count_if(&format!("pr.deadline < {d}"))
        ),
    );
    push_filter(filter, &mut sql);
    sql.push(" GROUP BY pr.category");
    let mut counts = Vec::new();
    for row in conn.query_all_raw(sql.build()).await? {
        let category: String = row.try_get_by_index(0)?;
        let category = ProblemCategory::parse(&category).ok_or_else(|| {
            StoreError::corrupt(format!("stored problem category {category:?} is unknown"))
        })?;
        counts.push(ProblemCount {
            category,
            open: row.try_get_by_index(1)?,
            overdue: row.try_get_by_index(2)?,
        });
    }
    counts.sort_by_key(|c| ProblemCategory::ALL.iter().position(|x| *x == c.category));
    Ok(counts)
}

/// The tallies of the projects matching `filter` grouped by the column `key`, sorted by key.
async fn tallies(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    key: &str,
) -> Result<Vec<Tally>, StoreError> {
    let mut sql = Sql::new(
        conn.get_database_backend(),
        format!(
            "SELECT {key}, COUNT(*), {}, {}, {} FROM projects p WHERE 1 = 1",
            exact_sum("p.total_investment_yuan"),
            exact_sum("p.annual_planned_investment_yuan"),
            exact_sum("p.completed_investment_yuan"),
        ),
    );
    push_filter(filter, &mut sql);
    sql.push(&format!(" GROUP BY {key}"));
    let mut tallies = Vec::new();
    for row in conn.query_all_raw(sql.build()).await? {
        tallies.push(Tally {
            key: row.try_get_by_index(0)?,
            project_count: row.try_get_by_index(1)?,
            total_investment_yuan: read_exact_sum(&row, 2)?,
            annual_planned_investment_yuan: read_exact_sum(&row, 4)?,
            completed_investment_yuan: read_exact_sum(&row, 6)?,
        });
    }
    // Sorted here, by bytes, so the order does not depend on the database's collation.
    tallies.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(tallies)
}

/// Runs a query returning one row of BIGINT columns.
async fn numbers(
    conn: &impl ConnectionTrait,
    sql: Sql,
    columns: usize,
) -> Result<Vec<i64>, StoreError> {
    let row = conn
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| StoreError::corrupt("an aggregate returned no row"))?;
    (0..columns)
        .map(|i| Ok(row.try_get_by_index::<i64>(i)?))
        .collect()
}

async fn due_between(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    rules: &RuleSql,
    (start, end): (NaiveDate, NaiveDate),
) -> Result<DueMilestones, StoreError> {
    let mut sql = Sql::new(
        conn.get_database_backend(),
        format!(
            "SELECT COUNT(*), {}, {}{MILESTONES}",
            count_if("m.actual_date IS NOT NULL"),
            count_if(&rules.overdue()),
        ),
    );
    push_filter(filter, &mut sql);
    sql.push(" AND m.baseline_date >= ")
        .bind(day_number(start))
        .push(" AND m.baseline_date <= ")
        .bind(day_number(end));
    let n = numbers(conn, sql, 3).await?;
    Ok(DueMilestones {
        start,
        end,
        due: n[0],
        achieved: n[1],
        overdue: n[2],
    })
}

/// The SQL form of `report::on_time_marks` for the milestones of `kind` on `status_date`: the
/// counts due, achieved and on time.
fn on_time_sums(kind: MilestoneKind, status_date: NaiveDate) -> [String; 3] {
    let kind = kind.as_str();
    let from = day_number(report::year_start(status_date));
    let status = day_number(status_date);
    let due =
        format!("m.kind = '{kind}' AND m.baseline_date >= {from} AND m.baseline_date <= {status}");
    let achieved = format!("{due} AND m.actual_date IS NOT NULL AND m.actual_date <= {status}");
    let on_time = format!("{achieved} AND m.actual_date <= m.baseline_date");
    [count_if(&due), count_if(&achieved), count_if(&on_time)]
}

/// The earliest year the data speaks about: of the first milestone baseline or window opening.
pub async fn first_data_year(conn: &impl ConnectionTrait) -> Result<Option<i32>, StoreError> {
    let sql = Sql::new(
        conn.get_database_backend(),
        "SELECT (SELECT MIN(baseline_date) FROM milestones), (SELECT MIN(open_date) FROM funding_windows)",
    );
    let row = conn
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| StoreError::corrupt("no row"))?;
    let a: Option<i32> = row.try_get_by_index(0)?;
    let b: Option<i32> = row.try_get_by_index(1)?;
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .map(|day| from_day_number(day).year()))
}

/// The township, department or leader values of `filter` that no project has.
pub async fn unknown_units(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
) -> Result<Vec<(&'static str, String)>, StoreError> {
    let mut unknown = Vec::new();
    for (field, column, value) in [
        ("township", "township", &filter.township),
        ("department", "department", &filter.department),
        ("leader", "leader", &filter.leader),
    ] {
        let Some(value) = value else { continue };
        let mut sql = Sql::new(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) FROM (SELECT 1 FROM projects WHERE {column} = "),
        );
        sql.bind(value.clone()).push(" LIMIT 1) known");
        if numbers(conn, sql, 1).await?[0] == 0 {
            unknown.push((field, value.clone()));
        }
    }
    Ok(unknown)
}

/// The pipeline summary of `filter` on `status_date`.
pub async fn pipeline_summary(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    status_date: NaiveDate,
    policy: &Policy,
    pace: &PaceBasis,
) -> Result<PipelineSummary, StoreError> {
    let backend = conn.get_database_backend();
    let rules = RuleSql::new(status_date, policy);
    let mut by_stage = tallies(conn, filter, "p.stage").await?;
    let order = |key: &str| {
        Stage::parse(key)
            .and_then(|s| Stage::ALL.iter().position(|x| *x == s))
            .unwrap_or(usize::MAX)
    };
    by_stage.sort_by_key(|t| order(&t.key));
    let mut on_time_this_year = Vec::new();
    for kind in ON_TIME_KINDS {
        let [due, achieved, on] = on_time_sums(kind, status_date);
        let mut sql = Sql::new(
            backend,
            format!("SELECT {due}, {achieved}, {on}{MILESTONES}"),
        );
        push_filter(filter, &mut sql);
        let n = numbers(conn, sql, 3).await?;
        on_time_this_year.push(OnTime {
            kind,
            due: n[0],
            achieved: n[1],
            on_time: n[2],
        });
    }
    let columns: Vec<String> = SUMMARY_LIGHTS
        .iter()
        .map(|l| count_if(&format!("m.actual_date IS NULL AND {}", rules.light(*l))))
        .collect();
    let mut sql = Sql::new(
        backend,
        format!("SELECT {}{MILESTONES}", columns.join(", ")),
    );
    push_filter(filter, &mut sql);
    let n = numbers(conn, sql, 3).await?;
    let by_light = SUMMARY_LIGHTS
        .iter()
        .zip(n)
        .map(|(light, milestones)| LightCount {
            light: *light,
            milestones,
        })
        .collect();
    let year_end = report::year_end(status_date);
    #[derive(FromQueryResult)]
    struct ByKind {
        kind: String,
        milestone_count: i64,
        overdue_count: i64,
    }
    let mut sql = Sql::new(
        backend,
        format!(
            "SELECT m.kind AS kind, COUNT(*) AS milestone_count, {} AS overdue_count{MILESTONES}",
            count_if(&rules.overdue())
        ),
    );
    push_filter(filter, &mut sql);
    sql.push(" AND m.actual_date IS NULL AND m.baseline_date <= ")
        .bind(day_number(year_end))
        .push(" GROUP BY m.kind");
    let mut due_by_year_end: Vec<(usize, KindCount)> = ByKind::find_by_statement(sql.build())
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| {
            let kind = MilestoneKind::parse(&row.kind)?;
            let position = MilestoneKind::ALL.iter().position(|k| *k == kind)?;
            Some((
                position,
                KindCount {
                    kind,
                    milestones: row.milestone_count,
                    overdue: row.overdue_count,
                },
            ))
        })
        .collect();
    due_by_year_end.sort_by_key(|(position, _)| *position);
    Ok(PipelineSummary {
        status_date,
        total: Tally::sum(&by_stage),
        by_stage,
        by_township: tallies(conn, filter, "p.township").await?,
        by_department: tallies(conn, filter, "p.department").await?,
        by_category: tallies(conn, filter, "p.category").await?,
        due_this_month: due_between(conn, filter, &rules, report::month_of(status_date)).await?,
        due_this_quarter: due_between(conn, filter, &rules, report::quarter_of(status_date))
            .await?,
        on_time_this_year,
        by_light,
        year_end,
        due_by_year_end: due_by_year_end.into_iter().map(|(_, k)| k).collect(),
        investment_pace: pace_figures(conn, filter, pace).await?,
        problems_by_category: problem_counts(conn, filter, status_date).await?,
    })
}

/// The counts of `name`, made empty on first use.
fn unit(units: &mut BTreeMap<String, UnitCounts>, name: String) -> &mut UnitCounts {
    units.entry(name.clone()).or_insert_with(|| UnitCounts {
        unit: name,
        ..Default::default()
    })
}

/// The month whose investment the reports judge (the latest one whose reports were due before
/// the status date), the day its reports, and each earlier month's, were due, and the rule set
/// revision that set that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceBasis {
    pub month: YearMonth,
    /// 1..=28.
    pub due_day: u32,
    /// `lightRuleSets/{id}@{revision}`.
    pub light_rule_set: String,
}

/// One project with a plan for the judged year (not CANCELLED) in the reports' terms.
struct PacedProject {
    unit: String,
    pace_yuan: i64,
    reported_yuan: i128,
    reports_on_time: i64,
    exempt: bool,
}

/// The projects of `filter` with a plan for the judged year, each with `u` (its unit), its
/// 序时进度 and reported investment through the judged month, its reports on time, and whether
/// a justification exempts its pace at the month's end.
async fn paced_projects(
    conn: &impl ConnectionTrait,
    u: &str,
    filter: &ReportFilter,
    basis: &PaceBasis,
) -> Result<Vec<PacedProject>, StoreError> {
    let backend = conn.get_database_backend();
    let year = basis.month.year();
    let first = YearMonth::new(year, 1).map_err(StoreError::corrupt)?;
    let (first_index, last_index) = (first.index(), basis.month.index());
    let mut plans = Sql::new(
        backend,
        format!(
            "SELECT {u}, p.id, pl.total_yuan, pl.monthly_yuan FROM investment_plans pl \
             JOIN projects p ON p.id = pl.project_pk \
             WHERE p.stage <> 'CANCELLED' AND {u} <> '' AND pl.year = "
        ),
    );
    plans.bind(year);
    push_filter(filter, &mut plans);
    let mut projects: BTreeMap<i64, PacedProject> = BTreeMap::new();
    for row in conn.query_all_raw(plans.build()).await? {
        let unit: String = row.try_get_by_index(0)?;
        let pk: i64 = row.try_get_by_index(1)?;
        let total: i64 = row.try_get_by_index(2)?;
        let monthly: String = row.try_get_by_index(3)?;
        let plan = super::investment::parse_plan(year, total, &monthly)?;
        projects.insert(
            pk,
            PacedProject {
                unit,
                pace_yuan: plan.pace_yuan(basis.month.month()),
                reported_yuan: 0,
                reports_on_time: 0,
                exempt: false,
            },
        );
    }
    if projects.is_empty() {
        return Ok(Vec::new());
    }
    // A report is on time when its submission date is on or before its month's due date
    // (`domain::pace::report_status`, applied here in SQL so that a county's reports are
    // counted, not read).
    let due_case: String = (first_index..=last_index)
        .map(|i| {
            let due = YearMonth::from_index(i).due_date(basis.due_day);
            format!(" WHEN {i} THEN {}", day_number(due))
        })
        .collect();
    let mut reports = Sql::new(
        backend,
        format!(
            "SELECT r.project_pk, {}, SUM(CASE WHEN r.report_date <= (CASE r.month_index{due_case} END) \
             THEN 1 ELSE 0 END) FROM investment_reports r \
             JOIN investment_plans pl ON pl.project_pk = r.project_pk AND pl.year = ",
            exact_sum("r.amount_yuan")
        ),
    );
    reports
        .bind(year)
        .push(" WHERE r.month_index >= ")
        .bind(first_index)
        .push(" AND r.month_index <= ")
        .bind(last_index)
        .push(" GROUP BY r.project_pk");
    for row in conn.query_all_raw(reports.build()).await? {
        let pk: i64 = row.try_get_by_index(0)?;
        if let Some(p) = projects.get_mut(&pk) {
            p.reported_yuan = read_exact_sum(&row, 1)?;
            p.reports_on_time = row.try_get_by_index(3)?;
        }
    }
    // `Justification::covers_pace` at the month's end, in SQL.
    let mut exempt = Sql::new(
        backend,
        "SELECT DISTINCT project_pk FROM justifications WHERE revoked_at_us IS NULL \
         AND scope IN ('INVESTMENT_PACE', 'PROJECT') AND valid_from <= ",
    );
    let end = day_number(basis.month.last_day());
    exempt.bind(end).push(" AND valid_to >= ").bind(end);
    for row in conn.query_all_raw(exempt.build()).await? {
        if let Some(p) = projects.get_mut(&row.try_get_by_index::<i64>(0)?) {
            p.exempt = true;
        }
    }
    Ok(projects.into_values().collect())
}

/// `Justification::covers_milestone` of milestone `m` on `date`, in SQL (the date is a day
/// number, written inline).
fn milestone_exempt(date: NaiveDate) -> String {
    let day = day_number(date);
    format!(
        "EXISTS (SELECT 1 FROM justifications j WHERE j.project_pk = m.project_pk \
         AND j.revoked_at_us IS NULL AND j.valid_from <= {day} AND j.valid_to >= {day} \
         AND (j.scope = 'PROJECT' OR (j.scope = 'MILESTONE' AND j.milestone_id = m.milestone_id)))"
    )
}

/// Adds the monthly cycle's counts to `units` (see `paced_projects`).
async fn pace_counts(
    conn: &impl ConnectionTrait,
    u: &str,
    basis: &PaceBasis,
    units: &mut BTreeMap<String, UnitCounts>,
) -> Result<(), StoreError> {
    let months = i64::from(basis.month.month());
    for p in paced_projects(conn, u, &ReportFilter::default(), basis).await? {
        let c = unit(units, p.unit);
        c.reports_due += months;
        c.reports_on_time += p.reports_on_time;
        if !p.exempt {
            c.paced_projects += 1;
            c.pace_yuan += i128::from(p.pace_yuan);
            c.paced_completed_yuan += p.reported_yuan;
        }
    }
    Ok(())
}

/// The summary's monthly cycle figures for the projects of `filter`.
async fn pace_figures(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    basis: &PaceBasis,
) -> Result<PaceFigures, StoreError> {
    let months = i64::from(basis.month.month());
    let mut figures = PaceFigures {
        month: basis.month,
        light_rule_set: basis.light_rule_set.clone(),
        projects: 0,
        exempt: 0,
        pace_yuan: 0,
        completed_yuan: 0,
        reports_due: 0,
        reports_on_time: 0,
    };
    for p in paced_projects(conn, "p.project_id", filter, basis).await? {
        figures.projects += 1;
        figures.reports_due += months;
        figures.reports_on_time += p.reports_on_time;
        if p.exempt {
            figures.exempt += 1;
        } else {
            figures.pace_yuan += i128::from(p.pace_yuan);
            figures.completed_yuan += p.reported_yuan;
        }
    }
    Ok(figures)
}

/// What the rankings of one dimension are computed from: one entry per unit.
pub async fn unit_counts(
    conn: &impl ConnectionTrait,
    dimension: Dimension,
    status_date: NaiveDate,
    policy: &Policy,
    pace: &PaceBasis,
    extra_units: &[String],
) -> Result<Vec<UnitCounts>, StoreError> {
    let backend = conn.get_database_backend();
    let u = dimension_column(dimension);
    let rules = RuleSql::new(status_date, policy);
    let mut units: BTreeMap<String, UnitCounts> = extra_units
        .iter()
        .map(|name| {
            (
                name.clone(),
                UnitCounts {
                    unit: name.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    // Projects and investment.
    let sql = Sql::new(
        backend,
        format!(
            "SELECT {u}, COUNT(*), {}, {} FROM projects p WHERE p.stage <> 'CANCELLED' AND {u} <> '' GROUP BY {u}",
            exact_sum("p.annual_planned_investment_yuan"),
            exact_sum("p.completed_investment_yuan"),
        ),
    );
    for row in conn.query_all_raw(sql.build()).await? {
        let name: String = row.try_get_by_index(0)?;
        let c = unit(&mut units, name);
        c.project_count = row.try_get_by_index(1)?;
        c.planned_investment_yuan = read_exact_sum(&row, 2)?;
        c.completed_investment_yuan = read_exact_sum(&row, 4)?;
    }
    pace_counts(conn, u, pace, &mut units).await?;
    // Milestones, but those a justification exempts on the status date: exempt items do not
    // count against a unit (DESIGN §11).
    let [starts_due, _, starts_on_time] =
        on_time_sums(MilestoneKind::ConstructionStart, status_date);
    let exempt = milestone_exempt(status_date);
    let [trials_due, _, trials_on_time] = on_time_sums(MilestoneKind::TrialProduction, status_date);
    let variance = rules.variance();
    let sql = Sql::new(
        backend,
        format!(
            "SELECT {u}, {starts_due}, {starts_on_time}, {trials_due}, {trials_on_time}, COUNT(*), {}, {}{MILESTONES} AND {u} <> '' AND NOT {exempt} GROUP BY {u}",
            count_if(&rules.overdue()),
            sum(&format!(
                "CASE WHEN {variance} > 0 THEN {variance} ELSE 0 END"
            )),
        ),
    );
    for row in conn.query_all_raw(sql.build()).await? {
        let name: String = row.try_get_by_index(0)?;
        let c = unit(&mut units, name);
        c.starts_due = row.try_get_by_index(1)?;
        c.starts_on_time = row.try_get_by_index(2)?;
        c.trials_due = row.try_get_by_index(3)?;
        c.trials_on_time = row.try_get_by_index(4)?;
        c.milestones = row.try_get_by_index(5)?;
        c.overdue = row.try_get_by_index(6)?;
        c.days_slipped_total = row.try_get_by_index(7)?;
    }
    // Problems the unit must solve, on any unit's project: grouped by responsible unit (a
    // township's among townships, any other among departments) or responsible leader.
    let (judged, [on_time, days]) = problem_sums(status_date);
    let column = match dimension {
        Dimension::Leader => "pr.responsible_leader",
        Dimension::Department | Dimension::Township => "pr.responsible_unit",
    };
    let mut sql = Sql::new(
        backend,
        format!(
            "SELECT {column}, COUNT(*), {on_time}, {days}{PROBLEMS} AND {judged} AND {column} <> ''"
        ),
    );
    if dimension != Dimension::Leader {
        let negate = if dimension == Dimension::Department {
            "NOT "
        } else {
            ""
        };
        sql.push(&format!(
            " AND {negate}(EXISTS (SELECT 1 FROM projects t WHERE t.township = pr.responsible_unit)"
        ));
        if dimension == Dimension::Township {
            for name in extra_units {
                sql.push(" OR pr.responsible_unit = ").bind(name.clone());
            }
        }
        sql.push(")");
    }
    sql.push(&format!(" GROUP BY {column}"));
    for row in conn.query_all_raw(sql.build()).await? {
        let name: String = row.try_get_by_index(0)?;
        let c = unit(&mut units, name);
        c.problems_judged = row.try_get_by_index(1)?;
        c.problems_on_time = row.try_get_by_index(2)?;
        c.problem_days_overdue_total = row.try_get_by_index(3)?;
    }
    // Funding coverage over this year's windows opened by the status date.
    let declared = declared_states();
    for (pk, w) in windows_opened(conn, report::year_start(status_date), status_date).await? {
        let mut sql = Sql::new(
            backend,
            format!(
                "SELECT {u}, COUNT(*), {} FROM projects p WHERE {u} <> ''",
                count_if(&format!(
                    "EXISTS (SELECT 1 FROM funding_applications a WHERE a.project_pk = p.id \
                     AND a.window_pk = {pk} AND a.state IN ({declared}))"
                ))
            ),
        );
        push_eligibility(&mut sql, &w.fields.eligibility);
        sql.push(&format!(" GROUP BY {u}"));
        for row in conn.query_all_raw(sql.build()).await? {
            let name: String = row.try_get_by_index(0)?;
            let c = unit(&mut units, name);
            c.eligible_pairs += row.try_get_by_index::<i64>(1)?;
            c.declared_pairs += row.try_get_by_index::<i64>(2)?;
        }
    }
    Ok(units.into_values().collect())
}

/// Windows whose open date falls from `from` to `to`, by open date.
async fn windows_opened(
    conn: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(i64, FundingWindow)>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    funding_window::Entity::find()
        .filter(funding_window::Column::OpenDate.gte(day_number(from)))
        .filter(funding_window::Column::OpenDate.lte(day_number(to)))
        .order_by_asc(funding_window::Column::OpenDate)
        .order_by_asc(funding_window::Column::WindowId)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| {
            let pk = row.id;
            window_to_domain(row)
                .map(|w| (pk, w))
                .map_err(|err| StoreError::corrupt(err.to_string()))
        })
        .collect()
}

/// Funding per window opening in the status date's year, and per channel.
pub async fn funding_summary(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    status_date: NaiveDate,
) -> Result<FundingSummary, StoreError> {
    let backend = conn.get_database_backend();
    let mut summary = FundingSummary::new(status_date);
    let (from, to) = (
        report::year_start(status_date),
        report::year_end(status_date),
    );
    for (pk, window) in windows_opened(conn, from, to).await? {
        let mut sql = Sql::new(
            backend,
            format!(
                "SELECT a.state, COUNT(*), {}, {}, {} \
                 FROM funding_applications a JOIN projects p ON p.id = a.project_pk WHERE a.window_pk = {pk}",
                exact_sum("a.requested_amount_yuan"),
                exact_sum("a.approved_amount_yuan"),
                exact_sum("a.disbursed_amount_yuan"),
            ),
        );
        push_filter(filter, &mut sql);
        sql.push(" GROUP BY a.state");
        let mut figures = FundingFigures::default();
        for row in conn.query_all_raw(sql.build()).await? {
            let state: String = row.try_get_by_index(0)?;
            figures.count(&StateTotals {
                state: ApplicationState::parse(&state),
                count: row.try_get_by_index(1)?,
                requested_amount_yuan: read_exact_sum(&row, 2)?,
                approved_amount_yuan: read_exact_sum(&row, 4)?,
                disbursed_amount_yuan: read_exact_sum(&row, 6)?,
            });
        }
        let mut undeclared = Sql::new(backend, "SELECT COUNT(*) FROM projects p WHERE 1 = 1");
        push_eligibility(&mut undeclared, &window.fields.eligibility);
        push_filter(filter, &mut undeclared);
        undeclared.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM funding_applications a WHERE a.project_pk = p.id \
             AND a.window_pk = {pk} AND a.state <> 'WITHDRAWN')"
        ));
        figures.undeclared_count = numbers(conn, undeclared, 1).await?[0];
        summary.push(WindowFunding { window, figures });
    }
    Ok(summary)
}

/// A bulletin as stored: its encoded payload (the response message the service built when it
/// was published), which the store keeps and returns as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBulletin {
    pub id: String,
    pub payload: Vec<u8>,
}

impl From<bulletin::Model> for StoredBulletin {
    fn from(row: bulletin::Model) -> Self {
        StoredBulletin {
            id: row.bulletin_id,
            payload: row.payload,
        }
    }
}

/// The latest bulletin published for a status date before `status_date`.
pub async fn previous_bulletin(
    conn: &impl ConnectionTrait,
    status_date: NaiveDate,
) -> Result<Option<StoredBulletin>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let row = bulletin::Entity::find()
        .filter(bulletin::Column::StatusDate.lt(day_number(status_date)))
        .order_by_desc(bulletin::Column::StatusDate)
        .order_by_desc(bulletin::Column::CreatedAtUs)
        .one(conn)
        .await?;
    Ok(row.map(StoredBulletin::from))
}

/// Stores a published bulletin with its encoded payload. A bulletin id taken already is a
/// conflict on `bulletin_id`.
pub async fn insert_bulletin(
    conn: &impl ConnectionTrait,
    b: &Bulletin,
    payload: Vec<u8>,
) -> Result<(), StoreError> {
    bulletin::ActiveModel {
        bulletin_id: Set(b.id.clone()),
        uid: Set(b.uid.clone()),
        title: Set(b.title.clone()),
        status_date: Set(day_number(b.status_date)),
        payload: Set(payload),
        publisher: Set(b.publisher.clone()),
        created_at_us: Set(b.created_at_us),
        ..Default::default()
    }
    .insert(conn)
    .await
    .map_err(|err| conflict_on(err, &[("bulletin_id", &|| b.name(), "bulletin_id")]))?;
    Ok(())
}

impl Store {
    pub async fn get_bulletin(&self, id: &str) -> Result<StoredBulletin, StoreError> {
        use sea_orm::{ColumnTrait, QueryFilter};
        bulletin::Entity::find()
            .filter(bulletin::Column::BulletinId.eq(id))
            .one(self.connection())
            .await?
            .map(StoredBulletin::from)
            .ok_or_else(|| StoreError::not_found(format!("bulletins/{id}")))
    }

    /// Bulletins newest status date first (ties by id, descending), as stored.
    pub async fn list_bulletins(
        &self,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<StoredBulletin>, StoreError> {
        use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
        let mut query = bulletin::Entity::find()
            .order_by_desc(bulletin::Column::StatusDate)
            .order_by_desc(bulletin::Column::BulletinId);
        if let Some(after) = after {
            query = query.filter(after.after(
                bulletin::Column::StatusDate,
                bulletin::Column::BulletinId,
                true,
            ));
        }
        let rows = query.limit(limit + 1).all(self.connection()).await?;
        let more = rows.len() as u64 > limit;
        let rows: Vec<bulletin::Model> = rows.into_iter().take(limit as usize).collect();
        let cursors = rows
            .iter()
            .map(|row| Cursor {
                key: SortKey::Int(row.status_date as i64),
                id: row.bulletin_id.clone(),
            })
            .collect();
        Ok(Page {
            items: rows.into_iter().map(StoredBulletin::from).collect(),
            cursors,
            more,
        })
    }
}
