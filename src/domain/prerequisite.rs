//! Prerequisites (前期要件): the approvals a project needs before construction.

use chrono::NaiveDate;

use super::project::named_enum;

named_enum!(
    /// The kind of approval.
    PrerequisiteKind {
        Land => "LAND",
        PlanningPermit => "PLANNING_PERMIT",
        EnvironmentalAssessment => "ENVIRONMENTAL_ASSESSMENT",
        EnergyAssessment => "ENERGY_ASSESSMENT",
        ConstructionPermit => "CONSTRUCTION_PERMIT",
        FundingClosed => "FUNDING_CLOSED",
        Other => "OTHER",
    }
);

named_enum!(
    /// How far the approval has come.
    PrerequisiteState {
        NotStarted => "NOT_STARTED",
        InProgress => "IN_PROGRESS",
        Done => "DONE",
        Waived => "WAIVED",
    }
);

impl PrerequisiteState {
    /// DONE and WAIVED no longer hold a project back.
    pub fn is_cleared(self) -> bool {
        matches!(self, PrerequisiteState::Done | PrerequisiteState::Waived)
    }
}

/// The fields a client may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrerequisiteFields {
    pub kind: PrerequisiteKind,
    pub title: String,
    pub state: PrerequisiteState,
    pub due_date: Option<NaiveDate>,
    pub note: String,
}

impl PrerequisiteFields {
    /// Rules across fields: an OTHER prerequisite needs a title to be understood.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        check_title(self.kind, &self.title)
    }
}

/// An OTHER prerequisite needs a title; returns the bad field and the problem.
pub fn check_title(
    kind: PrerequisiteKind,
    title: &str,
) -> Result<(), (&'static str, &'static str)> {
    if kind == PrerequisiteKind::Other && title.is_empty() {
        return Err(("title", "is required when kind is OTHER"));
    }
    Ok(())
}

/// A prerequisite as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    pub project_id: String,
    pub id: String,
    pub uid: String,
    pub fields: PrerequisiteFields,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl Prerequisite {
    pub fn name(&self) -> String {
        super::names::prerequisite_name(&self.project_id, &self.id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrerequisitePatch {
    pub kind: Option<PrerequisiteKind>,
    pub title: Option<String>,
    pub state: Option<PrerequisiteState>,
    pub due_date: Option<Option<NaiveDate>>,
    pub note: Option<String>,
}

impl PrerequisitePatch {
    /// Applies the patch and returns the names of the fields whose values changed.
    pub fn apply(self, fields: &mut PrerequisiteFields) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if let Some(kind) = self.kind.filter(|k| *k != fields.kind) {
            fields.kind = kind;
            changed.push("kind");
        }
        if let Some(title) = self.title.filter(|t| *t != fields.title) {
            fields.title = title;
            changed.push("title");
        }
        if let Some(state) = self.state.filter(|s| *s != fields.state) {
            fields.state = state;
            changed.push("state");
        }
        if let Some(due_date) = self.due_date.filter(|d| *d != fields.due_date) {
            fields.due_date = due_date;
            changed.push("due_date");
        }
        if let Some(note) = self.note.filter(|n| *n != fields.note) {
            fields.note = note;
            changed.push("note");
        }
        changed
    }
}
