//! Projects of the reserve library and their lifecycle.

use chrono::NaiveDate;

use super::error::{Invalid, Refused};

/// The fields of a project an update may change, by their API names (update masks and the
/// `changed_fields` of events name them so).
pub const MUTABLE_FIELDS: &[&str] = &[
    "display_name",
    "description",
    "project_code",
    "category",
    "investment_type",
    "township",
    "department",
    "owner",
    "leader",
    "total_investment_yuan",
    "annual_planned_investment_yuan",
    "completed_investment_yuan",
    "statistics_enrolment_date",
];

/// Declares a C-like enum with its storage names (the API value names without their prefix).
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The storage and filter name, e.g. `CONSTRUCTION`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// Where a project is in its lifecycle.
    Stage {
        Concept => "CONCEPT",
        Reserve => "RESERVE",
        Preparation => "PREPARATION",
        Construction => "CONSTRUCTION",
        TrialProduction => "TRIAL_PRODUCTION",
        Operation => "OPERATION",
        Suspended => "SUSPENDED",
        Cancelled => "CANCELLED",
    }
);

named_enum!(
    /// The sector a project belongs to.
    Category {
        Transport => "TRANSPORT",
        Water => "WATER",
        Energy => "ENERGY",
        Industry => "INDUSTRY",
        Urban => "URBAN",
        Agriculture => "AGRICULTURE",
        Social => "SOCIAL",
        Ecology => "ECOLOGY",
        Other => "OTHER",
    }
);

named_enum!(
    /// Who puts the money in.
    InvestmentType {
        Government => "GOVERNMENT",
        Enterprise => "ENTERPRISE",
    }
);

impl Stage {
    /// Position on the forward path; None for SUSPENDED and CANCELLED.
    fn rank(self) -> Option<u8> {
        match self {
            Stage::Concept => Some(0),
            Stage::Reserve => Some(1),
            Stage::Preparation => Some(2),
            Stage::Construction => Some(3),
            Stage::TrialProduction => Some(4),
            Stage::Operation => Some(5),
            Stage::Suspended | Stage::Cancelled => None,
        }
    }

    /// True when `self` is a live stage earlier on the forward path than `target`.
    pub fn is_behind(self, target: Stage) -> bool {
        matches!((self.rank(), target.rank()), (Some(a), Some(b)) if a < b)
    }

    /// A stage a project may be created in.
    pub fn is_initial(self) -> bool {
        self.rank().is_some()
    }
}

/// The outcome of a legal stage change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageTransition {
    pub from: Stage,
    pub to: Stage,
    /// The stage to return to while suspended; None otherwise.
    pub suspended_from: Option<Stage>,
}

/// Why a stage change is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the project is already {}", .0.as_str())]
    Unchanged(Stage),
    #[error("the project is CANCELLED, which is final")]
    FromCancelled,
    #[error("a suspended project returns only to the stage it left ({}) or is cancelled", .left.as_str())]
    ResumeElsewhere { left: Stage },
    #[error("the project is {}; stages never move backwards to {}", .from.as_str(), .to.as_str())]
    Backwards { from: Stage, to: Stage },
}

/// The lifecycle: forward along CONCEPT -> ... -> OPERATION (skipping allowed), SUSPENDED
/// from any live stage and back to the stage it left, CANCELLED from anywhere but itself.
pub fn transition(
    current: Stage,
    suspended_from: Option<Stage>,
    target: Stage,
) -> Result<StageTransition, TransitionError> {
    if current == target {
        return Err(TransitionError::Unchanged(current));
    }
    let ok = |suspended_from| StageTransition {
        from: current,
        to: target,
        suspended_from,
    };
    match (current, target) {
        (Stage::Cancelled, _) => Err(TransitionError::FromCancelled),
        (_, Stage::Cancelled) => Ok(ok(None)),
        (Stage::Suspended, to) => {
            let left = suspended_from.unwrap_or(Stage::Concept);
            if to == left {
                Ok(ok(None))
            } else {
                Err(TransitionError::ResumeElsewhere { left })
            }
        }
        (from, Stage::Suspended) => Ok(ok(Some(from))),
        (from, to) => {
            if to.rank() > from.rank() {
                Ok(ok(None))
            } else {
                Err(TransitionError::Backwards { from, to })
            }
        }
    }
}

/// The descriptive fields of a project: everything a client may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFields {
    pub display_name: String,
    pub description: String,
    pub project_code: Option<String>,
    pub category: Category,
    pub investment_type: InvestmentType,
    pub township: String,
    pub department: String,
    pub owner: String,
    pub leader: String,
    pub total_investment_yuan: i64,
    pub annual_planned_investment_yuan: i64,
    pub completed_investment_yuan: i64,
    /// The day the project was enrolled in the statistics system (入库纳统), if it has been.
    pub statistics_enrolment_date: Option<NaiveDate>,
}

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub uid: String,
    pub fields: ProjectFields,
    pub stage: Stage,
    pub suspended_from_stage: Option<Stage>,
    pub stage_changed_at_us: i64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
    /// The sum of the project's monthly investment reports, in yuan: the part of
    /// `fields.completed_investment_yuan` they account for (the rest was carried over from
    /// before monthly reporting). Kept by the report commands, in the same transaction.
    pub reported_investment_yuan: i64,
}

impl Project {
    pub fn name(&self) -> String {
        super::names::project_name(&self.id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }

    /// ChangeProjectStage: the legal step to `target` (see `transition`), or the refusal that
    /// names the current stage (AIP-216: an illegal transition is FAILED_PRECONDITION).
    pub fn transition(&self, target: Stage) -> Result<StageTransition, Refused> {
        transition(self.stage, self.suspended_from_stage, target).map_err(|err| {
            Refused::new(
                "ILLEGAL_STAGE_TRANSITION",
                format!("{err} (current stage: {})", self.stage.as_str()),
            )
            .on(
                self.name(),
                format!(
                    "current stage is {}; cannot change to {}",
                    self.stage.as_str(),
                    target.as_str()
                ),
            )
        })
    }

    /// Takes a legal stage step at `now_us`: the stage, the stage to resume, the times and the
    /// version.
    pub fn take_step(&mut self, step: StageTransition, now_us: i64) {
        self.stage = step.to;
        self.suspended_from_stage = step.suspended_from;
        self.stage_changed_at_us = now_us;
        self.updated_at_us = now_us;
        self.version += 1;
    }

    /// Applies a patch of its fields at `now_us` and returns the names of the fields that
    /// changed; nothing changes (not even the version) when no value differs.
    ///
    /// `completed_investment_yuan` may not go below what the monthly reports account for
    /// (`reported_investment_yuan`): setting it sets the carried-over part, and there is no
    /// negative carry-over (INVALID_ARGUMENT on `project.completed_investment_yuan`).
    pub fn update(
        &mut self,
        patch: ProjectPatch,
        now_us: i64,
    ) -> Result<Vec<&'static str>, Invalid> {
        if let Some(completed) = patch.completed_investment_yuan
            && completed < self.reported_investment_yuan
        {
            return Err(Invalid::field(
                "project.completed_investment_yuan",
                format!(
                    "is {completed} yuan, below the {} yuan the monthly investment reports already sum to; correct the reports instead",
                    self.reported_investment_yuan
                ),
            ));
        }
        let changed = patch.apply(&mut self.fields);
        if !changed.is_empty() {
            self.version += 1;
            self.updated_at_us = now_us;
        }
        Ok(changed)
    }

    /// DeleteProject: a project that still has prerequisites, milestones or funding
    /// applications is deleted only with `force`, and the refusal names each collection.
    pub fn check_delete(&self, children: Children, force: bool) -> Result<(), Refused> {
        let Children {
            prerequisites,
            milestones,
            applications,
            investment_plans,
            investment_reports,
            justifications,
            problems,
        } = children;
        if force
            || prerequisites
                + milestones
                + applications
                + investment_plans
                + investment_reports
                + justifications
                + problems
                == 0
        {
            return Ok(());
        }
        let name = self.name();
        let investment = if investment_plans + investment_reports + justifications > 0 {
            format!(
                ", {investment_plans} investment plan(s), {investment_reports} monthly investment report(s) and {justifications} justification(s)"
            )
        } else {
            String::new()
        };
        let problem_text = if problems > 0 {
            format!(" and {problems} problem(s)")
        } else {
            String::new()
        };
        let mut refused = Refused::new(
            "PROJECT_HAS_CHILDREN",
            format!(
                "{name} still has {prerequisites} prerequisite(s), {milestones} milestone(s) and {applications} funding application(s){investment}{problem_text}; delete them first or set force"
            ),
        );
        for (collection, count) in [
            ("prerequisites", prerequisites),
            ("milestones", milestones),
            ("fundingApplications", applications),
            ("investmentPlans", investment_plans),
            ("investmentReports", investment_reports),
            ("justifications", justifications),
            ("problems", problems),
        ] {
            if count > 0 {
                refused = refused.on(
                    format!("{name}/{collection}"),
                    format!("{count} {collection}"),
                );
            }
        }
        Err(refused)
    }
}

/// How many resources hang off a project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Children {
    pub prerequisites: u64,
    pub milestones: u64,
    pub applications: u64,
    pub investment_plans: u64,
    pub investment_reports: u64,
    pub justifications: u64,
    pub problems: u64,
}

/// A validated partial update: each Some field replaces the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub project_code: Option<Option<String>>,
    pub category: Option<Category>,
    pub investment_type: Option<InvestmentType>,
    pub township: Option<String>,
    pub department: Option<String>,
    pub owner: Option<String>,
    pub leader: Option<String>,
    pub total_investment_yuan: Option<i64>,
    pub annual_planned_investment_yuan: Option<i64>,
    pub completed_investment_yuan: Option<i64>,
    pub statistics_enrolment_date: Option<Option<NaiveDate>>,
}

impl ProjectPatch {
    /// The fields of a new project, when the patch sets every one of them.
    pub fn complete(self) -> Option<ProjectFields> {
        Some(ProjectFields {
            display_name: self.display_name?,
            description: self.description?,
            project_code: self.project_code?,
            category: self.category?,
            investment_type: self.investment_type?,
            township: self.township?,
            department: self.department?,
            owner: self.owner?,
            leader: self.leader?,
            total_investment_yuan: self.total_investment_yuan?,
            annual_planned_investment_yuan: self.annual_planned_investment_yuan?,
            completed_investment_yuan: self.completed_investment_yuan?,
            statistics_enrolment_date: self.statistics_enrolment_date?,
        })
    }

    /// Applies the patch and returns the names of the fields whose values changed.
    pub fn apply(self, fields: &mut ProjectFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        fn set<T: PartialEq>(
            slot: &mut T,
            value: Option<T>,
            name: &'static str,
            changed: &mut Vec<&'static str>,
        ) {
            if let Some(value) = value
                && *slot != value
            {
                *slot = value;
                changed.push(name);
            }
        }
        set(
            &mut fields.display_name,
            self.display_name,
            "display_name",
            &mut changed,
        );
        set(
            &mut fields.description,
            self.description,
            "description",
            &mut changed,
        );
        set(
            &mut fields.project_code,
            self.project_code,
            "project_code",
            &mut changed,
        );
        set(
            &mut fields.category,
            self.category,
            "category",
            &mut changed,
        );
        set(
            &mut fields.investment_type,
            self.investment_type,
            "investment_type",
            &mut changed,
        );
        set(
            &mut fields.township,
            self.township,
            "township",
            &mut changed,
        );
        set(
            &mut fields.department,
            self.department,
            "department",
            &mut changed,
        );
        set(&mut fields.owner, self.owner, "owner", &mut changed);
        set(&mut fields.leader, self.leader, "leader", &mut changed);
        set(
            &mut fields.total_investment_yuan,
            self.total_investment_yuan,
            "total_investment_yuan",
            &mut changed,
        );
        set(
            &mut fields.annual_planned_investment_yuan,
            self.annual_planned_investment_yuan,
            "annual_planned_investment_yuan",
            &mut changed,
        );
        set(
            &mut fields.completed_investment_yuan,
            self.completed_investment_yuan,
            "completed_investment_yuan",
            &mut changed,
        );
        set(
            &mut fields.statistics_enrolment_date,
            self.statistics_enrolment_date,
            "statistics_enrolment_date",
            &mut changed,
        );
        changed
    }
}

/// The day a stage change takes effect: one that has come (today or earlier), since the
/// change records what happened.
pub fn effective_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, String> {
    if date > today {
        Err(format!("{date} is in the future (today is {today})"))
    } else {
        Ok(date)
    }
}

/// A stage change as requested, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageChangeRequest {
    pub target: Stage,
    pub reason: String,
    pub effective_date: NaiveDate,
    pub etag: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::Stage::*;
    use super::*;

    #[test]
    fn forward_and_skip() {
        assert!(transition(Concept, None, Reserve).is_ok());
        assert!(transition(Concept, None, Construction).is_ok());
        assert!(transition(TrialProduction, None, Operation).is_ok());
        assert_eq!(
            transition(Construction, None, Preparation),
            Err(TransitionError::Backwards {
                from: Construction,
                to: Preparation
            })
        );
        assert_eq!(
            transition(Reserve, None, Reserve),
            Err(TransitionError::Unchanged(Reserve))
        );
    }

    #[test]
    fn suspend_resume_cancel() {
        let suspended = transition(Preparation, None, Suspended).unwrap();
        assert_eq!(suspended.suspended_from, Some(Preparation));
        assert!(transition(Suspended, Some(Preparation), Preparation).is_ok());
        assert_eq!(
            transition(Suspended, Some(Preparation), Construction),
            Err(TransitionError::ResumeElsewhere { left: Preparation })
        );
        assert!(transition(Suspended, Some(Preparation), Cancelled).is_ok());
        assert!(transition(Operation, None, Cancelled).is_ok());
        assert_eq!(
            transition(Cancelled, None, Concept),
            Err(TransitionError::FromCancelled)
        );
        assert_eq!(
            transition(Cancelled, None, Suspended),
            Err(TransitionError::FromCancelled)
        );
    }

    fn project(stage: Stage, suspended_from_stage: Option<Stage>) -> Project {
        Project {
            id: "p".into(),
            uid: "u".into(),
            fields: ProjectFields {
                display_name: "县水网".into(),
                description: String::new(),
                project_code: None,
                category: Category::Water,
                investment_type: InvestmentType::Government,
                township: "城关镇".into(),
                department: "县水利局".into(),
                owner: String::new(),
                leader: String::new(),
                total_investment_yuan: 0,
                annual_planned_investment_yuan: 0,
                completed_investment_yuan: 0,
                statistics_enrolment_date: None,
            },
            stage,
            suspended_from_stage,
            stage_changed_at_us: 0,
            created_at_us: 0,
            updated_at_us: 0,
            version: 1,
            reported_investment_yuan: 0,
        }
    }

    #[test]
    fn an_illegal_stage_change_is_refused_naming_the_current_stage() {
        let refused = project(Construction, None)
            .transition(Preparation)
            .unwrap_err();
        assert_eq!(refused.reason, "ILLEGAL_STAGE_TRANSITION");
        assert_eq!(
            refused.message,
            "the project is CONSTRUCTION; stages never move backwards to PREPARATION (current stage: CONSTRUCTION)"
        );
        assert_eq!(
            refused.violations,
            vec![(
                "projects/p".to_string(),
                "current stage is CONSTRUCTION; cannot change to PREPARATION".to_string()
            )]
        );
        let step = project(Suspended, Some(Reserve))
            .transition(Reserve)
            .unwrap();
        let mut resumed = project(Suspended, Some(Reserve));
        resumed.take_step(step, 7);
        assert_eq!(
            (resumed.stage, resumed.suspended_from_stage, resumed.version),
            (Reserve, None, 2)
        );
        assert_eq!((resumed.stage_changed_at_us, resumed.updated_at_us), (7, 7));
    }

    #[test]
    fn a_stage_change_cannot_take_effect_in_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 10, 15).unwrap();
        assert_eq!(effective_date(today, today), Ok(today));
        let tomorrow = today.succ_opt().unwrap();
        assert_eq!(
            effective_date(tomorrow, today),
            Err("2026-10-16 is in the future (today is 2026-10-15)".into())
        );
    }

    #[test]
    fn a_project_with_children_is_deleted_only_with_force() {
        let p = project(Concept, None);
        assert_eq!(p.check_delete(Children::default(), false), Ok(()));
        let children = Children {
            prerequisites: 2,
            milestones: 0,
            applications: 1,
            ..Default::default()
        };
        assert_eq!(p.check_delete(children, true), Ok(()));
        let refused = p.check_delete(children, false).unwrap_err();
        assert_eq!(refused.reason, "PROJECT_HAS_CHILDREN");
        assert_eq!(
            refused.violations,
            vec![
                ("projects/p/prerequisites".into(), "2 prerequisites".into()),
                (
                    "projects/p/fundingApplications".into(),
                    "1 fundingApplications".into()
                ),
            ]
        );
    }

    #[test]
    fn an_update_that_changes_nothing_keeps_the_version() {
        let mut p = project(Concept, None);
        let same = ProjectPatch {
            display_name: Some("县水网".into()),
            ..Default::default()
        };
        assert!(p.update(same, 5).unwrap().is_empty());
        assert_eq!((p.version, p.updated_at_us), (1, 0));
        let moved = ProjectPatch {
            township: Some("龙凤镇".into()),
            ..Default::default()
        };
        assert_eq!(p.update(moved, 5).unwrap(), vec!["township"]);
        assert_eq!((p.version, p.updated_at_us), (2, 5));
    }

    #[test]
    fn names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(*stage));
        }
        assert!(!Suspended.is_initial());
        assert!(Construction.is_initial());
    }
}
