//! Funding windows: one declaration round of one channel, with who may be declared into it.

use chrono::NaiveDate;

use super::error::{Invalid, Refused};
use super::prerequisite::PrerequisiteKind;
use super::project::{Category, InvestmentType, Project, Stage, named_enum};
use super::values::{Description, DisbursementNote, Id, Note, Yuan};

named_enum!(
    /// A funding channel.
    FundingChannel {
        SpecialBond => "SPECIAL_BOND",
        PolicyFinance => "POLICY_FINANCE",
        CentralBudget => "CENTRAL_BUDGET",
        LongTermLoan => "LONG_TERM_LOAN",
        Other => "OTHER",
    }
);

named_enum!(
    /// Where a window is relative to a date.
    WindowState {
        Upcoming => "UPCOMING",
        Open => "OPEN",
        Closed => "CLOSED",
    }
);

/// Which projects qualify for a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    /// Never empty: RESERVE and PREPARATION unless the caller named others.
    pub stages: Vec<Stage>,
    /// Empty means any category.
    pub categories: Vec<Category>,
    pub investment_type: Option<InvestmentType>,
    pub min_total_investment_yuan: i64,
    pub required_prerequisites: Vec<PrerequisiteKind>,
}

impl Default for Eligibility {
    fn default() -> Self {
        Self {
            stages: vec![Stage::Reserve, Stage::Preparation],
            categories: Vec::new(),
            investment_type: None,
            min_total_investment_yuan: 0,
            required_prerequisites: Vec::new(),
        }
    }
}

impl Eligibility {
    /// The conditions `project` does not meet, as (condition, description) pairs; empty when
    /// it qualifies. `cleared` lists the kinds of its prerequisites that are DONE or WAIVED.
    /// The coverage query in the store states the same rules in SQL.
    pub fn unmet(&self, project: &Project, cleared: &[PrerequisiteKind]) -> Vec<(String, String)> {
        let names =
            |items: &mut dyn Iterator<Item = &'static str>| items.collect::<Vec<_>>().join(", ");
        let mut unmet = Vec::new();
        if !self.stages.contains(&project.stage) {
            unmet.push((
                "eligibility.stages".to_string(),
                format!(
                    "stage is {}; the window takes {}",
                    project.stage.as_str(),
                    names(&mut self.stages.iter().map(|s| s.as_str()))
                ),
            ));
        }
        let f = &project.fields;
        if !self.categories.is_empty() && !self.categories.contains(&f.category) {
            unmet.push((
                "eligibility.categories".to_string(),
                format!(
                    "category is {}; the window takes {}",
                    f.category.as_str(),
                    names(&mut self.categories.iter().map(|c| c.as_str()))
                ),
            ));
        }
        if let Some(wanted) = self.investment_type
            && wanted != f.investment_type
        {
            unmet.push((
                "eligibility.investment_type".to_string(),
                format!(
                    "investment type is {}; the window takes {}",
                    f.investment_type.as_str(),
                    wanted.as_str()
                ),
            ));
        }
        if f.total_investment_yuan < self.min_total_investment_yuan {
            unmet.push((
                "eligibility.min_total_investment_yuan".to_string(),
                format!(
                    "total investment is {} yuan; the window needs at least {}",
                    f.total_investment_yuan, self.min_total_investment_yuan
                ),
            ));
        }
        for kind in &self.required_prerequisites {
            if !cleared.contains(kind) {
                unmet.push((
                    format!("eligibility.required_prerequisites.{}", kind.as_str()),
                    format!("prerequisite {} is not DONE or WAIVED", kind.as_str()),
                ));
            }
        }
        unmet
    }
}

/// What a client sets on a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowFields {
    pub channel: FundingChannel,
    pub title: String,
    pub description: String,
    pub open_date: NaiveDate,
    pub close_date: NaiveDate,
    pub target_count: i32,
    pub target_amount_yuan: i64,
    pub eligibility: Eligibility,
}

impl WindowFields {
    /// Rules across fields: a window closes on or after the day it opens.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.close_date < self.open_date {
            return Err(Invalid::field(
                "funding_window.close_date",
                format!(
                    "{} is before the open date {}",
                    self.close_date, self.open_date
                ),
            ));
        }
        Ok(())
    }

    /// Upcoming before the open date, open through the close date (inclusive), then closed.
    pub fn state_on(&self, day: NaiveDate) -> WindowState {
        if day < self.open_date {
            WindowState::Upcoming
        } else if day <= self.close_date {
            WindowState::Open
        } else {
            WindowState::Closed
        }
    }
}

/// A window as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingWindow {
    pub id: String,
    pub uid: String,
    pub fields: WindowFields,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl FundingWindow {
    pub fn name(&self) -> String {
        format!("fundingWindows/{}", self.id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowPatch {
    pub channel: Option<FundingChannel>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub open_date: Option<NaiveDate>,
    pub close_date: Option<NaiveDate>,
    pub target_count: Option<i32>,
    pub target_amount_yuan: Option<i64>,
    pub eligibility: Option<Eligibility>,
}

impl WindowPatch {
    /// Applies the patch and returns the names of the fields whose values changed.
    pub fn apply(self, f: &mut WindowFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = self.$field
                    && f.$field != value
                {
                    f.$field = value;
                    changed.push(stringify!($field));
                }
            };
        }
        set!(channel);
        set!(title);
        set!(description);
        set!(open_date);
        set!(close_date);
        set!(target_count);
        set!(target_amount_yuan);
        set!(eligibility);
        changed
    }
}

named_enum!(
    /// Where a funding application stands.
    ApplicationState {
        Draft => "DRAFT",
        Submitted => "SUBMITTED",
        Approved => "APPROVED",
        Rejected => "REJECTED",
        Withdrawn => "WITHDRAWN",
    }
);

impl ApplicationState {
    /// Live applications hold the project's one place in a window.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            ApplicationState::Draft | ApplicationState::Submitted | ApplicationState::Approved
        )
    }
}

named_enum!(
    /// The custom methods that move an application.
    ApplicationAction {
        Submit => "SUBMIT",
        Approve => "APPROVE",
        Reject => "REJECT",
        Withdraw => "WITHDRAW",
    }
);

impl ApplicationAction {
    /// The state the action leads to.
    pub fn target(self) -> ApplicationState {
        match self {
            ApplicationAction::Submit => ApplicationState::Submitted,
            ApplicationAction::Approve => ApplicationState::Approved,
            ApplicationAction::Reject => ApplicationState::Rejected,
            ApplicationAction::Withdraw => ApplicationState::Withdrawn,
        }
    }

    /// The states the action may start from.
    pub fn sources(self) -> &'static [ApplicationState] {
        match self {
            ApplicationAction::Submit => &[ApplicationState::Draft],
            ApplicationAction::Approve | ApplicationAction::Reject => {
                &[ApplicationState::Submitted]
            }
            ApplicationAction::Withdraw => &[ApplicationState::Draft, ApplicationState::Submitted],
        }
    }

    /// The new state, or why the action is not allowed from `current`.
    pub fn apply(self, current: ApplicationState) -> Result<ApplicationState, String> {
        if self.sources().contains(&current) {
            Ok(self.target())
        } else {
            Err(format!(
                "cannot {} an application that is {}; allowed only from {}",
                self.as_str().to_lowercase(),
                current.as_str(),
                self.sources()
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))
        }
    }
}

/// The most disbursements one application keeps: enough for monthly tranches over two years.
/// An application is returned with all of them, so their number is bounded for it to fit in a
/// response (`proto::budget`); more money is recorded as part of a larger disbursement.
pub const MAX_DISBURSEMENTS: usize = 24;

/// Money received by an approved application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disbursement {
    pub amount_yuan: i64,
    pub date: NaiveDate,
    pub note: String,
    pub actor: String,
    pub created_at_us: i64,
}

/// A funding application as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingApplication {
    pub id: String,
    pub uid: String,
    pub project_id: String,
    pub window_id: String,
    pub channel: FundingChannel,
    pub state: ApplicationState,
    pub requested_amount_yuan: i64,
    pub approved_amount_yuan: i64,
    pub disbursed_amount_yuan: i64,
    pub description: String,
    pub state_reason: String,
    pub state_actor: String,
    pub state_changed_at_us: i64,
    /// Filled by reads that ask for them; empty otherwise.
    pub disbursements: Vec<Disbursement>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl FundingApplication {
    pub fn name(&self) -> String {
        super::names::funding_application_name(&self.project_id, &self.id)
    }

    pub fn window_name(&self) -> String {
        format!("fundingWindows/{}", self.window_id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }
}

/// A validated change of an application's editable fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationPatch {
    pub requested_amount_yuan: Option<i64>,
    pub description: Option<String>,
}

/// How an application is moved: the action and what comes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationTransition {
    pub action: ApplicationAction,
    pub reason: Note,
    /// Approve only: the approved amount (None = the requested amount) and the override that
    /// allows more than was requested.
    pub approved_amount_yuan: Option<i64>,
    pub allow_exceeding_request: bool,
    pub etag: Option<String>,
}

/// At most this many undeclared projects are named in a funding window alert, so that the alert
/// fits in one event (`proto::budget`); its counts always count them all.
pub const ALERT_PROJECTS: usize = 100;

impl FundingWindow {
    /// A new window, at version 1.
    pub fn new(id: String, uid: String, fields: WindowFields, now_us: i64) -> Self {
        Self {
            id,
            uid,
            fields,
            created_at_us: now_us,
            updated_at_us: now_us,
            version: 1,
        }
    }

    /// Applies `patch` and returns the names of the fields it changed; the result must still
    /// close on or after it opens. A change bumps the version.
    pub fn update(
        &mut self,
        patch: WindowPatch,
        now_us: i64,
    ) -> Result<Vec<&'static str>, Invalid> {
        let changed = patch.apply(&mut self.fields);
        self.fields.check()?;
        if !changed.is_empty() {
            self.version += 1;
            self.updated_at_us = now_us;
        }
        Ok(changed)
    }

    /// A window takes new applications until it closes: after its close date, WINDOW_CLOSED.
    pub fn takes_applications(&self, today: NaiveDate) -> Result<(), Refused> {
        if self.fields.state_on(today) != WindowState::Closed {
            return Ok(());
        }
        let close = self.fields.close_date;
        Err(Refused::new(
            "WINDOW_CLOSED",
            format!("{} closed on {close}; no new applications", self.name()),
        )
        .on(self.name(), format!("closed on {close}")))
    }

    /// A submission needs the window open on `today` and the project eligible (`cleared`: the
    /// kinds of its prerequisites that are DONE or WAIVED). Every unmet condition is listed;
    /// the reason is PROJECT_NOT_ELIGIBLE when the project fails any, WINDOW_NOT_OPEN otherwise.
    pub fn admits(
        &self,
        application: &FundingApplication,
        project: &Project,
        cleared: &[PrerequisiteKind],
        today: NaiveDate,
    ) -> Result<(), Refused> {
        let f = &self.fields;
        let mut violations = Vec::new();
        let state = f.state_on(today);
        if state != WindowState::Open {
            violations.push((
                self.name(),
                format!(
                    "is {} on {today}: it takes submissions from {} through {}",
                    state.as_str(),
                    f.open_date,
                    f.close_date
                ),
            ));
        }
        let unmet = f.eligibility.unmet(project, cleared);
        let reason = if unmet.is_empty() {
            "WINDOW_NOT_OPEN"
        } else {
            "PROJECT_NOT_ELIGIBLE"
        };
        violations.extend(unmet);
        if violations.is_empty() {
            return Ok(());
        }
        Err(Refused {
            reason,
            message: format!(
                "{} cannot be submitted to {}: {}",
                application.name(),
                self.name(),
                violations
                    .iter()
                    .map(|(subject, description)| format!("{subject} {description}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            violations,
        })
    }
}

/// A project holds at most one live application per window: the answer when the place is
/// taken, ALREADY_EXISTS on `FIELD`, naming the holder when it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceTaken {
    pub resource: String,
}

impl PlaceTaken {
    /// The request field that clashed.
    pub const FIELD: &'static str = "funding_application.funding_window";
}

/// One of the moves of an application, with what deciding it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move<'a> {
    Submit(Submission<'a>),
    /// The approved amount (None: the requested amount) and the override that allows more than
    /// was requested.
    Approve {
        approved_amount_yuan: Option<i64>,
        allow_exceeding_request: bool,
    },
    Reject,
    Withdraw,
}

/// What a submission is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission<'a> {
    pub window: &'a FundingWindow,
    pub project: &'a Project,
    /// The kinds of the project's prerequisites that are DONE or WAIVED.
    pub cleared: &'a [PrerequisiteKind],
    pub today: NaiveDate,
}

impl Move<'_> {
    pub fn action(&self) -> ApplicationAction {
        match self {
            Move::Submit(_) => ApplicationAction::Submit,
            Move::Approve { .. } => ApplicationAction::Approve,
            Move::Reject => ApplicationAction::Reject,
            Move::Withdraw => ApplicationAction::Withdraw,
        }
    }
}

impl FundingApplication {
    /// A new DRAFT application, at version 1, into `window`.
    pub fn draft(
        id: String,
        uid: String,
        window: &FundingWindow,
        command: CreateApplication,
        actor: &str,
        now_us: i64,
    ) -> Self {
        Self {
            id,
            uid,
            project_id: command.project_id.into_string(),
            window_id: window.id.clone(),
            channel: window.fields.channel,
            state: ApplicationState::Draft,
            requested_amount_yuan: command.requested.get(),
            approved_amount_yuan: 0,
            disbursed_amount_yuan: 0,
            description: command.description.into_string(),
            state_reason: String::new(),
            state_actor: actor.to_string(),
            state_changed_at_us: now_us,
            disbursements: Vec::new(),
            created_at_us: now_us,
            updated_at_us: now_us,
            version: 1,
        }
    }

    /// The answer to this application while `holder` (the id of a live application of the
    /// same project to the same window, when known) holds the place.
    pub fn place_taken(&self, holder: Option<&str>) -> PlaceTaken {
        let place = format!(
            "a live application of {} to {}",
            super::names::project_name(&self.project_id),
            self.window_name()
        );
        PlaceTaken {
            resource: match holder {
                Some(id) => format!(
                    "{} ({place})",
                    super::names::funding_application_name(&self.project_id, id)
                ),
                None => place,
            },
        }
    }

    /// A refusal that names the application's current state.
    fn refused(&self, reason: &'static str, message: String) -> Refused {
        Refused::new(reason, message).on(
            self.name(),
            format!("current state is {}", self.state.as_str()),
        )
    }

    /// Changes the editable fields and returns the names of those that changed: the
    /// description at any time, the requested amount only while DRAFT (APPLICATION_NOT_DRAFT).
    /// A change bumps the version.
    pub fn update(
        &mut self,
        patch: ApplicationPatch,
        now_us: i64,
    ) -> Result<Vec<&'static str>, Refused> {
        let mut changed = Vec::new();
        if let Some(amount) = patch.requested_amount_yuan
            && amount != self.requested_amount_yuan
        {
            if self.state != ApplicationState::Draft {
                return Err(self.refused(
                    "APPLICATION_NOT_DRAFT",
                    format!(
                        "the requested amount of {} can change only while it is a DRAFT (current state: {})",
                        self.name(),
                        self.state.as_str()
                    ),
                ));
            }
            self.requested_amount_yuan = amount;
            changed.push("requested_amount_yuan");
        }
        if let Some(description) = patch.description
            && description != self.description
        {
            self.description = description;
            changed.push("description");
        }
        if !changed.is_empty() {
            self.version += 1;
            self.updated_at_us = now_us;
        }
        Ok(changed)
    }

    /// Moves the application and returns the state it left. Checked in this order: the move
    /// must start from one of its states (ILLEGAL_APPLICATION_TRANSITION, naming the current
    /// state); a submission needs an open window and an eligible project (`FundingWindow::
    /// admits`); an approval approves the requested amount unless another is given, and more
    /// than was requested only with `allow_exceeding_request` (APPROVAL_EXCEEDS_REQUEST).
    pub fn transition(
        &mut self,
        step: Move<'_>,
        reason: Note,
        actor: &str,
        now_us: i64,
    ) -> Result<ApplicationState, Refused> {
        let from = self.state;
        let to = step.action().apply(from).map_err(|message| {
            self.refused(
                "ILLEGAL_APPLICATION_TRANSITION",
                format!("{message} (current state: {})", from.as_str()),
            )
        })?;
        match step {
            Move::Submit(s) => s.window.admits(self, s.project, s.cleared, s.today)?,
            Move::Approve {
                approved_amount_yuan,
                allow_exceeding_request,
            } => {
                let requested = self.requested_amount_yuan;
                let amount = approved_amount_yuan.unwrap_or(requested);
                if amount > requested && !allow_exceeding_request {
                    return Err(Refused::new(
                        "APPROVAL_EXCEEDS_REQUEST",
                        format!(
                            "approving {amount} yuan exceeds the {requested} yuan requested by {}; set allow_exceeding_request to approve more",
                            self.name()
                        ),
                    )
                    .on(self.name(), format!("requested {requested} yuan")));
                }
                self.approved_amount_yuan = amount;
            }
            Move::Reject | Move::Withdraw => {}
        }
        self.state = to;
        self.state_reason = reason.into_string();
        self.state_actor = actor.to_string();
        self.state_changed_at_us = now_us;
        self.updated_at_us = now_us;
        self.version += 1;
        Ok(from)
    }

    /// Records money received and returns the disbursement; `disbursements` must hold the
    /// recorded ones. Only an APPROVED application receives money (APPLICATION_NOT_APPROVED),
    /// at most MAX_DISBURSEMENTS times (TOO_MANY_DISBURSEMENTS), and the disbursed total never
    /// exceeds the approved amount (DISBURSEMENT_EXCEEDS_APPROVAL).
    pub fn disburse(
        &mut self,
        amount: Yuan,
        date: NaiveDate,
        note: DisbursementNote,
        actor: &str,
        now_us: i64,
    ) -> Result<Disbursement, Refused> {
        let amount_yuan = amount.get();
        if self.state != ApplicationState::Approved {
            return Err(self.refused(
                "APPLICATION_NOT_APPROVED",
                format!(
                    "money can be disbursed only to an APPROVED application (current state: {})",
                    self.state.as_str()
                ),
            ));
        }
        let recorded = self.disbursements.len();
        if recorded >= MAX_DISBURSEMENTS {
            return Err(Refused::new(
                "TOO_MANY_DISBURSEMENTS",
                format!(
                    "{} has {recorded} disbursements, the most one application keeps; record \
                     further money as part of a larger disbursement",
                    self.name()
                ),
            )
            .on(
                self.name(),
                format!("{recorded} of {MAX_DISBURSEMENTS} disbursements recorded"),
            ));
        }
        let (approved, disbursed) = (self.approved_amount_yuan, self.disbursed_amount_yuan);
        let total = disbursed
            .checked_add(amount_yuan)
            .filter(|total| *total <= approved)
            .ok_or_else(|| {
                Refused::new(
                    "DISBURSEMENT_EXCEEDS_APPROVAL",
                    format!(
                        "{amount_yuan} yuan would take the disbursed total of {} past its approved {approved} yuan ({} yuan remain)",
                        self.name(),
                        approved - disbursed
                    ),
                )
                .on(self.name(), format!("{disbursed} of {approved} yuan disbursed"))
            })?;
        let disbursement = Disbursement {
            amount_yuan,
            date,
            note: note.into_string(),
            actor: actor.to_string(),
            created_at_us: now_us,
        };
        self.disbursements.push(disbursement.clone());
        self.disbursed_amount_yuan = total;
        self.updated_at_us = now_us;
        self.version += 1;
        Ok(disbursement)
    }
}

/// CreateFundingWindow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateWindow {
    /// None: the server chooses.
    pub window_id: Option<Id>,
    pub fields: WindowFields,
}

/// UpdateFundingWindow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateWindow {
    pub window_id: Id,
    pub patch: WindowPatch,
    pub etag: Option<String>,
}

/// CreateFundingApplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateApplication {
    pub project_id: Id,
    /// None: the server chooses.
    pub application_id: Option<Id>,
    pub window_id: Id,
    pub requested: Yuan,
    pub description: Description,
}

/// UpdateFundingApplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateApplication {
    pub project_id: Id,
    pub application_id: Id,
    pub patch: ApplicationPatch,
    pub etag: Option<String>,
}

/// Submit-, Approve-, Reject- or WithdrawFundingApplication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionApplication {
    pub project_id: Id,
    pub application_id: Id,
    pub change: ApplicationTransition,
}

/// RecordFundingDisbursement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDisbursement {
    pub project_id: Id,
    pub application_id: Id,
    pub amount: Yuan,
    pub date: NaiveDate,
    pub note: DisbursementNote,
    pub etag: Option<String>,
}

/// Sums over a set of applications, exact in 128 bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub application_count: i64,
    pub requested_amount_yuan: i128,
    pub approved_amount_yuan: i128,
    pub disbursed_amount_yuan: i128,
}

/// A project line of a coverage sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageEntry {
    pub project_id: String,
    pub display_name: String,
    pub township: String,
    pub department: String,
    pub total_investment_yuan: i64,
    pub application_id: Option<String>,
}

/// The 应报尽报 sheet of one window on one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub window: FundingWindow,
    pub status_date: NaiveDate,
    pub eligible_count: i64,
    /// Eligible projects with no application to the window but withdrawn ones.
    pub undeclared_count: i64,
    pub undeclared: Vec<CoverageEntry>,
    pub draft_count: i64,
    pub drafts: Vec<CoverageEntry>,
    pub submitted_count: i64,
    pub approved_count: i64,
    pub rejected_count: i64,
    /// Exact sums, in 128 bits.
    pub declared_amount_yuan: i128,
    pub approved_amount_yuan: i128,
    pub disbursed_amount_yuan: i128,
}

impl Coverage {
    /// A sheet with its project lists and no applications counted yet (see `add`).
    pub fn new(
        window: FundingWindow,
        status_date: NaiveDate,
        (eligible_count, undeclared_count): (i64, i64),
        undeclared: Vec<CoverageEntry>,
        drafts: Vec<CoverageEntry>,
    ) -> Self {
        Self {
            window,
            status_date,
            eligible_count,
            undeclared_count,
            undeclared,
            draft_count: 0,
            drafts,
            submitted_count: 0,
            approved_count: 0,
            rejected_count: 0,
            declared_amount_yuan: 0,
            approved_amount_yuan: 0,
            disbursed_amount_yuan: 0,
        }
    }

    /// Counts the applications of one state (None: a state this version does not know).
    /// Submitted, approved and rejected applications are declared, and their requested amounts
    /// make the declared amount; drafts are counted apart; approved and disbursed amounts are
    /// summed over every state.
    pub fn add(&mut self, state: Option<ApplicationState>, totals: &Totals) {
        let count = totals.application_count;
        let declared = match state {
            Some(ApplicationState::Draft) => {
                self.draft_count = count;
                false
            }
            Some(ApplicationState::Submitted) => {
                self.submitted_count = count;
                true
            }
            Some(ApplicationState::Approved) => {
                self.approved_count = count;
                true
            }
            Some(ApplicationState::Rejected) => {
                self.rejected_count = count;
                true
            }
            Some(ApplicationState::Withdrawn) | None => false,
        };
        if declared {
            self.declared_amount_yuan += totals.requested_amount_yuan;
        }
        self.approved_amount_yuan += totals.approved_amount_yuan;
        self.disbursed_amount_yuan += totals.disbursed_amount_yuan;
    }

    pub fn declared_count(&self) -> i64 {
        self.submitted_count + self.approved_count + self.rejected_count
    }

    /// Days from the status date to the close date: negative once the window closed.
    pub fn days_to_close(&self) -> i32 {
        (self.window.fields.close_date - self.status_date).num_days() as i32
    }

    /// Declarations still missing to reach the target count; never negative.
    pub fn count_gap(&self) -> i64 {
        (i64::from(self.window.fields.target_count) - self.declared_count()).max(0)
    }

    /// Declared yuan still missing to reach the target amount; never negative.
    pub fn amount_gap(&self) -> i128 {
        (i128::from(self.window.fields.target_amount_yuan) - self.declared_amount_yuan).max(0)
    }
}

named_enum!(
    /// The scanner's funding window alerts, in the order of its passes.
    AlertKind {
        Opened => "OPENED",
        Closing => "CLOSING",
        Closed => "CLOSED",
    }
);

/// The day an alert's ledger entry is keyed on: once per key, across passes and replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertDay {
    OpenDate,
    CloseDate,
    On(NaiveDate),
}

/// The windows one alert pass looks at (those without a ledger entry for their key): the
/// bounds on their dates, each None when unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertScan {
    pub kind: AlertKind,
    /// Opened on or before this day.
    pub opened_by: Option<NaiveDate>,
    /// Closing on or after this day.
    pub closing_from: Option<NaiveDate>,
    /// Closing on or before this day.
    pub closing_by: Option<NaiveDate>,
    pub keyed_on: AlertDay,
}

/// What a pass does with a candidate window, given its coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    /// Nothing to say today; the window is looked at again on the next pass.
    Later,
    /// Recorded in the ledger (checked once), without an event.
    Quiet,
    /// Recorded and raised as an event.
    Raise,
}

impl AlertKind {
    /// OPENED once per window and open date while the window is open; CLOSING at most once
    /// per window per day while it is open and closes within `horizon_days`; CLOSED once per
    /// window and close date after it closed.
    pub fn scan(self, today: NaiveDate, horizon_days: i32) -> AlertScan {
        let open = |kind, closing_by, keyed_on| AlertScan {
            kind,
            opened_by: Some(today),
            closing_from: Some(today),
            closing_by,
            keyed_on,
        };
        match self {
            AlertKind::Opened => open(self, None, AlertDay::OpenDate),
            AlertKind::Closing => open(
                self,
                Some(
                    today
                        .checked_add_signed(chrono::Duration::days(i64::from(horizon_days)))
                        .unwrap_or(NaiveDate::MAX),
                ),
                AlertDay::On(today),
            ),
            AlertKind::Closed => AlertScan {
                kind: self,
                opened_by: None,
                closing_from: None,
                closing_by: Some(today.pred_opt().unwrap_or(NaiveDate::MIN)),
                keyed_on: AlertDay::CloseDate,
            },
        }
    }

    /// OPENED is always raised; CLOSING only while drafts wait or eligible projects are
    /// undeclared (otherwise looked at again the next day); CLOSED is recorded once and raised
    /// only when eligible projects stayed undeclared.
    pub fn outcome(self, coverage: &Coverage) -> AlertOutcome {
        let undeclared = coverage.undeclared_count > 0;
        match self {
            AlertKind::Opened => AlertOutcome::Raise,
            AlertKind::Closing if undeclared || coverage.draft_count > 0 => AlertOutcome::Raise,
            AlertKind::Closing => AlertOutcome::Later,
            AlertKind::Closed if undeclared => AlertOutcome::Raise,
            AlertKind::Closed => AlertOutcome::Quiet,
        }
    }
}

impl AlertScan {
    /// The day of `window`'s ledger entry.
    pub fn day_of(&self, window: &WindowFields) -> NaiveDate {
        match self.keyed_on {
            AlertDay::OpenDate => window.open_date,
            AlertDay::CloseDate => window.close_date,
            AlertDay::On(day) => day,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::project::ProjectFields;

    #[test]
    fn a_draft_is_submitted_then_approved_or_rejected_and_withdrawn_only_before_a_decision() {
        use ApplicationAction::*;
        use ApplicationState::*;
        assert_eq!(Submit.apply(Draft), Ok(Submitted));
        assert!(Submit.apply(Submitted).is_err());
        assert_eq!(Approve.apply(Submitted), Ok(Approved));
        assert!(Approve.apply(Draft).is_err());
        assert_eq!(Reject.apply(Submitted), Ok(Rejected));
        assert!(Reject.apply(Approved).is_err());
        assert_eq!(Withdraw.apply(Draft), Ok(Withdrawn));
        assert_eq!(Withdraw.apply(Submitted), Ok(Withdrawn));
        for terminal in [Approved, Rejected, Withdrawn] {
            assert!(Withdraw.apply(terminal).is_err());
            assert!(Submit.apply(terminal).is_err());
        }
        assert!(!Rejected.is_live() && !Withdrawn.is_live());
        assert!(Draft.is_live() && Submitted.is_live() && Approved.is_live());
        let message = Submit.apply(Approved).unwrap_err();
        assert!(message.contains("APPROVED"), "{message}");
    }

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    fn window(open: NaiveDate, close: NaiveDate) -> WindowFields {
        WindowFields {
            channel: FundingChannel::PolicyFinance,
            title: "第五批".into(),
            description: String::new(),
            open_date: open,
            close_date: close,
            target_count: 16,
            target_amount_yuan: 0,
            eligibility: Eligibility::default(),
        }
    }

    #[test]
    fn a_window_is_open_from_its_open_date_through_its_close_date() {
        let w = window(d(10, 1), d(10, 20));
        assert_eq!(w.state_on(d(9, 30)), WindowState::Upcoming);
        assert_eq!(w.state_on(d(10, 1)), WindowState::Open);
        assert_eq!(w.state_on(d(10, 20)), WindowState::Open);
        assert_eq!(w.state_on(d(10, 21)), WindowState::Closed);
    }

    #[test]
    fn a_window_closes_on_or_after_the_day_it_opens() {
        assert!(window(d(10, 1), d(10, 20)).check().is_ok());
        assert!(window(d(10, 1), d(10, 1)).check().is_ok());
        let Invalid(found) = window(d(10, 20), d(10, 1)).check().unwrap_err();
        assert_eq!(found[0].field, "funding_window.close_date");
        let mut w = FundingWindow::new("w".into(), "u".into(), window(d(10, 1), d(10, 20)), 1);
        let moved = WindowPatch {
            close_date: Some(d(9, 1)),
            ..Default::default()
        };
        assert!(w.update(moved, 2).is_err());
    }

    #[test]
    fn a_window_update_reports_the_changed_fields_and_bumps_the_version_only_on_change() {
        let mut w = FundingWindow::new("w".into(), "u".into(), window(d(10, 1), d(10, 20)), 1);
        let changed = w
            .update(
                WindowPatch {
                    title: Some("第五批".into()),
                    target_count: Some(20),
                    ..Default::default()
                },
                2,
            )
            .unwrap();
        assert_eq!(changed, vec!["target_count"]);
        assert_eq!((w.version, w.updated_at_us), (2, 2));
        assert!(w.update(WindowPatch::default(), 3).unwrap().is_empty());
        assert_eq!((w.version, w.updated_at_us), (2, 2));
    }

    fn project(stage: Stage) -> Project {
        Project {
            id: "p01".into(),
            uid: "u".into(),
            fields: ProjectFields {
                display_name: "县水网".into(),
                description: String::new(),
                project_code: None,
                category: Category::Water,
                investment_type: InvestmentType::Government,
                township: "城关镇".into(),
                department: "水利局".into(),
                owner: String::new(),
                leader: String::new(),
                total_investment_yuan: 1_000,
                annual_planned_investment_yuan: 0,
                completed_investment_yuan: 0,
                statistics_enrolment_date: None,
            },
            stage,
            suspended_from_stage: None,
            stage_changed_at_us: 0,
            created_at_us: 0,
            updated_at_us: 0,
            version: 1,
            reported_investment_yuan: 0,
        }
    }

    fn open_window() -> FundingWindow {
        FundingWindow::new("w5".into(), "u".into(), window(d(10, 1), d(10, 20)), 1)
    }

    fn application(state: ApplicationState) -> FundingApplication {
        let mut a = FundingApplication::draft(
            "a1".into(),
            "u".into(),
            &open_window(),
            CreateApplication {
                project_id: Id::parse("p01").unwrap(),
                application_id: None,
                window_id: Id::parse("w5").unwrap(),
                requested: Yuan::parse(500).unwrap(),
                description: Description::default(),
            },
            "editor",
            1,
        );
        a.state = state;
        a
    }

    fn note(text: &str) -> Note {
        Note::parse(text).unwrap()
    }

    fn submit<'a>(window: &'a FundingWindow, project: &'a Project, today: NaiveDate) -> Move<'a> {
        Move::Submit(Submission {
            window,
            project,
            cleared: &[],
            today,
        })
    }

    fn approve(amount: Option<i64>, allow: bool) -> Move<'static> {
        Move::Approve {
            approved_amount_yuan: amount,
            allow_exceeding_request: allow,
        }
    }

    #[test]
    fn an_illegal_move_is_refused_naming_the_current_state() {
        let mut a = application(ApplicationState::Approved);
        let refused = a.transition(Move::Withdraw, note(""), "x", 2).unwrap_err();
        assert_eq!(refused.reason, "ILLEGAL_APPLICATION_TRANSITION");
        assert!(refused.message.ends_with("(current state: APPROVED)"));
        assert_eq!(
            refused.violations,
            vec![(a.name(), "current state is APPROVED".to_string())]
        );
        assert_eq!(a.state, ApplicationState::Approved);
    }

    #[test]
    fn a_move_records_its_reason_actor_and_time_and_returns_the_state_left() {
        let mut a = application(ApplicationState::Submitted);
        let from = a
            .transition(Move::Reject, note("不符合"), "admin", 7)
            .unwrap();
        assert_eq!(from, ApplicationState::Submitted);
        assert_eq!(a.state, ApplicationState::Rejected);
        assert_eq!(
            (a.state_reason.as_str(), a.state_actor.as_str()),
            ("不符合", "admin")
        );
        assert_eq!(
            (a.state_changed_at_us, a.updated_at_us, a.version),
            (7, 7, 2)
        );
    }

    #[test]
    fn submitting_outside_the_window_dates_is_refused() {
        let w = open_window();
        let p = project(Stage::Reserve);
        for (day, state) in [(d(9, 30), "UPCOMING"), (d(10, 21), "CLOSED")] {
            let mut a = application(ApplicationState::Draft);
            let refused = a
                .transition(submit(&w, &p, day), note(""), "x", 2)
                .unwrap_err();
            assert_eq!(refused.reason, "WINDOW_NOT_OPEN");
            assert_eq!(refused.violations[0].0, "fundingWindows/w5");
            assert!(
                refused.violations[0]
                    .1
                    .starts_with(&format!("is {state} on "))
            );
            assert_eq!(a.state, ApplicationState::Draft);
        }
        for day in [d(10, 1), d(10, 20)] {
            let mut a = application(ApplicationState::Draft);
            a.transition(submit(&w, &p, day), note(""), "x", 2).unwrap();
            assert_eq!(a.state, ApplicationState::Submitted);
        }
    }

    #[test]
    fn submitting_an_ineligible_project_lists_every_unmet_condition() {
        let w = open_window();
        let p = project(Stage::Construction);
        let mut a = application(ApplicationState::Draft);
        let refused = a
            .transition(submit(&w, &p, d(10, 25)), note(""), "x", 2)
            .unwrap_err();
        assert_eq!(refused.reason, "PROJECT_NOT_ELIGIBLE");
        let subjects: Vec<&str> = refused.violations.iter().map(|v| v.0.as_str()).collect();
        assert_eq!(subjects, vec!["fundingWindows/w5", "eligibility.stages"]);
        assert!(refused.message.starts_with(
            "projects/p01/fundingApplications/a1 cannot be submitted to fundingWindows/w5: "
        ));
    }

    #[test]
    fn eligibility_needs_stage_category_type_size_and_cleared_prerequisites() {
        let e = Eligibility {
            stages: vec![Stage::Reserve],
            categories: vec![Category::Transport],
            investment_type: Some(InvestmentType::Enterprise),
            min_total_investment_yuan: 2_000,
            required_prerequisites: vec![PrerequisiteKind::Land],
        };
        let p = project(Stage::Reserve);
        let unmet: Vec<String> = e.unmet(&p, &[]).into_iter().map(|u| u.0).collect();
        assert_eq!(
            unmet,
            vec![
                "eligibility.categories",
                "eligibility.investment_type",
                "eligibility.min_total_investment_yuan",
                "eligibility.required_prerequisites.LAND",
            ]
        );
        assert!(Eligibility::default().unmet(&p, &[]).is_empty());
        let land = Eligibility {
            required_prerequisites: vec![PrerequisiteKind::Land],
            ..Default::default()
        };
        assert!(land.unmet(&p, &[PrerequisiteKind::Land]).is_empty());
    }

    #[test]
    fn a_closed_window_takes_no_new_applications() {
        let w = open_window();
        assert!(w.takes_applications(d(9, 1)).is_ok());
        assert!(w.takes_applications(d(10, 20)).is_ok());
        let refused = w.takes_applications(d(10, 21)).unwrap_err();
        assert_eq!(refused.reason, "WINDOW_CLOSED");
        assert_eq!(
            refused.message,
            "fundingWindows/w5 closed on 2026-10-20; no new applications"
        );
    }

    #[test]
    fn an_approval_approves_the_requested_amount_unless_another_is_given() {
        let mut a = application(ApplicationState::Submitted);
        a.transition(approve(None, false), note(""), "x", 2)
            .unwrap();
        assert_eq!(a.approved_amount_yuan, 500);
        let mut a = application(ApplicationState::Submitted);
        a.transition(approve(Some(300), false), note(""), "x", 2)
            .unwrap();
        assert_eq!(a.approved_amount_yuan, 300);
    }

    #[test]
    fn approving_more_than_requested_needs_allow_exceeding_request() {
        let mut a = application(ApplicationState::Submitted);
        let refused = a
            .transition(approve(Some(501), false), note(""), "x", 2)
            .unwrap_err();
        assert_eq!(refused.reason, "APPROVAL_EXCEEDS_REQUEST");
        assert_eq!(a.state, ApplicationState::Submitted);
        a.transition(approve(Some(501), true), note(""), "x", 2)
            .unwrap();
        assert_eq!(a.approved_amount_yuan, 501);
    }

    fn money(yuan: i64) -> Yuan {
        Yuan::parse(yuan).unwrap()
    }

    #[test]
    fn only_an_approved_application_receives_money() {
        for state in [
            ApplicationState::Draft,
            ApplicationState::Submitted,
            ApplicationState::Rejected,
            ApplicationState::Withdrawn,
        ] {
            let mut a = application(state);
            let refused = a
                .disburse(money(1), d(10, 1), DisbursementNote::default(), "x", 2)
                .unwrap_err();
            assert_eq!(refused.reason, "APPLICATION_NOT_APPROVED");
        }
    }

    #[test]
    fn disbursements_never_exceed_the_approved_amount() {
        let mut a = application(ApplicationState::Submitted);
        a.transition(approve(Some(300), false), note(""), "x", 2)
            .unwrap();
        let first = a
            .disburse(money(200), d(10, 1), DisbursementNote::default(), "x", 3)
            .unwrap();
        assert_eq!((first.amount_yuan, a.disbursed_amount_yuan), (200, 200));
        assert_eq!(a.disbursements, vec![first]);
        let refused = a
            .disburse(money(101), d(10, 2), DisbursementNote::default(), "x", 4)
            .unwrap_err();
        assert_eq!(refused.reason, "DISBURSEMENT_EXCEEDS_APPROVAL");
        assert!(
            refused.message.contains("(100 yuan remain)"),
            "{}",
            refused.message
        );
        assert_eq!(a.disbursed_amount_yuan, 200);
        a.disburse(money(100), d(10, 2), DisbursementNote::default(), "x", 4)
            .unwrap();
        assert_eq!((a.disbursed_amount_yuan, a.version), (300, 4));
    }

    #[test]
    fn an_application_keeps_at_most_max_disbursements() {
        let mut a = application(ApplicationState::Submitted);
        a.transition(approve(None, false), note(""), "x", 2)
            .unwrap();
        for _ in 0..MAX_DISBURSEMENTS {
            a.disburse(money(1), d(10, 1), DisbursementNote::default(), "x", 3)
                .unwrap();
        }
        let refused = a
            .disburse(money(1), d(10, 1), DisbursementNote::default(), "x", 3)
            .unwrap_err();
        assert_eq!(refused.reason, "TOO_MANY_DISBURSEMENTS");
    }

    #[test]
    fn the_requested_amount_changes_only_while_draft() {
        let patch = |amount| ApplicationPatch {
            requested_amount_yuan: Some(amount),
            description: Some("新".into()),
        };
        let mut a = application(ApplicationState::Draft);
        assert_eq!(
            a.update(patch(600), 2).unwrap(),
            vec!["requested_amount_yuan", "description"]
        );
        assert_eq!((a.requested_amount_yuan, a.version), (600, 2));
        let mut a = application(ApplicationState::Submitted);
        let refused = a.update(patch(600), 2).unwrap_err();
        assert_eq!(refused.reason, "APPLICATION_NOT_DRAFT");
        assert_eq!((a.requested_amount_yuan, a.version), (500, 1));
        // The same amount is no change, so the description alone is updated.
        assert_eq!(a.update(patch(500), 3).unwrap(), vec!["description"]);
    }

    #[test]
    fn a_project_holds_one_live_application_per_window() {
        let a = application(ApplicationState::Draft);
        assert_eq!(
            a.place_taken(Some("a0")).resource,
            "projects/p01/fundingApplications/a0 (a live application of projects/p01 to fundingWindows/w5)"
        );
        assert_eq!(
            a.place_taken(None).resource,
            "a live application of projects/p01 to fundingWindows/w5"
        );
    }

    fn coverage(target_count: i32, target_amount_yuan: i64) -> Coverage {
        let mut w = open_window();
        w.fields.target_count = target_count;
        w.fields.target_amount_yuan = target_amount_yuan;
        Coverage::new(w, d(10, 15), (10, 4), Vec::new(), Vec::new())
    }

    fn totals(count: i64, requested: i128, approved: i128, disbursed: i128) -> Totals {
        Totals {
            application_count: count,
            requested_amount_yuan: requested,
            approved_amount_yuan: approved,
            disbursed_amount_yuan: disbursed,
        }
    }

    #[test]
    fn coverage_declares_submitted_approved_and_rejected_applications_not_drafts() {
        let mut c = coverage(5, 1_000);
        c.add(Some(ApplicationState::Draft), &totals(2, 100, 0, 0));
        c.add(Some(ApplicationState::Submitted), &totals(1, 200, 0, 0));
        c.add(Some(ApplicationState::Approved), &totals(1, 300, 250, 50));
        c.add(Some(ApplicationState::Rejected), &totals(1, 400, 0, 0));
        c.add(Some(ApplicationState::Withdrawn), &totals(3, 900, 0, 0));
        assert_eq!((c.draft_count, c.declared_count()), (2, 3));
        assert_eq!(c.declared_amount_yuan, 900);
        assert_eq!((c.approved_amount_yuan, c.disbursed_amount_yuan), (250, 50));
        assert_eq!((c.count_gap(), c.amount_gap()), (2, 100));
        assert_eq!(c.days_to_close(), 5);
    }

    #[test]
    fn coverage_gaps_are_never_negative() {
        let mut c = coverage(1, 100);
        c.add(Some(ApplicationState::Submitted), &totals(3, 900, 0, 0));
        assert_eq!((c.count_gap(), c.amount_gap()), (0, 0));
    }

    #[test]
    fn window_alerts_look_at_open_windows_and_closed_ones_by_their_dates() {
        let today = d(10, 15);
        let opened = AlertKind::Opened.scan(today, 3);
        assert_eq!(
            (opened.opened_by, opened.closing_from, opened.closing_by),
            (Some(today), Some(today), None)
        );
        let closing = AlertKind::Closing.scan(today, 3);
        assert_eq!(closing.closing_by, Some(d(10, 18)));
        let closed = AlertKind::Closed.scan(today, 3);
        assert_eq!(
            (closed.opened_by, closed.closing_from, closed.closing_by),
            (None, None, Some(d(10, 14)))
        );
        let w = window(d(10, 1), d(10, 20));
        assert_eq!(opened.day_of(&w), d(10, 1));
        assert_eq!(closing.day_of(&w), today);
        assert_eq!(closed.day_of(&w), d(10, 20));
    }

    #[test]
    fn a_closing_alert_waits_while_nothing_is_missing_and_a_closed_one_speaks_of_undeclared_projects()
     {
        let mut c = coverage(1, 0);
        c.undeclared_count = 0;
        assert_eq!(AlertKind::Opened.outcome(&c), AlertOutcome::Raise);
        assert_eq!(AlertKind::Closing.outcome(&c), AlertOutcome::Later);
        assert_eq!(AlertKind::Closed.outcome(&c), AlertOutcome::Quiet);
        c.draft_count = 1;
        assert_eq!(AlertKind::Closing.outcome(&c), AlertOutcome::Raise);
        assert_eq!(AlertKind::Closed.outcome(&c), AlertOutcome::Quiet);
        c.undeclared_count = 1;
        assert_eq!(AlertKind::Closed.outcome(&c), AlertOutcome::Raise);
    }
}
