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
        for (i, amount) in monthly_yuan.iter().enumerate() {
            violations.check(&format!("investment_plan.monthly_yuan[{i}]"), yuan(*amount));
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
}

impl Default for LightRules {
    /// Published rule (c) for the pace, DESIGN §5 for milestones, no escalation, immediate
    /// recovery, enrolment YELLOW after 1 month and RED after 2, reports due on the 5th.
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
        }
    }
}

impl LightRules {
    /// Every bound of the fields, all violations at once, paths "light_rule_set.<field>"; and
    /// the orderings (checked when both fields are within their bounds): POINTS needs yellow <=
    /// red, RATIO needs red <= yellow (named on `pace_red_percent`); enrolment red > yellow
    /// (named on `enrolment_red_after_months`).
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
