//! The scenario file: what a `[[step]]` table of `county-2026.toml` may hold, and how it becomes
//! a [`Step`]. The file's header describes the keys of each kind of step for its editors.

use chrono::NaiveDate;
use serde::de::{self, Deserialize, Deserializer};

use super::{Action, ProblemStep, Step};
use crate::domain::funding::{ApplicationAction, Eligibility, FundingChannel, WindowFields};
use crate::domain::milestone::MilestoneKind;
use crate::domain::pace::YearMonth;
use crate::domain::prerequisite::{PrerequisiteFields, PrerequisiteKind, PrerequisiteState};
use crate::domain::problem::ProblemCategory;
use crate::domain::project::{Category, InvestmentType, ProjectFields, Stage};
use crate::store::milestones::{DateChange, NewMilestone};

/// Reads a scenario file. Steps run in the order written, so they must be in date order.
pub(super) fn parse(text: &str) -> anyhow::Result<Vec<Step>> {
    let file: File = toml::from_str(text)?;
    let mut steps: Vec<Step> = Vec::with_capacity(file.step.len());
    for (n, record) in file.step.into_iter().enumerate() {
        let step = record.into_step();
        if let Some(before) = steps.last()
            && step.on < before.on
        {
            anyhow::bail!(
                "step {} ({}) is dated before the step above it ({}): steps run in the order \
                 written, so keep them in date order",
                n + 1,
                step.describe(),
                before.on
            );
        }
        steps.push(step);
    }
    Ok(steps)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    step: Vec<Record>,
}

/// One `[[step]]`: its date, its project (none for a funding window) and, under `do`, the gRPC
/// method it stands for with that method's keys.
#[derive(serde::Deserialize)]
struct Record {
    #[serde(deserialize_with = "day")]
    on: NaiveDate,
    #[serde(default)]
    project: String,
    #[serde(flatten)]
    what: What,
}

/// The keys of each kind of step.
#[derive(serde::Deserialize)]
#[serde(tag = "do", deny_unknown_fields)]
enum What {
    CreateProject {
        #[serde(deserialize_with = "named")]
        stage: Stage,
        #[serde(flatten, with = "ProjectFieldsDef")]
        fields: ProjectFields,
    },
    CreatePrerequisite {
        id: String,
        #[serde(flatten, with = "PrerequisiteFieldsDef")]
        fields: PrerequisiteFields,
    },
    CreateMilestone {
        id: String,
        #[serde(flatten, with = "NewMilestoneDef")]
        new: NewMilestone,
    },
    ForecastMilestone(DateRecord),
    AchieveMilestone(DateRecord),
    RebaselineMilestone(DateRecord),
    ChangeProjectStage {
        #[serde(deserialize_with = "named")]
        to: Stage,
        #[serde(default)]
        reason: String,
    },
    CreateFundingWindow {
        id: String,
        #[serde(flatten, with = "WindowFieldsDef")]
        fields: WindowFields,
    },
    /// An application's id is its window's unless `id` names another.
    CreateFundingApplication {
        window: String,
        id: Option<String>,
        requested_yuan: i64,
        #[serde(default)]
        description: String,
    },
    SubmitFundingApplication(TransitionRecord),
    ApproveFundingApplication {
        application: String,
        approved_yuan: Option<i64>,
        #[serde(default)]
        reason: String,
    },
    RejectFundingApplication(TransitionRecord),
    WithdrawFundingApplication(TransitionRecord),
    RecordFundingDisbursement {
        application: String,
        amount_yuan: i64,
        #[serde(default)]
        note: String,
    },
    /// No `monthly_yuan`: the default pace (the year's total × months / 12).
    SetInvestmentPlan {
        year: i32,
        total_yuan: i64,
        #[serde(default)]
        monthly_yuan: Vec<i64>,
    },
    CreateInvestmentReport {
        #[serde(deserialize_with = "month")]
        month: YearMonth,
        amount_yuan: i64,
        #[serde(default)]
        physical_progress: String,
    },
    /// No `physical_progress`: the report keeps its text.
    CorrectInvestmentReport {
        #[serde(deserialize_with = "month")]
        month: YearMonth,
        amount_yuan: i64,
        physical_progress: Option<String>,
        reason: String,
    },
    /// Raised on the step's date; `milestone` is the id of the milestone it blocks.
    CreateProblem {
        id: String,
        #[serde(deserialize_with = "named")]
        category: ProblemCategory,
        description: String,
        responsible_unit: String,
        responsible_leader: String,
        #[serde(deserialize_with = "day")]
        deadline: NaiveDate,
        #[serde(default)]
        milestone: String,
    },
    StartProblem(ProblemRecord),
    ResolveProblem(ProblemRecord),
    CloseProblem(ProblemRecord),
    ExtendProblemDeadline {
        problem: String,
        #[serde(deserialize_with = "day")]
        deadline: NaiveDate,
        note: String,
    },
}

/// A start, resolution or close of a problem, with its note (required to resolve).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProblemRecord {
    problem: String,
    #[serde(default)]
    note: String,
}

impl ProblemRecord {
    fn action(self, step: ProblemStep) -> Action {
        Action::TransitionProblem {
            id: self.problem,
            step,
            note: self.note,
        }
    }
}

/// A forecast, an achievement or a rebaseline.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DateRecord {
    milestone: String,
    #[serde(deserialize_with = "day")]
    date: NaiveDate,
    #[serde(default)]
    reason: String,
}

impl DateRecord {
    fn action(self, change: DateChange) -> Action {
        Action::ChangeMilestoneDate {
            milestone: self.milestone,
            change,
            date: self.date,
            reason: self.reason,
        }
    }
}

/// A submission, a rejection or a withdrawal.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TransitionRecord {
    application: String,
    #[serde(default)]
    reason: String,
}

impl TransitionRecord {
    fn action(self, action: ApplicationAction) -> Action {
        Action::TransitionApplication {
            id: self.application,
            action,
            reason: self.reason,
            approved_yuan: None,
        }
    }
}

// The domain's own types, read as they are (serde's remote derive: each `...Def` lists the
// fields of the type it names).

#[derive(serde::Deserialize)]
#[serde(remote = "ProjectFields")]
struct ProjectFieldsDef {
    display_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    project_code: Option<String>,
    #[serde(deserialize_with = "named")]
    category: Category,
    #[serde(deserialize_with = "named")]
    investment_type: InvestmentType,
    #[serde(default)]
    township: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    leader: String,
    #[serde(default)]
    total_investment_yuan: i64,
    #[serde(default)]
    annual_planned_investment_yuan: i64,
    #[serde(default)]
    completed_investment_yuan: i64,
    #[serde(default, deserialize_with = "some_day")]
    statistics_enrolment_date: Option<NaiveDate>,
}

#[derive(serde::Deserialize)]
#[serde(remote = "PrerequisiteFields")]
struct PrerequisiteFieldsDef {
    #[serde(deserialize_with = "named")]
    kind: PrerequisiteKind,
    title: String,
    #[serde(deserialize_with = "named")]
    state: PrerequisiteState,
    #[serde(default, deserialize_with = "some_day")]
    due_date: Option<NaiveDate>,
    #[serde(default)]
    note: String,
}

#[derive(serde::Deserialize)]
#[serde(remote = "NewMilestone")]
struct NewMilestoneDef {
    #[serde(deserialize_with = "named")]
    kind: MilestoneKind,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(deserialize_with = "day")]
    baseline: NaiveDate,
    #[serde(default, deserialize_with = "some_day")]
    forecast: Option<NaiveDate>,
}

#[derive(serde::Deserialize)]
#[serde(remote = "WindowFields")]
struct WindowFieldsDef {
    #[serde(deserialize_with = "named")]
    channel: FundingChannel,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(deserialize_with = "day")]
    open_date: NaiveDate,
    #[serde(deserialize_with = "day")]
    close_date: NaiveDate,
    #[serde(default)]
    target_count: i32,
    #[serde(default)]
    target_amount_yuan: i64,
    #[serde(default, with = "EligibilityDef")]
    eligibility: Eligibility,
}

/// Which projects qualify; a key left out puts no condition, except `stages`, which is
/// RESERVE and PREPARATION unless named (as in the API).
#[derive(serde::Deserialize)]
#[serde(remote = "Eligibility", deny_unknown_fields)]
struct EligibilityDef {
    #[serde(default = "default_stages", deserialize_with = "named_list")]
    stages: Vec<Stage>,
    #[serde(default, deserialize_with = "named_list")]
    categories: Vec<Category>,
    #[serde(default, deserialize_with = "some_named")]
    investment_type: Option<InvestmentType>,
    #[serde(default)]
    min_total_investment_yuan: i64,
    #[serde(default, deserialize_with = "named_list")]
    required_prerequisites: Vec<PrerequisiteKind>,
}

fn default_stages() -> Vec<Stage> {
    Eligibility::default().stages
}

impl Record {
    fn into_step(self) -> Step {
        use ApplicationAction::{Reject, Submit, Withdraw};
        use DateChange::{Achieve, Forecast, Rebaseline};
        let action = match self.what {
            What::CreateProject { stage, fields } => Action::CreateProject { fields, stage },
            What::CreatePrerequisite { id, fields } => Action::CreatePrerequisite { id, fields },
            What::CreateMilestone { id, new } => Action::CreateMilestone { id, new },
            What::ForecastMilestone(r) => r.action(Forecast),
            What::AchieveMilestone(r) => r.action(Achieve),
            What::RebaselineMilestone(r) => r.action(Rebaseline),
            What::ChangeProjectStage { to, reason } => Action::ChangeStage { to, reason },
            What::CreateFundingWindow { id, fields } => Action::CreateWindow { id, fields },
            What::CreateFundingApplication {
                window,
                id,
                requested_yuan,
                description,
            } => Action::CreateApplication {
                id: id.unwrap_or_else(|| window.clone()),
                window,
                requested_yuan,
                description,
            },
            What::SubmitFundingApplication(r) => r.action(Submit),
            What::ApproveFundingApplication {
                application,
                approved_yuan,
                reason,
            } => Action::TransitionApplication {
                id: application,
                action: ApplicationAction::Approve,
                reason,
                approved_yuan,
            },
            What::RejectFundingApplication(r) => r.action(Reject),
            What::WithdrawFundingApplication(r) => r.action(Withdraw),
            What::RecordFundingDisbursement {
                application,
                amount_yuan,
                note,
            } => Action::Disburse {
                id: application,
                amount_yuan,
                note,
            },
            What::SetInvestmentPlan {
                year,
                total_yuan,
                monthly_yuan,
            } => Action::SetInvestmentPlan {
                year,
                total_yuan,
                monthly_yuan,
            },
            What::CreateInvestmentReport {
                month,
                amount_yuan,
                physical_progress,
            } => Action::CreateInvestmentReport {
                month,
                amount_yuan,
                physical_progress,
            },
            What::CorrectInvestmentReport {
                month,
                amount_yuan,
                physical_progress,
                reason,
            } => Action::CorrectInvestmentReport {
                month,
                amount_yuan,
                physical_progress,
                reason,
            },
            What::CreateProblem {
                id,
                category,
                description,
                responsible_unit,
                responsible_leader,
                deadline,
                milestone,
            } => Action::CreateProblem {
                id,
                category,
                description,
                responsible_unit,
                responsible_leader,
                deadline,
                milestone,
            },
            What::StartProblem(r) => r.action(ProblemStep::Start),
            What::ResolveProblem(r) => r.action(ProblemStep::Resolve),
            What::CloseProblem(r) => r.action(ProblemStep::Close),
            What::ExtendProblemDeadline {
                problem,
                deadline,
                note,
            } => Action::TransitionProblem {
                id: problem,
                step: ProblemStep::Extend(deadline),
                note,
            },
        };
        Step {
            on: self.on,
            project: self.project,
            action,
        }
    }
}

/// The domain enums, written by their storage and filter names (`PREPARATION`,
/// `CONSTRUCTION_START`) and read through their own `parse`.
trait ApiName: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn parse(text: &str) -> Option<Self>;
    fn name(self) -> &'static str;
}

macro_rules! api_name {
    ($($t:ty),+) => {$(
        impl ApiName for $t {
            const ALL: &'static [Self] = <$t>::ALL;
            fn parse(text: &str) -> Option<Self> {
                <$t>::parse(text)
            }
            fn name(self) -> &'static str {
                self.as_str()
            }
        }
    )+};
}

api_name!(
    Stage,
    Category,
    InvestmentType,
    PrerequisiteKind,
    PrerequisiteState,
    MilestoneKind,
    FundingChannel,
    ProblemCategory
);

/// A domain enum by its API name.
struct Named<T>(T);

impl<'de, T: ApiName> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::parse(&text).map(Named).ok_or_else(|| {
            let names: Vec<&str> = T::ALL.iter().map(|v| v.name()).collect();
            de::Error::custom(format!(
                "unknown value {text:?}, expected one of {}",
                names.join(", ")
            ))
        })
    }
}

fn named<'de, D: Deserializer<'de>, T: ApiName>(deserializer: D) -> Result<T, D::Error> {
    Named::deserialize(deserializer).map(|n| n.0)
}

fn some_named<'de, D: Deserializer<'de>, T: ApiName>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    named(deserializer).map(Some)
}

fn named_list<'de, D: Deserializer<'de>, T: ApiName>(deserializer: D) -> Result<Vec<T>, D::Error> {
    let names = Vec::<Named<T>>::deserialize(deserializer)?;
    Ok(names.into_iter().map(|n| n.0).collect())
}

/// A calendar date, written `2026-10-15` (a TOML date, or the same in quotes).
fn day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let text = match toml::Value::deserialize(deserializer)? {
        toml::Value::Datetime(date) if date.time.is_none() && date.offset.is_none() => {
            date.to_string()
        }
        toml::Value::String(text) => text,
        other => {
            return Err(de::Error::custom(format!(
                "expected a date such as 2026-10-15, found a {}",
                other.type_str()
            )));
        }
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map_err(|_| de::Error::custom(format!("{text:?} is not a date such as 2026-10-15")))
}

/// A calendar month, written `"2026-09"`.
fn month<'de, D: Deserializer<'de>>(deserializer: D) -> Result<YearMonth, D::Error> {
    let text = String::deserialize(deserializer)?;
    YearMonth::parse(&text).map_err(de::Error::custom)
}

fn some_day<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    day(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: &str = r#"
[[step]]
on = 2026-08-14
do = "CreateFundingWindow"
id = "w"
channel = "SPECIAL_BOND"
title = "窗口"
open_date = "2026-08-20"
close_date = 2026-09-10
"#;

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("refused"))
    }

    #[test]
    fn dates_are_toml_dates_or_quoted_and_left_out_keys_take_their_defaults() {
        let steps = parse(WINDOW).unwrap();
        let Action::CreateWindow { id, fields } = &steps[0].action else {
            panic!("{:?}", steps[0].action)
        };
        assert_eq!(steps[0].project, "");
        assert_eq!(id, "w");
        assert_eq!(fields.open_date.to_string(), "2026-08-20");
        assert_eq!((fields.target_count, fields.target_amount_yuan), (0, 0));
        assert_eq!(fields.eligibility, Eligibility::default());
    }

    #[test]
    fn a_misspelt_key_an_unknown_name_or_a_bad_date_is_refused() {
        let misspelt = WINDOW.replace("title =", "titel =");
        assert!(error(&misspelt).contains("missing field `title`"));
        let misspelt = format!("{WINDOW}descripton = \"说明\"\n");
        assert!(
            error(&misspelt).contains("descripton"),
            "{}",
            error(&misspelt)
        );
        let misspelt = format!("{WINDOW}[step.eligibility]\nstage = [\"RESERVE\"]\n");
        assert!(error(&misspelt).contains("`stage`"), "{}", error(&misspelt));
        let unknown = WINDOW.replace("SPECIAL_BOND", "SPECIAL");
        assert!(error(&unknown).contains("expected one of SPECIAL_BOND"));
        let undated = WINDOW.replace("2026-09-10", "\"10 September\"");
        assert!(error(&undated).contains("not a date"));
        let method = WINDOW.replace("CreateFundingWindow", "OpenWindow");
        assert!(error(&method).contains("OpenWindow"));
    }

    #[test]
    fn investment_steps_read_their_months_and_optional_keys() {
        let text = r#"
[[step]]
on = 2026-08-03
do = "SetInvestmentPlan"
project = "p"
year = 2026
total_yuan = 120

[[step]]
on = 2026-08-04
do = "CreateInvestmentReport"
project = "p"
month = "2026-07"
amount_yuan = 10

[[step]]
on = 2026-08-05
do = "CorrectInvestmentReport"
project = "p"
month = "2026-07"
amount_yuan = 12
reason = "复核"
"#;
        let steps = parse(text).unwrap();
        let Action::SetInvestmentPlan { monthly_yuan, .. } = &steps[0].action else {
            panic!("{:?}", steps[0].action)
        };
        assert!(monthly_yuan.is_empty());
        let Action::CreateInvestmentReport {
            month,
            physical_progress,
            ..
        } = &steps[1].action
        else {
            panic!("{:?}", steps[1].action)
        };
        assert_eq!((month.year(), month.month()), (2026, 7));
        assert_eq!(physical_progress, "");
        let Action::CorrectInvestmentReport {
            physical_progress, ..
        } = &steps[2].action
        else {
            panic!("{:?}", steps[2].action)
        };
        assert_eq!(physical_progress, &None);
        let bad_month = text.replace(
            "month = \"2026-07\"\namount_yuan = 10",
            "month = \"2026-7\"\namount_yuan = 10",
        );
        assert!(
            error(&bad_month).contains("YYYY-MM"),
            "{}",
            error(&bad_month)
        );
        let no_reason = text.replace("reason = \"复核\"\n", "");
        assert!(
            error(&no_reason).contains("`reason`"),
            "{}",
            error(&no_reason)
        );
    }

    #[test]
    fn steps_out_of_date_order_are_refused() {
        let later = WINDOW.replace("on = 2026-08-14", "on = 2026-08-15");
        let text = format!("{later}{}", WINDOW.replace("id = \"w\"", "id = \"v\""));
        assert!(error(&text).contains("step 2"), "{}", error(&text));
    }
}
