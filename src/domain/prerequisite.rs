//! Prerequisites (前期要件): the approvals a project needs before construction.

use chrono::NaiveDate;

use super::error::Invalid;
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

    /// UpdatePrerequisite: applies the patch at `now_us` and returns the names of the fields
    /// that changed, or the field the result would break (an OTHER prerequisite without a
    /// title), named by its request path. Nothing changes when no value differs.
    pub fn update(
        &mut self,
        patch: PrerequisitePatch,
        now_us: i64,
    ) -> Result<Vec<&'static str>, Invalid> {
        let mut fields = self.fields.clone();
        let changed = patch.apply(&mut fields);
        if let Err((field, problem)) = fields.check() {
            return Err(Invalid::field(format!("prerequisite.{field}"), problem));
        }
        if !changed.is_empty() {
            self.fields = fields;
            self.version += 1;
            self.updated_at_us = now_us;
        }
        Ok(changed)
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
    /// The fields of a new prerequisite, when the patch sets every one of them.
    pub fn complete(self) -> Option<PrerequisiteFields> {
        Some(PrerequisiteFields {
            kind: self.kind?,
            title: self.title?,
            state: self.state?,
            due_date: self.due_date?,
            note: self.note?,
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn land() -> Prerequisite {
        Prerequisite {
            project_id: "p".into(),
            id: "land".into(),
            uid: "u".into(),
            fields: PrerequisiteFields {
                kind: PrerequisiteKind::Land,
                title: String::new(),
                state: PrerequisiteState::NotStarted,
                due_date: None,
                note: String::new(),
            },
            created_at_us: 0,
            updated_at_us: 0,
            version: 1,
        }
    }

    #[test]
    fn an_other_prerequisite_needs_a_title() {
        assert_eq!(
            check_title(PrerequisiteKind::Other, ""),
            Err(("title", "is required when kind is OTHER"))
        );
        assert_eq!(check_title(PrerequisiteKind::Other, "水土保持"), Ok(()));
        let mut item = land();
        let refused = item
            .update(
                PrerequisitePatch {
                    kind: Some(PrerequisiteKind::Other),
                    ..Default::default()
                },
                5,
            )
            .unwrap_err();
        assert_eq!(
            refused,
            Invalid::field("prerequisite.title", "is required when kind is OTHER")
        );
        assert_eq!(item, land(), "a refused update changes nothing");
    }

    #[test]
    fn an_update_bumps_the_version_only_when_a_value_changes() {
        let mut item = land();
        let same = PrerequisitePatch {
            state: Some(PrerequisiteState::NotStarted),
            ..Default::default()
        };
        assert_eq!(item.update(same, 5), Ok(vec![]));
        assert_eq!(item.version, 1);
        let done = PrerequisitePatch {
            state: Some(PrerequisiteState::Done),
            ..Default::default()
        };
        assert_eq!(item.update(done, 5), Ok(vec!["state"]));
        assert_eq!((item.version, item.updated_at_us), (2, 5));
        assert!(item.fields.state.is_cleared());
    }
}
