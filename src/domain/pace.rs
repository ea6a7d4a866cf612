//! The monthly investment pace (序时进度) and the light rule sets (亮灯规则), as pure functions
//! (DESIGN §11, vocabulary in §2).
//!
//! The pace of a month is the share of the annual plan that should be in place by its end: the
//! annual total × months elapsed / 12, or the sum of the monthly plan through the month when the
//! project has one. Completed investment (完成投资) is the cumulative amount reported for the
//! months of the plan year through the month. The published local rules compare the two in one
//! of two ways, both expressible by one `LightRules`:
//!
//! - by ratio: (a) green at or above pace, yellow up to 50 % below, red more than 50 % below
//!   (RATIO, yellow 100, red 50); (b) red below 60 % of pace, yellow below 80 % (RATIO, 80/60);
//! - by points: (c) yellow 10–30 percentage points behind, red more than 30 (POINTS, 10/30),
//!   where points behind = pace % − completed %, both of the annual plan.
//!
//! Some places escalate consecutive yellow months to red; others let a red project that is back
//! on pace return through yellow. A justified month (正当理由) keeps its computed light, marked
//! exempt, and breaks an escalation streak.
//!
//! Every light decision is an exact integer comparison (yuan sums in i128, thresholds by
//! cross-multiplication); the f64 percentages exist only for display.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::error::{Invalid, Violations};
use super::milestone::Light;
use super::problem::EscalationLadder;
use super::project::named_enum;
use super::values::{self, MAX_YEAR, MIN_YEAR, yuan};

/// A calendar month, yyyy-mm (in the jurisdiction's calendar).
///
/// `new` and `parse` accept years MIN_YEAR..=MAX_YEAR only; the total constructors (`of`,
/// `from_index`, `next`, `prev`) saturate at MIN_YEAR-01 and MAX_YEAR-12, so every value has
/// calendar dates and no method panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    // Field order gives the derived chronological ordering.
    year: i32,
    month: u32,
}

const MIN_INDEX: i32 = MIN_YEAR * 12;
const MAX_INDEX: i32 = MAX_YEAR * 12 + 11;

impl YearMonth {
    /// A month from its parts: year MIN_YEAR..=MAX_YEAR, month 1..=12.
    pub fn new(year: i32, month: u32) -> Result<Self, String> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(format!(
                "year must be between {MIN_YEAR} and {MAX_YEAR}, got {year}"
            ));
        }
        if !(1..=12).contains(&month) {
            return Err(format!("month must be between 1 and 12, got {month}"));
        }
        Ok(Self { year, month })
    }

    /// Exactly "YYYY-MM" (four digits, a hyphen, two digits), e.g. "2026-10"; bounds as `new`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let shaped = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes[..4].iter().all(u8::is_ascii_digit)
            && bytes[5..].iter().all(u8::is_ascii_digit);
        if !shaped {
            return Err(format!("must be YYYY-MM, e.g. 2026-10, got {text:?}"));
        }
        // Four and two ASCII digits always parse.
        let year: i32 = text[..4].parse().unwrap_or_default();
        let month: u32 = text[5..].parse().unwrap_or_default();
        Self::new(year, month)
    }

    /// The month a date falls in (saturating at the bounds of the type).
    pub fn of(date: NaiveDate) -> Self {
        Self::from_index(
            date.year()
                .saturating_mul(12)
                .saturating_add(date.month0() as i32),
        )
    }

    pub fn year(self) -> i32 {
        self.year
    }

    /// 1..=12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The following month: December -> January of the next year (MAX_YEAR-12 stays).
    pub fn next(self) -> Self {
        Self::from_index(self.index().saturating_add(1))
    }

    /// The preceding month: January -> December of the year before (MIN_YEAR-01 stays).
    pub fn prev(self) -> Self {
        Self::from_index(self.index().saturating_sub(1))
    }

    pub fn first_day(self) -> NaiveDate {
        date(self.year, self.month, 1)
    }

    /// The last day of the month: 28 or 29 for February (Gregorian leap years).
    pub fn last_day(self) -> NaiveDate {
        (28..=31)
            .rev()
            .find_map(|day| NaiveDate::from_ymd_opt(self.year, self.month, day))
            .unwrap_or_else(|| self.first_day())
    }

    /// The day reports for this month are due: `due_day` of the NEXT month (1..=28; a value
    /// outside is taken as the nearest bound, so every month has the day). DESIGN §11.
    pub fn due_date(self, due_day: u32) -> NaiveDate {
        let (year, month) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        date(year, month, due_day.clamp(1, 28))
    }

    /// year*12 + (month-1): a dense integer for storage and ordering.
    pub fn index(self) -> i32 {
        self.year * 12 + self.month as i32 - 1
    }

    /// The month of `index` (see `index`), saturating at MIN_YEAR-01 and MAX_YEAR-12.
    pub fn from_index(index: i32) -> Self {
        let index = index.clamp(MIN_INDEX, MAX_INDEX);
        Self {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }
}

/// A date every YearMonth (and the month after MAX_YEAR-12) has.
fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

impl fmt::Display for YearMonth {
    /// "2026-10".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The month judged as of `today` (by the scanner's alerts, the summary and the rankings): the
/// latest one whose reports were due before today, due on `due_day` (clamped to 1..=28) of the
/// next month. On 5 October with the 5th as due day that is August; on 6 October, September.
pub fn judged_month(today: NaiveDate, due_day: i32) -> YearMonth {
    let last = YearMonth::of(today).prev();
    if today > last.due_date(due_day.clamp(1, 28) as u32) {
        last
    } else {
        last.prev()
    }
}

/// A project's annual investment plan (年度计划投资) for one year, in yuan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvestmentPlan {
    pub year: i32,
    /// The annual total, 0..=MAX_YUAN.
    pub total_yuan: i64,
    /// The monthly plan (January first), summing exactly to the total; None = default pace.
    pub monthly_yuan: Option<[i64; 12]>,
}

impl InvestmentPlan {
    /// Checks, all violations at once: year MIN_YEAR..=MAX_YEAR ("investment_plan.year");
    /// total 0..=MAX_YUAN ("investment_plan.total_yuan"); `monthly_yuan` empty (default pace)
    /// or exactly 12 amounts ("investment_plan.monthly_yuan" for a wrong count or a sum other
    /// than the total, naming both), each 0..=MAX_YUAN ("investment_plan.monthly_yuan[i]",
    /// 0-based).
    pub fn new(year: i32, total_yuan: i64, monthly_yuan: &[i64]) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            violations.add(
                "investment_plan.year",
                format!("must be between {MIN_YEAR} and {MAX_YEAR}, got {year}"),
            );
        }
        violations.check("investment_plan.total_yuan", yuan(total_yuan));
        // Entries are named one by one only within a plausible count, so that a request with
        // a hundred thousand bad entries gets one answer of a bounded size.
        if monthly_yuan.len() <= 12 {
            for (i, amount) in monthly_yuan.iter().enumerate() {
                violations.check(&format!("investment_plan.monthly_yuan[{i}]"), yuan(*amount));
            }
        }
        let monthly = match monthly_yuan.len() {
            0 => None,
            12 => {
                let sum: i128 = monthly_yuan.iter().map(|&a| i128::from(a)).sum();
                if sum != i128::from(total_yuan) {
                    violations.add(
                        "investment_plan.monthly_yuan",
                        format!(
                            "the 12 monthly amounts sum to {sum} yuan, not the annual total {total_yuan} yuan"
                        ),
                    );
                }
                monthly_yuan.try_into().ok()
            }
            count => {
                violations.add(
                    "investment_plan.monthly_yuan",
                    format!("must be empty (default pace) or exactly 12 amounts, got {count}"),
                );
                None
            }
        };
        violations.finish()?;
        Ok(Self {
            year,
            total_yuan,
            monthly_yuan: monthly,
        })
    }

    /// The pace amount through `month` (1..=12; 0 gives 0, above 12 is taken as 12), in yuan,
    /// rounded half up to a whole yuan: for display only, lights use the exact amount.
    pub fn pace_yuan(&self, month: u32) -> i64 {
        let pace = self.pace(month);
        // Half up for a non-negative fraction: floor(num/den + 1/2).
        values::reported_yuan((2 * pace.num + pace.den).div_euclid(2 * pace.den))
    }

    /// The exact pace amount through `month`, as a fraction of yuan.
    fn pace(&self, month: u32) -> Fraction {
        let months = month.min(12) as usize;
        match &self.monthly_yuan {
            Some(monthly) => Fraction {
                num: monthly[..months].iter().map(|&a| i128::from(a)).sum(),
                den: 1,
            },
            None => Fraction {
                num: i128::from(self.total_yuan) * months as i128,
                den: 12,
            },
        }
    }
}

/// An exact amount of yuan, num/den with den > 0.
#[derive(Debug, Clone, Copy)]
struct Fraction {
    num: i128,
    den: i128,
}

named_enum!(
    /// How completed investment is compared with the pace: POINTS, percentage points of the
    /// annual plan behind pace (published rule (c)); RATIO, completed as a percent of the pace
    /// amount (published rules (a) and (b)).
    PaceMeasure {
        Points => "POINTS",
        Ratio => "RATIO",
    }
);

named_enum!(
    /// What a RED project gets when it is back on pace: IMMEDIATE, the light follows the
    /// thresholds at once; THROUGH_YELLOW, YELLOW for the first month back on pace, then the
    /// thresholds (补齐后转黄).
    Recovery {
        Immediate => "IMMEDIATE",
        ThroughYellow => "THROUGH_YELLOW",
    }
);

/// One version of a light rule set, as data (the county's or the city's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LightRules {
    /// Days, 0..=3660: a milestone variance above this is RED (DESIGN §5, default 30).
    pub milestone_tolerance_days: i32,
    /// Days, 0..=366: the AT_RISK horizon of a construction start (DESIGN §5, default 14).
    pub warning_horizon_days: i32,
    pub pace_measure: PaceMeasure,
    /// POINTS: YELLOW when at least this many points behind pace. RATIO: YELLOW when completed
    /// is below this percent of pace. 0..=100.
    pub pace_yellow_percent: i32,
    /// POINTS: RED when MORE than this many points behind. RATIO: RED when completed is below
    /// this percent of pace. 0..=100.
    pub pace_red_percent: i32,
    /// 0 = never; N in 2..=12: a month whose own light is YELLOW becomes RED when the N-1
    /// months before it in the same plan year were also not GREEN and not exempt.
    pub escalate_after_months: i32,
    pub recovery: Recovery,
    /// Statistics enrolment (入库纳统) lag after the construction start: YELLOW after this many
    /// whole months without enrolment, RED after `enrolment_red_after_months` (> yellow). 1..=24.
    pub enrolment_yellow_after_months: i32,
    pub enrolment_red_after_months: i32,
    /// Monthly reports are due on this day of the next month. 1..=28 (default 5, DESIGN §11).
    pub report_due_day: i32,
    /// The escalation ladder of overdue problems (issue 20): days overdue from which the
    /// scanner raises a problem to the responsible unit, its leader and the county leader
    /// (default 0, 7, 15). Valid by construction (`EscalationLadder::new`).
    pub problem_escalation: EscalationLadder,
}

impl Default for LightRules {
    /// Published rule (c) for the pace, DESIGN §5 for milestones, no escalation, immediate
    /// recovery, enrolment YELLOW after 1 month and RED after 2, reports due on the 5th,
    /// overdue problems escalated after 0, 7 and 15 days.
    fn default() -> Self {
        Self {
            milestone_tolerance_days: 30,
            warning_horizon_days: 14,
            pace_measure: PaceMeasure::Points,
            pace_yellow_percent: 10,
            pace_red_percent: 30,
            escalate_after_months: 0,
            recovery: Recovery::Immediate,
            enrolment_yellow_after_months: 1,
            enrolment_red_after_months: 2,
            report_due_day: 5,
            problem_escalation: EscalationLadder::default(),
        }
    }
}

impl LightRules {
    /// Every bound of the fields, all violations at once, paths "light_rule_set.<field>"; and
    /// the orderings (checked when both fields are within their bounds): POINTS needs yellow <=
    /// red, RATIO needs red <= yellow (named on `pace_red_percent`); enrolment red > yellow
    /// (named on `enrolment_red_after_months`). The escalation ladder is valid by its type; the
    /// API names a bad one on `light_rule_set.problem_escalation_days` in the same answer.
    pub fn check(self) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        let mut within = |field: &str, value: i32, low: i32, high: i32| {
            let ok = (low..=high).contains(&value);
            if !ok {
                violations.add(
                    format!("light_rule_set.{field}"),
                    format!("must be between {low} and {high}, got {value}"),
                );
            }
            ok
        };
        within(
            "milestone_tolerance_days",
            self.milestone_tolerance_days,
            0,
            3660,
        );
        within("warning_horizon_days", self.warning_horizon_days, 0, 366);
        let yellow_ok = within("pace_yellow_percent", self.pace_yellow_percent, 0, 100);
        let red_ok = within("pace_red_percent", self.pace_red_percent, 0, 100);
        let enrol_yellow_ok = within(
            "enrolment_yellow_after_months",
            self.enrolment_yellow_after_months,
            1,
            24,
        );
        let enrol_red_ok = within(
            "enrolment_red_after_months",
            self.enrolment_red_after_months,
            1,
            24,
        );
        within("report_due_day", self.report_due_day, 1, 28);
        let escalate = self.escalate_after_months;
        if escalate != 0 && !(2..=12).contains(&escalate) {
            violations.add(
                "light_rule_set.escalate_after_months",
                format!("must be 0 (never) or between 2 and 12, got {escalate}"),
            );
        }
        if yellow_ok && red_ok {
            let (yellow, red) = (self.pace_yellow_percent, self.pace_red_percent);
            match self.pace_measure {
                PaceMeasure::Points if yellow > red => violations.add(
                    "light_rule_set.pace_red_percent",
                    format!(
                        "POINTS: RED ({red} points behind) must not be below YELLOW ({yellow} points)"
                    ),
                ),
                PaceMeasure::Ratio if red > yellow => violations.add(
                    "light_rule_set.pace_red_percent",
                    format!("RATIO: RED (below {red}% of pace) must not be above YELLOW (below {yellow}%)"),
                ),
                _ => {}
            }
        }
        if enrol_yellow_ok
            && enrol_red_ok
            && self.enrolment_red_after_months <= self.enrolment_yellow_after_months
        {
            violations.add(
                "light_rule_set.enrolment_red_after_months",
                format!(
                    "must be more than enrolment_yellow_after_months ({}), got {}",
                    self.enrolment_yellow_after_months, self.enrolment_red_after_months
                ),
            );
        }
        violations.finish().map(|()| self)
    }
}

named_enum!(
    /// Which rule decided a month's pace light: NOTHING_DUE, the pace amount is 0 (GREEN);
    /// PACE_POINTS or PACE_RATIO, the thresholds; ESCALATION, consecutive non-GREEN months
    /// turned a YELLOW into RED; RECOVERY_THROUGH_YELLOW, back on pace after RED (YELLOW).
    PaceRule {
        NothingDue => "NOTHING_DUE",
        PacePoints => "PACE_POINTS",
        PaceRatio => "PACE_RATIO",
        Escalation => "ESCALATION",
        RecoveryThroughYellow => "RECOVERY_THROUGH_YELLOW",
    }
);

/// The pace light of one month of a plan year.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthPace {
    pub month: YearMonth,
    /// The annual total, yuan.
    pub plan_yuan: i64,
    /// The pace amount through the month, yuan, rounded half up (display).
    pub pace_yuan: i64,
    /// Cumulative in the plan year through this month, yuan (saturating at i64::MAX).
    pub completed_yuan: i64,
    /// Completed, percent of the annual plan (display; 0 when the plan is 0).
    pub completed_percent: f64,
    /// Pace, percent of the annual plan (display; 0 when the plan is 0).
    pub pace_percent: f64,
    /// pace_percent - completed_percent, negative when ahead (display).
    pub points_behind: f64,
    /// By the thresholds alone.
    pub raw_light: Light,
    /// After escalation and recovery.
    pub light: Light,
    /// A justification (正当理由) covered the month end: shown, not escalated.
    pub exempt: bool,
    /// Which rule decided `light`.
    pub rule: PaceRule,
    /// Short reason in Chinese and English terms naming the rule and the version label, e.g.
    /// "完成投资 42% of 序时进度 70%, 28 points behind: YELLOW by rule pace-points county@3".
    pub reason: String,
}

/// Lights for months 1..=through of the plan's year (`through` above 12 is taken as 12; 0
/// gives none). `reported_yuan[m-1]` is the amount reported for month m (None = no report,
/// counts as 0 put in place); `exempt[m-1]` says a justification covered the month end.
/// `label` is the rule set version label used in reasons ("county@3").
///
/// The raw light follows `rules.pace_measure` with exact integer comparisons (published rules
/// (a)–(c), see the module). Then, first match wins:
/// - escalation (`escalate_after_months` = N > 0): a non-exempt month whose raw light is YELLOW
///   becomes RED when the raw lights of the N-1 months before it in the plan year were all
///   non-GREEN and none of those months was exempt;
/// - recovery THROUGH_YELLOW: a month whose raw light is GREEN after a month whose final light
///   was RED is YELLOW. Months before January of the plan year are not seen.
pub fn assess_year(
    plan: &InvestmentPlan,
    reported_yuan: &[Option<i64>; 12],
    exempt: &[bool; 12],
    rules: &LightRules,
    label: &str,
    through: u32,
) -> Vec<MonthPace> {
    let through = through.min(12) as usize;
    let first = YearMonth::from_index(plan.year.clamp(MIN_YEAR, MAX_YEAR) * 12);
    let total = i128::from(plan.total_yuan);
    let mut completed: i128 = 0;
    let mut months: Vec<MonthPace> = Vec::with_capacity(through);
    for m in 1..=through {
        let i = m - 1;
        completed += i128::from(reported_yuan[i].unwrap_or(0));
        let pace = plan.pace(m as u32);
        let measured = measure(rules, total, pace, completed);
        let base = measured.text;
        let run = 1 + months
            .iter()
            .rev()
            .take_while(|month| month.raw_light != Light::Green && !month.exempt)
            .count();
        let escalates = rules.escalate_after_months > 0
            && measured.light == Light::Yellow
            && !exempt[i]
            && run >= rules.escalate_after_months as usize;
        let after_red = months.last().is_some_and(|prev| prev.light == Light::Red);
        let recovers = rules.recovery == Recovery::ThroughYellow
            && measured.light == Light::Green
            && measured.rule != PaceRule::NothingDue
            && after_red;
        let (light, rule, mut reason) = if escalates {
            (
                Light::Red,
                PaceRule::Escalation,
                format!(
                    "{base}: YELLOW {run} months in a row (连续{run}个月黄灯): RED by rule escalation {label}"
                ),
            )
        } else if recovers {
            (
                Light::Yellow,
                PaceRule::RecoveryThroughYellow,
                format!(
                    "{base}: back on pace after RED (补齐后转黄): YELLOW by rule recovery {label}"
                ),
            )
        } else {
            let name = match rules.pace_measure {
                PaceMeasure::Points => "pace-points",
                PaceMeasure::Ratio => "pace-ratio",
            };
            (
                measured.light,
                measured.rule,
                format!("{base}: {} by rule {name} {label}", measured.light.as_str()),
            )
        };
        if exempt[i] {
            reason.push_str("; exempt (正当理由)");
        }
        months.push(MonthPace {
            month: YearMonth::from_index(first.index() + i as i32),
            plan_yuan: plan.total_yuan,
            pace_yuan: plan.pace_yuan(m as u32),
            completed_yuan: values::reported_yuan(completed),
            completed_percent: measured.completed_percent,
            pace_percent: measured.pace_percent,
            points_behind: measured.pace_percent - measured.completed_percent,
            raw_light: measured.light,
            light,
            exempt: exempt[i],
            rule,
            reason,
        });
    }
    months
}

/// The raw light of one month and the first part of its reason.
struct Measured {
    light: Light,
    rule: PaceRule,
    completed_percent: f64,
    pace_percent: f64,
    /// "完成投资 42% of 序时进度 70%, 28 points behind" or "序时进度 0: nothing due yet".
    text: String,
}

/// Applies the thresholds of `rules` to `completed` yuan against the exact `pace` of an annual
/// plan of `total` yuan. Every comparison multiplies out the denominators (amounts below 2^70,
/// factors below 2^11: far inside i128).
fn measure(rules: &LightRules, total: i128, pace: Fraction, completed: i128) -> Measured {
    let percent_of_plan = |num: f64, den: f64| {
        if total > 0 {
            num * 100.0 / (den * total as f64)
        } else {
            0.0
        }
    };
    let completed_percent = percent_of_plan(completed as f64, 1.0);
    let pace_percent = percent_of_plan(pace.num as f64, pace.den as f64);
    // A plan of 0, or nothing planned yet in a monthly plan.
    if pace.num <= 0 || total <= 0 {
        return Measured {
            light: Light::Green,
            rule: PaceRule::NothingDue,
            completed_percent,
            pace_percent,
            text: "序时进度 0: nothing due yet".into(),
        };
    }
    let yellow = i128::from(rules.pace_yellow_percent);
    let red = i128::from(rules.pace_red_percent);
    let shares = format!(
        "完成投资 {}% of 序时进度 {}%",
        whole(completed_percent),
        whole(pace_percent)
    );
    match rules.pace_measure {
        PaceMeasure::Points => {
            // points behind = (pace - completed) / total * 100; compared with a threshold t as
            // (pace.num - completed * pace.den) * 100 against t * total * pace.den.
            let behind = (pace.num - completed * pace.den) * 100;
            let light = if behind > red * total * pace.den {
                Light::Red
            } else if behind >= yellow * total * pace.den {
                Light::Yellow
            } else {
                Light::Green
            };
            let points = whole(pace_percent - completed_percent);
            let text = if points < 0 {
                format!("{shares}, {} points ahead", -points)
            } else {
                format!("{shares}, {points} points behind")
            };
            Measured {
                light,
                rule: PaceRule::PacePoints,
                completed_percent,
                pace_percent,
                text,
            }
        }
        PaceMeasure::Ratio => {
            // completed / pace * 100 below a threshold t: completed * pace.den * 100 < t * pace.num.
            let scaled = completed * pace.den * 100;
            let light = if scaled < red * pace.num {
                Light::Red
            } else if scaled < yellow * pace.num {
                Light::Yellow
            } else {
                Light::Green
            };
            let of_pace = completed as f64 * pace.den as f64 * 100.0 / pace.num as f64;
            Measured {
                light,
                rule: PaceRule::PaceRatio,
                completed_percent,
                pace_percent,
                text: format!("{shares} ({}% of pace)", whole(of_pace)),
            }
        }
    }
}

/// A display percentage rounded to a whole number (half away from zero).
fn whole(percent: f64) -> i64 {
    percent.round() as i64
}

named_enum!(
    /// Where a month's report stands as of a day.
    ReportStatus {
        NotDue => "NOT_DUE",
        OnTime => "ON_TIME",
        Late => "LATE",
        Missing => "MISSING",
    }
);

/// A month's report as of `today`, the due date being `month.due_date(due_day)` (DESIGN §11):
/// submitted on or before the due date -> ON_TIME, after -> LATE; not submitted: MISSING once
/// today is after the due date, else NOT_DUE.
pub fn report_status(
    month: YearMonth,
    submitted_on: Option<NaiveDate>,
    due_day: u32,
    today: NaiveDate,
) -> ReportStatus {
    let due = month.due_date(due_day);
    match submitted_on {
        Some(day) if day <= due => ReportStatus::OnTime,
        Some(_) => ReportStatus::Late,
        None if today > due => ReportStatus::Missing,
        None => ReportStatus::NotDue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::values::MAX_YUAN;
    use Light::*;

    /// 1.2亿, the annual plan most examples use: 1 percentage point is 1,200,000 yuan and the
    /// default pace is 10,000,000 yuan a month.
    const YI_2: i64 = 120_000_000;

    fn ym(year: i32, month: u32) -> YearMonth {
        YearMonth::new(year, month).unwrap()
    }

    fn day(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    fn default_plan(total: i64) -> InvestmentPlan {
        InvestmentPlan::new(2026, total, &[]).unwrap()
    }

    fn rules(measure: PaceMeasure, yellow: i32, red: i32) -> LightRules {
        LightRules {
            pace_measure: measure,
            pace_yellow_percent: yellow,
            pace_red_percent: red,
            ..LightRules::default()
        }
        .check()
        .unwrap()
    }

    /// Published rule (a): green at or above pace, yellow up to 50 % below, red beyond.
    fn rule_a() -> LightRules {
        rules(PaceMeasure::Ratio, 100, 50)
    }

    /// Published rule (b): red below 60 % of pace, yellow below 80 %.
    fn rule_b() -> LightRules {
        rules(PaceMeasure::Ratio, 80, 60)
    }

    /// Published rule (c), the default: yellow 10–30 points behind, red beyond 30.
    fn rule_c() -> LightRules {
        LightRules::default()
    }

    /// The assessment of month `through` when `completed` yuan were reported in January.
    fn at(plan: &InvestmentPlan, completed: i64, rules: &LightRules, through: u32) -> MonthPace {
        let mut reported = [None; 12];
        reported[0] = Some(completed);
        assess_year(plan, &reported, &[false; 12], rules, "county@3", through)
            .pop()
            .unwrap()
    }

    fn light_at(plan: &InvestmentPlan, completed: i64, rules: &LightRules, through: u32) -> Light {
        at(plan, completed, rules, through).light
    }

    /// The 12 amounts of 1.2亿 planned as 5 % in January, 15 % in October:
    /// 5, 5, 7, 8, 8, 9, 9, 9, 10, 15, 10, 5 percent (sum 100), 1,200,000 yuan a point.
    fn monthly_plan() -> InvestmentPlan {
        let percents = [5, 5, 7, 8, 8, 9, 9, 9, 10, 15, 10, 5];
        let monthly = percents.map(|p| p * 1_200_000);
        InvestmentPlan::new(2026, YI_2, &monthly).unwrap()
    }

    fn lights(months: &[MonthPace]) -> Vec<Light> {
        months.iter().map(|m| m.light).collect()
    }

    fn fields(err: Invalid) -> Vec<String> {
        err.0.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn february_has_29_days_in_leap_years_only() {
        assert_eq!(ym(2024, 2).last_day(), day(2024, 2, 29));
        assert_eq!(ym(2026, 2).last_day(), day(2026, 2, 28));
        // Centuries are leap only when divisible by 400.
        assert_eq!(ym(2000, 2).last_day(), day(2000, 2, 29));
        assert_eq!(ym(2100, 2).last_day(), day(2100, 2, 28));
        assert_eq!(ym(2026, 4).last_day(), day(2026, 4, 30));
        assert_eq!(ym(2026, 12).last_day(), day(2026, 12, 31));
        assert_eq!(ym(2026, 2).first_day(), day(2026, 2, 1));
    }

    #[test]
    fn december_is_followed_by_january_of_the_next_year() {
        assert_eq!(ym(2026, 12).next(), ym(2027, 1));
        assert_eq!(ym(2027, 1).prev(), ym(2026, 12));
        assert_eq!(ym(2026, 10).next(), ym(2026, 11));
        assert!(ym(2026, 12) < ym(2027, 1));
        assert!(ym(2026, 2) < ym(2026, 10));
        // 2026 * 12 + 11 = 24323.
        assert_eq!(ym(2026, 12).index(), 24_323);
        assert_eq!(YearMonth::from_index(24_324), ym(2027, 1));
        assert_eq!(ym(2027, 1).index() - ym(2026, 12).index(), 1);
        // The bounds saturate instead of leaving the years a date may carry.
        assert_eq!(ym(MAX_YEAR, 12).next(), ym(MAX_YEAR, 12));
        assert_eq!(ym(MIN_YEAR, 1).prev(), ym(MIN_YEAR, 1));
        assert_eq!(YearMonth::from_index(i32::MAX), ym(MAX_YEAR, 12));
        assert_eq!(YearMonth::from_index(i32::MIN), ym(MIN_YEAR, 1));
        assert_eq!(ym(MAX_YEAR, 12).due_date(5), day(MAX_YEAR + 1, 1, 5));
    }

    #[test]
    fn a_month_is_written_and_parsed_as_yyyy_mm() {
        assert_eq!(YearMonth::parse("2026-10"), Ok(ym(2026, 10)));
        assert_eq!(ym(2026, 3).to_string(), "2026-03");
        assert_eq!(YearMonth::parse(&ym(2026, 3).to_string()), Ok(ym(2026, 3)));
        assert_eq!(YearMonth::of(day(2026, 10, 31)), ym(2026, 10));
        assert_eq!(YearMonth::of(day(2027, 1, 1)), ym(2027, 1));
        assert_eq!((ym(2026, 10).year(), ym(2026, 10).month()), (2026, 10));
        for bad in [
            "2026-1",
            "2026-13",
            "2026-00",
            "26-10",
            " 2026-10",
            "2026-10 ",
            "2026/10",
            "1899-12",
            "2201-01",
            "+026-10",
            "２０２６-10",
            "",
        ] {
            assert!(YearMonth::parse(bad).is_err(), "{bad:?}");
        }
        assert!(YearMonth::new(2026, 0).is_err());
        assert!(YearMonth::new(2026, 13).is_err());
        assert!(YearMonth::new(MIN_YEAR - 1, 1).is_err());
        assert!(YearMonth::new(MAX_YEAR, 12).is_ok());
    }

    #[test]
    fn the_month_judged_is_the_latest_whose_reports_are_overdue() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(judged_month(d(10, 5), 5), YearMonth::new(2026, 8).unwrap());
        assert_eq!(judged_month(d(10, 6), 5), YearMonth::new(2026, 9).unwrap());
        assert_eq!(
            judged_month(NaiveDate::from_ymd_opt(2027, 1, 6).unwrap(), 5),
            YearMonth::new(2026, 12).unwrap()
        );
        assert_eq!(
            judged_month(NaiveDate::from_ymd_opt(2027, 1, 5).unwrap(), 5),
            YearMonth::new(2026, 11).unwrap()
        );
    }

    #[test]
    fn reports_are_due_on_the_due_day_of_the_next_month() {
        assert_eq!(ym(2026, 10).due_date(5), day(2026, 11, 5));
        assert_eq!(ym(2026, 12).due_date(5), day(2027, 1, 5));
        assert_eq!(ym(2027, 1).due_date(28), day(2027, 2, 28));
        // Outside 1..=28 the nearest bound: every month has the day.
        assert_eq!(ym(2027, 1).due_date(31), day(2027, 2, 28));
        assert_eq!(ym(2027, 1).due_date(0), day(2027, 2, 1));
    }

    #[test]
    fn a_report_is_on_time_through_the_due_date_and_missing_after_it() {
        let october = ym(2026, 10); // due 2026-11-05
        let status = |submitted: Option<NaiveDate>, today: NaiveDate| {
            report_status(october, submitted, 5, today)
        };
        let today = day(2026, 11, 20);
        assert_eq!(status(Some(day(2026, 10, 20)), today), ReportStatus::OnTime);
        assert_eq!(status(Some(day(2026, 11, 5)), today), ReportStatus::OnTime);
        assert_eq!(status(Some(day(2026, 11, 6)), today), ReportStatus::Late);
        assert_eq!(status(None, day(2026, 10, 15)), ReportStatus::NotDue);
        assert_eq!(status(None, day(2026, 11, 5)), ReportStatus::NotDue);
        assert_eq!(status(None, day(2026, 11, 6)), ReportStatus::Missing);
    }

    #[test]
    fn the_default_pace_is_the_annual_plan_times_months_over_12_rounded_half_up() {
        let plan = default_plan(YI_2);
        assert_eq!(plan.pace_yuan(1), 10_000_000);
        assert_eq!(plan.pace_yuan(10), 100_000_000);
        assert_eq!(plan.pace_yuan(12), YI_2);
        assert_eq!(plan.pace_yuan(0), 0);
        assert_eq!(plan.pace_yuan(13), YI_2);
        // 6/12 = 0.5 -> 1; 5/12 = 0.42 -> 0; 18/12 = 1.5 -> 2; 7/12 = 0.58 -> 1.
        assert_eq!(default_plan(6).pace_yuan(1), 1);
        assert_eq!(default_plan(5).pace_yuan(1), 0);
        assert_eq!(default_plan(18).pace_yuan(1), 2);
        assert_eq!(default_plan(7).pace_yuan(1), 1);
    }

    #[test]
    fn a_monthly_plan_sets_the_pace_instead_of_twelfths() {
        let monthly = monthly_plan();
        let default = default_plan(YI_2);
        // January: 5 % = 6,000,000 instead of 10,000,000; September: 70 % = 84,000,000
        // instead of 90,000,000; October: 85 % = 102,000,000 instead of 100,000,000.
        assert_eq!(monthly.pace_yuan(1), 6_000_000);
        assert_eq!(monthly.pace_yuan(9), 84_000_000);
        assert_eq!(monthly.pace_yuan(10), 102_000_000);
        assert_eq!(monthly.pace_yuan(12), YI_2);
        assert_eq!(default.pace_yuan(9), 90_000_000);

        // Rule (b). January, 5,000,000 completed: 50 % of the default pace -> RED;
        // 5/6 = 83 % of the monthly pace -> GREEN.
        assert_eq!(light_at(&default, 5_000_000, &rule_b(), 1), Red);
        assert_eq!(light_at(&monthly, 5_000_000, &rule_b(), 1), Green);
        // October, 80,000,000 completed: exactly 80 % of the default pace -> GREEN;
        // 80/102 = 78.4 % of the monthly pace -> YELLOW.
        assert_eq!(light_at(&default, 80_000_000, &rule_b(), 10), Green);
        let october = at(&monthly, 80_000_000, &rule_b(), 10);
        assert_eq!(october.light, Yellow);
        assert_eq!(october.pace_yuan, 102_000_000);
        assert_eq!(october.pace_percent, 85.0);
        assert_eq!(
            october.reason,
            "完成投资 67% of 序时进度 85% (78% of pace): YELLOW by rule pace-ratio county@3"
        );
        assert_eq!(october.month, ym(2026, 10));
    }

    #[test]
    fn ratio_rule_a_green_at_pace_yellow_down_to_half_red_below_half() {
        // 1,200,000 a year, June: pace 600,000.
        let plan = default_plan(1_200_000);
        let a = rule_a();
        assert_eq!(light_at(&plan, 600_000, &a, 6), Green);
        assert_eq!(light_at(&plan, 599_999, &a, 6), Yellow);
        // Exactly 50 % of pace (50 % below) is still YELLOW; one yuan less is RED.
        let half = at(&plan, 300_000, &a, 6);
        assert_eq!((half.light, half.rule), (Yellow, PaceRule::PaceRatio));
        assert_eq!(
            half.reason,
            "完成投资 25% of 序时进度 50% (50% of pace): YELLOW by rule pace-ratio county@3"
        );
        assert_eq!(light_at(&plan, 299_999, &a, 6), Red);
        // The decision uses the exact pace, not the rounded one: 120,000,001 / 12 =
        // 10,000,000.08 is due in January, shown as 10,000,000, and 10,000,000 is below it.
        let odd = at(&default_plan(120_000_001), 10_000_000, &a, 1);
        assert_eq!(odd.pace_yuan, 10_000_000);
        assert_eq!(odd.light, Yellow);
    }

    #[test]
    fn ratio_rule_b_red_below_60_yellow_below_80_percent_of_pace() {
        // 1.2亿, October: pace 100,000,000.
        let plan = default_plan(YI_2);
        let b = rule_b();
        assert_eq!(light_at(&plan, 80_000_000, &b, 10), Green);
        assert_eq!(light_at(&plan, 79_999_999, &b, 10), Yellow);
        assert_eq!(light_at(&plan, 60_000_000, &b, 10), Yellow);
        assert_eq!(light_at(&plan, 59_999_999, &b, 10), Red);
        // June: pace 60,000,000 (50 %); 36,000,000 completed is 30 % of the plan, 60 % of pace.
        let reported = [
            Some(36_000_000),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ];
        let june = assess_year(&plan, &reported, &[false; 12], &b, "city@1", 6)
            .pop()
            .unwrap();
        assert_eq!(
            june.reason,
            "完成投资 30% of 序时进度 50% (60% of pace): YELLOW by rule pace-ratio city@1"
        );
    }

    #[test]
    fn points_rule_c_yellow_from_10_points_behind_red_beyond_30() {
        // 1.2亿, June: pace 50 % = 60,000,000; a point is 1,200,000.
        let plan = default_plan(YI_2);
        let c = rule_c();
        // 40 % completed = 48,000,000: exactly 10 points behind -> YELLOW.
        assert_eq!(light_at(&plan, 48_000_000, &c, 6), Yellow);
        assert_eq!(light_at(&plan, 48_000_001, &c, 6), Green);
        // 20 % completed = 24,000,000: exactly 30 points behind -> still YELLOW.
        let thirty = at(&plan, 24_000_000, &c, 6);
        assert_eq!((thirty.light, thirty.rule), (Yellow, PaceRule::PacePoints));
        assert_eq!(thirty.points_behind, 30.0);
        assert_eq!(light_at(&plan, 23_999_999, &c, 6), Red);
        // Ahead of pace: 55 % completed, 5 points ahead.
        let ahead = at(&plan, 66_000_000, &c, 6);
        assert_eq!(ahead.light, Green);
        assert_eq!(ahead.points_behind, -5.0);
        assert_eq!(
            ahead.reason,
            "完成投资 55% of 序时进度 50%, 5 points ahead: GREEN by rule pace-points county@3"
        );
    }

    #[test]
    fn points_are_measured_against_a_monthly_pace() {
        // 100,000,000 planned as 10 % a month through July (70 %), then 6 % a month.
        let monthly = [10, 10, 10, 10, 10, 10, 10, 6, 6, 6, 6, 6].map(|p| p * 1_000_000);
        let plan = InvestmentPlan::new(2026, 100_000_000, &monthly).unwrap();
        // July: 42 % completed of 70 % due, 28 points behind.
        let july = at(&plan, 42_000_000, &rule_c(), 7);
        assert_eq!(july.light, Yellow);
        assert_eq!(
            (
                july.completed_percent,
                july.pace_percent,
                july.points_behind
            ),
            (42.0, 70.0, 28.0)
        );
        assert_eq!(
            july.reason,
            "完成投资 42% of 序时进度 70%, 28 points behind: YELLOW by rule pace-points county@3"
        );
    }

    /// 1.2亿 with no January report and then 10,000,000 reported in March and in April, under
    /// rule (c): points behind 8.33, 16.67, 16.67 (10 of 30 due), 16.67 (20 of 40 due).
    fn yellow_streak() -> [Option<i64>; 12] {
        let mut reported = [None; 12];
        reported[2] = Some(10_000_000);
        reported[3] = Some(10_000_000);
        reported[4] = Some(30_000_000); // May: 50 of 50 due, on pace
        reported
    }

    #[test]
    fn consecutive_yellow_months_escalate_to_red() {
        let escalating = LightRules {
            escalate_after_months: 2,
            ..rule_c()
        }
        .check()
        .unwrap();
        let months = assess_year(
            &default_plan(YI_2),
            &yellow_streak(),
            &[false; 12],
            &escalating,
            "county@3",
            5,
        );
        let raw: Vec<Light> = months.iter().map(|m| m.raw_light).collect();
        assert_eq!(raw, [Green, Yellow, Yellow, Yellow, Green]);
        assert_eq!(lights(&months), [Green, Yellow, Red, Red, Green]);
        assert_eq!(months[2].rule, PaceRule::Escalation);
        // March: 10,000,000 of 120,000,000 = 8.33 %, pace 25 %, 16.67 points behind.
        assert_eq!(
            months[2].reason,
            "完成投资 8% of 序时进度 25%, 17 points behind: YELLOW 2 months in a row (连续2个月黄灯): RED by rule escalation county@3"
        );
        assert!(
            months[3]
                .reason
                .contains("YELLOW 3 months in a row (连续3个月黄灯)")
        );
        assert_eq!(months[4].rule, PaceRule::PacePoints);

        // Without escalation the same months stay YELLOW.
        let plain = assess_year(
            &default_plan(YI_2),
            &yellow_streak(),
            &[false; 12],
            &rule_c(),
            "county@3",
            5,
        );
        assert_eq!(lights(&plain), [Green, Yellow, Yellow, Yellow, Green]);

        // Three months needed: only April, the third YELLOW in a row, turns RED.
        let three = LightRules {
            escalate_after_months: 3,
            ..rule_c()
        };
        let months = assess_year(
            &default_plan(YI_2),
            &yellow_streak(),
            &[false; 12],
            &three,
            "county@3",
            5,
        );
        assert_eq!(lights(&months), [Green, Yellow, Yellow, Red, Green]);
    }

    #[test]
    fn an_exempt_month_keeps_its_light_and_breaks_the_escalation_streak() {
        let escalating = LightRules {
            escalate_after_months: 2,
            ..rule_c()
        };
        // February justified: March starts a new streak, April is the second YELLOW in a row.
        let mut exempt = [false; 12];
        exempt[1] = true;
        let months = assess_year(
            &default_plan(YI_2),
            &yellow_streak(),
            &exempt,
            &escalating,
            "county@3",
            5,
        );
        assert_eq!(lights(&months), [Green, Yellow, Yellow, Red, Green]);
        assert!(months[1].exempt);
        // February: 0 % completed of 16.67 % due.
        assert_eq!(
            months[1].reason,
            "完成投资 0% of 序时进度 17%, 17 points behind: YELLOW by rule pace-points county@3; exempt (正当理由)"
        );
        // March justified: it is not escalated itself, and April starts a new streak.
        let mut exempt = [false; 12];
        exempt[2] = true;
        let months = assess_year(
            &default_plan(YI_2),
            &yellow_streak(),
            &exempt,
            &escalating,
            "county@3",
            5,
        );
        assert_eq!(lights(&months), [Green, Yellow, Yellow, Yellow, Green]);
        assert_eq!(months[2].rule, PaceRule::PacePoints);
        assert!(months[2].reason.ends_with("; exempt (正当理由)"));
        assert!(!months[3].exempt);
    }

    #[test]
    fn recovery_through_yellow_after_red() {
        // 1.2亿, nothing reported through April: 8.33, 16.67, 25, 33.33 points behind ->
        // GREEN, YELLOW, YELLOW, RED. May: 50,000,000 reported, 50 of 50 due (on pace).
        // June: 10,000,000 more, 60 of 60 due.
        let mut reported = [None; 12];
        reported[4] = Some(50_000_000);
        reported[5] = Some(10_000_000);
        let through_yellow = LightRules {
            recovery: Recovery::ThroughYellow,
            ..rule_c()
        };
        let plan = default_plan(YI_2);
        let months = assess_year(
            &plan,
            &reported,
            &[false; 12],
            &through_yellow,
            "county@3",
            6,
        );
        assert_eq!(lights(&months), [Green, Yellow, Yellow, Red, Yellow, Green]);
        assert_eq!(months[4].raw_light, Green);
        assert_eq!(months[4].rule, PaceRule::RecoveryThroughYellow);
        assert_eq!(
            months[4].reason,
            "完成投资 42% of 序时进度 42%, 0 points behind: back on pace after RED (补齐后转黄): YELLOW by rule recovery county@3"
        );
        assert_eq!(months[5].rule, PaceRule::PacePoints);

        // IMMEDIATE: May is GREEN at once.
        let months = assess_year(&plan, &reported, &[false; 12], &rule_c(), "county@3", 6);
        assert_eq!(lights(&months), [Green, Yellow, Yellow, Red, Green, Green]);

        // A month after RED that is still behind keeps its own light: 30 of 50 due in May is
        // 16.67 points behind, YELLOW by the thresholds, not by recovery.
        reported[4] = Some(30_000_000);
        let months = assess_year(
            &plan,
            &reported,
            &[false; 12],
            &through_yellow,
            "county@3",
            5,
        );
        assert_eq!(
            (months[4].light, months[4].rule),
            (Yellow, PaceRule::PacePoints)
        );
    }

    #[test]
    fn a_red_by_escalation_also_recovers_through_yellow() {
        let rules = LightRules {
            escalate_after_months: 2,
            recovery: Recovery::ThroughYellow,
            ..rule_c()
        };
        let months = assess_year(
            &default_plan(YI_2),
            &yellow_streak(),
            &[false; 12],
            &rules,
            "county@3",
            5,
        );
        assert_eq!(lights(&months), [Green, Yellow, Red, Red, Yellow]);
        assert_eq!(months[4].rule, PaceRule::RecoveryThroughYellow);
    }

    #[test]
    fn nothing_is_due_under_a_plan_of_zero_or_before_the_first_planned_month() {
        let months = assess_year(
            &default_plan(0),
            &[Some(5); 12],
            &[false; 12],
            &rule_c(),
            "default@1",
            12,
        );
        assert_eq!(months.len(), 12);
        for month in &months {
            assert_eq!((month.light, month.rule), (Green, PaceRule::NothingDue));
            assert_eq!((month.completed_percent, month.pace_percent), (0.0, 0.0));
            assert_eq!(month.pace_yuan, 0);
        }
        assert_eq!(months[11].completed_yuan, 60);
        assert_eq!(
            months[0].reason,
            "序时进度 0: nothing due yet: GREEN by rule pace-points default@1"
        );
        // A monthly plan starting in March: nothing due in January and February.
        let mut monthly = [10_000_000; 12];
        monthly[0] = 0;
        monthly[1] = 0;
        monthly[2] = 30_000_000; // 0 + 0 + 30,000,000 + 9 * 10,000,000 = 1.2亿
        let plan = InvestmentPlan::new(2026, YI_2, &monthly).unwrap();
        let months = assess_year(&plan, &[None; 12], &[false; 12], &rule_b(), "city@1", 3);
        assert_eq!(lights(&months), [Green, Green, Red]);
        assert_eq!(months[1].rule, PaceRule::NothingDue);
        assert_eq!(
            months[1].reason,
            "序时进度 0: nothing due yet: GREEN by rule pace-ratio city@1"
        );
        // Through 0 gives no months, through 13 the whole year.
        assert!(assess_year(&plan, &[None; 12], &[false; 12], &rule_b(), "x", 0).is_empty());
        assert_eq!(
            assess_year(&plan, &[None; 12], &[false; 12], &rule_b(), "x", 13).len(),
            12
        );
    }

    #[test]
    fn amounts_near_max_yuan_do_not_overflow() {
        let plan = default_plan(MAX_YUAN);
        assert_eq!(plan.pace_yuan(12), MAX_YUAN);
        // 10^13 * 7 / 12 = 5,833,333,333,333.33 -> 5,833,333,333,333.
        assert_eq!(plan.pace_yuan(7), 5_833_333_333_333);
        // December, 30 points behind exactly: 70 % of 10^13 completed -> YELLOW; a yuan less RED.
        assert_eq!(light_at(&plan, 7_000_000_000_000, &rule_c(), 12), Yellow);
        assert_eq!(light_at(&plan, 6_999_999_999_999, &rule_c(), 12), Red);
        assert_eq!(light_at(&plan, 5_999_999_999_999, &rule_b(), 12), Red);
        // Twelve reports of MAX_YUAN: 1.2 * 10^14 completed, 1200 % of the plan.
        let months = assess_year(
            &plan,
            &[Some(MAX_YUAN); 12],
            &[false; 12],
            &rule_a(),
            "x",
            12,
        );
        assert_eq!(months[11].completed_yuan, 12 * MAX_YUAN);
        assert_eq!(months[11].completed_percent, 1200.0);
        assert_eq!(months[11].light, Green);
        // Even unchecked amounts far above MAX_YUAN are summed exactly; the display saturates.
        let months = assess_year(
            &plan,
            &[Some(i64::MAX); 12],
            &[false; 12],
            &rule_c(),
            "x",
            12,
        );
        assert_eq!(months[1].completed_yuan, i64::MAX);
        assert!(months.iter().all(|m| m.light == Green));
        // A monthly plan of MAX_YUAN in a single month.
        let mut monthly = [0; 12];
        monthly[11] = MAX_YUAN;
        let plan = InvestmentPlan::new(2026, MAX_YUAN, &monthly).unwrap();
        assert_eq!(plan.pace_yuan(12), MAX_YUAN);
        assert_eq!(light_at(&plan, MAX_YUAN / 2, &rule_a(), 12), Yellow);
        assert_eq!(light_at(&plan, MAX_YUAN / 2 - 1, &rule_a(), 12), Red);
    }

    #[test]
    fn a_plan_names_every_bad_field() {
        let err = InvestmentPlan::new(MIN_YEAR - 1, -1, &[1; 11]).unwrap_err();
        assert_eq!(
            fields(err),
            [
                "investment_plan.year",
                "investment_plan.total_yuan",
                "investment_plan.monthly_yuan"
            ]
        );
        let mut monthly = [0; 12];
        monthly[2] = -5;
        monthly[5] = MAX_YUAN + 1;
        let err = InvestmentPlan::new(2026, 100, &monthly).unwrap_err();
        // -5 + 10,000,000,000,001 = 9,999,999,999,996.
        assert_eq!(
            err.0.last().unwrap().description,
            "the 12 monthly amounts sum to 9999999999996 yuan, not the annual total 100 yuan"
        );
        assert_eq!(
            fields(err),
            [
                "investment_plan.monthly_yuan[2]",
                "investment_plan.monthly_yuan[5]",
                "investment_plan.monthly_yuan"
            ]
        );
        let err = InvestmentPlan::new(2026, MAX_YUAN + 1, &[1; 13]).unwrap_err();
        assert_eq!(
            fields(err),
            ["investment_plan.total_yuan", "investment_plan.monthly_yuan"]
        );
        // A sum off by one yuan.
        let mut monthly = [10_000_000; 12];
        monthly[11] = 9_999_999;
        assert_eq!(
            fields(InvestmentPlan::new(2026, YI_2, &monthly).unwrap_err()),
            ["investment_plan.monthly_yuan"]
        );
        monthly[11] = 10_000_000;
        assert_eq!(
            InvestmentPlan::new(2026, YI_2, &monthly)
                .unwrap()
                .monthly_yuan,
            Some(monthly)
        );
        let plan = InvestmentPlan::new(2026, MAX_YUAN, &[]).unwrap();
        assert_eq!(
            (plan.year, plan.total_yuan, plan.monthly_yuan),
            (2026, MAX_YUAN, None)
        );
    }

    #[test]
    fn a_rule_set_names_every_bad_field() {
        assert_eq!(LightRules::default().check(), Ok(LightRules::default()));
        let bad = LightRules {
            milestone_tolerance_days: -1,
            warning_horizon_days: 367,
            pace_measure: PaceMeasure::Points,
            pace_yellow_percent: 101,
            pace_red_percent: -1,
            escalate_after_months: 1,
            recovery: Recovery::Immediate,
            enrolment_yellow_after_months: 0,
            enrolment_red_after_months: 25,
            report_due_day: 29,
            problem_escalation: EscalationLadder::default(),
        };
        assert_eq!(
            fields(bad.check().unwrap_err()),
            [
                "light_rule_set.milestone_tolerance_days",
                "light_rule_set.warning_horizon_days",
                "light_rule_set.pace_yellow_percent",
                "light_rule_set.pace_red_percent",
                "light_rule_set.enrolment_yellow_after_months",
                "light_rule_set.enrolment_red_after_months",
                "light_rule_set.report_due_day",
                "light_rule_set.escalate_after_months",
            ]
        );
        let edges = LightRules {
            milestone_tolerance_days: 3660,
            warning_horizon_days: 0,
            escalate_after_months: 12,
            enrolment_yellow_after_months: 23,
            enrolment_red_after_months: 24,
            report_due_day: 28,
            ..LightRules::default()
        };
        assert!(edges.check().is_ok());
        assert!(
            LightRules {
                escalate_after_months: 13,
                ..edges
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn thresholds_must_be_ordered_for_their_measure() {
        let ordering = |rules: LightRules| rules.check().map_err(fields);
        // POINTS: yellow <= red (equal allowed: no YELLOW band).
        let equal = LightRules {
            pace_yellow_percent: 10,
            pace_red_percent: 10,
            ..LightRules::default()
        };
        assert!(ordering(equal).is_ok());
        let points = LightRules {
            pace_yellow_percent: 30,
            pace_red_percent: 10,
            ..LightRules::default()
        };
        assert_eq!(
            ordering(points),
            Err(vec!["light_rule_set.pace_red_percent".into()])
        );
        // RATIO: red <= yellow.
        let ratio = LightRules {
            pace_measure: PaceMeasure::Ratio,
            pace_yellow_percent: 60,
            pace_red_percent: 80,
            ..LightRules::default()
        };
        assert_eq!(
            ordering(ratio),
            Err(vec!["light_rule_set.pace_red_percent".into()])
        );
        assert!(ordering(rule_b()).is_ok());
        // Enrolment: red strictly after yellow.
        let enrolment = LightRules {
            enrolment_yellow_after_months: 2,
            enrolment_red_after_months: 2,
            ..LightRules::default()
        };
        assert_eq!(
            ordering(enrolment),
            Err(vec!["light_rule_set.enrolment_red_after_months".into()])
        );
    }

    #[test]
    fn the_enums_round_trip_their_storage_names() {
        for rule in PaceRule::ALL {
            assert_eq!(PaceRule::parse(rule.as_str()), Some(*rule));
        }
        assert_eq!(PaceMeasure::parse("RATIO"), Some(PaceMeasure::Ratio));
        assert_eq!(
            Recovery::parse("THROUGH_YELLOW"),
            Some(Recovery::ThroughYellow)
        );
        assert_eq!(ReportStatus::parse("MISSING"), Some(ReportStatus::Missing));
    }
}
