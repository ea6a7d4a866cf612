//! Funding windows: one declaration round of one channel, with who may be declared into it.

use chrono::NaiveDate;

use super::prerequisite::PrerequisiteKind;
use super::project::{Category, InvestmentType, Project, Stage, named_enum};

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
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.close_date < self.open_date {
            return Err((
                "close_date",
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
    pub reason: String,
    /// Approve only: the approved amount (None = the requested amount) and the override that
    /// allows more than was requested.
    pub approved_amount_yuan: Option<i64>,
    pub allow_exceeding_request: bool,
    pub etag: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_transitions() {
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
    fn states_and_dates() {
        let w = window(d(10, 1), d(10, 20));
        assert_eq!(w.state_on(d(9, 30)), WindowState::Upcoming);
        assert_eq!(w.state_on(d(10, 1)), WindowState::Open);
        assert_eq!(w.state_on(d(10, 20)), WindowState::Open);
        assert_eq!(w.state_on(d(10, 21)), WindowState::Closed);
        assert!(w.check().is_ok());
        assert!(window(d(10, 20), d(10, 1)).check().is_err());
        assert!(window(d(10, 1), d(10, 1)).check().is_ok());
    }

    #[test]
    fn patches_report_changes() {
        let mut w = window(d(10, 1), d(10, 20));
        let changed = WindowPatch {
            title: Some("第五批".into()),
            target_count: Some(20),
            ..Default::default()
        }
        .apply(&mut w);
        assert_eq!(changed, vec!["target_count"]);
    }
}
