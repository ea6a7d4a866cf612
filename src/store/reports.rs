//! Reports: aggregate queries for the pipeline summary, the rankings and the funding summary,
//! and the published bulletins. Every figure is computed by the database (GROUP BY and
//! conditional sums), never by loading rows into memory.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use prost::Message;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, FromQueryResult, Set};

use super::applications::push_eligibility;
use super::entities::{bulletin, funding_window};
use super::funding::to_domain as window_to_domain;
use super::idempotency::RequestKey;
use super::milestones::RuleSql;
use super::projects::commit_with_key;
use super::sql::{Sql, exact_sum, read_exact_sum};
use super::{Cursor, Outcome, Page, SortKey, Store, WriteContext, db_error, unique_violation};
use crate::domain::funding::{ApplicationState, FundingChannel};
use crate::domain::milestone::{Light, MilestoneKind, Policy};
use crate::domain::project::{Category, InvestmentType, Stage};
use crate::domain::report::{self, UnitCounts};
use crate::domain::values::{day_number, reported_count, reported_yuan};
use crate::events::outbox::{self as events, EventDraft};
use crate::proto::{self, budget, v1};
use crate::service::ServiceError;

/// Which projects a summary covers; every Some condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub township: Option<String>,
    pub department: Option<String>,
    pub leader: Option<String>,
    pub category: Option<Category>,
    pub investment_type: Option<InvestmentType>,
}

impl ReportFilter {
    /// Appends the conditions on the project alias `p`.
    fn push(&self, sql: &mut Sql) {
        for (column, value) in [
            ("p.township", &self.township),
            ("p.department", &self.department),
            ("p.leader", &self.leader),
        ] {
            if let Some(value) = value {
                sql.push(&format!(" AND {column} = ")).bind(value.clone());
            }
        }
        if let Some(category) = self.category {
            sql.push(" AND p.category = ").bind(category.as_str());
        }
        if let Some(t) = self.investment_type {
            sql.push(" AND p.investment_type = ").bind(t.as_str());
        }
    }
}

/// The column a ranking groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Department,
    Township,
    Leader,
}

impl Dimension {
    pub const ALL: [Dimension; 3] = [
        Dimension::Department,
        Dimension::Township,
        Dimension::Leader,
    ];

    fn column(self) -> &'static str {
        match self {
            Dimension::Department => "p.department",
            Dimension::Township => "p.township",
            Dimension::Leader => "p.leader",
        }
    }

    pub fn to_proto(self) -> v1::RankingDimension {
        match self {
            Dimension::Department => v1::RankingDimension::Department,
            Dimension::Township => v1::RankingDimension::Township,
            Dimension::Leader => v1::RankingDimension::Leader,
        }
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

fn year_start(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), 1, 1).expect("1 January")
}

fn year_end(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), 12, 31).expect("31 December")
}

/// Milestones joined to their projects, CANCELLED projects left out.
const MILESTONES: &str =
    " FROM milestones m JOIN projects p ON p.id = m.project_pk WHERE p.stage <> 'CANCELLED'";

/// Projects and money of one group. Amounts are summed exactly (`exact_sum`) and kept in 128
/// bits until they become a response field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GroupTally {
    key: String,
    project_count: i64,
    total_investment_yuan: i128,
    annual_planned_investment_yuan: i128,
    completed_investment_yuan: i128,
}

impl GroupTally {
    fn add(&mut self, other: &GroupTally) {
        self.project_count += other.project_count;
        self.total_investment_yuan += other.total_investment_yuan;
        self.annual_planned_investment_yuan += other.annual_planned_investment_yuan;
        self.completed_investment_yuan += other.completed_investment_yuan;
    }

    fn to_proto(&self) -> v1::ProjectTally {
        v1::ProjectTally {
            key: self.key.clone(),
            project_count: reported_count(self.project_count),
            total_investment_yuan: reported_yuan(self.total_investment_yuan),
            annual_planned_investment_yuan: reported_yuan(self.annual_planned_investment_yuan),
            completed_investment_yuan: reported_yuan(self.completed_investment_yuan),
        }
    }
}

/// The most the tallies of one list of a summary by township or by department take, encoded.
/// The rest are summed up in one last tally with an empty key (no township or department is
/// empty), so the counts and amounts still add up to the summary's totals. 8 KiB hold over 200
/// groups of typical names and at least 18 of the longest allowed.
pub const TALLY_LIST_BYTES: usize = 8 * 1024;

/// `tallies` (sorted by key) as response entries: every group while they fit in
/// TALLY_LIST_BYTES, then one tally with an empty key summing the groups left out.
fn capped_tallies(tallies: &[GroupTally]) -> Vec<v1::ProjectTally> {
    let entries: Vec<v1::ProjectTally> = tallies.iter().map(GroupTally::to_proto).collect();
    // Room for the remainder: an empty key and every number at its widest.
    let widest_remainder = budget::entry_len(&v1::ProjectTally {
        key: String::new(),
        project_count: i32::MAX,
        total_investment_yuan: i64::MAX,
        annual_planned_investment_yuan: i64::MAX,
        completed_investment_yuan: i64::MAX,
    });
    if budget::fitting(&entries, TALLY_LIST_BYTES) == entries.len() {
        return entries;
    }
    let kept = budget::fitting(&entries, TALLY_LIST_BYTES - widest_remainder);
    let mut rest = GroupTally::default();
    for tally in &tallies[kept..] {
        rest.add(tally);
    }
    let mut capped: Vec<v1::ProjectTally> = entries.into_iter().take(kept).collect();
    capped.push(rest.to_proto());
    capped
}

/// The tallies of the projects matching `filter` grouped by the column `key`, sorted by key.
async fn tallies(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    key: &str,
) -> Result<Vec<GroupTally>, ServiceError> {
    let mut sql = Sql::new(
        conn.get_database_backend(),
        format!(
            "SELECT {key}, COUNT(*), {}, {}, {} FROM projects p WHERE 1 = 1",
            exact_sum("p.total_investment_yuan"),
            exact_sum("p.annual_planned_investment_yuan"),
            exact_sum("p.completed_investment_yuan"),
        ),
    );
    filter.push(&mut sql);
    sql.push(&format!(" GROUP BY {key}"));
    let mut tallies = Vec::new();
    for row in conn.query_all_raw(sql.build()).await.map_err(db_error)? {
        tallies.push(GroupTally {
            key: row.try_get_by_index(0).map_err(db_error)?,
            project_count: row.try_get_by_index(1).map_err(db_error)?,
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
) -> Result<Vec<i64>, ServiceError> {
    let row = conn
        .query_one_raw(sql.build())
        .await
        .map_err(db_error)?
        .ok_or_else(|| ServiceError::internal("an aggregate returned no row"))?;
    (0..columns)
        .map(|i| row.try_get_by_index::<i64>(i).map_err(db_error))
        .collect()
}

async fn due_between(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    rules: &RuleSql,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<v1::DueMilestones, ServiceError> {
    let mut sql = Sql::new(
        conn.get_database_backend(),
        format!(
            "SELECT COUNT(*), {}, {}{MILESTONES}",
            count_if("m.actual_date IS NOT NULL"),
            count_if(&rules.overdue()),
        ),
    );
    filter.push(&mut sql);
    sql.push(" AND m.baseline_date >= ")
        .bind(day_number(start))
        .push(" AND m.baseline_date <= ")
        .bind(day_number(end));
    let n = numbers(conn, sql, 3).await?;
    Ok(v1::DueMilestones {
        start_date: Some(proto::date(start)),
        end_date: Some(proto::date(end)),
        due_count: reported_count(n[0]),
        achieved_count: reported_count(n[1]),
        overdue_count: reported_count(n[2]),
    })
}

fn quarter_bounds(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first_month = (day.month0() / 3) * 3 + 1;
    let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).expect("quarter start");
    let end = if first_month == 10 {
        year_end(day)
    } else {
        NaiveDate::from_ymd_opt(day.year(), first_month + 3, 1).expect("next quarter")
            - chrono::Duration::days(1)
    };
    (start, end)
}

fn month_bounds(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = day.with_day(1).expect("first of month");
    let next = if day.month() == 12 {
        NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)
    };
    (start, next.expect("next month") - chrono::Duration::days(1))
}

/// On time this year: due from 1 January to the status date, achieved by it, and achieved by
/// the baseline.
fn on_time_sums(kind: &str, from: i32, status: i32) -> [String; 3] {
    let due =
        format!("m.kind = '{kind}' AND m.baseline_date >= {from} AND m.baseline_date <= {status}");
    let achieved = format!("{due} AND m.actual_date IS NOT NULL AND m.actual_date <= {status}");
    let on_time = format!("{achieved} AND m.actual_date <= m.baseline_date");
    [count_if(&due), count_if(&achieved), count_if(&on_time)]
}

fn kind_proto(kind: MilestoneKind) -> i32 {
    v1::MilestoneKind::from(kind) as i32
}

/// The earliest year the data speaks about: of the first milestone baseline or window opening.
pub async fn first_data_year(conn: &impl ConnectionTrait) -> Result<Option<i32>, ServiceError> {
    let sql = Sql::new(
        conn.get_database_backend(),
        "SELECT (SELECT MIN(baseline_date) FROM milestones), (SELECT MIN(open_date) FROM funding_windows)",
    );
    let row = conn
        .query_one_raw(sql.build())
        .await
        .map_err(db_error)?
        .ok_or_else(|| ServiceError::internal("no row"))?;
    let a: Option<i32> = row.try_get_by_index(0).map_err(db_error)?;
    let b: Option<i32> = row.try_get_by_index(1).map_err(db_error)?;
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .map(|day| crate::domain::values::from_day_number(day).year()))
}

/// The township, department or leader values of `filter` that no project has.
pub async fn unknown_units(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
) -> Result<Vec<(&'static str, String)>, ServiceError> {
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
    filter_text: &str,
    status_date: NaiveDate,
    policy: &Policy,
) -> Result<v1::PipelineSummary, ServiceError> {
    let backend = conn.get_database_backend();
    let rules = RuleSql::new(status_date, policy);
    let mut by_stage = tallies(conn, filter, "p.stage").await?;
    let order = |key: &str| {
        Stage::parse(key)
            .and_then(|s| Stage::ALL.iter().position(|x| *x == s))
            .unwrap_or(usize::MAX)
    };
    by_stage.sort_by_key(|t| order(&t.key));
    let mut all = GroupTally::default();
    for tally in &by_stage {
        all.add(tally);
    }
    let (month_start, month_end) = month_bounds(status_date);
    let (quarter_start, quarter_end) = quarter_bounds(status_date);
    let from = day_number(year_start(status_date));
    let status = day_number(status_date);
    let mut on_time = Vec::new();
    for kind in [
        MilestoneKind::ConstructionStart,
        MilestoneKind::TrialProduction,
    ] {
        let [due, achieved, on] = on_time_sums(kind.as_str(), from, status);
        let mut sql = Sql::new(
            backend,
            format!("SELECT {due}, {achieved}, {on}{MILESTONES}"),
        );
        filter.push(&mut sql);
        let n = numbers(conn, sql, 3).await?;
        on_time.push(v1::OnTimeRate {
            kind: kind_proto(kind),
            due_count: reported_count(n[0]),
            achieved_count: reported_count(n[1]),
            on_time_count: reported_count(n[2]),
            on_time_rate: if n[0] > 0 {
                n[2] as f64 / n[0] as f64
            } else {
                0.0
            },
        });
    }
    let lights = [Light::Green, Light::Yellow, Light::Red];
    let columns: Vec<String> = lights
        .iter()
        .map(|l| count_if(&format!("m.actual_date IS NULL AND {}", rules.light(*l))))
        .collect();
    let mut sql = Sql::new(
        backend,
        format!("SELECT {}{MILESTONES}", columns.join(", ")),
    );
    filter.push(&mut sql);
    let n = numbers(conn, sql, 3).await?;
    let by_light = lights
        .iter()
        .zip(n)
        .map(|(light, count)| v1::LightCount {
            light: v1::AlertLight::from(*light) as i32,
            milestone_count: reported_count(count),
        })
        .collect();
    let deadline = year_end(status_date);
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
    filter.push(&mut sql);
    sql.push(" AND m.actual_date IS NULL AND m.baseline_date <= ")
        .bind(day_number(deadline))
        .push(" GROUP BY m.kind");
    let mut due_by_year_end: Vec<(usize, v1::KindCount)> = ByKind::find_by_statement(sql.build())
        .all(conn)
        .await
        .map_err(db_error)?
        .into_iter()
        .filter_map(|row| {
            let kind = MilestoneKind::parse(&row.kind)?;
            let position = MilestoneKind::ALL.iter().position(|k| *k == kind)?;
            Some((
                position,
                v1::KindCount {
                    kind: kind_proto(kind),
                    milestone_count: reported_count(row.milestone_count),
                    overdue_count: reported_count(row.overdue_count),
                },
            ))
        })
        .collect();
    due_by_year_end.sort_by_key(|(position, _)| *position);
    Ok(v1::PipelineSummary {
        status_date: Some(proto::date(status_date)),
        filter: filter_text.to_string(),
        project_count: reported_count(all.project_count),
        total_investment_yuan: reported_yuan(all.total_investment_yuan),
        // Stages and categories are enums: a handful of groups, never cut.
        by_stage: by_stage.iter().map(GroupTally::to_proto).collect(),
        by_township: capped_tallies(&tallies(conn, filter, "p.township").await?),
        by_department: capped_tallies(&tallies(conn, filter, "p.department").await?),
        by_category: tallies(conn, filter, "p.category")
            .await?
            .iter()
            .map(GroupTally::to_proto)
            .collect(),
        due_this_month: Some(due_between(conn, filter, &rules, month_start, month_end).await?),
        due_this_quarter: Some(
            due_between(conn, filter, &rules, quarter_start, quarter_end).await?,
        ),
        on_time_this_year: on_time,
        by_light,
        year_end_date: Some(proto::date(deadline)),
        days_to_year_end: (deadline - status_date).num_days() as i32,
        due_by_year_end: due_by_year_end.into_iter().map(|(_, k)| k).collect(),
    })
}

/// The counts of `name`, made empty on first use.
fn unit(units: &mut BTreeMap<String, UnitCounts>, name: String) -> &mut UnitCounts {
    units.entry(name.clone()).or_insert_with(|| UnitCounts {
        unit: name,
        ..Default::default()
    })
}

/// What the rankings of one dimension are computed from: one entry per unit.
pub async fn unit_counts(
    conn: &impl ConnectionTrait,
    dimension: Dimension,
    status_date: NaiveDate,
    policy: &Policy,
    extra_units: &[String],
) -> Result<Vec<UnitCounts>, ServiceError> {
    let backend = conn.get_database_backend();
    let u = dimension.column();
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
    for row in conn.query_all_raw(sql.build()).await.map_err(db_error)? {
        let name: String = row.try_get_by_index(0).map_err(db_error)?;
        let c = unit(&mut units, name);
        c.project_count = row.try_get_by_index(1).map_err(db_error)?;
        c.planned_investment_yuan = read_exact_sum(&row, 2)?;
        c.completed_investment_yuan = read_exact_sum(&row, 4)?;
    }
    // Milestones.
    let from = day_number(year_start(status_date));
    let status = day_number(status_date);
    let [starts_due, _, starts_on_time] =
        on_time_sums(MilestoneKind::ConstructionStart.as_str(), from, status);
    let [trials_due, _, trials_on_time] =
        on_time_sums(MilestoneKind::TrialProduction.as_str(), from, status);
    let variance = rules.variance();
    let sql = Sql::new(
        backend,
        format!(
            "SELECT {u}, {starts_due}, {starts_on_time}, {trials_due}, {trials_on_time}, COUNT(*), {}, {}{MILESTONES} AND {u} <> '' GROUP BY {u}",
            count_if(&rules.overdue()),
            sum(&format!(
                "CASE WHEN {variance} > 0 THEN {variance} ELSE 0 END"
            )),
        ),
    );
    for row in conn.query_all_raw(sql.build()).await.map_err(db_error)? {
        let name: String = row.try_get_by_index(0).map_err(db_error)?;
        let c = unit(&mut units, name);
        c.starts_due = row.try_get_by_index(1).map_err(db_error)?;
        c.starts_on_time = row.try_get_by_index(2).map_err(db_error)?;
        c.trials_due = row.try_get_by_index(3).map_err(db_error)?;
        c.trials_on_time = row.try_get_by_index(4).map_err(db_error)?;
        c.milestones = row.try_get_by_index(5).map_err(db_error)?;
        c.overdue = row.try_get_by_index(6).map_err(db_error)?;
        c.days_slipped_total = row.try_get_by_index(7).map_err(db_error)?;
    }
    // Funding coverage over this year's windows opened by the status date.
    for window in windows_opened(conn, year_start(status_date), status_date).await? {
        let (pk, w) = window;
        let mut sql = Sql::new(
            backend,
            format!(
                "SELECT {u}, COUNT(*), {} FROM projects p WHERE {u} <> ''",
                count_if(&format!(
                    "EXISTS (SELECT 1 FROM funding_applications a WHERE a.project_pk = p.id \
                     AND a.window_pk = {pk} AND a.state IN ('SUBMITTED', 'APPROVED', 'REJECTED'))"
                ))
            ),
        );
        push_eligibility(&mut sql, &w.fields.eligibility);
        sql.push(&format!(" GROUP BY {u}"));
        for row in conn.query_all_raw(sql.build()).await.map_err(db_error)? {
            let name: String = row.try_get_by_index(0).map_err(db_error)?;
            let c = unit(&mut units, name);
            c.eligible_pairs += row.try_get_by_index::<i64>(1).map_err(db_error)?;
            c.declared_pairs += row.try_get_by_index::<i64>(2).map_err(db_error)?;
        }
    }
    Ok(units.into_values().collect())
}

/// Windows whose open date falls from `from` to `to`, by open date.
async fn windows_opened(
    conn: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(i64, crate::domain::funding::FundingWindow)>, ServiceError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    funding_window::Entity::find()
        .filter(funding_window::Column::OpenDate.gte(day_number(from)))
        .filter(funding_window::Column::OpenDate.lte(day_number(to)))
        .order_by_asc(funding_window::Column::OpenDate)
        .order_by_asc(funding_window::Column::WindowId)
        .all(conn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| Ok((row.id, window_to_domain(row)?)))
        .collect()
}

/// The full ranking of a dimension, with rank changes against the latest bulletin published
/// for an earlier status date.
pub async fn rankings(
    conn: &impl ConnectionTrait,
    dimension: Dimension,
    status_date: NaiveDate,
    policy: &Policy,
    extra_units: &[String],
) -> Result<v1::ListRankingsResponse, ServiceError> {
    let ranked =
        report::rank(unit_counts(conn, dimension, status_date, policy, extra_units).await?);
    let previous = previous_bulletin(conn, status_date).await?;
    let before: HashMap<String, i32> = previous
        .as_ref()
        .and_then(|b| {
            b.rankings
                .iter()
                .find(|r| r.dimension == dimension.to_proto() as i32)
        })
        .map(|r| {
            r.rows
                .iter()
                .map(|row| (row.unit.clone(), row.rank))
                .collect()
        })
        .unwrap_or_default();
    Ok(v1::ListRankingsResponse {
        status_date: Some(proto::date(status_date)),
        dimension: dimension.to_proto() as i32,
        weights: report::INDICATORS
            .iter()
            .map(|d| v1::IndicatorWeight {
                indicator: d.name.to_string(),
                weight: d.weight as i32,
                description: d.description.to_string(),
            })
            .collect(),
        rows: ranked
            .into_iter()
            .map(|r| {
                let previous_rank = before.get(&r.counts.unit).copied();
                v1::RankingRow {
                    unit: r.counts.unit.clone(),
                    project_count: reported_count(r.counts.project_count),
                    indicators: r
                        .indicators
                        .iter()
                        .map(|i| v1::IndicatorScore {
                            indicator: i.name.to_string(),
                            value: i.value,
                            score: i.score,
                            weight: i.weight as i32,
                            measured: i.measured,
                        })
                        .collect(),
                    total_score: r.total,
                    rank: r.rank as i32,
                    rank_change: previous_rank.map(|p| p - r.rank as i32).unwrap_or_default(),
                    ranked_before: previous_rank.is_some(),
                }
            })
            .collect(),
        previous_bulletin: previous.map(|b| b.name).unwrap_or_default(),
        next_page_token: String::new(),
    })
}

async fn previous_bulletin(
    conn: &impl ConnectionTrait,
    status_date: NaiveDate,
) -> Result<Option<v1::Bulletin>, ServiceError> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let row = bulletin::Entity::find()
        .filter(bulletin::Column::StatusDate.lt(day_number(status_date)))
        .order_by_desc(bulletin::Column::StatusDate)
        .order_by_desc(bulletin::Column::CreatedAtUs)
        .one(conn)
        .await
        .map_err(db_error)?;
    row.map(|r| v1::Bulletin::decode(r.payload.as_slice()).map_err(ServiceError::internal))
        .transpose()
}

/// Applications by state and their amounts, summed exactly until they become a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Figures {
    draft_count: i64,
    submitted_count: i64,
    approved_count: i64,
    rejected_count: i64,
    withdrawn_count: i64,
    declared_amount_yuan: i128,
    approved_amount_yuan: i128,
    disbursed_amount_yuan: i128,
    undeclared_count: i64,
}

impl Figures {
    fn add(&mut self, f: &Figures) {
        self.draft_count += f.draft_count;
        self.submitted_count += f.submitted_count;
        self.approved_count += f.approved_count;
        self.rejected_count += f.rejected_count;
        self.withdrawn_count += f.withdrawn_count;
        self.declared_amount_yuan += f.declared_amount_yuan;
        self.approved_amount_yuan += f.approved_amount_yuan;
        self.disbursed_amount_yuan += f.disbursed_amount_yuan;
        self.undeclared_count += f.undeclared_count;
    }

    fn declared_count(&self) -> i64 {
        self.submitted_count + self.approved_count + self.rejected_count
    }

    fn to_proto(self) -> v1::FundingFigures {
        v1::FundingFigures {
            draft_count: reported_count(self.draft_count),
            submitted_count: reported_count(self.submitted_count),
            approved_count: reported_count(self.approved_count),
            rejected_count: reported_count(self.rejected_count),
            withdrawn_count: reported_count(self.withdrawn_count),
            declared_amount_yuan: reported_yuan(self.declared_amount_yuan),
            approved_amount_yuan: reported_yuan(self.approved_amount_yuan),
            disbursed_amount_yuan: reported_yuan(self.disbursed_amount_yuan),
            undeclared_count: reported_count(self.undeclared_count),
        }
    }
}

/// The most the window lines of a funding summary take, encoded; the lines after are left out
/// (the channels and the total still count every window). 48 KiB hold about 500 lines of
/// typical titles and at least 48 of the longest allowed.
pub const WINDOW_LINES_BYTES: usize = 48 * 1024;

/// Funding per window opening in the status date's year, and per channel.
pub async fn funding_summary(
    conn: &impl ConnectionTrait,
    filter: &ReportFilter,
    filter_text: &str,
    status_date: NaiveDate,
) -> Result<v1::FundingSummary, ServiceError> {
    let backend = conn.get_database_backend();
    let mut windows = Vec::new();
    let mut channels: BTreeMap<usize, (v1::FundingChannel, i64, Figures)> = BTreeMap::new();
    let mut total = Figures::default();
    for (pk, w) in windows_opened(conn, year_start(status_date), year_end(status_date)).await? {
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
        filter.push(&mut sql);
        sql.push(" GROUP BY a.state");
        let mut f = Figures::default();
        for row in conn.query_all_raw(sql.build()).await.map_err(db_error)? {
            let state: String = row.try_get_by_index(0).map_err(db_error)?;
            let n: i64 = row.try_get_by_index(1).map_err(db_error)?;
            let state = ApplicationState::parse(&state);
            match state {
                Some(ApplicationState::Draft) => f.draft_count = n,
                Some(ApplicationState::Submitted) => f.submitted_count = n,
                Some(ApplicationState::Approved) => f.approved_count = n,
                Some(ApplicationState::Rejected) => f.rejected_count = n,
                Some(ApplicationState::Withdrawn) => f.withdrawn_count = n,
                None => {}
            }
            if matches!(
                state,
                Some(
                    ApplicationState::Submitted
                        | ApplicationState::Approved
                        | ApplicationState::Rejected
                )
            ) {
                f.declared_amount_yuan += read_exact_sum(&row, 2)?;
            }
            f.approved_amount_yuan += read_exact_sum(&row, 4)?;
            f.disbursed_amount_yuan += read_exact_sum(&row, 6)?;
        }
        let mut undeclared = Sql::new(backend, "SELECT COUNT(*) FROM projects p WHERE 1 = 1");
        push_eligibility(&mut undeclared, &w.fields.eligibility);
        filter.push(&mut undeclared);
        undeclared.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM funding_applications a WHERE a.project_pk = p.id \
             AND a.window_pk = {pk} AND a.state <> 'WITHDRAWN')"
        ));
        f.undeclared_count = numbers(conn, undeclared, 1).await?[0];
        let channel_position = FundingChannel::ALL
            .iter()
            .position(|c| *c == w.fields.channel)
            .unwrap_or(usize::MAX);
        let line = channels.entry(channel_position).or_insert((
            v1::FundingChannel::from(w.fields.channel),
            0,
            Figures::default(),
        ));
        line.1 += 1;
        line.2.add(&f);
        total.add(&f);
        windows.push(v1::WindowFunding {
            funding_window: w.name(),
            title: w.fields.title.clone(),
            channel: v1::FundingChannel::from(w.fields.channel) as i32,
            state: v1::FundingWindowState::from(w.fields.state_on(status_date)) as i32,
            figures: Some(f.to_proto()),
            target_count: w.fields.target_count,
            count_gap: reported_count(
                (i64::from(w.fields.target_count) - f.declared_count()).max(0),
            ),
        });
    }
    windows.truncate(budget::fitting(&windows, WINDOW_LINES_BYTES));
    Ok(v1::FundingSummary {
        status_date: Some(proto::date(status_date)),
        filter: filter_text.to_string(),
        windows,
        channels: channels
            .into_values()
            .map(|(channel, window_count, figures)| v1::ChannelFunding {
                channel: channel as i32,
                window_count: reported_count(window_count),
                figures: Some(figures.to_proto()),
            })
            .collect(),
        total: Some(total.to_proto()),
    })
}

impl Store {
    /// Computes and stores a bulletin in one transaction, so its figures are one consistent
    /// snapshot, together with its BULLETIN_PUBLISHED event. It is stored whole, every ranking
    /// row included; `response` encodes what a request id's retry is answered with.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_bulletin(
        &self,
        ctx: &WriteContext,
        bulletin_id: Option<String>,
        title: String,
        status_date: NaiveDate,
        policy: &Policy,
        key: Option<&RequestKey>,
        response: impl FnOnce(&v1::Bulletin) -> Vec<u8>,
    ) -> Result<Outcome<v1::Bulletin>, ServiceError> {
        // Only admins get here (the auth layer's role check); a bulletin has no scope.
        let tx = match self.begin_keyed(ctx, key, async |_| Ok(())).await? {
            Ok((tx, ())) => tx,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let id = bulletin_id.unwrap_or_else(crate::domain::names::generate_id);
        let summary =
            pipeline_summary(&tx, &ReportFilter::default(), "", status_date, policy).await?;
        let mut rankings_of = Vec::new();
        for dimension in Dimension::ALL {
            rankings_of.push(rankings(&tx, dimension, status_date, policy, &[]).await?);
        }
        let created = proto::timestamp(ctx.now_us);
        let message = v1::Bulletin {
            name: format!("bulletins/{id}"),
            uid: uuid::Uuid::new_v4().to_string(),
            title: title.clone(),
            status_date: Some(proto::date(status_date)),
            summary: Some(summary),
            rankings: rankings_of,
            publisher: ctx.actor.clone(),
            create_time: Some(created),
            update_time: Some(created),
            etag: crate::domain::names::etag(1),
        };
        let payload = message.encode_to_vec();
        bulletin::ActiveModel {
            bulletin_id: Set(id.clone()),
            uid: Set(message.uid.clone()),
            title: Set(title),
            status_date: Set(day_number(status_date)),
            payload: Set(payload),
            publisher: Set(ctx.actor.clone()),
            created_at_us: Set(ctx.now_us),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(|err| match unique_violation(&err) {
            Some(_) => ServiceError::AlreadyExists {
                resource: format!("bulletins/{id}"),
                field: "bulletin_id".into(),
            },
            None => db_error(err),
        })?;
        events::append(
            &tx,
            &ctx.actor,
            ctx.now_us,
            vec![EventDraft::global(
                v1::EventKind::BulletinPublished,
                message.name.clone(),
                None,
                Vec::new(),
            )],
        )
        .await?;
        // A retry gets the response the first call sent, which may be cut (see the API).
        let sent = response(&message);
        commit_with_key(self, tx, ctx, key, || sent, message).await
    }

    pub async fn get_bulletin(&self, id: &str) -> Result<v1::Bulletin, ServiceError> {
        use sea_orm::{ColumnTrait, QueryFilter};
        let row = bulletin::Entity::find()
            .filter(bulletin::Column::BulletinId.eq(id))
            .one(self.connection())
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(format!("bulletins/{id}")))?;
        v1::Bulletin::decode(row.payload.as_slice()).map_err(ServiceError::internal)
    }

    /// Bulletins newest status date first (ties by id, descending), as stored (uncut).
    pub async fn list_bulletins(
        &self,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<v1::Bulletin>, ServiceError> {
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
        let rows = query
            .limit(limit + 1)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        let more = rows.len() as u64 > limit;
        let rows: Vec<bulletin::Model> = rows.into_iter().take(limit as usize).collect();
        let cursors = rows
            .iter()
            .map(|row| Cursor {
                key: SortKey::Int(row.status_date as i64),
                id: row.bulletin_id.clone(),
            })
            .collect();
        let items = rows
            .iter()
            .map(|r| v1::Bulletin::decode(r.payload.as_slice()).map_err(ServiceError::internal))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            cursors,
            more,
        })
    }
}

/// The pipeline summary at its bounds: the longest filter, every stage and category, and a
/// thousand townships and departments of the longest names (cut by `capped_tallies`).
#[cfg(test)]
pub(crate) fn worst_summary() -> v1::PipelineSummary {
    use crate::domain::values::UNIT_CHARS;
    use crate::proto::budget::worst;
    let group = |key: String| GroupTally {
        key,
        project_count: i64::from(i32::MAX),
        total_investment_yuan: i128::from(i64::MAX),
        annual_planned_investment_yuan: i128::from(i64::MAX),
        completed_investment_yuan: i128::from(i64::MAX),
    };
    let units: Vec<GroupTally> = (0..1000)
        .map(|i| group(format!("{i:04}{}", worst::text(UNIT_CHARS - 4))))
        .collect();
    let enums = |n: usize| -> Vec<v1::ProjectTally> {
        (0..n)
            .map(|_| group("TRIAL_PRODUCTION".into()).to_proto())
            .collect()
    };
    let due = || {
        Some(v1::DueMilestones {
            start_date: worst::date(),
            end_date: worst::date(),
            due_count: i32::MAX,
            achieved_count: i32::MAX,
            overdue_count: i32::MAX,
        })
    };
    v1::PipelineSummary {
        status_date: worst::date(),
        filter: "x".repeat(crate::api::filter::MAX_FILTER_BYTES),
        project_count: i32::MAX,
        total_investment_yuan: i64::MAX,
        by_stage: enums(Stage::ALL.len()),
        by_township: capped_tallies(&units),
        by_department: capped_tallies(&units),
        by_category: enums(Category::ALL.len()),
        due_this_month: due(),
        due_this_quarter: due(),
        on_time_this_year: vec![
            v1::OnTimeRate {
                kind: v1::MilestoneKind::TrialProduction as i32,
                due_count: i32::MAX,
                achieved_count: i32::MAX,
                on_time_count: i32::MAX,
                on_time_rate: 0.5,
            };
            2
        ],
        by_light: vec![
            v1::LightCount {
                light: v1::AlertLight::Yellow as i32,
                milestone_count: i32::MAX,
            };
            3
        ],
        year_end_date: worst::date(),
        days_to_year_end: i32::MIN,
        due_by_year_end: vec![
            v1::KindCount {
                kind: v1::MilestoneKind::TrialProduction as i32,
                milestone_count: i32::MAX,
                overdue_count: i32::MAX,
            };
            MilestoneKind::ALL.len()
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::TITLE_CHARS;
    use crate::proto::budget::{self, worst};

    #[test]
    fn capped_tallies_keep_the_sums_and_fit() {
        let tally = |key: &str, n: i64| GroupTally {
            key: key.into(),
            project_count: n,
            total_investment_yuan: i128::from(n) * 10,
            annual_planned_investment_yuan: 0,
            completed_investment_yuan: 0,
        };
        let few = vec![tally("城关镇", 2), tally("太和镇", 3)];
        assert_eq!(
            capped_tallies(&few),
            few.iter().map(GroupTally::to_proto).collect::<Vec<_>>()
        );
        let many: Vec<GroupTally> = (0..2000).map(|i| tally(&format!("{i:05}镇"), 1)).collect();
        let capped = capped_tallies(&many);
        let listed: usize = capped.iter().map(budget::entry_len).sum();
        assert!(listed <= TALLY_LIST_BYTES, "{listed}");
        let rest = capped.last().unwrap();
        assert_eq!(
            rest.key, "",
            "the groups left out are summed up under an empty key"
        );
        assert!(capped.len() > 150, "typical names: {}", capped.len());
        assert_eq!(capped.iter().map(|t| t.project_count).sum::<i32>(), 2000);
        assert_eq!(
            capped.iter().map(|t| t.total_investment_yuan).sum::<i64>(),
            20_000
        );
    }

    #[test]
    fn worst_case_summary_fits() {
        let summary = worst_summary();
        assert!(
            summary.by_township.len() >= 18,
            "{}",
            summary.by_township.len()
        );
        let len = summary.encoded_len();
        assert!(len <= budget::MAX_RESOURCE_BYTES, "{len}");
    }

    #[test]
    fn worst_case_funding_summary_fits() {
        let figures = || {
            Some(v1::FundingFigures {
                draft_count: i32::MAX,
                submitted_count: i32::MAX,
                approved_count: i32::MAX,
                rejected_count: i32::MAX,
                withdrawn_count: i32::MAX,
                declared_amount_yuan: i64::MAX,
                approved_amount_yuan: i64::MAX,
                disbursed_amount_yuan: i64::MAX,
                undeclared_count: i32::MAX,
            })
        };
        let line = v1::WindowFunding {
            funding_window: worst::window_name(),
            title: worst::text(TITLE_CHARS),
            channel: v1::FundingChannel::Other as i32,
            state: v1::FundingWindowState::Closed as i32,
            figures: figures(),
            target_count: i32::MAX,
            count_gap: i32::MAX,
        };
        let mut windows = vec![line; 1000];
        windows.truncate(budget::fitting(&windows, WINDOW_LINES_BYTES));
        assert!(windows.len() >= 48, "{}", windows.len());
        let summary = v1::FundingSummary {
            status_date: worst::date(),
            filter: "x".repeat(crate::api::filter::MAX_FILTER_BYTES),
            windows,
            channels: vec![
                v1::ChannelFunding {
                    channel: v1::FundingChannel::Other as i32,
                    window_count: i32::MAX,
                    figures: figures(),
                };
                FundingChannel::ALL.len()
            ],
            total: figures(),
        };
        let len = summary.encoded_len();
        assert!(len <= budget::MAX_RESOURCE_BYTES, "{len}");
    }
}
