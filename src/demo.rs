//! `pipeline demo`: loads the county scenario of DESIGN §9 — the autumn push of 2026 — into the
//! configured database through the same store methods the gRPC API calls, so that every
//! revision, stage change, transition and event is exactly what a client would have produced.
//!
//! The scenario is a list of dated steps, replayed in date order: the project library is set up
//! on 3 August 2026 (with the construction starts achieved earlier that year), forecasts slip
//! through September, the funding windows open and close, and the last step is dated
//! 14 October, so that `serve --today 2026-10-15` shows the picture of the week before the fifth
//! fund batch closes. Each step writes with a context whose `today` is the step's own date, so
//! revisions carry the day they were recorded and windows take applications only while open.
//! Steps dated after the `today` given to [`load`] are left for a later run: nothing is ever
//! recorded in the future of the user's today.
//!
//! Re-running is safe: creations use fixed ids (an existing one counts as present) and every
//! other change carries a request id, so a second run replays instead of acting twice.

use std::fmt;

use anyhow::Context;
use chrono::NaiveDate;

use crate::config::DemoConfig;
use crate::domain::access::Principal;
use crate::domain::clock::Clock;
use crate::domain::funding::{
    ApplicationAction, ApplicationTransition, CreateApplication, CreateWindow, Eligibility,
    FundingChannel, RecordDisbursement, TransitionApplication, WindowFields,
};
use crate::domain::milestone::{MilestoneKind, Policy};
use crate::domain::prerequisite::{PrerequisiteFields, PrerequisiteKind, PrerequisiteState};
use crate::domain::project::{Category, InvestmentType, ProjectFields, Stage, StageChangeRequest};
use crate::domain::values::{Description, DisbursementNote, Id, Note, Yuan};
use crate::service::{ServiceError, funding};
use crate::store::idempotency::RequestKey;
use crate::store::milestones::{DateChange, NewMilestone};
use crate::store::{Outcome, Store, WriteContext};

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
}

impl Tally {
    pub fn total(&self) -> usize {
        self.parts().iter().map(|(n, _)| n).sum()
    }

    fn parts(&self) -> [(usize, &'static str); 9] {
        [
            (self.projects, "projects"),
            (self.prerequisites, "prerequisites"),
            (self.milestones, "milestones"),
            (self.milestone_date_changes, "milestone date changes"),
            (self.stage_changes, "stage changes"),
            (self.funding_windows, "funding windows"),
            (self.funding_applications, "funding applications"),
            (self.application_transitions, "application transitions"),
            (self.disbursements, "disbursements"),
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
        };
        *slot += 1;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .parts()
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
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
    let store = crate::app::open_store(&config.database).await?;
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
         MilestoneService.ListMilestones with `light = RED`, or \
         FundingService.GetFundingCoverage for fundingWindows/{FUND_BATCH_5}.",
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
    let policy = Policy::default();
    let mut report = DemoReport {
        today,
        ..DemoReport::default()
    };
    for step in scenario() {
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
        match step.apply(store, &ctx, &policy).await {
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
        id: &'static str,
        fields: PrerequisiteFields,
    },
    CreateMilestone {
        id: &'static str,
        new: NewMilestone,
    },
    ChangeMilestoneDate {
        milestone: &'static str,
        change: DateChange,
        date: NaiveDate,
        reason: &'static str,
    },
    ChangeStage {
        to: Stage,
        reason: &'static str,
    },
    CreateWindow {
        id: &'static str,
        fields: WindowFields,
    },
    CreateApplication {
        id: &'static str,
        window: &'static str,
        requested_yuan: i64,
        description: &'static str,
    },
    TransitionApplication {
        id: &'static str,
        action: ApplicationAction,
        reason: &'static str,
        approved_yuan: Option<i64>,
    },
    Disburse {
        id: &'static str,
        amount_yuan: i64,
        note: &'static str,
    },
}

/// A change made on a date; `project` is empty for funding windows.
#[derive(Debug, Clone)]
struct Step {
    on: NaiveDate,
    project: &'static str,
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
        }
    }

    /// The resource the step creates or changes.
    fn target(&self) -> String {
        let p = self.project;
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
    ) -> Result<Applied, ServiceError> {
        let project = self.project;
        match &self.action {
            Action::CreateProject { fields, stage } => {
                let result = store
                    .create_project(ctx, Some(project.to_string()), fields.clone(), *stage, None)
                    .await;
                created_or_found(result, async { store.get_project(project).await.is_ok() }).await
            }
            Action::CreatePrerequisite { id, fields } => created(
                store
                    .create_prerequisite(ctx, project, Some(id.to_string()), fields.clone(), None)
                    .await,
                "prerequisite_id",
            ),
            Action::CreateMilestone { id, new } => created(
                store
                    .create_milestone(
                        ctx,
                        policy,
                        project,
                        Some(id.to_string()),
                        new.clone(),
                        None,
                    )
                    .await,
                "milestone_id",
            ),
            Action::ChangeMilestoneDate {
                milestone,
                change,
                date,
                reason,
            } => replayed(
                store
                    .change_milestone_date(
                        ctx,
                        policy,
                        *change,
                        project,
                        milestone,
                        *date,
                        reason.to_string(),
                        None,
                        Some(&self.request_key()),
                    )
                    .await,
            ),
            Action::ChangeStage { to, reason } => replayed(
                store
                    .change_project_stage(
                        ctx,
                        project,
                        StageChangeRequest {
                            target: *to,
                            reason: reason.to_string(),
                            effective_date: self.on,
                            etag: None,
                        },
                        Some(&self.request_key()),
                    )
                    .await,
            ),
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
    ymd(2026, month, day)
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a scenario date is a calendar date")
}

/// The descriptive fields of a project.
struct ProjectSpec {
    id: &'static str,
    display_name: &'static str,
    description: &'static str,
    project_code: Option<&'static str>,
    category: Category,
    investment_type: InvestmentType,
    township: &'static str,
    department: &'static str,
    owner: &'static str,
    leader: &'static str,
    total_investment_yuan: i64,
    annual_planned_investment_yuan: i64,
    completed_investment_yuan: i64,
}

impl ProjectSpec {
    fn fields(&self) -> ProjectFields {
        ProjectFields {
            display_name: self.display_name.to_string(),
            description: self.description.to_string(),
            project_code: self.project_code.map(str::to_string),
            category: self.category,
            investment_type: self.investment_type,
            township: self.township.to_string(),
            department: self.department.to_string(),
            owner: self.owner.to_string(),
            leader: self.leader.to_string(),
            total_investment_yuan: self.total_investment_yuan,
            annual_planned_investment_yuan: self.annual_planned_investment_yuan,
            completed_investment_yuan: self.completed_investment_yuan,
        }
    }
}

fn prerequisite(
    kind: PrerequisiteKind,
    state: PrerequisiteState,
    title: &str,
    due_date: Option<NaiveDate>,
    note: &str,
) -> PrerequisiteFields {
    PrerequisiteFields {
        kind,
        title: title.to_string(),
        state,
        due_date,
        note: note.to_string(),
    }
}

/// Collects the steps; `scenario()` puts them in date order.
#[derive(Default)]
struct Scenario {
    steps: Vec<Step>,
}

impl Scenario {
    fn push(&mut self, on: NaiveDate, project: &'static str, action: Action) {
        self.steps.push(Step {
            on,
            project,
            action,
        });
    }

    fn project(&mut self, on: NaiveDate, spec: &ProjectSpec, stage: Stage) {
        self.push(
            on,
            spec.id,
            Action::CreateProject {
                fields: spec.fields(),
                stage,
            },
        );
    }

    fn prerequisite(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        id: &'static str,
        fields: PrerequisiteFields,
    ) {
        self.push(on, project, Action::CreatePrerequisite { id, fields });
    }

    fn milestone(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        id: &'static str,
        kind: MilestoneKind,
        title: &str,
        baseline: NaiveDate,
    ) {
        let new = NewMilestone {
            kind,
            title: title.to_string(),
            description: String::new(),
            baseline,
            forecast: None,
        };
        self.push(on, project, Action::CreateMilestone { id, new });
    }

    fn forecast(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        milestone: &'static str,
        date: NaiveDate,
        reason: &'static str,
    ) {
        let change = DateChange::Forecast;
        self.push(
            on,
            project,
            Action::ChangeMilestoneDate {
                milestone,
                change,
                date,
                reason,
            },
        );
    }

    /// Records that `milestone` was achieved on `actual`, as entered on `on`.
    fn achieve(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        milestone: &'static str,
        actual: NaiveDate,
    ) {
        let change = DateChange::Achieve;
        self.push(
            on,
            project,
            Action::ChangeMilestoneDate {
                milestone,
                change,
                date: actual,
                reason: "",
            },
        );
    }

    fn stage(&mut self, on: NaiveDate, project: &'static str, to: Stage, reason: &'static str) {
        self.push(on, project, Action::ChangeStage { to, reason });
    }

    fn window(&mut self, on: NaiveDate, id: &'static str, fields: WindowFields) {
        self.push(on, "", Action::CreateWindow { id, fields });
    }

    /// A draft application of `project` to `window`, with the window's id as its own.
    fn declare(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        window: &'static str,
        requested_yuan: i64,
        description: &'static str,
    ) {
        self.push(
            on,
            project,
            Action::CreateApplication {
                id: window,
                window,
                requested_yuan,
                description,
            },
        );
    }

    fn transition(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        window: &'static str,
        action: ApplicationAction,
        reason: &'static str,
    ) {
        self.push(
            on,
            project,
            Action::TransitionApplication {
                id: window,
                action,
                reason,
                approved_yuan: None,
            },
        );
    }

    fn approve(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        window: &'static str,
        approved_yuan: i64,
        reason: &'static str,
    ) {
        self.push(
            on,
            project,
            Action::TransitionApplication {
                id: window,
                action: ApplicationAction::Approve,
                reason,
                approved_yuan: Some(approved_yuan),
            },
        );
    }

    fn disburse(
        &mut self,
        on: NaiveDate,
        project: &'static str,
        window: &'static str,
        amount_yuan: i64,
        note: &'static str,
    ) {
        self.push(
            on,
            project,
            Action::Disburse {
                id: window,
                amount_yuan,
                note,
            },
        );
    }
}

/// Every step of the scenario, in date order (steps of one day in the order written).
fn scenario() -> Vec<Step> {
    let mut s = Scenario::default();
    autumn_push(&mut s);
    reserve_library(&mut s);
    funding_windows(&mut s);
    let mut steps = s.steps;
    steps.sort_by_key(|step| step.on);
    steps
}

// Ids of the eight projects of the autumn push.
const RAILWAY: &str = "mianshui-railway";
const RESERVOIR: &str = "citangwan-reservoir";
const XINMINGHAO: &str = "xinminghao-battery";
const ZHENQIN: &str = "zhenqin-battery";
const WATER_SUPPLY: &str = "water-supply-integration";
const WATER_NETWORK: &str = "water-network-1";
const QINQUAN: &str = "qinquan-renewal";
const LICHENG: &str = "licheng-food";

// Funding windows.
const SPECIAL_BOND: &str = "special-bond-2026-3";
const CENTRAL_BUDGET: &str = "central-budget-2026-4";
const LONG_TERM_LOAN: &str = "long-term-loan-2026-q4";

/// The eight projects of DESIGN §9: their approvals, milestones and slips.
fn autumn_push(s: &mut Scenario) {
    use MilestoneKind::*;
    use PrerequisiteKind::*;
    use PrerequisiteState::*;
    let set_up = scenario_start();

    // 绵遂内铁路: preparing the start of construction; the preliminary design is late.
    s.project(
        set_up,
        &ProjectSpec {
            id: RAILWAY,
            display_name: "绵遂内铁路（县境段）",
            description: "绵阳—遂宁—内江铁路县境段约 42 公里，设太和站一座；县负责征地拆迁和配套道路。",
            project_code: Some("2203-510922-04-01-358126"),
            category: Category::Transport,
            investment_type: InvestmentType::Government,
            township: "太和镇",
            department: "县交通运输局",
            owner: "县交通投资建设集团有限公司",
            leader: "张副县长",
            total_investment_yuan: 3_860_000_000,
            annual_planned_investment_yuan: 600_000_000,
            completed_investment_yuan: 142_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        RAILWAY,
        "land",
        prerequisite(
            Land,
            InProgress,
            "用地预审与选址意见书",
            Some(day(11, 30)),
            "已报省自然资源厅，待自然资源部批复",
        ),
    );
    s.prerequisite(
        set_up,
        RAILWAY,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            Done,
            "环境影响报告书批复",
            None,
            "",
        ),
    );
    s.prerequisite(
        set_up,
        RAILWAY,
        "preliminary-design",
        prerequisite(
            Other,
            InProgress,
            "初步设计批复",
            Some(day(9, 30)),
            "国铁集团与省发改委联合审查",
        ),
    );
    s.prerequisite(
        set_up,
        RAILWAY,
        "construction-permit",
        prerequisite(
            ConstructionPermit,
            NotStarted,
            "施工许可",
            Some(day(12, 20)),
            "",
        ),
    );
    s.milestone(
        set_up,
        RAILWAY,
        "preliminary-design",
        Custom,
        "初步设计批复",
        day(9, 30),
    );
    s.milestone(
        set_up,
        RAILWAY,
        "construction-start",
        ConstructionStart,
        "县境段开工",
        day(12, 28),
    );
    s.forecast(
        day(9, 20),
        RAILWAY,
        "preliminary-design",
        day(10, 31),
        "国铁集团初步设计审查意见尚未反馈",
    );

    // 祠堂湾水库: under construction since March; land, power and water guarantees.
    s.project(
        set_up,
        &ProjectSpec {
            id: RESERVOIR,
            display_name: "祠堂湾水库",
            description: "中型水库，总库容 2860 万立方米，兼顾城乡供水和灌溉；县里负责移民安置和水电路保障。",
            project_code: Some("2107-510922-04-01-472903"),
            category: Category::Water,
            investment_type: InvestmentType::Government,
            township: "香山镇",
            department: "县水利局",
            owner: "县水务投资集团有限公司",
            leader: "李副县长",
            total_investment_yuan: 1_260_000_000,
            annual_planned_investment_yuan: 320_000_000,
            completed_investment_yuan: 236_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        RESERVOIR,
        "land",
        prerequisite(Land, Done, "建设用地批复（含库区淹没区）", None, ""),
    );
    s.prerequisite(
        set_up,
        RESERVOIR,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            Done,
            "环境影响报告书批复",
            None,
            "",
        ),
    );
    s.prerequisite(
        set_up,
        RESERVOIR,
        "construction-permit",
        prerequisite(ConstructionPermit, Done, "水利工程开工备案", None, ""),
    );
    s.prerequisite(
        set_up,
        RESERVOIR,
        "power",
        prerequisite(
            Other,
            InProgress,
            "施工供电 10kV 专线",
            Some(day(10, 31)),
            "县供电公司架设中，保障大坝填筑用电",
        ),
    );
    s.prerequisite(
        set_up,
        RESERVOIR,
        "water",
        prerequisite(Other, Done, "施工用水保障", None, ""),
    );
    s.milestone(
        set_up,
        RESERVOIR,
        "construction-start",
        ConstructionStart,
        "主体工程开工",
        day(3, 31),
    );
    // Achieving the start moves the project from PREPARATION to CONSTRUCTION.
    s.achieve(set_up, RESERVOIR, "construction-start", day(3, 18));
    s.milestone(
        set_up,
        RESERVOIR,
        "resettlement",
        Custom,
        "库区移民安置完成",
        day(12, 31),
    );
    s.milestone(
        set_up,
        RESERVOIR,
        "completion",
        Completion,
        "下闸蓄水并竣工验收",
        ymd(2028, 12, 31),
    );

    // 鑫鸣灏: trial production by 31 October — the worked example of the README.
    s.project(
        set_up,
        &ProjectSpec {
            id: XINMINGHAO,
            display_name: "鑫鸣灏新能源电池项目",
            description: "年产 10GWh 储能及动力电池，一期 4 条电芯生产线；招商引资重点项目。",
            project_code: Some("2510-510922-07-02-613358"),
            category: Category::Industry,
            investment_type: InvestmentType::Enterprise,
            township: "金华镇",
            department: "县经信局",
            owner: "四川鑫鸣灏新能源科技有限公司",
            leader: "王副县长",
            total_investment_yuan: 2_000_000_000,
            annual_planned_investment_yuan: 800_000_000,
            completed_investment_yuan: 615_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        XINMINGHAO,
        "land",
        prerequisite(Land, Done, "工业用地出让", None, ""),
    );
    s.prerequisite(
        set_up,
        XINMINGHAO,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            Done,
            "环境影响报告书批复",
            None,
            "",
        ),
    );
    s.prerequisite(
        set_up,
        XINMINGHAO,
        "energy",
        prerequisite(EnergyAssessment, Done, "节能审查意见", None, ""),
    );
    s.prerequisite(
        set_up,
        XINMINGHAO,
        "construction-permit",
        prerequisite(ConstructionPermit, Done, "施工许可证", None, ""),
    );
    s.prerequisite(
        set_up,
        XINMINGHAO,
        "power",
        prerequisite(
            Other,
            InProgress,
            "110kV 专用变电站及接入线路",
            Some(day(11, 30)),
            "线路通道协调滞后，影响试生产",
        ),
    );
    s.milestone(
        set_up,
        XINMINGHAO,
        "construction-start",
        ConstructionStart,
        "一期厂房开工",
        day(2, 28),
    );
    s.achieve(set_up, XINMINGHAO, "construction-start", day(3, 6));
    s.milestone(
        day(8, 20),
        XINMINGHAO,
        "trial-production",
        TrialProduction,
        "一期生产线试生产",
        day(10, 31),
    );
    s.forecast(
        day(9, 5),
        XINMINGHAO,
        "trial-production",
        day(11, 10),
        "生产设备到货延迟",
    );
    s.forecast(
        day(9, 25),
        XINMINGHAO,
        "trial-production",
        day(12, 5),
        "110kV 供电线路接入延迟",
    );

    // 臻秦: trial production by 31 October; slipped, then recovered.
    s.project(
        set_up,
        &ProjectSpec {
            id: ZHENQIN,
            display_name: "臻秦新能源电池项目",
            description: "年产 6GWh 磷酸铁锂电池及 PACK 生产线；招商引资重点项目。",
            project_code: Some("2512-510922-07-02-705214"),
            category: Category::Industry,
            investment_type: InvestmentType::Enterprise,
            township: "金华镇",
            department: "县经信局",
            owner: "四川臻秦新能源有限公司",
            leader: "王副县长",
            total_investment_yuan: 1_500_000_000,
            annual_planned_investment_yuan: 600_000_000,
            completed_investment_yuan: 498_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        ZHENQIN,
        "land",
        prerequisite(Land, Done, "工业用地出让", None, ""),
    );
    s.prerequisite(
        set_up,
        ZHENQIN,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            Done,
            "环境影响报告表批复",
            None,
            "",
        ),
    );
    s.prerequisite(
        set_up,
        ZHENQIN,
        "energy",
        prerequisite(EnergyAssessment, Done, "节能审查意见", None, ""),
    );
    s.prerequisite(
        set_up,
        ZHENQIN,
        "construction-permit",
        prerequisite(ConstructionPermit, Done, "施工许可证", None, ""),
    );
    s.milestone(
        set_up,
        ZHENQIN,
        "construction-start",
        ConstructionStart,
        "厂房开工",
        day(4, 15),
    );
    s.achieve(set_up, ZHENQIN, "construction-start", day(4, 10));
    s.milestone(
        set_up,
        ZHENQIN,
        "trial-production",
        TrialProduction,
        "电芯生产线试生产",
        day(10, 31),
    );
    s.forecast(
        day(9, 10),
        ZHENQIN,
        "trial-production",
        day(11, 8),
        "化成分容设备调试周期延长",
    );
    s.forecast(
        day(10, 8),
        ZHENQIN,
        "trial-production",
        day(10, 30),
        "设备厂家增派调试团队，两班倒追回工期",
    );

    // 城乡供水一体化: construction starts 20 October with the permit still open (AT_RISK).
    s.project(
        set_up,
        &ProjectSpec {
            id: WATER_SUPPLY,
            display_name: "城乡供水一体化项目",
            description: "新建水厂 1 座（日供水 6 万吨）及城乡配水管网 210 公里，覆盖 12 个乡镇。",
            project_code: Some("2404-510922-04-01-286731"),
            category: Category::Water,
            investment_type: InvestmentType::Government,
            township: "洋溪镇",
            department: "县水利局",
            owner: "县水务投资集团有限公司",
            leader: "李副县长",
            total_investment_yuan: 860_000_000,
            annual_planned_investment_yuan: 200_000_000,
            completed_investment_yuan: 36_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        WATER_SUPPLY,
        "land",
        prerequisite(Land, Done, "水厂及加压站用地", None, ""),
    );
    s.prerequisite(
        set_up,
        WATER_SUPPLY,
        "planning",
        prerequisite(PlanningPermit, Done, "建设用地规划许可证", None, ""),
    );
    s.prerequisite(
        set_up,
        WATER_SUPPLY,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            Done,
            "环境影响报告表批复",
            None,
            "",
        ),
    );
    s.prerequisite(
        set_up,
        WATER_SUPPLY,
        "construction-permit",
        prerequisite(
            ConstructionPermit,
            InProgress,
            "施工许可证",
            Some(day(10, 18)),
            "施工图审查意见待回复",
        ),
    );
    s.milestone(
        set_up,
        WATER_SUPPLY,
        "construction-start",
        ConstructionStart,
        "水厂及一期管网开工",
        day(10, 20),
    );

    // 县水网（一期）: construction start slipped into November waiting for the land approval.
    s.project(
        set_up,
        &ProjectSpec {
            id: WATER_NETWORK,
            display_name: "县水网（一期）工程",
            description: "连通祠堂湾水库与城区水厂的骨干输水管线 48 公里及调蓄池 2 座。",
            project_code: Some("2406-510922-04-01-319045"),
            category: Category::Water,
            investment_type: InvestmentType::Government,
            township: "城关镇",
            department: "县水利局",
            owner: "县水务投资集团有限公司",
            leader: "张副县长",
            total_investment_yuan: 1_200_000_000,
            annual_planned_investment_yuan: 250_000_000,
            completed_investment_yuan: 18_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        WATER_NETWORK,
        "land",
        prerequisite(
            Land,
            InProgress,
            "永久用地报批",
            Some(day(11, 10)),
            "已报省自然资源厅",
        ),
    );
    s.prerequisite(
        set_up,
        WATER_NETWORK,
        "planning",
        prerequisite(PlanningPermit, Done, "建设项目选址意见书", None, ""),
    );
    s.prerequisite(
        set_up,
        WATER_NETWORK,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            InProgress,
            "环境影响报告书审批",
            Some(day(10, 30)),
            "",
        ),
    );
    s.prerequisite(
        set_up,
        WATER_NETWORK,
        "construction-permit",
        prerequisite(ConstructionPermit, NotStarted, "施工许可", None, ""),
    );
    s.milestone(
        set_up,
        WATER_NETWORK,
        "construction-start",
        ConstructionStart,
        "骨干输水管线开工",
        day(10, 28),
    );
    s.forecast(
        day(10, 9),
        WATER_NETWORK,
        "construction-start",
        day(11, 15),
        "永久用地报批待省自然资源厅批复",
    );

    // 琴泉片区有机更新: expropriation done early, every approval cleared, start on 26 October.
    s.project(
        set_up,
        &ProjectSpec {
            id: QINQUAN,
            display_name: "琴泉片区有机更新项目",
            description: "老城琴泉片区 38 公顷城市更新：房屋征收、街巷改造、地下管网和口袋公园。",
            project_code: Some("2402-510922-04-01-155870"),
            category: Category::Urban,
            investment_type: InvestmentType::Government,
            township: "城关镇",
            department: "县住建局",
            owner: "县城市建设投资有限公司",
            leader: "刘副县长",
            total_investment_yuan: 980_000_000,
            annual_planned_investment_yuan: 150_000_000,
            completed_investment_yuan: 64_000_000,
        },
        Stage::Preparation,
    );
    s.prerequisite(
        set_up,
        QINQUAN,
        "land",
        prerequisite(Land, Done, "国有土地使用权收回", None, ""),
    );
    s.prerequisite(
        set_up,
        QINQUAN,
        "planning",
        prerequisite(PlanningPermit, Done, "建设工程规划许可证", None, ""),
    );
    s.prerequisite(
        set_up,
        QINQUAN,
        "environment",
        prerequisite(
            EnvironmentalAssessment,
            Done,
            "环境影响登记表备案",
            None,
            "",
        ),
    );
    s.prerequisite(
        set_up,
        QINQUAN,
        "energy",
        prerequisite(
            EnergyAssessment,
            Waived,
            "节能审查",
            None,
            "城市更新改造类项目，按规定免于单独节能审查",
        ),
    );
    s.prerequisite(
        set_up,
        QINQUAN,
        "construction-permit",
        prerequisite(ConstructionPermit, Done, "施工许可证", None, ""),
    );
    s.milestone(
        set_up,
        QINQUAN,
        "expropriation",
        Custom,
        "片区房屋征收签约完成",
        day(9, 30),
    );
    s.achieve(day(9, 28), QINQUAN, "expropriation", day(9, 28));
    s.milestone(
        set_up,
        QINQUAN,
        "construction-start",
        ConstructionStart,
        "一期街巷改造开工",
        day(10, 26),
    );

    // 力诚食品: investment promotion, contract signing under negotiation.
    let negotiating = day(8, 25);
    s.project(
        negotiating,
        &ProjectSpec {
            id: LICHENG,
            display_name: "力诚食品加工项目",
            description: "招商引资在谈项目：川味调味品及预制菜生产基地，拟选址沱牌镇食品产业园。",
            project_code: None,
            category: Category::Industry,
            investment_type: InvestmentType::Enterprise,
            township: "沱牌镇",
            department: "县商务局",
            owner: "力诚食品有限公司（意向投资方）",
            leader: "陈副县长",
            total_investment_yuan: 300_000_000,
            annual_planned_investment_yuan: 0,
            completed_investment_yuan: 0,
        },
        Stage::Concept,
    );
    s.prerequisite(
        negotiating,
        LICHENG,
        "land",
        prerequisite(
            Land,
            NotStarted,
            "工业用地招拍挂",
            None,
            "待投资协议签订后启动",
        ),
    );
    s.milestone(
        negotiating,
        LICHENG,
        "contract-signing",
        ContractSigning,
        "投资协议签约",
        day(11, 15),
    );
    s.forecast(
        day(9, 28),
        LICHENG,
        "contract-signing",
        day(11, 30),
        "土地出让价格与配套政策仍在谈判",
    );
}

/// How a reserve project was declared into the fifth fund batch.
enum Declaration {
    Submitted {
        drafted: NaiveDate,
        submitted: NaiveDate,
    },
    Draft {
        drafted: NaiveDate,
    },
    Withdrawn {
        drafted: NaiveDate,
        submitted: NaiveDate,
        withdrawn: NaiveDate,
        reason: &'static str,
    },
    Undeclared,
}

struct ReserveSpec {
    project: ProjectSpec,
    land: PrerequisiteState,
    environment: PrerequisiteState,
    planned_start: NaiveDate,
    requested_yuan: i64,
    declaration: Declaration,
}

/// A newly reserved government project: no code or investment yet.
#[allow(clippy::too_many_arguments)]
fn reserve(
    id: &'static str,
    display_name: &'static str,
    description: &'static str,
    category: Category,
    township: &'static str,
    department: &'static str,
    owner: &'static str,
    leader: &'static str,
    total_investment_yuan: i64,
) -> ProjectSpec {
    ProjectSpec {
        id,
        display_name,
        description,
        project_code: None,
        category,
        investment_type: InvestmentType::Government,
        township,
        department,
        owner,
        leader,
        total_investment_yuan,
        annual_planned_investment_yuan: 0,
        completed_investment_yuan: 0,
    }
}

/// The sixteen projects packaged for the fifth fund batch: shaped in August (CONCEPT), put in
/// the reserve library on 18 September, declared into the batch from its opening on 28
/// September.
fn reserve_specs() -> Vec<ReserveSpec> {
    use Category::*;
    use PrerequisiteState::*;
    let water = "县水务投资集团有限公司";
    let city = "县城市建设投资有限公司";
    let submitted =
        |drafted: NaiveDate, submitted: NaiveDate| Declaration::Submitted { drafted, submitted };
    vec![
        ReserveSpec {
            project: reserve(
                "fujiang-flood-control",
                "涪江右岸防洪提升工程",
                "新建加固堤防 12.6 公里，防洪标准由 20 年一遇提升至 50 年一遇。",
                Water,
                "太和镇",
                "县水利局",
                water,
                "李副县长",
                680_000_000,
            ),
            land: InProgress,
            environment: Done,
            planned_start: ymd(2027, 3, 15),
            requested_yuan: 136_000_000,
            declaration: submitted(day(9, 29), day(10, 8)),
        },
        ReserveSpec {
            project: reserve(
                "tuopai-sewage-upgrade",
                "沱牌镇污水处理厂提标扩能工程",
                "处理规模由 1 万吨/日扩至 2 万吨/日，出水提至一级 A 标准。",
                Ecology,
                "沱牌镇",
                "县住建局",
                city,
                "刘副县长",
                150_000_000,
            ),
            land: Done,
            environment: Done,
            planned_start: ymd(2027, 4, 1),
            requested_yuan: 30_000_000,
            declaration: submitted(day(9, 29), day(10, 9)),
        },
        ReserveSpec {
            project: reserve(
                "old-estates-2026",
                "2026年县城老旧小区改造",
                "改造 2000 年前建成的老旧小区 46 个、4,800 户，含加装电梯和雨污分流。",
                Urban,
                "城关镇",
                "县住建局",
                city,
                "刘副县长",
                420_000_000,
            ),
            land: Waived,
            environment: Done,
            planned_start: ymd(2027, 3, 1),
            requested_yuan: 84_000_000,
            declaration: submitted(day(9, 30), day(10, 9)),
        },
        ReserveSpec {
            project: reserve(
                "jinhua-rural-roads",
                "金华镇农村公路提档升级工程",
                "县乡道提档升级 86 公里，含危桥改造 7 座。",
                Transport,
                "金华镇",
                "县交通运输局",
                "县交通投资建设集团有限公司",
                "张副县长",
                230_000_000,
            ),
            land: InProgress,
            environment: Done,
            planned_start: ymd(2027, 4, 15),
            requested_yuan: 46_000_000,
            declaration: submitted(day(9, 30), day(10, 10)),
        },
        ReserveSpec {
            project: reserve(
                "hospital-medical-tech",
                "县人民医院医技综合楼",
                "新建医技综合楼 3.2 万平方米，含影像、检验和重症医学中心。",
                Social,
                "城关镇",
                "县卫健局",
                "县人民医院",
                "赵副县长",
                360_000_000,
            ),
            land: Done,
            environment: Done,
            planned_start: ymd(2027, 5, 1),
            requested_yuan: 72_000_000,
            declaration: submitted(day(10, 8), day(10, 10)),
        },
        ReserveSpec {
            project: reserve(
                "vocational-training-base",
                "县职业中学产教融合实训基地",
                "新建实训楼及新能源电池、食品加工专业实训车间 2.1 万平方米。",
                Social,
                "太和镇",
                "县教体局",
                "县职业中学",
                "赵副县长",
                180_000_000,
            ),
            land: Done,
            environment: InProgress,
            planned_start: ymd(2027, 6, 1),
            requested_yuan: 36_000_000,
            declaration: submitted(day(10, 8), day(10, 12)),
        },
        ReserveSpec {
            project: reserve(
                "qingdi-irrigation",
                "青堤镇灌区续建配套与节水改造",
                "改造干支渠 64 公里及渠系建筑物 212 处，新增恢复灌面 3.5 万亩。",
                Water,
                "青堤镇",
                "县水利局",
                water,
                "李副县长",
                260_000_000,
            ),
            land: Waived,
            environment: Done,
            planned_start: ymd(2027, 3, 20),
            requested_yuan: 52_000_000,
            declaration: submitted(day(10, 9), day(10, 12)),
        },
        ReserveSpec {
            project: reserve(
                "cold-chain-logistics",
                "县农产品冷链物流中心",
                "建设冷库 5 万吨及分拣配送中心，服务柑橘、生猪等特色农产品。",
                Agriculture,
                "太和镇",
                "县商务局",
                "县供销投资有限公司",
                "陈副县长",
                310_000_000,
            ),
            land: InProgress,
            environment: NotStarted,
            planned_start: ymd(2027, 7, 1),
            requested_yuan: 62_000_000,
            declaration: submitted(day(10, 9), day(10, 13)),
        },
        ReserveSpec {
            project: reserve(
                "dayu-solar-storage",
                "大榆镇分布式光伏储能示范项目",
                "屋顶及农光互补分布式光伏 120 兆瓦，配套储能 30 兆瓦/60 兆瓦时。",
                Energy,
                "大榆镇",
                "县发改局",
                "县能源投资有限公司",
                "王副县长",
                450_000_000,
            ),
            land: Done,
            environment: Done,
            planned_start: ymd(2027, 4, 1),
            requested_yuan: 90_000_000,
            declaration: submitted(day(10, 10), day(10, 13)),
        },
        ReserveSpec {
            project: reserve(
                "industrial-park-phase-3",
                "工业园区标准化厂房（三期）",
                "标准化厂房 18 万平方米及园区道路管网，承接电池产业链配套企业。",
                Industry,
                "金华镇",
                "县经信局",
                "县工业园区开发建设有限公司",
                "王副县长",
                540_000_000,
            ),
            land: Done,
            environment: InProgress,
            planned_start: ymd(2027, 3, 1),
            requested_yuan: 108_000_000,
            declaration: submitted(day(10, 10), day(10, 14)),
        },
        ReserveSpec {
            project: reserve(
                "gas-network-renewal",
                "县城燃气管网更新改造工程",
                "更新改造老化燃气管道 96 公里及调压设施 35 座。",
                Urban,
                "城关镇",
                "县住建局",
                city,
                "刘副县长",
                190_000_000,
            ),
            land: Waived,
            environment: Done,
            planned_start: ymd(2027, 5, 15),
            requested_yuan: 38_000_000,
            declaration: Declaration::Draft {
                drafted: day(10, 12),
            },
        },
        ReserveSpec {
            project: reserve(
                "fujiang-wetland",
                "涪江湿地生态保护修复工程",
                "修复涪江沿岸湿地 5,600 亩，建设生态缓冲带和科普步道。",
                Ecology,
                "洋溪镇",
                "县自然资源局",
                city,
                "陈副县长",
                130_000_000,
            ),
            land: InProgress,
            environment: InProgress,
            planned_start: ymd(2027, 9, 1),
            requested_yuan: 26_000_000,
            declaration: Declaration::Draft {
                drafted: day(10, 13),
            },
        },
        ReserveSpec {
            project: reserve(
                "chengdong-smart-parking",
                "城东片区智慧停车场",
                "新建立体停车楼 2 座、泊位 1,600 个及智慧停车平台。",
                Urban,
                "城关镇",
                "县住建局",
                city,
                "刘副县长",
                120_000_000,
            ),
            land: Done,
            environment: Done,
            planned_start: ymd(2027, 4, 20),
            requested_yuan: 24_000_000,
            declaration: Declaration::Withdrawn {
                drafted: day(9, 30),
                submitted: day(10, 8),
                withdrawn: day(10, 9),
                reason: "停车收费收益测算需重新论证，修改后择期重新申报",
            },
        },
        ReserveSpec {
            project: reserve(
                "mingxing-water-supply",
                "明星镇集中供水工程",
                "新建水厂 1 座（日供水 8,000 吨）及配水管网 65 公里。",
                Water,
                "明星镇",
                "县水利局",
                water,
                "李副县长",
                88_000_000,
            ),
            land: InProgress,
            environment: NotStarted,
            planned_start: ymd(2027, 5, 1),
            requested_yuan: 17_000_000,
            declaration: Declaration::Undeclared,
        },
        ReserveSpec {
            project: reserve(
                "farmland-2026",
                "2026年度高标准农田建设项目",
                "新建高标准农田 4.2 万亩，配套灌排、田间道路和农田防护。",
                Agriculture,
                "洋溪镇",
                "县农业农村局",
                "县农业发展投资有限公司",
                "陈副县长",
                96_000_000,
            ),
            land: Waived,
            environment: Waived,
            planned_start: ymd(2027, 2, 20),
            requested_yuan: 19_000_000,
            declaration: Declaration::Undeclared,
        },
        ReserveSpec {
            project: reserve(
                "emergency-supplies-depot",
                "县应急物资储备库",
                "新建应急物资储备库 1.2 万平方米及应急指挥调度中心。",
                Social,
                "太和镇",
                "县应急管理局",
                city,
                "赵副县长",
                75_000_000,
            ),
            land: InProgress,
            environment: NotStarted,
            planned_start: ymd(2027, 6, 15),
            requested_yuan: 15_000_000,
            declaration: Declaration::Undeclared,
        },
    ]
}

/// The reserve library: sixteen projects shaped in August and reserved on 18 September, with
/// their approvals and planned construction starts, and their declarations into the fifth
/// fund batch.
fn reserve_library(s: &mut Scenario) {
    let shaped = day(8, 10);
    let reserved = day(9, 18);
    for spec in reserve_specs() {
        let id = spec.project.id;
        s.project(shaped, &spec.project, Stage::Concept);
        s.stage(
            reserved,
            id,
            Stage::Reserve,
            "完成项目包装并通过联审，纳入第五批基金项目储备",
        );
        s.prerequisite(
            reserved,
            id,
            "land",
            prerequisite(PrerequisiteKind::Land, spec.land, "项目用地", None, ""),
        );
        s.prerequisite(
            reserved,
            id,
            "environment",
            prerequisite(
                PrerequisiteKind::EnvironmentalAssessment,
                spec.environment,
                "环境影响评价",
                None,
                "",
            ),
        );
        s.milestone(
            reserved,
            id,
            "construction-start",
            MilestoneKind::ConstructionStart,
            "计划开工",
            spec.planned_start,
        );
        let description = "申请政策性开发性金融工具资金补充项目资本金";
        let submit = ApplicationAction::Submit;
        match spec.declaration {
            Declaration::Submitted { drafted, submitted } => {
                s.declare(drafted, id, FUND_BATCH_5, spec.requested_yuan, description);
                s.transition(submitted, id, FUND_BATCH_5, submit, "");
            }
            Declaration::Draft { drafted } => {
                s.declare(drafted, id, FUND_BATCH_5, spec.requested_yuan, description);
            }
            Declaration::Withdrawn {
                drafted,
                submitted,
                withdrawn,
                reason,
            } => {
                s.declare(drafted, id, FUND_BATCH_5, spec.requested_yuan, description);
                s.transition(submitted, id, FUND_BATCH_5, submit, "");
                let withdraw = ApplicationAction::Withdraw;
                s.transition(withdrawn, id, FUND_BATCH_5, withdraw, reason);
            }
            Declaration::Undeclared => {}
        }
    }
}

/// The four windows of the autumn and the declarations of the autumn push's projects.
fn funding_windows(s: &mut Scenario) {
    use ApplicationAction::*;
    let government = Some(InvestmentType::Government);

    // Special bonds: closed on 10 September; two approved, one rejected.
    s.window(
        day(8, 14),
        SPECIAL_BOND,
        WindowFields {
            channel: FundingChannel::SpecialBond,
            title: "2026年第三批新增专项债券项目".into(),
            description: "补短板领域有一定收益的公益性项目；须已取得规划选址或用地规划许可。"
                .into(),
            open_date: day(8, 20),
            close_date: day(9, 10),
            target_count: 3,
            target_amount_yuan: 1_000_000_000,
            eligibility: Eligibility {
                categories: vec![Category::Water, Category::Urban],
                investment_type: government,
                min_total_investment_yuan: 100_000_000,
                required_prerequisites: vec![PrerequisiteKind::PlanningPermit],
                ..Eligibility::default()
            },
        },
    );
    s.declare(
        day(8, 21),
        WATER_SUPPLY,
        SPECIAL_BOND,
        300_000_000,
        "水厂及一期配水管网建设",
    );
    s.declare(
        day(8, 22),
        WATER_NETWORK,
        SPECIAL_BOND,
        400_000_000,
        "骨干输水管线建设",
    );
    s.declare(
        day(8, 24),
        QINQUAN,
        SPECIAL_BOND,
        500_000_000,
        "片区征收及街巷改造",
    );
    s.transition(day(8, 25), WATER_SUPPLY, SPECIAL_BOND, Submit, "");
    s.transition(day(8, 28), WATER_NETWORK, SPECIAL_BOND, Submit, "");
    s.transition(day(9, 1), QINQUAN, SPECIAL_BOND, Submit, "");
    s.approve(
        day(9, 22),
        WATER_SUPPLY,
        SPECIAL_BOND,
        250_000_000,
        "省财政厅下达新增专项债券额度 2.5 亿元",
    );
    s.approve(
        day(9, 22),
        WATER_NETWORK,
        SPECIAL_BOND,
        400_000_000,
        "省财政厅下达新增专项债券额度 4 亿元",
    );
    s.transition(
        day(9, 22),
        QINQUAN,
        SPECIAL_BOND,
        Reject,
        "项目收益与融资自求平衡方案未通过省级评审",
    );
    s.disburse(
        day(10, 10),
        WATER_SUPPLY,
        SPECIAL_BOND,
        100_000_000,
        "首笔专项债券资金拨付",
    );

    // Central budget investment: closed on 30 September; the reservoir approved and partly
    // paid, the railway under review, the water supply withdrawn.
    s.window(
        day(8, 25),
        CENTRAL_BUDGET,
        WindowFields {
            channel: FundingChannel::CentralBudget,
            title: "2026年第四批中央预算内投资计划".into(),
            description: "水利、交通重大项目；须已取得环评批复。".into(),
            open_date: day(9, 1),
            close_date: day(9, 30),
            target_count: 3,
            target_amount_yuan: 800_000_000,
            eligibility: Eligibility {
                stages: vec![Stage::Preparation, Stage::Construction],
                categories: vec![Category::Transport, Category::Water],
                investment_type: government,
                min_total_investment_yuan: 100_000_000,
                required_prerequisites: vec![PrerequisiteKind::EnvironmentalAssessment],
            },
        },
    );
    s.declare(
        day(9, 3),
        RESERVOIR,
        CENTRAL_BUDGET,
        180_000_000,
        "大坝及输水隧洞工程",
    );
    s.declare(
        day(9, 4),
        WATER_SUPPLY,
        CENTRAL_BUDGET,
        120_000_000,
        "农村供水管网延伸",
    );
    s.declare(
        day(9, 5),
        RAILWAY,
        CENTRAL_BUDGET,
        600_000_000,
        "县境段征地拆迁及站前配套",
    );
    s.transition(day(9, 8), RESERVOIR, CENTRAL_BUDGET, Submit, "");
    s.transition(day(9, 12), RAILWAY, CENTRAL_BUDGET, Submit, "");
    s.transition(
        day(9, 26),
        WATER_SUPPLY,
        CENTRAL_BUDGET,
        Withdraw,
        "已获新增专项债券支持，避免重复申报",
    );
    s.approve(
        day(9, 29),
        RESERVOIR,
        CENTRAL_BUDGET,
        150_000_000,
        "国家发改委下达投资计划 1.5 亿元",
    );
    s.disburse(
        day(10, 13),
        RESERVOIR,
        CENTRAL_BUDGET,
        60_000_000,
        "中央预算内资金首批拨付",
    );

    // The fifth fund batch: the sixteen newly reserved projects (declarations in
    // `reserve_library`); closes 22 October.
    s.window(
        day(9, 22),
        FUND_BATCH_5,
        WindowFields {
            channel: FundingChannel::PolicyFinance,
            title: "第五批政策性开发性金融工具（基金）项目".into(),
            description: "新纳入储备的政府投资项目，资金用于补充项目资本金；应报尽报。".into(),
            open_date: day(9, 28),
            close_date: day(10, 22),
            target_count: 16,
            target_amount_yuan: 1_000_000_000,
            eligibility: Eligibility {
                stages: vec![Stage::Reserve],
                investment_type: government,
                min_total_investment_yuan: 50_000_000,
                ..Eligibility::default()
            },
        },
    );

    // Medium- and long-term loans for manufacturing: open until 20 December.
    s.window(
        day(9, 30),
        LONG_TERM_LOAN,
        WindowFields {
            channel: FundingChannel::LongTermLoan,
            title: "2026年四季度制造业中长期贷款项目".into(),
            description: "在建制造业项目，由合作银行授信。".into(),
            open_date: day(10, 8),
            close_date: day(12, 20),
            target_count: 0,
            target_amount_yuan: 0,
            eligibility: Eligibility {
                stages: vec![Stage::Construction, Stage::TrialProduction],
                categories: vec![Category::Industry],
                investment_type: Some(InvestmentType::Enterprise),
                ..Eligibility::default()
            },
        },
    );
    s.declare(
        day(10, 9),
        XINMINGHAO,
        LONG_TERM_LOAN,
        500_000_000,
        "一期设备购置及流动资金",
    );
    s.transition(day(10, 12), XINMINGHAO, LONG_TERM_LOAN, Submit, "");
    s.declare(
        day(10, 14),
        ZHENQIN,
        LONG_TERM_LOAN,
        300_000_000,
        "电芯生产线设备购置",
    );
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::domain::names::validate_id;
    use crate::domain::values::request_id;

    #[test]
    fn steps_are_dated_in_the_scenario_and_nothing_lands_after_its_step() {
        let steps = scenario();
        assert!(steps.windows(2).all(|w| w[0].on <= w[1].on));
        assert_eq!(steps.first().unwrap().on, scenario_start());
        for step in &steps {
            assert!(step.on < status_date(), "{}", step.describe());
            // Actual dates and disbursements are never after the day they are recorded.
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
        let steps = scenario();
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

    #[test]
    fn sixteen_reserve_projects_and_every_application_state() {
        let specs = reserve_specs();
        assert_eq!(specs.len(), 16);
        let steps = scenario();
        let count = |method: &str| steps.iter().filter(|s| s.method() == method).count();
        assert_eq!(count("CreateProject"), 24);
        assert_eq!(count("CreateFundingWindow"), 4);
        for method in [
            "SubmitFundingApplication",
            "ApproveFundingApplication",
            "RejectFundingApplication",
            "WithdrawFundingApplication",
            "RecordFundingDisbursement",
        ] {
            assert!(count(method) > 0, "{method}");
        }
    }
}
