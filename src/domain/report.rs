//! Reports: the pipeline summary, the funding summary and the rankings (通报). The store
//! aggregates counts and sums in SQL; what they mean (the periods a summary counts, which
//! milestones are on time, which applications are declared, the indicators, scores and ranks)
//! is decided here, as pure functions unit-tested below.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};

use super::funding::{ApplicationState, FundingChannel, FundingWindow};
use super::milestone::{Light, MilestoneKind};
use super::problem::ProblemCategory;
use super::project::{Category, InvestmentType};

/// Which projects a summary covers; every Some condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub township: Option<String>,
    pub department: Option<String>,
    pub leader: Option<String>,
    pub category: Option<Category>,
    pub investment_type: Option<InvestmentType>,
}

/// What a ranking groups projects by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Department,
    Township,
    Leader,
}

impl Dimension {
    /// Every dimension, in the order a bulletin lists its rankings.
    pub const ALL: [Dimension; 3] = [
        Dimension::Department,
        Dimension::Township,
        Dimension::Leader,
    ];
}

/// 1 January of `day`'s year.
pub fn year_start(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), 1, 1).expect("1 January")
}

/// 31 December of `day`'s year: the year-end deadline of a summary.
pub fn year_end(day: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(day.year(), 12, 31).expect("31 December")
}

/// The first and last day of `day`'s calendar quarter.
pub fn quarter_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
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

/// The first and last day of `day`'s month.
pub fn month_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = day.with_day(1).expect("first of month");
    let next = if day.month() == 12 {
        NaiveDate::from_ymd_opt(day.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)
    };
    (start, next.expect("next month") - chrono::Duration::days(1))
}

/// The milestone kinds whose punctuality a summary and a ranking measure.
pub const ON_TIME_KINDS: [MilestoneKind; 2] = [
    MilestoneKind::ConstructionStart,
    MilestoneKind::TrialProduction,
];

/// Where one milestone stands in this year's punctuality as of a status date. The store counts
/// the same three conditions in SQL (`on_time_sums`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnTimeMarks {
    /// Its baseline falls from 1 January to the status date.
    pub due: bool,
    /// Due, and achieved by the status date.
    pub achieved: bool,
    /// Achieved, on or before its baseline.
    pub on_time: bool,
}

/// The punctuality marks of a milestone with `baseline` and `actual` on `status_date`.
pub fn on_time_marks(
    baseline: NaiveDate,
    actual: Option<NaiveDate>,
    status_date: NaiveDate,
) -> OnTimeMarks {
    let due = baseline >= year_start(status_date) && baseline <= status_date;
    let achieved = due && actual.is_some_and(|a| a <= status_date);
    let on_time = achieved && actual.is_some_and(|a| a <= baseline);
    OnTimeMarks {
        due,
        achieved,
        on_time,
    }
}

/// Punctuality of one kind this year, counted over milestones with `on_time_marks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnTime {
    pub kind: MilestoneKind,
    pub due: i64,
    pub achieved: i64,
    pub on_time: i64,
}

impl OnTime {
    /// On time as a share of due; 0 when none was due.
    pub fn rate(&self) -> f64 {
        if self.due > 0 {
            self.on_time as f64 / self.due as f64
        } else {
            0.0
        }
    }
}

/// Projects and money of one group (a stage, category, township or department). Amounts are
/// summed exactly and kept in 128 bits until they become a response field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub key: String,
    pub project_count: i64,
    pub total_investment_yuan: i128,
    pub annual_planned_investment_yuan: i128,
    pub completed_investment_yuan: i128,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.project_count += other.project_count;
        self.total_investment_yuan += other.total_investment_yuan;
        self.annual_planned_investment_yuan += other.annual_planned_investment_yuan;
        self.completed_investment_yuan += other.completed_investment_yuan;
    }

    /// The sum of `tallies`, with an empty key.
    pub fn sum<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Tally {
        let mut all = Tally::default();
        for tally in tallies {
            all.add(tally);
        }
        all
    }
}

/// Milestones whose baseline falls in a period: how many, achieved, and overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueMilestones {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub due: i64,
    pub achieved: i64,
    pub overdue: i64,
}

/// The lights a summary counts unachieved milestones under, in this order.
pub const SUMMARY_LIGHTS: [Light; 3] = [Light::Green, Light::Yellow, Light::Red];

/// Unachieved milestones of one light.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LightCount {
    pub light: Light,
    pub milestones: i64,
}

/// Unachieved milestones of one kind due by the year end, and how many are overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindCount {
    pub kind: MilestoneKind,
    pub milestones: i64,
    pub overdue: i64,
}

/// Problems of one category not yet resolved on a status date (OPEN or IN_PROGRESS), and of
/// those, how many are past their deadline (`Problem::overdue_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemCount {
    pub category: ProblemCategory,
    pub open: i64,
    pub overdue: i64,
}

/// Whether a problem raised on `raise_date` and resolved on `resolved_on` (None while not
/// resolved) was unresolved on `status_date`: raised by then and not resolved by then. The
/// summary counts these (`PipelineSummary::problems_by_category`), as overdue when the deadline
/// had passed; the store counts the same in SQL (`problem_counts`).
pub fn problem_unresolved_on(
    raise_date: NaiveDate,
    resolved_on: Option<NaiveDate>,
    status_date: NaiveDate,
) -> bool {
    raise_date <= status_date && resolved_on.is_none_or(|r| r > status_date)
}

/// Where one problem stands in its responsible unit's record as of a status date. The store
/// counts the same conditions in SQL (`problem_sums`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemMarks {
    /// Its deadline (as extended) passed this year before the status date.
    pub judged: bool,
    /// Judged, and resolved on or before the deadline.
    pub on_time: bool,
    /// Judged: days from the deadline to its resolution, or to the status date while it was
    /// not resolved by then; 0 when on time.
    pub days_overdue: i64,
}

/// The marks of a problem with `deadline`, resolved on `resolved_on` (None while not resolved),
/// on `status_date`. A resolution after the status date does not count yet (a past status
/// date sees the problem open). The resolution (办结) is the responsible unit's act; the
/// raiser's confirmation (销号) is not, so its date plays no part.
pub fn problem_marks(
    deadline: NaiveDate,
    resolved_on: Option<NaiveDate>,
    status_date: NaiveDate,
) -> ProblemMarks {
    let judged = deadline >= year_start(status_date) && deadline < status_date;
    let resolved = resolved_on.filter(|r| *r <= status_date);
    let on_time = judged && resolved.is_some_and(|r| r <= deadline);
    let end = resolved.unwrap_or(status_date);
    let days_overdue = if judged {
        (end - deadline).num_days().max(0)
    } else {
        0
    };
    ProblemMarks {
        judged,
        on_time,
        days_overdue,
    }
}

/// The pipeline summary of the projects of a filter on a status date.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSummary {
    pub status_date: NaiveDate,
    /// Every project of the filter (the sum of `by_stage`).
    pub total: Tally,
    /// In the order of `Stage::ALL`.
    pub by_stage: Vec<Tally>,
    /// Sorted by key (bytes).
    pub by_township: Vec<Tally>,
    pub by_department: Vec<Tally>,
    pub by_category: Vec<Tally>,
    pub due_this_month: DueMilestones,
    pub due_this_quarter: DueMilestones,
    /// One per `ON_TIME_KINDS`.
    pub on_time_this_year: Vec<OnTime>,
    /// One per `SUMMARY_LIGHTS`.
    pub by_light: Vec<LightCount>,
    pub year_end: NaiveDate,
    /// In the order of `MilestoneKind::ALL`, kinds with none left out.
    pub due_by_year_end: Vec<KindCount>,
    /// The monthly cycle against 序时进度 for the month judged.
    pub investment_pace: PaceFigures,
    /// Problems of the projects not yet resolved, by category in the order of
    /// `ProblemCategory::ALL`, categories with none left out.
    pub problems_by_category: Vec<ProblemCount>,
}

/// The monthly cycle of a set of projects for the month judged (the latest one whose reports
/// were due before the status date): its projects with a plan for that year, their 序时进度 and
/// reported investment (projects a justification exempts at the month's end left out), and
/// their reports January to that month, due and on time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceFigures {
    pub month: crate::domain::pace::YearMonth,
    /// `lightRuleSets/{id}@{revision}`, whose due day chose the month.
    pub light_rule_set: String,
    pub projects: i64,
    pub exempt: i64,
    pub pace_yuan: i128,
    pub completed_yuan: i128,
    pub reports_due: i64,
    pub reports_on_time: i64,
}

impl PipelineSummary {
    /// Calendar days from the status date to the year end.
    pub fn days_to_year_end(&self) -> i64 {
        (self.year_end - self.status_date).num_days()
    }
}

/// The application states that count as declared into a window (应报: submitted, approved or
/// rejected; a draft or a withdrawn application is not a declaration).
pub const DECLARED_STATES: [ApplicationState; 3] = [
    ApplicationState::Submitted,
    ApplicationState::Approved,
    ApplicationState::Rejected,
];

/// Applications by state and their amounts, summed exactly until they become a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FundingFigures {
    pub draft_count: i64,
    pub submitted_count: i64,
    pub approved_count: i64,
    pub rejected_count: i64,
    pub withdrawn_count: i64,
    pub declared_amount_yuan: i128,
    pub approved_amount_yuan: i128,
    pub disbursed_amount_yuan: i128,
    /// Eligible projects with no live application in the window.
    pub undeclared_count: i64,
}

/// The applications of one state in one window: how many, and their summed amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTotals {
    /// None for a state this version does not know: counted in the amounts only.
    pub state: Option<ApplicationState>,
    pub count: i64,
    pub requested_amount_yuan: i128,
    pub approved_amount_yuan: i128,
    pub disbursed_amount_yuan: i128,
}

impl FundingFigures {
    pub fn add(&mut self, f: &FundingFigures) {
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

    /// Counts the applications of one state: the declared amount is what the declared ones
    /// requested; approved and disbursed amounts count whatever the state.
    pub fn count(&mut self, t: &StateTotals) {
        match t.state {
            Some(ApplicationState::Draft) => self.draft_count = t.count,
            Some(ApplicationState::Submitted) => self.submitted_count = t.count,
            Some(ApplicationState::Approved) => self.approved_count = t.count,
            Some(ApplicationState::Rejected) => self.rejected_count = t.count,
            Some(ApplicationState::Withdrawn) => self.withdrawn_count = t.count,
            None => {}
        }
        if t.state.is_some_and(|s| DECLARED_STATES.contains(&s)) {
            self.declared_amount_yuan += t.requested_amount_yuan;
        }
        self.approved_amount_yuan += t.approved_amount_yuan;
        self.disbursed_amount_yuan += t.disbursed_amount_yuan;
    }

    /// Applications declared (see `DECLARED_STATES`).
    pub fn declared_count(&self) -> i64 {
        self.submitted_count + self.approved_count + self.rejected_count
    }
}

/// The funding of one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFunding {
    pub window: FundingWindow,
    pub figures: FundingFigures,
}

impl WindowFunding {
    pub fn count_gap(&self) -> i64 {
        count_gap(self.window.fields.target_count, &self.figures)
    }
}

/// Declarations still missing to reach a window's target count; 0 once reached.
pub fn count_gap(target_count: i32, figures: &FundingFigures) -> i64 {
    (i64::from(target_count) - figures.declared_count()).max(0)
}

/// The windows of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelFunding {
    pub channel: FundingChannel,
    pub window_count: i64,
    pub figures: FundingFigures,
}

/// Funding per window opening in the status date's year, per channel and in total.
#[derive(Debug, Clone, PartialEq)]
pub struct FundingSummary {
    pub status_date: NaiveDate,
    /// By open date, then window id.
    pub windows: Vec<WindowFunding>,
    /// Keyed by the channel's position in `FundingChannel::ALL`.
    channels: BTreeMap<usize, ChannelFunding>,
    pub total: FundingFigures,
}

impl FundingSummary {
    pub fn new(status_date: NaiveDate) -> Self {
        Self {
            status_date,
            windows: Vec::new(),
            channels: BTreeMap::new(),
            total: FundingFigures::default(),
        }
    }

    /// Adds a window: to the lines, its channel and the total.
    pub fn push(&mut self, line: WindowFunding) {
        let channel = line.window.fields.channel;
        let position = FundingChannel::ALL
            .iter()
            .position(|c| *c == channel)
            .unwrap_or(usize::MAX);
        let entry = self.channels.entry(position).or_insert(ChannelFunding {
            channel,
            window_count: 0,
            figures: FundingFigures::default(),
        });
        entry.window_count += 1;
        entry.figures.add(&line.figures);
        self.total.add(&line.figures);
        self.windows.push(line);
    }

    /// The channels with a window, in the order of `FundingChannel::ALL`.
    pub fn channels(&self) -> impl Iterator<Item = &ChannelFunding> {
        self.channels.values()
    }
}

/// One indicator's definition: its API name, weight (the weights sum to 100) and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorDef {
    pub name: &'static str,
    pub weight: u32,
    pub description: &'static str,
}

/// The indicators, in the order rows list them.
pub const INDICATORS: [IndicatorDef; 9] = [
    IndicatorDef {
        name: "on_time_start_rate",
        weight: 20,
        description: "construction starts due this year up to the status date that were achieved on or before their baseline, as a share of those due; score = share × 100. Here and in the next three indicators, milestones a justification exempts on the status date are left out",
    },
    IndicatorDef {
        name: "on_time_trial_production_rate",
        weight: 16,
        description: "the same for trial productions",
    },
    IndicatorDef {
        name: "overdue_count",
        weight: 12,
        description: "unachieved milestones past their baseline on the status date; score = 100 − 10 per overdue milestone, at least 0",
    },
    IndicatorDef {
        name: "average_days_slipped",
        weight: 8,
        description: "mean lateness of the unit's milestones (achieved, forecast or overdue; early counts as 0) in days; score = 100 − 1 per day, at least 0",
    },
    IndicatorDef {
        name: "investment_completion_rate",
        weight: 12,
        description: "for a unit with projects that have an investment plan for the year of the month judged (the latest month whose reports were due before the status date, under the active light rule set), the investment those projects reported for that year through that month over their 序时进度 (pace), projects exempted by a justification left out; otherwise completed investment over annual planned investment; score = share × 100, at most 100",
    },
    IndicatorDef {
        name: "report_on_time_rate",
        weight: 4,
        description: "monthly investment reports of the unit's projects with a plan, January to the month judged, that came in by their due day, as a share of those due; score = share × 100",
    },
    IndicatorDef {
        name: "funding_coverage_rate",
        weight: 8,
        description: "eligible projects declared (submitted, approved or rejected) in this year's funding windows opened by the status date, as a share of eligible project-window pairs; score = share × 100",
    },
    IndicatorDef {
        name: "problems_closed_on_time_rate",
        weight: 10,
        description: "problems of the problem ledger the unit must solve (its responsible unit; for leaders, its responsible leader), on any unit's project but CANCELLED ones, whose deadline (办结时限, as extended) passed this year before the status date: the share resolved (办结) by their deadline; the raiser's confirmation (销号) is not the unit's to give and does not count. A responsible unit that is some project's township is ranked among townships, any other among departments",
    },
    IndicatorDef {
        name: "problems_average_days_overdue",
        weight: 10,
        description: "the same problems' mean days past their deadline (resolved late: resolution date − deadline; still unresolved: status date − deadline; on time: 0); score = 100 − 5 per day, at least 0",
    },
];

/// What the store counts for one unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitCounts {
    pub unit: String,
    pub project_count: i64,
    pub starts_due: i64,
    pub starts_on_time: i64,
    pub trials_due: i64,
    pub trials_on_time: i64,
    pub milestones: i64,
    pub overdue: i64,
    pub days_slipped_total: i64,
    /// Sums of the units' amounts, in 128 bits so that they cannot overflow.
    pub planned_investment_yuan: i128,
    pub completed_investment_yuan: i128,
    /// Projects with a plan for the judged year, not exempt at the judged month's end, and
    /// their 序时进度 and reported investment through that month.
    pub paced_projects: i64,
    pub pace_yuan: i128,
    pub paced_completed_yuan: i128,
    /// Monthly reports due (projects with a plan × months through the judged month) and those
    /// that came in by their due day.
    pub reports_due: i64,
    pub reports_on_time: i64,
    pub eligible_pairs: i64,
    pub declared_pairs: i64,
    /// Problems the unit must solve, judged on the status date (`problem_marks`), those
    /// resolved on time, and their days overdue summed.
    pub problems_judged: i64,
    pub problems_on_time: i64,
    pub problem_days_overdue_total: i64,
}

/// One indicator of one unit. `measured` is false when there is nothing to measure (no
/// construction start due, no milestone, no planned investment, no eligible project); such an
/// indicator is left out of the total and the other weights are scaled up.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorValue {
    pub name: &'static str,
    pub value: f64,
    pub score: f64,
    pub weight: u32,
    pub measured: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankedUnit {
    pub counts: UnitCounts,
    pub indicators: Vec<IndicatorValue>,
    /// Weighted mean of the measured scores, rounded to two decimals; 0 when none is measured.
    pub total: f64,
    /// Standard competition ranking: equal totals share a rank, the next rank skips.
    pub rank: u32,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn share(part: impl Into<i128>, whole: impl Into<i128>) -> Option<f64> {
    let (part, whole) = (part.into(), whole.into());
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Turns an indicator's value into its score.
type Scorer = fn(f64) -> f64;

/// The indicators of one unit.
pub fn indicators(c: &UnitCounts) -> Vec<IndicatorValue> {
    let avg_slip = share(c.days_slipped_total, c.milestones);
    let investment = if c.paced_projects > 0 {
        share(c.paced_completed_yuan, c.pace_yuan)
    } else {
        share(c.completed_investment_yuan, c.planned_investment_yuan)
    };
    let values: [(Option<f64>, Scorer); 9] = [
        (share(c.starts_on_time, c.starts_due), |v| v * 100.0),
        (share(c.trials_on_time, c.trials_due), |v| v * 100.0),
        ((c.milestones > 0).then_some(c.overdue as f64), |v| {
            (100.0 - 10.0 * v).max(0.0)
        }),
        (avg_slip, |v| (100.0 - v).max(0.0)),
        (investment, |v| (v * 100.0).min(100.0)),
        (share(c.reports_on_time, c.reports_due), |v| v * 100.0),
        (share(c.declared_pairs, c.eligible_pairs), |v| v * 100.0),
        (share(c.problems_on_time, c.problems_judged), |v| v * 100.0),
        (
            share(c.problem_days_overdue_total, c.problems_judged),
            |v| (100.0 - 5.0 * v).max(0.0),
        ),
    ];
    INDICATORS
        .iter()
        .zip(values)
        .map(|(def, (value, score))| IndicatorValue {
            name: def.name,
            value: round2(value.unwrap_or_default()),
            score: round2(value.map(score).unwrap_or_default()),
            weight: def.weight,
            measured: value.is_some(),
        })
        .collect()
}

/// Scores and ranks units. Order: total descending, then unit name ascending (byte order), so
/// that ties are listed the same way every time; tied units share the better rank.
pub fn rank(units: Vec<UnitCounts>) -> Vec<RankedUnit> {
    let mut rows: Vec<RankedUnit> = units
        .into_iter()
        .map(|counts| {
            let indicators = indicators(&counts);
            let weights: u32 = indicators
                .iter()
                .filter(|i| i.measured)
                .map(|i| i.weight)
                .sum();
            let weighted: f64 = indicators
                .iter()
                .filter(|i| i.measured)
                .map(|i| i.score * i.weight as f64)
                .sum();
            let total = if weights == 0 {
                0.0
            } else {
                round2(weighted / weights as f64)
            };
            RankedUnit {
                counts,
                indicators,
                total,
                rank: 0,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total
            .total_cmp(&a.total)
            .then_with(|| a.counts.unit.cmp(&b.counts.unit))
    });
    for i in 0..rows.len() {
        rows[i].rank = if i > 0 && rows[i].total == rows[i - 1].total {
            rows[i - 1].rank
        } else {
            i as u32 + 1
        };
    }
    rows
}

/// A ranked unit and its rank in the previous bulletin, if it was ranked there.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingRow {
    pub ranked: RankedUnit,
    pub previous_rank: Option<i32>,
}

impl RankingRow {
    /// Places gained since the previous bulletin (negative when the unit fell); 0 when it was
    /// not ranked there.
    pub fn rank_change(&self) -> i32 {
        self.previous_rank
            .map(|p| p - self.ranked.rank as i32)
            .unwrap_or_default()
    }
}

/// The full ranking of a dimension on a status date, compared with the latest bulletin
/// published for an earlier status date.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub status_date: NaiveDate,
    pub dimension: Dimension,
    pub rows: Vec<RankingRow>,
    /// The resource name of the bulletin compared with.
    pub previous_bulletin: Option<String>,
}

impl Ranking {
    /// Ranks `units` (see `rank`) and compares each with its rank in `before` (unit → rank in
    /// the previous bulletin `previous_bulletin`).
    pub fn new(
        status_date: NaiveDate,
        dimension: Dimension,
        units: Vec<UnitCounts>,
        previous_bulletin: Option<String>,
        before: &HashMap<String, i32>,
    ) -> Self {
        let rows = rank(units)
            .into_iter()
            .map(|ranked| RankingRow {
                previous_rank: before.get(&ranked.counts.unit).copied(),
                ranked,
            })
            .collect();
        Ranking {
            status_date,
            dimension,
            rows,
            previous_bulletin,
        }
    }
}

/// A published bulletin: one consistent snapshot of the county summary and every ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Bulletin {
    pub id: String,
    pub uid: String,
    pub title: String,
    pub status_date: NaiveDate,
    pub summary: PipelineSummary,
    /// One per `Dimension::ALL`.
    pub rankings: Vec<Ranking>,
    pub publisher: String,
    pub created_at_us: i64,
    /// The active light rule set revision at publication, `lightRuleSets/{id}@{revision}`.
    pub light_rule_set: String,
}

impl Bulletin {
    pub fn name(&self) -> String {
        format!("bulletins/{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(name: &str) -> UnitCounts {
        UnitCounts {
            unit: name.into(),
            ..Default::default()
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_quarter_runs_from_its_first_month_to_the_day_before_the_next() {
        for (d, quarter) in [
            (day(2026, 2, 28), (day(2026, 1, 1), day(2026, 3, 31))),
            (day(2026, 5, 1), (day(2026, 4, 1), day(2026, 6, 30))),
            (day(2026, 9, 30), (day(2026, 7, 1), day(2026, 9, 30))),
            // The fourth quarter ends with the year.
            (day(2026, 10, 15), (day(2026, 10, 1), day(2026, 12, 31))),
        ] {
            assert_eq!(quarter_of(d), quarter, "{d}");
        }
    }

    #[test]
    fn a_month_runs_from_the_first_to_its_last_day() {
        for (d, month) in [
            (day(2024, 2, 10), (day(2024, 2, 1), day(2024, 2, 29))),
            (day(2026, 10, 31), (day(2026, 10, 1), day(2026, 10, 31))),
            (day(2026, 12, 5), (day(2026, 12, 1), day(2026, 12, 31))),
        ] {
            assert_eq!(month_of(d), month, "{d}");
        }
    }

    #[test]
    fn the_year_runs_from_1_january_to_31_december() {
        assert_eq!(year_start(day(2026, 10, 15)), day(2026, 1, 1));
        assert_eq!(year_end(day(2026, 10, 15)), day(2026, 12, 31));
    }

    #[test]
    fn a_milestone_is_on_time_when_achieved_by_its_baseline() {
        let status = day(2026, 10, 15);
        let marks = |baseline, actual| {
            let m = on_time_marks(baseline, actual, status);
            (m.due, m.achieved, m.on_time)
        };
        let baseline = day(2026, 9, 30);
        assert_eq!(marks(baseline, Some(day(2026, 9, 30))), (true, true, true));
        assert_eq!(marks(baseline, Some(day(2026, 10, 2))), (true, true, false));
        assert_eq!(marks(baseline, None), (true, false, false));
        assert_eq!(
            marks(baseline, Some(day(2026, 10, 20))),
            (true, false, false),
            "achieved after the status date is not achieved yet"
        );
        assert_eq!(
            marks(day(2026, 10, 16), Some(day(2026, 10, 1))),
            (false, false, false),
            "not due before its baseline"
        );
        assert_eq!(
            marks(day(2025, 12, 31), Some(day(2025, 12, 1))),
            (false, false, false),
            "due last year"
        );
        assert_eq!(marks(status, Some(status)), (true, true, true));
    }

    #[test]
    fn the_on_time_rate_is_zero_when_nothing_was_due() {
        let rate = |due, on_time| {
            OnTime {
                kind: MilestoneKind::ConstructionStart,
                due,
                achieved: on_time,
                on_time,
            }
            .rate()
        };
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(4, 3), 0.75);
    }

    #[test]
    fn only_submitted_approved_and_rejected_applications_are_declared() {
        let mut f = FundingFigures::default();
        for (state, count) in [
            (ApplicationState::Draft, 1),
            (ApplicationState::Submitted, 2),
            (ApplicationState::Approved, 3),
            (ApplicationState::Rejected, 4),
            (ApplicationState::Withdrawn, 5),
        ] {
            f.count(&StateTotals {
                state: Some(state),
                count,
                requested_amount_yuan: 100 * i128::from(count),
                approved_amount_yuan: 10,
                disbursed_amount_yuan: 1,
            });
        }
        assert_eq!(f.declared_count(), 9);
        assert_eq!(f.declared_amount_yuan, 900);
        assert_eq!(f.approved_amount_yuan, 50);
        assert_eq!(f.disbursed_amount_yuan, 5);
        assert_eq!((f.draft_count, f.withdrawn_count), (1, 5));
    }

    #[test]
    fn the_count_gap_is_the_declarations_missing_to_the_target() {
        let figures = FundingFigures {
            submitted_count: 2,
            approved_count: 1,
            draft_count: 5,
            ..Default::default()
        };
        assert_eq!(count_gap(16, &figures), 13);
        assert_eq!(count_gap(3, &figures), 0);
        assert_eq!(count_gap(0, &figures), 0, "no target, no gap");
    }

    #[test]
    fn a_rank_change_counts_places_gained_since_the_previous_bulletin() {
        let before = HashMap::from([("城关镇".to_string(), 1), ("太和镇".to_string(), 3)]);
        let a = UnitCounts {
            milestones: 1,
            ..unit("太和镇")
        };
        let b = UnitCounts {
            milestones: 1,
            overdue: 1,
            ..unit("城关镇")
        };
        let ranking = Ranking::new(
            day(2026, 10, 15),
            Dimension::Township,
            vec![a, b, unit("西河镇")],
            Some("bulletins/b".into()),
            &before,
        );
        let changes: Vec<(&str, Option<i32>, i32)> = ranking
            .rows
            .iter()
            .map(|r| {
                (
                    r.ranked.counts.unit.as_str(),
                    r.previous_rank,
                    r.rank_change(),
                )
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                ("太和镇", Some(3), 2),
                ("城关镇", Some(1), -1),
                ("西河镇", None, 0)
            ]
        );
    }

    #[test]
    fn weights_sum_to_100() {
        assert_eq!(INDICATORS.iter().map(|i| i.weight).sum::<u32>(), 100);
    }

    #[test]
    fn scores_and_scaling() {
        let c = UnitCounts {
            starts_due: 4,
            starts_on_time: 3,
            milestones: 5,
            overdue: 1,
            days_slipped_total: 20,
            planned_investment_yuan: 100,
            completed_investment_yuan: 150,
            ..unit("县住建局")
        };
        let ind = indicators(&c);
        assert_eq!(ind[0].score, 75.0);
        assert!(!ind[1].measured, "no trial production due");
        assert_eq!(ind[2].score, 90.0);
        assert_eq!(ind[3].value, 4.0);
        assert_eq!(ind[3].score, 96.0);
        assert_eq!(ind[4].score, 100.0, "capped");
        assert!(!ind[5].measured, "no project reports monthly");
        assert!(!ind[6].measured);
        // (75×20 + 90×12 + 96×8 + 100×12) / 52 = 4548 / 52: the same as before the problem
        // indicators scaled the other weights by 0.8, since unmeasured ones drop out.
        let ranked = rank(vec![c.clone()]);
        assert_eq!(ranked[0].total, 87.46);

        // With monthly reports, investment is measured against 序时进度 instead: 150 reported
        // of 200 due is 75; 6 of 9 reports on time is 66.67.
        let paced = UnitCounts {
            paced_projects: 1,
            pace_yuan: 200,
            paced_completed_yuan: 150,
            reports_due: 9,
            reports_on_time: 6,
            ..c
        };
        let ind = indicators(&paced);
        assert_eq!((ind[4].value, ind[4].score), (0.75, 75.0));
        assert_eq!((ind[5].value, ind[5].score), (0.67, 66.67));
        // (75×20 + 90×12 + 96×8 + 75×12 + 66.67×4) / 56 = 4514.68 / 56
        assert_eq!(rank(vec![paced])[0].total, 80.62);
    }

    #[test]
    fn problem_marks_judge_passed_deadlines_by_the_resolution_date() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let on = d(9, 15);
        let marks = |deadline, resolved| {
            let m = problem_marks(deadline, resolved, on);
            (m.judged, m.on_time, m.days_overdue)
        };
        // Resolved on the deadline: on time; a day after: 1 day overdue.
        assert_eq!(marks(d(9, 10), Some(d(9, 10))), (true, true, 0));
        assert_eq!(marks(d(9, 10), Some(d(9, 11))), (true, false, 1));
        // Unresolved: overdue until the status date.
        assert_eq!(marks(d(9, 1), None), (true, false, 14));
        // Resolved after the status date: still open on it.
        assert_eq!(marks(d(9, 1), Some(d(9, 20))), (true, false, 14));
        // Due on the status date or later, or last year: not judged.
        assert_eq!(marks(d(9, 15), None), (false, false, 0));
        assert_eq!(marks(d(10, 1), Some(d(9, 1))), (false, false, 0));
        assert_eq!(
            marks(NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(), None),
            (false, false, 0)
        );
    }

    #[test]
    fn a_problem_is_unresolved_from_its_raise_date_to_its_resolution() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert!(problem_unresolved_on(d(9, 1), None, d(9, 1)));
        assert!(!problem_unresolved_on(d(9, 2), None, d(9, 1)));
        assert!(problem_unresolved_on(d(9, 1), Some(d(9, 12)), d(9, 11)));
        assert!(!problem_unresolved_on(d(9, 1), Some(d(9, 12)), d(9, 12)));
    }

    #[test]
    fn problem_indicators_and_their_weight() {
        // 4 problems judged: 3 on time, one 20 days late; 20 / 4 = 5 days on average.
        let c = UnitCounts {
            problems_judged: 4,
            problems_on_time: 3,
            problem_days_overdue_total: 20,
            ..unit("县自然资源局")
        };
        let ind = indicators(&c);
        assert_eq!(
            (ind[7].name, ind[7].value, ind[7].score),
            ("problems_closed_on_time_rate", 0.75, 75.0)
        );
        assert_eq!(
            (ind[8].name, ind[8].value, ind[8].score),
            ("problems_average_days_overdue", 5.0, 75.0)
        );
        assert!(ind[..7].iter().all(|i| !i.measured));
        assert_eq!(rank(vec![c.clone()])[0].total, 75.0);
        // Beside the milestone indicators: (75×20 + 90×12 + 96×8 + 100×12 + 75×10 + 75×10) / 72.
        let both = UnitCounts {
            starts_due: 4,
            starts_on_time: 3,
            milestones: 5,
            overdue: 1,
            days_slipped_total: 20,
            planned_investment_yuan: 100,
            completed_investment_yuan: 150,
            ..c
        };
        assert_eq!(rank(vec![both])[0].total, 84.0);
    }

    #[test]
    fn ties_share_a_rank_and_are_ordered_by_name() {
        let a = UnitCounts {
            milestones: 1,
            ..unit("太和镇")
        };
        let b = UnitCounts {
            milestones: 1,
            ..unit("城关镇")
        };
        let c = UnitCounts {
            milestones: 1,
            overdue: 2,
            ..unit("东山镇")
        };
        let empty = unit("西河镇");
        let ranked = rank(vec![a, b, c, empty]);
        let order: Vec<(&str, u32, f64)> = ranked
            .iter()
            .map(|r| (r.counts.unit.as_str(), r.rank, r.total))
            .collect();
        assert_eq!(
            order,
            vec![
                ("城关镇", 1, 100.0),
                ("太和镇", 1, 100.0),
                ("东山镇", 3, 88.0),
                ("西河镇", 4, 0.0),
            ]
        );
    }
}
