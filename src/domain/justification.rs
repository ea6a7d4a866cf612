//! Justifications (正当理由): an ADMIN's record that a project is behind for a reason it cannot
//! help (a flood, a court order on land, …). While valid, the lights it covers are reported as
//! exempt with the underlying light still visible; an exempt month does not escalate (DESIGN
//! §11, issue 17). A revoked justification covers nothing, for any date.

use chrono::NaiveDate;

use super::error::{Invalid, Refused, Violations};
use super::names;
use super::pace::YearMonth;
use super::project::named_enum;
use super::values::{Note, Reason};

named_enum!(
    /// What a justification exempts: the pace light, one milestone's light, or every light of
    /// the project.
    JustificationScope {
        InvestmentPace => "INVESTMENT_PACE",
        Milestone => "MILESTONE",
        Project => "PROJECT",
    }
);

named_enum!(
    /// Why (the reason code).
    JustificationReason {
        ForceMajeure => "FORCE_MAJEURE",
        Judicial => "JUDICIAL",
        PolicyChange => "POLICY_CHANGE",
        HigherApproval => "HIGHER_APPROVAL",
        Other => "OTHER",
    }
);

named_enum!(
    /// Where a justification stands as of a date.
    JustificationState {
        Scheduled => "SCHEDULED",
        Active => "ACTIVE",
        Expired => "EXPIRED",
        Revoked => "REVOKED",
    }
);

/// `projects/{project}/justifications/{justification}`.
pub fn justification_name(project_id: &str, id: &str) -> String {
    format!("{}/justifications/{id}", names::project_name(project_id))
}

/// Parses `projects/{project}/justifications/{justification}` into both ids.
pub fn parse_justification_name(name: &str) -> Result<(&str, &str), String> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["projects", project, "justifications", id]
            if names::validate_id(project).is_ok() && names::validate_id(id).is_ok() =>
        {
            Ok((project, id))
        }
        _ => Err(format!(
            "must be a justification name, projects/{{project}}/justifications/{{justification}}; got {name:?}"
        )),
    }
}

/// What CreateJustification records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JustificationFields {
    pub scope: JustificationScope,
    /// The covered milestone's id (MILESTONE only).
    pub milestone_id: Option<String>,
    pub reason: JustificationReason,
    pub evidence_note: String,
    /// Inclusive civil dates.
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
}

impl JustificationFields {
    /// Checks what only the whole can: the window may not end before it starts
    /// (`justification.valid_to`), and a milestone is named exactly when the scope is
    /// MILESTONE (`justification.milestone`, a milestone of `project_id`).
    pub fn new(
        project_id: &str,
        scope: JustificationScope,
        milestone: &str,
        reason: JustificationReason,
        evidence_note: Note,
        valid_from: NaiveDate,
        valid_to: NaiveDate,
    ) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        if valid_to < valid_from {
            violations.add(
                "justification.valid_to",
                format!("{valid_to} is before valid_from {valid_from}"),
            );
        }
        let milestone_id = match (scope, milestone.is_empty()) {
            (JustificationScope::Milestone, true) => {
                violations.add("justification.milestone", "is required for scope MILESTONE");
                None
            }
            (JustificationScope::Milestone, false) => {
                match names::parse_milestone_name(milestone) {
                    Ok((project, id)) if project == project_id => Some(id.to_string()),
                    Ok(_) => {
                        violations.add(
                            "justification.milestone",
                            format!("{milestone:?} is not a milestone of projects/{project_id}"),
                        );
                        None
                    }
                    Err(err) => {
                        violations.add("justification.milestone", err);
                        None
                    }
                }
            }
            (_, false) => {
                violations.add(
                    "justification.milestone",
                    "is only for scope MILESTONE; leave it empty",
                );
                None
            }
            (_, true) => None,
        };
        if evidence_note.is_empty() {
            violations.add("justification.evidence_note", "is required");
        }
        violations.finish()?;
        Ok(Self {
            scope,
            milestone_id,
            reason,
            evidence_note: evidence_note.into_string(),
            valid_from,
            valid_to,
        })
    }
}

/// A justification as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Justification {
    pub project_id: String,
    pub id: String,
    pub uid: String,
    pub fields: JustificationFields,
    /// The ADMIN token that approved it.
    pub approver: String,
    pub revoke_reason: String,
    pub revoked_at_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl Justification {
    pub fn name(&self) -> String {
        justification_name(&self.project_id, &self.id)
    }

    pub fn etag(&self) -> String {
        names::etag(self.version)
    }

    /// As of `today`.
    pub fn state(&self, today: NaiveDate) -> JustificationState {
        if self.revoked_at_us.is_some() {
            JustificationState::Revoked
        } else if today < self.fields.valid_from {
            JustificationState::Scheduled
        } else if today > self.fields.valid_to {
            JustificationState::Expired
        } else {
            JustificationState::Active
        }
    }

    fn valid_on(&self, date: NaiveDate) -> bool {
        self.revoked_at_us.is_none()
            && self.fields.valid_from <= date
            && date <= self.fields.valid_to
    }

    /// Whether it exempts the project's pace light on `date` (a month's last day).
    pub fn covers_pace(&self, date: NaiveDate) -> bool {
        matches!(
            self.fields.scope,
            JustificationScope::InvestmentPace | JustificationScope::Project
        ) && self.valid_on(date)
    }

    /// Whether it exempts the light of milestone `milestone_id` on `date`.
    pub fn covers_milestone(&self, milestone_id: &str, date: NaiveDate) -> bool {
        let scoped = match self.fields.scope {
            JustificationScope::Project => true,
            JustificationScope::Milestone => {
                self.fields.milestone_id.as_deref() == Some(milestone_id)
            }
            JustificationScope::InvestmentPace => false,
        };
        scoped && self.valid_on(date)
    }

    /// RevokeJustification at `now_us`; refused when it was revoked already.
    pub fn revoke(&mut self, reason: Reason, now_us: i64) -> Result<(), Refused> {
        if self.revoked_at_us.is_some() {
            return Err(Refused::new(
                "JUSTIFICATION_REVOKED",
                format!("{} was revoked already", self.name()),
            )
            .on(self.name(), "already revoked"));
        }
        self.revoke_reason = reason.into_string();
        self.revoked_at_us = Some(now_us);
        self.updated_at_us = now_us;
        self.version += 1;
        Ok(())
    }
}

/// For each month of `year`, the first of `justifications` that exempts the pace light at the
/// month's end (index month − 1).
pub fn pace_exemptions(justifications: &[Justification], year: i32) -> [Option<usize>; 12] {
    let mut exempt = [None; 12];
    for (m, slot) in exempt.iter_mut().enumerate() {
        if let Ok(month) = YearMonth::new(year, m as u32 + 1) {
            *slot = justifications
                .iter()
                .position(|j| j.covers_pace(month.last_day()));
        }
    }
    exempt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn justification(scope: JustificationScope, from: NaiveDate, to: NaiveDate) -> Justification {
        Justification {
            project_id: "p".into(),
            id: "flood".into(),
            uid: "u".into(),
            fields: JustificationFields::new(
                "p",
                scope,
                if scope == JustificationScope::Milestone {
                    "projects/p/milestones/start"
                } else {
                    ""
                },
                JustificationReason::ForceMajeure,
                Note::required("7月特大洪水，施工便道冲毁").unwrap(),
                from,
                to,
            )
            .unwrap(),
            approver: "admin".into(),
            revoke_reason: String::new(),
            revoked_at_us: None,
            created_at_us: 0,
            updated_at_us: 0,
            version: 1,
        }
    }

    #[test]
    fn a_window_that_ends_before_it_starts_is_refused() {
        let err = JustificationFields::new(
            "p",
            JustificationScope::Project,
            "",
            JustificationReason::Judicial,
            Note::parse("").unwrap(),
            day(8, 1),
            day(7, 31),
        )
        .unwrap_err();
        let fields: Vec<_> = err.0.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["justification.valid_to", "justification.evidence_note"]
        );
    }

    #[test]
    fn a_milestone_is_named_exactly_for_the_milestone_scope() {
        let note = || Note::required("x").unwrap();
        let r = JustificationReason::Other;
        let (from, to) = (day(1, 1), day(1, 2));
        use JustificationScope::*;
        assert!(JustificationFields::new("p", Milestone, "", r, note(), from, to).is_err());
        assert!(
            JustificationFields::new(
                "p",
                Milestone,
                "projects/q/milestones/m",
                r,
                note(),
                from,
                to
            )
            .is_err()
        );
        assert!(
            JustificationFields::new("p", Project, "projects/p/milestones/m", r, note(), from, to)
                .is_err()
        );
        let ok = JustificationFields::new(
            "p",
            Milestone,
            "projects/p/milestones/m",
            r,
            note(),
            from,
            to,
        )
        .unwrap();
        assert_eq!(ok.milestone_id.as_deref(), Some("m"));
    }

    #[test]
    fn a_justification_exempts_the_month_ends_inside_its_window_until_revoked() {
        // 15 July to 31 August covers the ends of July and August, not June's or September's.
        let mut j = justification(JustificationScope::InvestmentPace, day(7, 15), day(8, 31));
        let exempt = pace_exemptions(std::slice::from_ref(&j), 2026);
        let covered: Vec<usize> = (0..12).filter(|&m| exempt[m].is_some()).collect();
        assert_eq!(covered, [6, 7]);
        assert_eq!(j.state(day(7, 14)), JustificationState::Scheduled);
        assert_eq!(j.state(day(8, 31)), JustificationState::Active);
        assert_eq!(j.state(day(9, 1)), JustificationState::Expired);
        assert!(!j.covers_milestone("start", day(8, 1)));
        j.revoke(Reason::required("洪水影响已消除").unwrap(), 5)
            .unwrap();
        assert_eq!(j.state(day(8, 1)), JustificationState::Revoked);
        assert!(
            pace_exemptions(std::slice::from_ref(&j), 2026)
                .iter()
                .all(Option::is_none)
        );
        assert_eq!(
            j.revoke(Reason::required("x").unwrap(), 6)
                .unwrap_err()
                .reason,
            "JUSTIFICATION_REVOKED"
        );
    }

    #[test]
    fn scopes_cover_what_they_name() {
        let m = justification(JustificationScope::Milestone, day(1, 1), day(12, 31));
        assert!(m.covers_milestone("start", day(6, 1)));
        assert!(!m.covers_milestone("trial", day(6, 1)));
        assert!(!m.covers_pace(day(6, 30)));
        let p = justification(JustificationScope::Project, day(1, 1), day(12, 31));
        assert!(p.covers_milestone("trial", day(6, 1)) && p.covers_pace(day(6, 30)));
    }
}
