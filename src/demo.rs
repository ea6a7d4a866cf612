//! `pipeline demo`: loads the county scenario of DESIGN §9 — the autumn push of 2026 — into the
//! configured database through the same store methods the gRPC API calls, so that every
//! revision, stage change, transition and event is exactly what a client would have produced.
//!
//! The scenario is data, not code: `src/demo/county-2026.toml`, built into the binary. It is a
//! list of dated `[[step]]` tables, each one change as a client would send it (`do` names the
//! gRPC method; stages, kinds and states are written by their API names, amounts in whole yuan),
//! replayed from top to bottom. The file's header lists the keys of every kind of step; to change
//! the scenario, edit the file in date order and rebuild (`data` reads it and refuses a misspelt
//! key, an unknown name or a step out of date order), then bring the step counts of this
//! module's tests up to date.
//!
//! The project library is set up on 3 August 2026 (with the construction starts achieved
//! earlier that year, and the 2026 investment plans of the projects under construction, whose
//! monthly reports run to September), forecasts slip through September, the funding windows
//! open and close, and the last step is dated 14 October, so that `serve --today 2026-10-15` shows the picture of the week
//! before the fifth fund batch closes. Each step writes with a context whose `today` is the
//! step's own date, so revisions carry the day they were recorded and windows take applications
//! only while open. Steps dated after the `today` given to [`load`] are left for a later run:
//! nothing is ever recorded in the future of the user's today.
//!
//! Re-running is safe: creations use fixed ids (an existing one counts as present), a plan
//! already set as the scenario sets it counts as present, and every other change (investment
//! reports included) carries a request id, so a second run replays instead of acting twice. The
//! request's fingerprint is the `Debug` text of the step's [`Action`] (see `request_key`): that
//! text, including the `Debug` output of the domain types an action holds, must stay byte for
//! byte what it is, or a database loaded by an earlier run refuses the re-run as a different
//! request. `tests::request_keys_are_those_of_earlier_runs` pins a digest of every key.

use std::fmt;

use anyhow::Context;
use chrono::NaiveDate;

use crate::config::DemoConfig;
use crate::domain::access::Principal;
use crate::domain::clock::Clock;
use crate::domain::error::{Invalid, describe};
use crate::domain::funding::{
    ApplicationAction, ApplicationTransition, CreateApplication, CreateWindow, RecordDisbursement,
    TransitionApplication, WindowFields,
};
use crate::domain::investment::{Correction, NewReport, plan_name, report_name};
use crate::domain::milestone::Policy;
use crate::domain::pace::{InvestmentPlan, YearMonth};
use crate::domain::prerequisite::PrerequisiteFields;
use crate::domain::problem::{ProblemCategory, ProblemFields, problem_name};
use crate::domain::project::{ProjectFields, Stage, StageChangeRequest};
use crate::domain::values::{Description, DisbursementNote, Id, Note, Reason, Title, Unit, Yuan};
use crate::service::{ServiceError, funding, investment, problems};
use crate::store::idempotency::RequestKey;
use crate::store::milestones::{DateChange, NewMilestone};
use crate::store::{Outcome, Store, WriteContext};

mod data;

/// The actor recorded on everything the demo writes.
pub const ACTOR: &str = "demo";

/// The id of the fifth batch of policy-finance fund projects (第五批基金项目).
pub const FUND_BATCH_5: &str = "fund-batch-5";

/// The first day of the scenario: the project library is set up.
pub fn scenario_start() -> NaiveDate {
    day(8, 3)
}

/// The status date the scenario is written for: every step happened before it, and the
/// alerts, lights and coverage sheets read best on it (`serve --today 2026-10-15`).
pub fn status_date() -> NaiveDate {
    day(10, 15)
}

/// What one run did, by kind of step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// The date the demo was loaded on; steps dated after it were not run.
    pub today: NaiveDate,
    /// Steps that wrote something in this run.
    pub created: Tally,
    /// Steps whose result was already in the database (an earlier run, or a retry).
    pub present: Tally,
    /// Steps dated after `today`, left for a run with a later date.
    pub deferred: Tally,
    /// Steps that could not run because the data was changed since the demo loaded it (a
    /// milestone achieved by hand, a project deleted, …), with the reason.
    pub conflicts: Vec<String>,
}

/// Counts of steps by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub projects: usize,
    pub prerequisites: usize,
    pub milestones: usize,
    /// Forecasts and achievements recorded on milestones.
    pub milestone_date_changes: usize,
    pub stage_changes: usize,
    pub funding_windows: usize,
    pub funding_applications: usize,
    /// Submissions, approvals, rejections and withdrawals.
    pub application_transitions: usize,
    pub disbursements: usize,
    /// Annual investment plans (one per project and year).
    pub investment_plans: usize,
    /// Monthly investment reports.
    pub investment_reports: usize,
    /// Corrections of monthly investment reports.
    pub report_corrections: usize,
    /// Problems of the problem ledger (问题清单).
    pub problems: usize,
    /// Starts, resolutions, closes and deadline extensions of problems.
    pub problem_transitions: usize,
}

impl Tally {
    pub fn total(&self) -> usize {
        self.parts().iter().map(|(n, _, _)| n).sum()
    }

    /// Each count with what it counts (singular, plural).
    fn parts(&self) -> [(usize, &'static str, &'static str); 14] {
        [
            (self.projects, "project", "projects"),
            (self.prerequisites, "prerequisite", "prerequisites"),
            (self.milestones, "milestone", "milestones"),
            (
                self.milestone_date_changes,
                "milestone date change",
                "milestone date changes",
            ),
            (self.stage_changes, "stage change", "stage changes"),
            (self.funding_windows, "funding window", "funding windows"),
            (
                self.funding_applications,
                "funding application",
                "funding applications",
            ),
            (
                self.application_transitions,
                "application transition",
                "application transitions",
            ),
            (self.disbursements, "disbursement", "disbursements"),
            (self.investment_plans, "investment plan", "investment plans"),
            (
                self.investment_reports,
                "investment report",
                "investment reports",
            ),
            (
                self.report_corrections,
                "report correction",
                "report corrections",
            ),
            (self.problems, "problem", "problems"),
            (
                self.problem_transitions,
                "problem transition",
                "problem transitions",
            ),
        ]
    }

    fn bump(&mut self, kind: StepKind) {
        let slot = match kind {
            StepKind::Project => &mut self.projects,
            StepKind::Prerequisite => &mut self.prerequisites,
            StepKind::Milestone => &mut self.milestones,
            StepKind::MilestoneDate => &mut self.milestone_date_changes,
            StepKind::StageChange => &mut self.stage_changes,
            StepKind::FundingWindow => &mut self.funding_windows,
            StepKind::FundingApplication => &mut self.funding_applications,
            StepKind::ApplicationTransition => &mut self.application_transitions,
            StepKind::Disbursement => &mut self.disbursements,
            StepKind::InvestmentPlan => &mut self.investment_plans,
            StepKind::InvestmentReport => &mut self.investment_reports,
            StepKind::ReportCorrection => &mut self.report_corrections,
            StepKind::Problem => &mut self.problems,
            StepKind::ProblemTransition => &mut self.problem_transitions,
        };
        *slot += 1;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .parts()
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
            .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// `pipeline demo`: opens (and migrates) the database, loads the scenario and prints what it
/// did.
pub async fn run(config: DemoConfig) -> anyhow::Result<()> {
    let today = Clock::new(config.time_zone, config.today).today();
    if today < scenario_start() {
        anyhow::bail!(
            "the county scenario begins on {}, after today ({today}); run `pipeline demo --today {}` \
             and then `pipeline serve --today {}`",
            scenario_start(),
            status_date(),
            status_date()
        );
    }
    let store = config.database.open().await?;
    let report = load(&store, today)
        .await
        .context("loading the county scenario")?;
    store.close().await.ok();
    let destination = match &config.database.database_url {
        Some(_) => "the database of --database-url".to_string(),
        None => config.database.data_dir.display().to_string(),
    };
    println!(
        "County scenario (autumn 2026) loaded into {destination} as of {today}, as actor {ACTOR:?}:"
    );
    println!("  created:          {}", report.created);
    println!("  already present:  {}", report.present);
    if report.deferred.total() > 0 {
        println!(
            "  not yet:          {} (dated after {today}; run again with a later --today to continue)",
            report.deferred
        );
    }
    for conflict in &report.conflicts {
        eprintln!("  skipped: {conflict}");
    }
    println!(
        "The scenario reads best as of {status}: `pipeline serve --today {status}` (same --data-dir or \
         --database-url), then ask ReportService.GetPipelineSummary, \
         MilestoneService.ListMilestones with `light = RED`, \
         FundingService.GetFundingCoverage for fundingWindows/{FUND_BATCH_5}, or \
         InvestmentService.ListInvestmentPace for month 2026-09.",
        status = status_date()
    );
    if today > status_date() {
        println!(
            "Served with today's date ({today}) instead, the October construction starts and trial \
             productions show as OVERDUE."
        );
    }
    Ok(())
}

/// Loads the scenario's steps dated up to `today`, each through the store method the API uses,
/// and returns what was created, what was already there and what is left for a later date.
pub async fn load(store: &Store, today: NaiveDate) -> anyhow::Result<DemoReport> {
    // Milestone thresholds from the active light rule set, as the API judges them.
    let rule_set = crate::store::investment::active_rule_set(store.connection()).await?;
    let rules = rule_set.rules;
    let rule_set = rule_set.name();
    let policy = Policy {
        warning_horizon_days: rules.warning_horizon_days,
        tolerance_days: rules.milestone_tolerance_days,
        problem_escalation: rules.problem_escalation,
        ..Policy::default()
    };
    let mut report = DemoReport {
        today,
        ..DemoReport::default()
    };
    for step in scenario()? {
        let kind = step.kind();
        if step.on > today {
            report.deferred.bump(kind);
            continue;
        }
        let ctx = WriteContext {
            actor: ACTOR.to_string(),
            principal: Principal::system(ACTOR),
            now_us: Clock::system_now_micros(),
            today: step.on,
        };
        match step.apply(store, &ctx, &policy, &rule_set).await {
            Ok(Applied::Created) => report.created.bump(kind),
            Ok(Applied::Present) => report.present.bump(kind),
            Err(
                err @ (ServiceError::FailedPrecondition { .. }
                | ServiceError::NotFound { .. }
                | ServiceError::AlreadyExists { .. }),
            ) => report.conflicts.push(format!("{}: {err}", step.describe())),
            Err(err) => anyhow::bail!("{}: {err}", step.describe()),
        }
    }
    Ok(report)
}

// ----------------------------------------------------------------------------------------
// Steps

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Project,
    Prerequisite,
    Milestone,
    MilestoneDate,
    StageChange,
    FundingWindow,
    FundingApplication,
    ApplicationTransition,
    Disbursement,
    InvestmentPlan,
    InvestmentReport,
    ReportCorrection,
    Problem,
    ProblemTransition,
}

enum Applied {
    Created,
    Present,
}

/// One change, as a client would send it.
#[derive(Debug, Clone)]
enum Action {
    CreateProject {
        fields: ProjectFields,
        stage: Stage,
    },
    CreatePrerequisite {
        id: String,
        fields: PrerequisiteFields,
    },
    CreateMilestone {
        id: String,
        new: NewMilestone,
    },
    ChangeMilestoneDate {
        milestone: String,
        change: DateChange,
        date: NaiveDate,
        reason: String,
    },
    ChangeStage {
        to: Stage,
        reason: String,
    },
    CreateWindow {
        id: String,
        fields: WindowFields,
    },
    CreateApplication {
        id: String,
        window: String,
        requested_yuan: i64,
        description: String,
    },
    TransitionApplication {
        id: String,
        action: ApplicationAction,
        reason: String,
        approved_yuan: Option<i64>,
    },
    Disburse {
        id: String,
        amount_yuan: i64,
        note: String,
    },
    /// An empty `monthly_yuan` is the default pace (twelfths).
    SetInvestmentPlan {
        year: i32,
        total_yuan: i64,
        monthly_yuan: Vec<i64>,
    },
    CreateInvestmentReport {
        month: YearMonth,
        amount_yuan: i64,
        physical_progress: String,
    },
    /// A `physical_progress` of None keeps the report's text.
    CorrectInvestmentReport {
        month: YearMonth,
        amount_yuan: i64,
        physical_progress: Option<String>,
        reason: String,
    },
    /// Raised on the step's date; an empty `milestone` blocks none.
    CreateProblem {
        id: String,
        category: ProblemCategory,
        description: String,
        responsible_unit: String,
        responsible_leader: String,
        deadline: NaiveDate,
        milestone: String,
    },
    /// `note`: the resolution note, or the reason of a start, close or extension.
    TransitionProblem {
        id: String,
        step: ProblemStep,
        note: String,
    },
}

/// A change of state (or deadline) of a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProblemStep {
    Start,
    Resolve,
    Close,
    Extend(NaiveDate),
}

/// A change made on a date; `project` is empty for funding windows.
#[derive(Debug, Clone)]
struct Step {
    on: NaiveDate,
    project: String,
    action: Action,
}

impl Step {
    fn kind(&self) -> StepKind {
        match &self.action {
            Action::CreateProject { .. } => StepKind::Project,
            Action::CreatePrerequisite { .. } => StepKind::Prerequisite,
            Action::CreateMilestone { .. } => StepKind::Milestone,
            Action::ChangeMilestoneDate { .. } => StepKind::MilestoneDate,
            Action::ChangeStage { .. } => StepKind::StageChange,
            Action::CreateWindow { .. } => StepKind::FundingWindow,
            Action::CreateApplication { .. } => StepKind::FundingApplication,
            Action::TransitionApplication { .. } => StepKind::ApplicationTransition,
            Action::Disburse { .. } => StepKind::Disbursement,
            Action::SetInvestmentPlan { .. } => StepKind::InvestmentPlan,
            Action::CreateInvestmentReport { .. } => StepKind::InvestmentReport,
            Action::CorrectInvestmentReport { .. } => StepKind::ReportCorrection,
            Action::CreateProblem { .. } => StepKind::Problem,
            Action::TransitionProblem { .. } => StepKind::ProblemTransition,
        }
    }

    /// The gRPC method the step stands for (also the namespace of its request id).
    fn method(&self) -> &'static str {
        match &self.action {
            Action::CreateProject { .. } => "CreateProject",
            Action::CreatePrerequisite { .. } => "CreatePrerequisite",
            Action::CreateMilestone { .. } => "CreateMilestone",
            Action::ChangeMilestoneDate { change, .. } => match change {
                DateChange::Forecast => "ForecastMilestone",
                DateChange::Achieve => "AchieveMilestone",
                DateChange::Rebaseline => "RebaselineMilestone",
            },
            Action::ChangeStage { .. } => "ChangeProjectStage",
            Action::CreateWindow { .. } => "CreateFundingWindow",
            Action::CreateApplication { .. } => "CreateFundingApplication",
            Action::TransitionApplication { action, .. } => match action {
                ApplicationAction::Submit => "SubmitFundingApplication",
                ApplicationAction::Approve => "ApproveFundingApplication",
                ApplicationAction::Reject => "RejectFundingApplication",
                ApplicationAction::Withdraw => "WithdrawFundingApplication",
            },
            Action::Disburse { .. } => "RecordFundingDisbursement",
            Action::SetInvestmentPlan { .. } => "SetInvestmentPlan",
            Action::CreateInvestmentReport { .. } => "CreateInvestmentReport",
            Action::CorrectInvestmentReport { .. } => "CorrectInvestmentReport",
            Action::CreateProblem { .. } => "CreateProblem",
            Action::TransitionProblem { step, .. } => match step {
                ProblemStep::Start => "StartProblem",
                ProblemStep::Resolve => "ResolveProblem",
                ProblemStep::Close => "CloseProblem",
                ProblemStep::Extend(_) => "ExtendProblemDeadline",
            },
        }
    }

    /// The resource the step creates or changes.
    fn target(&self) -> String {
        let p = &self.project;
        match &self.action {
            Action::CreateProject { .. } | Action::ChangeStage { .. } => format!("projects/{p}"),
            Action::CreatePrerequisite { id, .. } => format!("projects/{p}/prerequisites/{id}"),
            Action::CreateMilestone { id, .. } => format!("projects/{p}/milestones/{id}"),
            Action::ChangeMilestoneDate { milestone, .. } => {
                format!("projects/{p}/milestones/{milestone}")
            }
            Action::CreateWindow { id, .. } => format!("fundingWindows/{id}"),
            Action::CreateApplication { id, .. }
            | Action::TransitionApplication { id, .. }
            | Action::Disburse { id, .. } => format!("projects/{p}/fundingApplications/{id}"),
            Action::SetInvestmentPlan { year, .. } => plan_name(p, *year),
            Action::CreateInvestmentReport { month, .. }
            | Action::CorrectInvestmentReport { month, .. } => report_name(p, *month),
            Action::CreateProblem { id, .. } | Action::TransitionProblem { id, .. } => {
                problem_name(p, id)
            }
        }
    }

    fn describe(&self) -> String {
        format!("{} {} {}", self.on, self.method(), self.target())
    }

    /// The request id of a change that is not a creation: a re-run replays the first answer.
    /// The fingerprint covers the whole step, so a changed scenario is refused instead of
    /// silently ignored.
    fn request_key(&self) -> RequestKey {
        RequestKey::new(
            self.method(),
            format!("demo/{}/{}", self.on, self.target()),
            format!("{:?}", self.action).as_bytes(),
        )
    }

    async fn apply(
        &self,
        store: &Store,
        ctx: &WriteContext,
        policy: &Policy,
        rule_set: &str,
    ) -> Result<Applied, ServiceError> {
        let project = self.project.as_str();
        match &self.action {
            Action::CreateProject { fields, stage } => {
                let cmd = crate::service::projects::CreateProject {
                    project_id: Some(demo_id(project)?),
                    fields: fields.clone(),
                    initial_stage: *stage,
                };
                let result = crate::service::projects::create(store, ctx, cmd, None).await;
                created_or_found(result, async { store.get_project(project).await.is_ok() }).await
            }
            Action::CreatePrerequisite { id, fields } => {
                let cmd = crate::service::prerequisites::CreatePrerequisite {
                    project_id: project.to_string(),
                    prerequisite_id: Some(demo_id(id)?),
                    fields: fields.clone(),
                };
                let result = crate::service::prerequisites::create(store, ctx, cmd, None).await;
                created(result, "prerequisite_id")
            }
            Action::CreateMilestone { id, new } => {
                use crate::service::milestones::{CreateMilestone, create};
                let cmd = CreateMilestone {
                    project_id: project.to_string(),
                    milestone_id: Some(demo_id(id)?),
                    new: new.clone(),
                    key: None,
                };
                created(
                    create(store, policy, rule_set, ctx, cmd).await,
                    "milestone_id",
                )
            }
            Action::ChangeMilestoneDate {
                milestone,
                change,
                date,
                reason,
            } => {
                use crate::service::milestones::{ChangeDate, change_date};
                let cmd = ChangeDate {
                    project_id: project.to_string(),
                    milestone_id: milestone.to_string(),
                    change: *change,
                    date: *date,
                    reason: crate::domain::values::Reason::parse(reason).map_err(demo_value)?,
                    etag: None,
                    key: Some(self.request_key()),
                };
                replayed(change_date(store, policy, rule_set, ctx, cmd).await)
            }
            Action::ChangeStage { to, reason } => {
                let cmd = crate::service::projects::ChangeStage {
                    project_id: project.to_string(),
                    change: StageChangeRequest {
                        target: *to,
                        reason: reason.to_string(),
                        effective_date: self.on,
                        etag: None,
                    },
                };
                let key = self.request_key();
                replayed(crate::service::projects::change_stage(store, ctx, cmd, Some(&key)).await)
            }
            Action::CreateWindow { id, fields } => {
                let command = CreateWindow {
                    window_id: Some(demo_id(id)?),
                    fields: fields.clone(),
                };
                let result = funding::create_window(store, ctx, None, command).await;
                created_or_found(result, async { store.get_funding_window(id).await.is_ok() }).await
            }
            Action::CreateApplication {
                id,
                window,
                requested_yuan,
                description,
            } => {
                let command = CreateApplication {
                    project_id: demo_id(project)?,
                    application_id: Some(demo_id(id)?),
                    window_id: demo_id(window)?,
                    requested: Yuan::funding(*requested_yuan, false).map_err(demo_value)?,
                    description: Description::parse(description).map_err(demo_value)?,
                };
                let result = funding::create_application(store, ctx, None, command).await;
                let found = async { store.get_funding_application(project, id).await.is_ok() };
                created_or_found(result, found).await
            }
            Action::TransitionApplication {
                id,
                action,
                reason,
                approved_yuan,
            } => {
                let command = TransitionApplication {
                    project_id: demo_id(project)?,
                    application_id: demo_id(id)?,
                    change: ApplicationTransition {
                        action: *action,
                        reason: Note::parse(reason).map_err(demo_value)?,
                        approved_amount_yuan: *approved_yuan,
                        allow_exceeding_request: false,
                        etag: None,
                    },
                };
                let key = self.request_key();
                replayed(funding::transition_application(store, ctx, Some(&key), command).await)
            }
            Action::Disburse {
                id,
                amount_yuan,
                note,
            } => {
                let command = RecordDisbursement {
                    project_id: demo_id(project)?,
                    application_id: demo_id(id)?,
                    amount: Yuan::funding(*amount_yuan, false).map_err(demo_value)?,
                    date: self.on,
                    note: DisbursementNote::parse(note).map_err(demo_value)?,
                    etag: None,
                };
                let key = self.request_key();
                replayed(funding::record_disbursement(store, ctx, Some(&key), command).await)
            }
            Action::SetInvestmentPlan {
                year,
                total_yuan,
                monthly_yuan,
            } => {
                let plan =
                    InvestmentPlan::new(*year, *total_yuan, monthly_yuan).map_err(demo_fields)?;
                // Setting a plan is idempotent by nature: the same plan again is the earlier
                // run's, and a plan changed since is left as it is (a conflict, like a
                // milestone achieved by hand).
                match store.get_investment_plan(project, *year).await {
                    Ok(set) if set.plan == plan => return Ok(Applied::Present),
                    Ok(set) => {
                        return Err(ServiceError::FailedPrecondition {
                            reason: "PLAN_CHANGED",
                            message: format!(
                                "{} was changed since the demo set it; left as it is",
                                set.name()
                            ),
                            violations: Vec::new(),
                        });
                    }
                    Err(err) => match ServiceError::from(err) {
                        ServiceError::NotFound { .. } => {}
                        err => return Err(err),
                    },
                }
                let cmd = investment::SetPlan {
                    project_id: project.to_string(),
                    plan,
                    etag: None,
                };
                investment::set_plan(store, ctx, cmd).await?;
                Ok(Applied::Created)
            }
            Action::CreateInvestmentReport {
                month,
                amount_yuan,
                physical_progress,
            } => {
                let cmd = investment::CreateReport {
                    project_id: project.to_string(),
                    report: NewReport {
                        month: *month,
                        amount: Yuan::parse(*amount_yuan).map_err(demo_value)?,
                        physical_progress: Title::parse(physical_progress).map_err(demo_value)?,
                    },
                };
                let key = self.request_key();
                replayed(investment::create_report(store, ctx, cmd, Some(&key)).await)
            }
            Action::CorrectInvestmentReport {
                month,
                amount_yuan,
                physical_progress,
                reason,
            } => {
                let physical_progress = match physical_progress {
                    Some(text) => Some(Title::parse(text).map_err(demo_value)?),
                    None => None,
                };
                let cmd = investment::CorrectReport {
                    project_id: project.to_string(),
                    month: *month,
                    correction: Correction {
                        amount: Yuan::parse(*amount_yuan).map_err(demo_value)?,
                        physical_progress,
                        reason: Reason::required(reason).map_err(demo_value)?,
                    },
                    etag: None,
                };
                let key = self.request_key();
                replayed(investment::correct_report(store, ctx, cmd, Some(&key)).await)
            }
            Action::CreateProblem {
                id,
                category,
                description,
                responsible_unit,
                responsible_leader,
                deadline,
                milestone,
            } => {
                let fields = ProblemFields::new(
                    *category,
                    Description::parse(description).map_err(demo_value)?,
                    self.on,
                    Unit::parse(responsible_unit).map_err(demo_value)?,
                    Unit::parse(responsible_leader).map_err(demo_value)?,
                    *deadline,
                    (!milestone.is_empty()).then(|| milestone.clone()),
                    ctx.today,
                )
                .map_err(demo_fields)?;
                let cmd = problems::CreateProblem {
                    project_id: project.to_string(),
                    problem_id: Some(demo_id(id)?),
                    fields,
                };
                created(problems::create(store, ctx, cmd, None).await, "problem_id")
            }
            Action::TransitionProblem { id, step, note } => {
                let reason = || Reason::parse(note).map_err(demo_value);
                let transition = match step {
                    ProblemStep::Start => problems::Transition::Start(reason()?),
                    ProblemStep::Resolve => {
                        problems::Transition::Resolve(Note::parse(note).map_err(demo_value)?)
                    }
                    ProblemStep::Close => problems::Transition::Close(reason()?),
                    ProblemStep::Extend(deadline) => problems::Transition::ExtendDeadline {
                        deadline: *deadline,
                        reason: reason()?,
                    },
                };
                let cmd = problems::TransitionProblem {
                    project_id: project.to_string(),
                    problem_id: id.clone(),
                    transition,
                    etag: None,
                };
                let key = self.request_key();
                replayed(problems::transition(store, ctx, cmd, Some(&key)).await)
            }
        }
    }
}

/// An id of the scenario, checked as a caller's would be.
fn demo_id(id: &str) -> Result<Id, ServiceError> {
    Id::parse(id).map_err(demo_value)
}

/// A value of the scenario that the API would have refused: a mistake in the scenario.
fn demo_value(problem: String) -> ServiceError {
    ServiceError::internal(format!("the demo scenario holds a bad value: {problem}"))
}

/// Values of the scenario that the API would have refused, field by field.
fn demo_fields(Invalid(violations): Invalid) -> ServiceError {
    demo_value(describe(&violations))
}

/// A creation with a fixed id whose only unique key is that id: the id already taken means an
/// earlier run created it.
fn created<T>(
    result: Result<Outcome<T>, ServiceError>,
    id_field: &str,
) -> Result<Applied, ServiceError> {
    match result {
        Ok(_) => Ok(Applied::Created),
        Err(ServiceError::AlreadyExists { field, .. }) if field == id_field => Ok(Applied::Present),
        Err(err) => Err(err),
    }
}

/// A creation with a fixed id whose resource has other unique keys too (a project's code, a
/// project's one live application per window), so the clash may be reported on one of those:
/// it is an earlier run's when the resource with our id exists.
async fn created_or_found<T>(
    result: Result<Outcome<T>, ServiceError>,
    found: impl Future<Output = bool>,
) -> Result<Applied, ServiceError> {
    match result {
        Ok(_) => Ok(Applied::Created),
        Err(err @ ServiceError::AlreadyExists { .. }) => {
            if found.await {
                Ok(Applied::Present)
            } else {
                Err(err)
            }
        }
        Err(err) => Err(err),
    }
}

/// A change with a request id: a replayed answer means an earlier run made it.
fn replayed<T>(result: Result<Outcome<T>, ServiceError>) -> Result<Applied, ServiceError> {
    match result? {
        Outcome::Done(_) => Ok(Applied::Created),
        Outcome::Replayed(_) => Ok(Applied::Present),
    }
}

// ----------------------------------------------------------------------------------------
// The scenario

fn day(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).expect("a scenario date is a calendar date")
}

/// The scenario, as data; see the module doc.
const SCENARIO: &str = include_str!("demo/county-2026.toml");

/// Every step of the scenario, in date order (steps of one day in the order written).
fn scenario() -> anyhow::Result<Vec<Step>> {
    data::parse(SCENARIO).context("reading the county scenario (src/demo/county-2026.toml)")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::domain::names::validate_id;
    use crate::domain::values::request_id;

    fn steps() -> Vec<Step> {
        scenario().expect("the embedded scenario file reads")
    }

    #[test]
    fn steps_are_dated_in_the_scenario_and_nothing_lands_after_its_step() {
        let steps = steps();
        assert!(steps.windows(2).all(|w| w[0].on <= w[1].on));
        assert_eq!(steps.first().unwrap().on, scenario_start());
        for step in &steps {
            assert!(step.on < status_date(), "{}", step.describe());
            // Actual dates are never after the day they are recorded.
            if let Action::ChangeMilestoneDate {
                change: DateChange::Achieve,
                date,
                ..
            } = &step.action
            {
                assert!(*date <= step.on, "{}", step.describe());
            }
        }
    }

    #[test]
    fn ids_and_request_ids_are_valid_and_unique() {
        let steps = steps();
        let mut targets = HashSet::new();
        let mut keys = HashSet::new();
        for step in &steps {
            for id in step.target().split('/').skip(1).step_by(2) {
                assert_eq!(validate_id(id), Ok(()), "{}", step.describe());
            }
            let key = step.request_key();
            assert!(request_id(&key.request_id).unwrap().is_some());
            assert!(
                keys.insert((key.method, key.request_id)),
                "{}",
                step.describe()
            );
            if step.method().starts_with("Create") {
                assert!(targets.insert(step.target()), "{}", step.describe());
            }
        }
    }

    /// Every step names a project, milestone, window or application created by a step above
    /// it; only funding windows belong to no project.
    #[test]
    fn every_reference_is_created_above_it() {
        let mut created = HashSet::new();
        for step in &steps() {
            let mut needs = Vec::new();
            match &step.action {
                Action::CreateProject { .. } => {}
                Action::CreateWindow { .. } => assert!(step.project.is_empty()),
                _ => needs.push(format!("projects/{}", step.project)),
            }
            if let Action::CreateApplication { window, .. } = &step.action {
                needs.push(format!("fundingWindows/{window}"));
            }
            // A plan is set whether or not one was there.
            let creates = step.method().starts_with("Create")
                || matches!(step.action, Action::SetInvestmentPlan { .. });
            if !creates {
                needs.push(step.target());
            }
            for needed in needs {
                assert!(
                    created.contains(&needed),
                    "{}: {needed} is not created above it",
                    step.describe()
                );
            }
            if creates {
                assert!(created.insert(step.target()), "{}", step.describe());
            }
        }
        assert!(created.contains(&format!("fundingWindows/{FUND_BATCH_5}")));
    }

    /// The counts of the scenario as it was written in Rust before it became data, the
    /// monthly investment of the projects under construction (3 plans, 26 reports, 1
    /// correction) and the problem ledger (4 problems, 7 transitions).
    #[test]
    fn the_scenario_has_its_236_steps() {
        let steps = steps();
        let mut tally = Tally::default();
        for step in &steps {
            tally.bump(step.kind());
        }
        let expected = Tally {
            projects: 24,
            prerequisites: 64,
            milestones: 30,
            milestone_date_changes: 11,
            stage_changes: 16,
            funding_windows: 4,
            funding_applications: 21,
            application_transitions: 23,
            disbursements: 2,
            investment_plans: 3,
            investment_reports: 26,
            report_corrections: 1,
            problems: 4,
            problem_transitions: 7,
        };
        assert_eq!(tally, expected);
        assert_eq!(tally.total(), 236);
        let count = |method: &str| steps.iter().filter(|s| s.method() == method).count();
        let by_method = [
            ("ForecastMilestone", 7),
            ("AchieveMilestone", 4),
            ("RebaselineMilestone", 0),
            ("SubmitFundingApplication", 17),
            ("ApproveFundingApplication", 3),
            ("RejectFundingApplication", 1),
            ("WithdrawFundingApplication", 2),
            ("StartProblem", 3),
            ("ResolveProblem", 2),
            ("CloseProblem", 2),
            ("ExtendProblemDeadline", 0),
        ];
        for (method, n) in by_method {
            assert_eq!(count(method), n, "{method}");
        }
        // The sixteen projects reserved for the fifth fund batch, thirteen of them declared.
        let reserved = steps.iter().filter(|s| {
            matches!(
                &s.action,
                Action::ChangeStage {
                    to: Stage::Reserve,
                    ..
                }
            )
        });
        assert_eq!(reserved.count(), 16);
        let declared = steps.iter().filter(|s| {
            matches!(&s.action, Action::CreateApplication { window, .. } if window == FUND_BATCH_5)
        });
        assert_eq!(declared.count(), 13);
    }

    /// Every project under construction has a 2026 plan equal to its annual planned investment
    /// and its reports for January to August; no report is for a month after its day; and the
    /// September reports are one on time, one late and one missing (README, "Monthly
    /// investment and pace lights").
    #[test]
    fn the_projects_under_construction_report_their_monthly_investment() {
        let steps = steps();
        let constructing = [
            "citangwan-reservoir",
            "xinminghao-battery",
            "zhenqin-battery",
        ];
        for project in constructing {
            let annual = steps.iter().find_map(|s| match &s.action {
                Action::CreateProject { fields, .. } if s.project == project => {
                    Some(fields.annual_planned_investment_yuan)
                }
                _ => None,
            });
            let plan = steps.iter().find_map(|s| match &s.action {
                Action::SetInvestmentPlan {
                    year: 2026,
                    total_yuan,
                    ..
                } if s.project == project => Some(*total_yuan),
                _ => None,
            });
            assert_eq!(plan, annual, "{project}");
            let months: Vec<u32> = steps
                .iter()
                .filter(|s| s.project == project)
                .filter_map(|s| match &s.action {
                    Action::CreateInvestmentReport { month, .. } => Some(month.month()),
                    _ => None,
                })
                .collect();
            assert_eq!(months[..8], [1, 2, 3, 4, 5, 6, 7, 8], "{project}");
        }
        let mut september = Vec::new();
        for step in &steps {
            if let Action::CreateInvestmentReport { month, .. }
            | Action::CorrectInvestmentReport { month, .. } = &step.action
            {
                assert!(*month <= YearMonth::of(step.on), "{}", step.describe());
                if month.month() == 9 {
                    let late = step.on > month.due_date(5);
                    september.push((step.project.as_str(), late));
                }
            }
        }
        assert_eq!(
            september,
            [("xinminghao-battery", false), ("citangwan-reservoir", true)]
        );
        let planned = steps
            .iter()
            .filter(|s| matches!(s.action, Action::SetInvestmentPlan { .. }));
        assert_eq!(planned.count(), constructing.len());
    }

    /// A database loaded by an earlier run replays only while every step's request id and
    /// fingerprint (the `Debug` text of its action) are what they were: this digest of all of
    /// them is the one of the scenario as published with the problem ledger's steps (the steps
    /// before them keep their keys: a database loaded before replays them and adds the
    /// problems).
    /// A deliberate change of the scenario changes it; a change of the `Debug` output of the
    /// step types must not.
    #[test]
    fn request_keys_are_those_of_earlier_runs() {
        let mut all = String::new();
        for step in &steps() {
            let key = step.request_key();
            all.push_str(&format!(
                "{} {} {}\n",
                key.method, key.request_id, key.fingerprint
            ));
        }
        let digest = RequestKey::new("", String::new(), all.as_bytes()).fingerprint;
        assert_eq!(digest, "145acbd07753d318");
    }
}
