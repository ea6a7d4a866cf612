//! The records of the monthly investment cycle (DESIGN §11): a project's annual plans, its
//! monthly reports with their corrections, and the published light rule set revisions. The
//! pace rules themselves are `domain::pace`'s.

use chrono::NaiveDate;

use super::error::{Invalid, Refused};
use super::names;
use super::pace::{InvestmentPlan, LightRules, YearMonth};
use super::project::Project;
use super::values::{MAX_YUAN, Reason, Title, Yuan};

/// Corrections a single report may carry; the next one is refused (FAILED_PRECONDITION,
/// TOO_MANY_CORRECTIONS), so that a report with its whole history, and the project beside it
/// in the event batch of a correction, stay within `proto::budget::MAX_RESOURCE_BYTES` (each
/// correction may carry two progress texts and a reason: about 6 KB at their bounds).
pub const MAX_REPORT_CORRECTIONS: usize = 5;

/// `projects/{project}/investmentPlans/{year}`.
pub fn plan_name(project_id: &str, year: i32) -> String {
    format!(
        "{}/investmentPlans/{year:04}",
        names::project_name(project_id)
    )
}

/// `projects/{project}/investmentReports/{yyyy-mm}`.
pub fn report_name(project_id: &str, month: YearMonth) -> String {
    format!(
        "{}/investmentReports/{month}",
        names::project_name(project_id)
    )
}

/// Parses `projects/{project}/investmentPlans/{year}` (a four-digit year) into the project id
/// and the year.
pub fn parse_plan_name(name: &str) -> Result<(&str, i32), String> {
    let bad = || {
        format!(
            "must be an investment plan name, projects/{{project}}/investmentPlans/{{year}} with a four-digit year; got {name:?}"
        )
    };
    let (project, year) = child(name, "investmentPlans").ok_or_else(bad)?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    YearMonth::new(year, 1).map_err(|e| format!("{name:?}: {e}"))?;
    Ok((project, year))
}

/// Parses `projects/{project}/investmentReports/{yyyy-mm}` into the project id and the month.
pub fn parse_report_name(name: &str) -> Result<(&str, YearMonth), String> {
    let (project, month) = child(name, "investmentReports").ok_or_else(|| {
        format!(
            "must be an investment report name, projects/{{project}}/investmentReports/{{yyyy-mm}}; got {name:?}"
        )
    })?;
    Ok((
        project,
        YearMonth::parse(month).map_err(|e| format!("{name:?}: {e}"))?,
    ))
}

fn child<'a>(name: &'a str, collection: &str) -> Option<(&'a str, &'a str)> {
    let rest = name.strip_prefix("projects/")?;
    let (project, rest) = rest.split_once('/')?;
    let (c, child) = rest.split_once('/')?;
    (c == collection && names::validate_id(project).is_ok() && !child.contains('/'))
        .then_some((project, child))
}

/// A project's plan for one year, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRecord {
    pub project_id: String,
    pub uid: String,
    pub plan: InvestmentPlan,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl PlanRecord {
    pub fn name(&self) -> String {
        plan_name(&self.project_id, self.plan.year)
    }

    pub fn etag(&self) -> String {
        names::etag(self.version)
    }

    /// Replaces the plan at `now_us`; false (and nothing changed) when it is the same plan.
    pub fn replace(&mut self, plan: InvestmentPlan, now_us: i64) -> bool {
        if self.plan == plan {
            return false;
        }
        self.plan = plan;
        self.updated_at_us = now_us;
        self.version += 1;
        true
    }
}

/// One correction of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRevision {
    pub number: i32,
    pub old_amount_yuan: i64,
    pub new_amount_yuan: i64,
    pub old_physical_progress: String,
    pub new_physical_progress: String,
    pub reason: String,
    pub actor: String,
    pub created_at_us: i64,
}

/// A project's monthly investment report (投资月报), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvestmentReport {
    pub project_id: String,
    pub month: YearMonth,
    pub uid: String,
    /// Investment put in place during the month, in yuan.
    pub amount_yuan: i64,
    /// 形象进度, at most TITLE_CHARS characters.
    pub physical_progress: String,
    /// The name of the token that submitted it.
    pub reporter: String,
    /// The civil date of the submission in the jurisdiction's zone (the due-day rule's input).
    pub report_date: NaiveDate,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
    /// Oldest first.
    pub revisions: Vec<ReportRevision>,
}

/// What CreateInvestmentReport submits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    pub month: YearMonth,
    pub amount: Yuan,
    pub physical_progress: Title,
}

/// What CorrectInvestmentReport changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub amount: Yuan,
    /// None keeps the current text.
    pub physical_progress: Option<Title>,
    pub reason: Reason,
}

impl InvestmentReport {
    pub fn name(&self) -> String {
        report_name(&self.project_id, self.month)
    }

    pub fn etag(&self) -> String {
        names::etag(self.version)
    }

    /// Applies a correction by `actor` at `now_us` and returns the revision it adds, or None
    /// when it changes nothing (then nothing is recorded). Refused once the report carries
    /// MAX_REPORT_CORRECTIONS corrections.
    pub fn correct(
        &mut self,
        correction: Correction,
        actor: &str,
        now_us: i64,
    ) -> Result<Option<ReportRevision>, Refused> {
        let new_progress = correction
            .physical_progress
            .map_or_else(|| self.physical_progress.clone(), Title::into_string);
        let new_amount = correction.amount.get();
        if new_amount == self.amount_yuan && new_progress == self.physical_progress {
            return Ok(None);
        }
        if self.revisions.len() >= MAX_REPORT_CORRECTIONS {
            return Err(Refused::new(
                "TOO_MANY_CORRECTIONS",
                format!(
                    "{} already carries {MAX_REPORT_CORRECTIONS} corrections",
                    self.name()
                ),
            )
            .on(self.name(), "no further corrections are kept"));
        }
        let revision = ReportRevision {
            number: self.revisions.len() as i32 + 1,
            old_amount_yuan: self.amount_yuan,
            new_amount_yuan: new_amount,
            old_physical_progress: std::mem::replace(&mut self.physical_progress, new_progress),
            new_physical_progress: self.physical_progress.clone(),
            reason: correction.reason.into_string(),
            actor: actor.to_string(),
            created_at_us: now_us,
        };
        self.amount_yuan = new_amount;
        self.updated_at_us = now_us;
        self.version += 1;
        self.revisions.push(revision.clone());
        Ok(Some(revision))
    }
}

/// A report may be submitted for the current month (in the jurisdiction's calendar) or an
/// earlier one, never for a later one.
pub fn check_reportable(month: YearMonth, today: NaiveDate) -> Result<(), Invalid> {
    let current = YearMonth::of(today);
    if month > current {
        return Err(Invalid::field(
            "investment_report_id",
            format!("{month} is a future month; the current month is {current}"),
        ));
    }
    Ok(())
}

/// Moves the project's completed and reported investment by `delta_yuan` (a new report's
/// amount, or a correction's difference) at `now_us`. INVALID_ARGUMENT on `field` when the
/// completed investment would leave 0..=MAX_YUAN.
pub fn add_reported(
    project: &mut Project,
    delta_yuan: i64,
    field: &str,
    now_us: i64,
) -> Result<(), Invalid> {
    if delta_yuan == 0 {
        return Ok(());
    }
    let completed = i128::from(project.fields.completed_investment_yuan) + i128::from(delta_yuan);
    let reported = i128::from(project.reported_investment_yuan) + i128::from(delta_yuan);
    if completed > i128::from(MAX_YUAN) {
        return Err(Invalid::field(
            field,
            format!(
                "would take the completed investment of {} to {completed} yuan, above the {MAX_YUAN} yuan bound",
                project.name()
            ),
        ));
    }
    // Reports are non-negative, so the reported sum and the completed total (which includes
    // it) never go below 0; a stored row saying otherwise is refused rather than written.
    if completed < 0 || reported < 0 {
        return Err(Invalid::field(
            field,
            format!(
                "would take the investment of {} below 0 yuan",
                project.name()
            ),
        ));
    }
    project.fields.completed_investment_yuan = completed as i64;
    project.reported_investment_yuan = reported as i64;
    project.updated_at_us = now_us;
    project.version += 1;
    Ok(())
}

/// One published revision of a light rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSetRevision {
    pub id: String,
    pub revision: i32,
    pub uid: String,
    pub display_name: String,
    pub description: String,
    pub rules: LightRules,
    pub publisher: String,
    pub created_at_us: i64,
    /// Whether this is the active revision.
    pub active: bool,
}

impl RuleSetRevision {
    /// `lightRuleSets/{id}@{revision}`.
    pub fn name(&self) -> String {
        format!("lightRuleSets/{}", self.label())
    }

    /// `{id}@{revision}`, as reasons name it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.revision)
    }
}

/// Which revision of a rule set a name asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSetRef {
    /// `lightRuleSets/{id}@{revision}`.
    Revision(String, i32),
    /// `lightRuleSets/{id}`: its latest revision.
    Latest(String),
}

impl RuleSetRef {
    /// Parses `lightRuleSets/{id}` or `lightRuleSets/{id}@{revision}` (revision ≥ 1).
    pub fn parse(name: &str) -> Result<Self, String> {
        let rest = name.strip_prefix("lightRuleSets/").ok_or_else(|| {
            format!("{name:?} is not of the form lightRuleSets/{{id}}[@{{revision}}]")
        })?;
        match rest.split_once('@') {
            None => {
                names::validate_id(rest)?;
                Ok(RuleSetRef::Latest(rest.to_string()))
            }
            Some((id, revision)) => {
                names::validate_id(id)?;
                match revision.parse::<i32>() {
                    Ok(n) if n >= 1 && revision.bytes().all(|b| b.is_ascii_digit()) => {
                        Ok(RuleSetRef::Revision(id.to_string(), n))
                    }
                    _ => Err(format!(
                        "revision {revision:?} in {name:?} is not a whole number from 1"
                    )),
                }
            }
        }
    }

    /// The name as given back in NOT_FOUND.
    pub fn name(&self) -> String {
        match self {
            RuleSetRef::Revision(id, n) => format!("lightRuleSets/{id}@{n}"),
            RuleSetRef::Latest(id) => format!("lightRuleSets/{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::project::{Category, InvestmentType, ProjectFields, Stage};

    fn project(completed: i64, reported: i64) -> Project {
        Project {
            id: "p".into(),
            uid: "u".into(),
            fields: ProjectFields {
                display_name: "p".into(),
                description: String::new(),
                project_code: None,
                category: Category::Other,
                investment_type: InvestmentType::Government,
                township: "t".into(),
                department: "d".into(),
                owner: String::new(),
                leader: String::new(),
                total_investment_yuan: 0,
                annual_planned_investment_yuan: 0,
                completed_investment_yuan: completed,
                statistics_enrolment_date: None,
            },
            stage: Stage::Construction,
            suspended_from_stage: None,
            stage_changed_at_us: 0,
            created_at_us: 0,
            updated_at_us: 0,
            version: 1,
            reported_investment_yuan: reported,
        }
    }

    fn report() -> InvestmentReport {
        InvestmentReport {
            project_id: "p".into(),
            month: YearMonth::new(2026, 10).unwrap(),
            uid: "u".into(),
            amount_yuan: 100,
            physical_progress: "主体施工".into(),
            reporter: "editor".into(),
            report_date: NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
            created_at_us: 1,
            updated_at_us: 1,
            version: 1,
            revisions: Vec::new(),
        }
    }

    #[test]
    fn a_report_for_a_later_month_than_the_current_one_is_refused() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert!(check_reportable(YearMonth::new(2026, 11).unwrap(), today).is_ok());
        assert!(check_reportable(YearMonth::new(2026, 10).unwrap(), today).is_ok());
        let err = check_reportable(YearMonth::new(2026, 12).unwrap(), today).unwrap_err();
        assert_eq!(err.0[0].field, "investment_report_id");
        // December 31 may report December, not January.
        let new_year_eve = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert!(check_reportable(YearMonth::new(2027, 1).unwrap(), new_year_eve).is_err());
    }

    #[test]
    fn reports_move_completed_and_reported_together_within_bounds() {
        let mut p = project(500, 0);
        add_reported(&mut p, 200, "f", 9).unwrap();
        assert_eq!(
            (
                p.fields.completed_investment_yuan,
                p.reported_investment_yuan,
                p.version
            ),
            (700, 200, 2)
        );
        add_reported(&mut p, -50, "f", 9).unwrap();
        assert_eq!(
            (
                p.fields.completed_investment_yuan,
                p.reported_investment_yuan
            ),
            (650, 150)
        );
        let mut full = project(MAX_YUAN - 10, 0);
        let err = add_reported(&mut full, 11, "investment_report.amount_yuan", 9).unwrap_err();
        assert_eq!(err.0[0].field, "investment_report.amount_yuan");
        assert_eq!(full.fields.completed_investment_yuan, MAX_YUAN - 10);
        assert!(add_reported(&mut full, 10, "f", 9).is_ok());
    }

    #[test]
    fn a_correction_is_a_numbered_revision_and_a_same_value_correction_records_nothing() {
        let mut r = report();
        let same = Correction {
            amount: Yuan::parse(100).unwrap(),
            physical_progress: None,
            reason: Reason::required("x").unwrap(),
        };
        assert_eq!(r.correct(same, "a", 5).unwrap(), None);
        assert_eq!(r.version, 1);
        let lower = Correction {
            amount: Yuan::parse(80).unwrap(),
            physical_progress: Some(Title::parse("主体封顶").unwrap()),
            reason: Reason::required("统计口径调整").unwrap(),
        };
        let rev = r.correct(lower, "a", 6).unwrap().unwrap();
        assert_eq!(rev.number, 1);
        assert_eq!((rev.old_amount_yuan, rev.new_amount_yuan), (100, 80));
        assert_eq!(rev.old_physical_progress, "主体施工");
        assert_eq!(r.physical_progress, "主体封顶");
        assert_eq!((r.amount_yuan, r.version, r.revisions.len()), (80, 2, 1));
    }

    #[test]
    fn corrections_are_bounded() {
        let mut r = report();
        for i in 0..MAX_REPORT_CORRECTIONS {
            let c = Correction {
                amount: Yuan::parse(1000 + i as i64).unwrap(),
                physical_progress: None,
                reason: Reason::required("x").unwrap(),
            };
            r.correct(c, "a", 1).unwrap();
        }
        let c = Correction {
            amount: Yuan::parse(1).unwrap(),
            physical_progress: None,
            reason: Reason::required("x").unwrap(),
        };
        assert_eq!(
            r.correct(c, "a", 1).unwrap_err().reason,
            "TOO_MANY_CORRECTIONS"
        );
    }

    #[test]
    fn plan_and_report_names_parse() {
        assert_eq!(
            parse_plan_name("projects/a/investmentPlans/2026"),
            Ok(("a", 2026))
        );
        assert_eq!(
            parse_report_name("projects/a/investmentReports/2026-02"),
            Ok(("a", YearMonth::new(2026, 2).unwrap()))
        );
        for bad in [
            "projects/a/investmentPlans/26",
            "projects/a/investmentPlans/2026/x",
            "projects/a/investmentReports/2026-13",
            "projects/a/investmentReports/2026-1",
            "projects/A/investmentReports/2026-01",
            "projects/a/milestones/2026-01",
        ] {
            assert!(
                parse_plan_name(bad).is_err() && parse_report_name(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rule_set_names_parse_with_and_without_a_revision() {
        assert_eq!(
            RuleSetRef::parse("lightRuleSets/city@3"),
            Ok(RuleSetRef::Revision("city".into(), 3))
        );
        assert_eq!(
            RuleSetRef::parse("lightRuleSets/city"),
            Ok(RuleSetRef::Latest("city".into()))
        );
        for bad in [
            "lightRuleSets/city@0",
            "lightRuleSets/city@+3",
            "lightRuleSets/city@",
            "lightRuleSets/Ci ty",
            "ruleSets/city",
        ] {
            assert!(RuleSetRef::parse(bad).is_err(), "{bad}");
        }
    }
}
