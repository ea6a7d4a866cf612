//! The problem ledger (问题清单, issue 20): a blocker of one project with a responsible unit, a
//! responsible leader and a deadline (限期办理), confirmed solved only by whoever raised it or an
//! ADMIN (销号). The state machine and every rule of a change are here; the service layer
//! loads, saves, records the revision and emits the event.

use chrono::NaiveDate;

use super::access::{Principal, Role};
use super::error::{Invalid, Refused, Violations};
use super::names;
use super::project::named_enum;
use super::values::{Description, Note, Reason, Unit};

named_enum!(
    /// What kind of blocker a problem is (用地, 拆迁, 电力/水/气/路, 资金, 审批, 企业诉求).
    ProblemCategory {
        Land => "LAND",
        Demolition => "DEMOLITION",
        Power => "POWER",
        Water => "WATER",
        Gas => "GAS",
        Road => "ROAD",
        Funding => "FUNDING",
        Approval => "APPROVAL",
        EnterpriseRequest => "ENTERPRISE_REQUEST",
        Other => "OTHER",
    }
);

named_enum!(
    /// Where a problem stands: OPEN → IN_PROGRESS → RESOLVED → CLOSED, with RESOLVED →
    /// IN_PROGRESS on a reopen.
    ProblemState {
        Open => "OPEN",
        InProgress => "IN_PROGRESS",
        Resolved => "RESOLVED",
        Closed => "CLOSED",
    }
);

named_enum!(
    /// What one revision of a problem records.
    ProblemAction {
        Created => "CREATED",
        Updated => "UPDATED",
        Started => "STARTED",
        Resolved => "RESOLVED",
        Reopened => "REOPENED",
        Closed => "CLOSED",
        DeadlineExtended => "DEADLINE_EXTENDED",
    }
);

named_enum!(
    /// Who an overdue problem is escalated to, one rung of the ladder at a time.
    EscalationTarget {
        ResponsibleUnit => "RESPONSIBLE_UNIT",
        ResponsibleLeader => "RESPONSIBLE_LEADER",
        CountyLeader => "COUNTY_LEADER",
    }
);

/// The escalation ladder (issue 20): a problem overdue by at least `days[i]` days reaches rung
/// `i` — the responsible unit, its responsible leader, the county leader. The thresholds never
/// decrease; 0 means as soon as the deadline has passed. Each light rule set revision carries
/// one (`LightRules::problem_escalation`, 0, 7 and 15 by default), and the active revision's
/// is the scanner's; the server's `--problem-escalation-days` publishes one at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscalationLadder {
    days: [i32; 3],
}

/// One rung a problem has reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// 0 for the responsible unit, then 1 and 2.
    pub level: i32,
    pub target: EscalationTarget,
    pub threshold_days: i32,
}

impl Default for EscalationLadder {
    fn default() -> Self {
        Self { days: [0, 7, 15] }
    }
}

impl EscalationLadder {
    /// Three thresholds in days, each 0 to 366, none below the one before.
    pub fn new(days: [i32; 3]) -> Result<Self, String> {
        if days.iter().any(|d| !(0..=366).contains(d)) {
            return Err(format!(
                "each threshold must be 0 to 366 days, got {days:?}"
            ));
        }
        if days.windows(2).any(|w| w[1] < w[0]) {
            return Err(format!("thresholds must not decrease, got {days:?}"));
        }
        Ok(Self { days })
    }

    /// The thresholds of the responsible unit, the responsible leader and the county leader,
    /// in days.
    pub fn days(self) -> [i32; 3] {
        self.days
    }

    /// `0,7,15`: the thresholds of the responsible unit, the responsible leader and the county
    /// leader (the form `Display` writes).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let [unit, leader, county] = parts.as_slice() else {
            return Err(format!(
                "must be three day counts separated by commas, like 0,7,15; got {text:?}"
            ));
        };
        let day = |part: &str| {
            part.parse::<i32>()
                .map_err(|_| format!("{part:?} is not a whole number of days"))
        };
        Self::new([day(unit)?, day(leader)?, day(county)?])
    }

    /// The rungs a problem whose deadline is `deadline` has reached on `today` (none before the
    /// deadline has passed).
    pub fn reached(&self, deadline: NaiveDate, today: NaiveDate) -> Vec<Rung> {
        let overdue = (today - deadline).num_days();
        if overdue < 1 {
            return Vec::new();
        }
        [
            EscalationTarget::ResponsibleUnit,
            EscalationTarget::ResponsibleLeader,
            EscalationTarget::CountyLeader,
        ]
        .into_iter()
        .zip(self.days)
        .enumerate()
        .filter(|(_, (_, days))| overdue >= i64::from(*days))
        .map(|(level, (target, threshold_days))| Rung {
            level: level as i32,
            target,
            threshold_days,
        })
        .collect()
    }
}

impl std::fmt::Display for EscalationLadder {
    /// "0,7,15", as `parse` reads it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [unit, leader, county] = self.days;
        write!(f, "{unit},{leader},{county}")
    }
}

/// The county's departments and townships (`serve --units-file`): when the server has the
/// list, a problem's responsible unit must be one of its names (issue 20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountyUnits {
    names: std::collections::BTreeSet<String>,
}

impl CountyUnits {
    /// One unit name a line, e.g. 县水利局 or 城关镇; names are trimmed, blank lines and lines
    /// starting with `#` are skipped, a repeated name counts once. Errors: a name longer than
    /// UNIT_CHARS characters or with control characters (naming its 1-based line), or a text
    /// that names no unit at all.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut names = std::collections::BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let unit = Unit::required(line).map_err(|err| format!("line {}: {err}", i + 1))?;
            names.insert(unit.into_string());
        }
        if names.is_empty() {
            return Err("names no unit (one department or township a line)".into());
        }
        Ok(Self { names })
    }

    /// How many distinct units the county has configured (at least 1).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: `parse` refuses an empty list.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `unit` (already trimmed) is one of the names, or an error saying it is not.
    pub fn check(&self, unit: &str) -> Result<(), String> {
        if self.names.contains(unit) {
            Ok(())
        } else {
            Err(format!(
                "{unit:?} is not one of the county's {} configured units",
                self.names.len()
            ))
        }
    }
}

/// `projects/{project}/problems/{problem}`.
pub fn problem_name(project_id: &str, id: &str) -> String {
    format!("{}/problems/{id}", names::project_name(project_id))
}

/// Parses `projects/{project}/problems/{problem}` into both ids.
pub fn parse_problem_name(name: &str) -> Result<(&str, &str), String> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["projects", project, "problems", id]
            if names::validate_id(project).is_ok() && names::validate_id(id).is_ok() =>
        {
            Ok((project, id))
        }
        _ => Err(format!(
            "must be a problem name, projects/{{project}}/problems/{{problem}}; got {name:?}"
        )),
    }
}

/// The blocked milestone of a problem of `project_id`: empty for none, else a milestone name of
/// the same project; returns its id.
pub fn blocked_milestone(project_id: &str, milestone: &str) -> Result<Option<String>, String> {
    if milestone.is_empty() {
        return Ok(None);
    }
    match names::parse_milestone_name(milestone) {
        Ok((project, id)) if project == project_id => Ok(Some(id.to_string())),
        Ok(_) => Err(format!(
            "{milestone:?} is not a milestone of projects/{project_id}"
        )),
        Err(err) => Err(err),
    }
}

/// What CreateProblem records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemFields {
    pub category: ProblemCategory,
    /// At most DESCRIPTION_CHARS characters, not empty.
    pub description: String,
    /// Civil date in the jurisdiction's zone.
    pub raise_date: NaiveDate,
    /// The department or township that must solve it (责任单位), not empty.
    pub responsible_unit: String,
    /// 责任领导, not empty.
    pub responsible_leader: String,
    /// 办结时限: not before `raise_date`.
    pub deadline: NaiveDate,
    /// The blocked milestone's id within the project.
    pub milestone_id: Option<String>,
}

impl ProblemFields {
    /// Checks what only the whole can: a description, unit and leader are required
    /// (`problem.description`, `problem.responsible_unit`, `problem.responsible_leader`), the
    /// raise date is not after `today` (`problem.raise_date`) and the deadline not before the
    /// raise date (`problem.deadline`). Every violation is named.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        category: ProblemCategory,
        description: Description,
        raise_date: NaiveDate,
        responsible_unit: Unit,
        responsible_leader: Unit,
        deadline: NaiveDate,
        milestone_id: Option<String>,
        today: NaiveDate,
    ) -> Result<Self, Invalid> {
        let mut violations = Violations::new();
        if description.is_empty() {
            violations.add("problem.description", "is required");
        }
        if responsible_unit.is_empty() {
            violations.add("problem.responsible_unit", "is required");
        }
        if responsible_leader.is_empty() {
            violations.add("problem.responsible_leader", "is required");
        }
        if raise_date > today {
            violations.add(
                "problem.raise_date",
                format!("{raise_date} is after today, {today}"),
            );
        }
        if deadline < raise_date {
            violations.add(
                "problem.deadline",
                format!("{deadline} is before the raise date {raise_date}"),
            );
        }
        violations.finish()?;
        Ok(Self {
            category,
            description: description.into_string(),
            raise_date,
            responsible_unit: responsible_unit.into_string(),
            responsible_leader: responsible_leader.into_string(),
            deadline,
            milestone_id,
        })
    }
}

/// New values for some descriptive fields of a problem (UpdateProblem); None leaves a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemPatch {
    pub category: Option<ProblemCategory>,
    pub description: Option<String>,
    pub responsible_unit: Option<String>,
    pub responsible_leader: Option<String>,
    /// `Some(None)` removes the link.
    pub milestone_id: Option<Option<String>>,
}

/// What one change did, for its revision row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemChange {
    pub action: ProblemAction,
    /// None for the creation.
    pub from_state: Option<ProblemState>,
    pub to_state: ProblemState,
    /// Problem field names (UPDATED only).
    pub changed_fields: Vec<&'static str>,
    /// The reason, resolution note or note given with it.
    pub reason: String,
    pub old_deadline: Option<NaiveDate>,
    pub new_deadline: NaiveDate,
}

/// A problem as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub project_id: String,
    pub id: String,
    pub uid: String,
    pub fields: ProblemFields,
    /// The token that raised it: it, or an ADMIN, confirms the close.
    pub raised_by: String,
    pub state: ProblemState,
    pub resolution_note: String,
    pub extension_count: i32,
    pub resolved_at_us: Option<i64>,
    /// The jurisdiction's date of the latest resolution; None while not RESOLVED or CLOSED.
    /// On or before the deadline is on time (the rankings' `problems_closed_on_time_rate`).
    pub resolved_on: Option<NaiveDate>,
    pub closed_at_us: Option<i64>,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl Problem {
    pub fn name(&self) -> String {
        problem_name(&self.project_id, &self.id)
    }

    pub fn etag(&self) -> String {
        names::etag(self.version)
    }

    /// The revision of the creation.
    pub fn created(&self, note: &str) -> ProblemChange {
        ProblemChange {
            action: ProblemAction::Created,
            from_state: None,
            to_state: self.state,
            changed_fields: Vec::new(),
            reason: note.to_string(),
            old_deadline: None,
            new_deadline: self.fields.deadline,
        }
    }

    /// Whether it is overdue on `date`: not yet resolved and its deadline has passed.
    pub fn overdue_on(&self, date: NaiveDate) -> bool {
        matches!(self.state, ProblemState::Open | ProblemState::InProgress)
            && self.fields.deadline < date
    }

    /// May `principal` act on this problem of a project led by `department` in `township`?
    /// Admins always; editors whose scope covers the project, or whose departments or
    /// townships include the responsible unit (the unit must be able to answer, issue 20).
    pub fn may_act(&self, principal: &Principal, department: &str, township: &str) -> bool {
        principal.may_change(department, township)
            || (principal.role == Role::Editor && unit_of(principal, &self.fields.responsible_unit))
    }

    /// May `principal` confirm the close (销号)? The token that raised it, or an ADMIN.
    pub fn may_confirm(&self, principal: &Principal) -> bool {
        principal.is_admin() || principal.name == self.raised_by
    }

    fn refuse_state(&self, action: &str, allowed: &[ProblemState]) -> Refused {
        let allowed: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        Refused::new(
            "PROBLEM_STATE",
            format!(
                "{} is {}; {action} needs {}",
                self.name(),
                self.state.as_str(),
                allowed.join(" or ")
            ),
        )
        .on(self.name(), format!("state is {}", self.state.as_str()))
    }

    fn step(
        &mut self,
        action: ProblemAction,
        verb: &str,
        from: &[ProblemState],
        to: ProblemState,
        reason: String,
        now_us: i64,
    ) -> Result<ProblemChange, Refused> {
        if !from.contains(&self.state) {
            return Err(self.refuse_state(verb, from));
        }
        let change = ProblemChange {
            action,
            from_state: Some(self.state),
            to_state: to,
            changed_fields: Vec::new(),
            reason,
            old_deadline: None,
            new_deadline: self.fields.deadline,
        };
        self.state = to;
        self.touch(now_us);
        Ok(change)
    }

    fn touch(&mut self, now_us: i64) {
        self.updated_at_us = now_us;
        self.version += 1;
    }

    /// StartProblem: OPEN → IN_PROGRESS.
    pub fn start(&mut self, note: Reason, now_us: i64) -> Result<ProblemChange, Refused> {
        use ProblemState::*;
        self.step(
            ProblemAction::Started,
            "starting",
            &[Open],
            InProgress,
            note.into_string(),
            now_us,
        )
    }

    /// ResolveProblem: IN_PROGRESS → RESOLVED with a resolution note (required: an empty one is
    /// `resolution_note` INVALID_ARGUMENT, checked before the state).
    pub fn resolve(
        &mut self,
        note: Note,
        now_us: i64,
        today: NaiveDate,
    ) -> Result<ProblemChange, ProblemError> {
        if note.is_empty() {
            return Err(Invalid::field("resolution_note", "is required").into());
        }
        use ProblemState::*;
        let change = self.step(
            ProblemAction::Resolved,
            "resolving",
            &[InProgress],
            Resolved,
            note.to_string(),
            now_us,
        )?;
        self.resolution_note = note.into_string();
        self.resolved_at_us = Some(now_us);
        self.resolved_on = Some(today);
        Ok(change)
    }

    /// ReopenProblem: RESOLVED → IN_PROGRESS with a required reason; the resolution is cleared
    /// (its revision keeps it).
    pub fn reopen(&mut self, reason: Reason, now_us: i64) -> Result<ProblemChange, ProblemError> {
        if reason.is_empty() {
            return Err(Invalid::field("reason", "is required").into());
        }
        use ProblemState::*;
        let change = self.step(
            ProblemAction::Reopened,
            "reopening",
            &[Resolved],
            InProgress,
            reason.into_string(),
            now_us,
        )?;
        self.resolution_note.clear();
        self.resolved_at_us = None;
        self.resolved_on = None;
        Ok(change)
    }

    /// CloseProblem: RESOLVED → CLOSED, only by the raiser or an ADMIN (`may_confirm`, checked
    /// first: someone who may not confirm learns nothing about the state).
    pub fn close(
        &mut self,
        closer: &Principal,
        note: Reason,
        now_us: i64,
    ) -> Result<ProblemChange, ProblemError> {
        if !self.may_confirm(closer) {
            return Err(ProblemError::NotConfirmer {
                message: format!(
                    "token {:?} may not close {}: only the token that raised it ({:?}) or an ADMIN confirms a problem solved",
                    closer.name,
                    self.name(),
                    self.raised_by
                ),
            });
        }
        use ProblemState::*;
        let change = self.step(
            ProblemAction::Closed,
            "closing",
            &[Resolved],
            Closed,
            note.into_string(),
            now_us,
        )?;
        self.closed_at_us = Some(now_us);
        Ok(change)
    }

    /// ExtendProblemDeadline: an OPEN or IN_PROGRESS problem's deadline moves later, with a
    /// required reason; counted. Bad input (`reason`, `deadline`) is named before the state.
    pub fn extend_deadline(
        &mut self,
        deadline: NaiveDate,
        reason: Reason,
        now_us: i64,
    ) -> Result<ProblemChange, ProblemError> {
        let mut violations = Violations::new();
        if reason.is_empty() {
            violations.add("reason", "is required");
        }
        if deadline <= self.fields.deadline {
            violations.add(
                "deadline",
                format!(
                    "{deadline} is not after the current deadline {}",
                    self.fields.deadline
                ),
            );
        }
        violations.finish()?;
        use ProblemState::*;
        let old = self.fields.deadline;
        let mut change = self.step(
            ProblemAction::DeadlineExtended,
            "extending the deadline",
            &[Open, InProgress],
            self.state,
            reason.into_string(),
            now_us,
        )?;
        self.fields.deadline = deadline;
        self.extension_count += 1;
        change.old_deadline = Some(old);
        change.new_deadline = deadline;
        Ok(change)
    }

    /// UpdateProblem: new descriptive values; refused once CLOSED. Returns the change with the
    /// names of the fields whose values changed (none: nothing to save).
    pub fn update(
        &mut self,
        patch: ProblemPatch,
        reason: Reason,
        now_us: i64,
    ) -> Result<ProblemChange, Refused> {
        if self.state == ProblemState::Closed {
            use ProblemState::*;
            return Err(self.refuse_state("updating", &[Open, InProgress, Resolved]));
        }
        let mut changed = Vec::new();
        let f = &mut self.fields;
        if let Some(v) = patch.category.filter(|v| *v != f.category) {
            f.category = v;
            changed.push("category");
        }
        if let Some(v) = patch.description.filter(|v| *v != f.description) {
            f.description = v;
            changed.push("description");
        }
        if let Some(v) = patch.responsible_unit.filter(|v| *v != f.responsible_unit) {
            f.responsible_unit = v;
            changed.push("responsible_unit");
        }
        if let Some(v) = patch
            .responsible_leader
            .filter(|v| *v != f.responsible_leader)
        {
            f.responsible_leader = v;
            changed.push("responsible_leader");
        }
        if let Some(v) = patch.milestone_id.filter(|v| *v != f.milestone_id) {
            f.milestone_id = v;
            changed.push("blocked_milestone");
        }
        let change = ProblemChange {
            action: ProblemAction::Updated,
            from_state: Some(self.state),
            to_state: self.state,
            changed_fields: changed,
            reason: reason.into_string(),
            old_deadline: None,
            new_deadline: self.fields.deadline,
        };
        if !change.changed_fields.is_empty() {
            self.touch(now_us);
        }
        Ok(change)
    }
}

/// Whether `unit` is one of the principal's departments or townships.
fn unit_of(principal: &Principal, unit: &str) -> bool {
    principal.departments.iter().any(|d| d == unit) || principal.townships.iter().any(|t| t == unit)
}

/// Why a change of a problem was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemError {
    /// Malformed input of the change (INVALID_ARGUMENT).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Wrong state (FAILED_PRECONDITION, reason PROBLEM_STATE).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Closing by someone who may not confirm (PERMISSION_DENIED).
    #[error("{message}")]
    NotConfirmer { message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).unwrap()
    }

    fn fields(raise: NaiveDate, deadline: NaiveDate) -> Result<ProblemFields, Invalid> {
        ProblemFields::new(
            ProblemCategory::Land,
            Description::required("水库淹没区用地报批未完成").unwrap(),
            raise,
            Unit::required("县自然资源局").unwrap(),
            Unit::required("王副县长").unwrap(),
            deadline,
            None,
            day(11, 30),
        )
    }

    fn problem() -> Problem {
        Problem {
            project_id: "reservoir".into(),
            id: "land".into(),
            uid: "u".into(),
            fields: fields(day(10, 1), day(11, 15)).unwrap(),
            raised_by: "水利局".into(),
            state: ProblemState::Open,
            resolution_note: String::new(),
            extension_count: 0,
            resolved_at_us: None,
            resolved_on: None,
            closed_at_us: None,
            created_at_us: 1,
            updated_at_us: 1,
            version: 1,
        }
    }

    fn editor(name: &str, departments: &[&str], townships: &[&str]) -> Principal {
        Principal {
            name: name.into(),
            role: Role::Editor,
            departments: departments.iter().map(|s| s.to_string()).collect(),
            townships: townships.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn reason(text: &str) -> Reason {
        Reason::parse(text).unwrap()
    }

    #[test]
    fn a_deadline_before_the_raise_date_and_missing_text_are_named_together() {
        let err = ProblemFields::new(
            ProblemCategory::Power,
            Description::parse("").unwrap(),
            day(12, 1),
            Unit::parse("").unwrap(),
            Unit::parse(" ").unwrap(),
            day(10, 1),
            None,
            day(11, 30),
        )
        .unwrap_err();
        let named: Vec<_> = err.0.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            named,
            [
                "problem.description",
                "problem.responsible_unit",
                "problem.responsible_leader",
                "problem.raise_date",
                "problem.deadline"
            ]
        );
        assert!(fields(day(10, 1), day(10, 1)).is_ok());
    }

    #[test]
    fn the_life_cycle_and_wrong_states() {
        let mut p = problem();
        assert!(matches!(
            p.resolve(Note::parse("done").unwrap(), 2, day(9, 20)),
            Err(ProblemError::Refused(r)) if r.reason == "PROBLEM_STATE" && r.message.contains("is OPEN")
        ));
        let started = p.start(reason(""), 2).unwrap();
        assert_eq!(
            (started.from_state, started.to_state),
            (Some(ProblemState::Open), ProblemState::InProgress)
        );
        let err = p.start(reason(""), 3).unwrap_err();
        assert!(err.message.contains("is IN_PROGRESS"), "{err}");
        assert!(matches!(
            p.resolve(Note::parse("").unwrap(), 3, day(9, 20)),
            Err(ProblemError::Invalid(i)) if i.0[0].field == "resolution_note"
        ));
        p.resolve(Note::parse("用地批复已下达").unwrap(), 3, day(9, 20))
            .unwrap();
        assert_eq!(p.state, ProblemState::Resolved);
        assert!(matches!(
            p.reopen(reason(""), 4),
            Err(ProblemError::Invalid(i)) if i.0[0].field == "reason"
        ));
        p.reopen(reason("批复范围不含临时用地"), 4).unwrap();
        assert_eq!(
            (p.state, p.resolution_note.as_str(), p.resolved_at_us),
            (ProblemState::InProgress, "", None)
        );
        p.resolve(Note::parse("临时用地已批").unwrap(), 5, day(9, 20))
            .unwrap();
        let stranger = editor("别人", &["县自然资源局"], &[]);
        assert!(matches!(
            p.close(&stranger, reason(""), 6),
            Err(ProblemError::NotConfirmer { .. })
        ));
        let raiser = editor("水利局", &[], &[]);
        let closed = p.close(&raiser, reason("确认销号"), 6).unwrap();
        assert_eq!(closed.to_state, ProblemState::Closed);
        assert_eq!((p.version, p.closed_at_us), (6, Some(6)));
        assert!(matches!(
            p.close(&Principal::system("admin"), reason(""), 7),
            Err(ProblemError::Refused(r)) if r.message.contains("is CLOSED")
        ));
        assert!(
            p.update(ProblemPatch::default(), reason(""), 7)
                .unwrap_err()
                .message
                .contains("is CLOSED")
        );
    }

    #[test]
    fn an_extension_needs_a_reason_and_a_later_deadline_and_is_counted() {
        let mut p = problem();
        let err = p.extend_deadline(day(11, 15), reason(""), 2).unwrap_err();
        let ProblemError::Invalid(Invalid(bad)) = err else {
            panic!("{err:?}")
        };
        let named: Vec<_> = bad.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(named, ["reason", "deadline"]);
        let change = p
            .extend_deadline(day(11, 30), reason("电网改造工期"), 2)
            .unwrap();
        assert_eq!(
            (change.old_deadline, change.new_deadline),
            (Some(day(11, 15)), day(11, 30))
        );
        assert_eq!((p.extension_count, p.fields.deadline), (1, day(11, 30)));
        assert!(p.overdue_on(day(12, 1)) && !p.overdue_on(day(11, 30)));
        p.start(reason(""), 3).unwrap();
        p.resolve(Note::parse("x").unwrap(), 4, day(9, 20)).unwrap();
        assert!(!p.overdue_on(day(12, 31)));
        assert!(matches!(
            p.extend_deadline(day(12, 31), reason("x"), 5),
            Err(ProblemError::Refused(_))
        ));
    }

    #[test]
    fn editors_act_through_the_project_or_the_responsible_unit() {
        let p = problem();
        let project_side = editor("水利局", &["县水利局"], &[]);
        let unit_side = editor("自然资源局", &["县自然资源局"], &[]);
        let township_unit = editor("镇", &[], &["县自然资源局"]);
        let neither = editor("交通局", &["县交通运输局"], &[]);
        assert!(p.may_act(&project_side, "县水利局", "城关镇"));
        assert!(p.may_act(&unit_side, "县水利局", "城关镇"));
        assert!(p.may_act(&township_unit, "县水利局", "城关镇"));
        assert!(!p.may_act(&neither, "县水利局", "城关镇"));
        let viewer = Principal {
            role: Role::Viewer,
            ..unit_side
        };
        assert!(!p.may_act(&viewer, "县水利局", "城关镇"));
    }

    #[test]
    fn the_ladder_raises_each_rung_from_its_threshold() {
        let ladder = EscalationLadder::default();
        let deadline = day(9, 10);
        let levels = |today| -> Vec<i32> {
            ladder
                .reached(deadline, today)
                .iter()
                .map(|r| r.level)
                .collect()
        };
        assert!(levels(day(9, 10)).is_empty());
        assert_eq!(levels(day(9, 11)), [0]);
        assert_eq!(levels(day(9, 16)), [0]);
        assert_eq!(levels(day(9, 17)), [0, 1]);
        assert_eq!(levels(day(9, 25)), [0, 1, 2]);
        assert_eq!(
            ladder.reached(deadline, day(9, 25))[2],
            Rung {
                level: 2,
                target: EscalationTarget::CountyLeader,
                threshold_days: 15
            }
        );
        assert_eq!(EscalationLadder::parse(" 0, 7,15").unwrap(), ladder);
        assert!(EscalationLadder::parse("0,7").is_err());
        assert!(EscalationLadder::parse("7,0,15").is_err());
        assert!(EscalationLadder::parse("0,x,15").is_err());
        assert!(EscalationLadder::parse("0,7,400").is_err());
        // A threshold of 3 for the unit waits three days past the deadline.
        let late = EscalationLadder::parse("3,3,30").unwrap();
        assert!(late.reached(deadline, day(9, 12)).is_empty());
        assert_eq!(late.reached(deadline, day(9, 13)).len(), 2);
        // What a rule set row stores reads back as the same ladder.
        assert_eq!(late.to_string(), "3,3,30");
        assert_eq!(EscalationLadder::parse(&late.to_string()).unwrap(), late);
        assert_eq!(late.days(), [3, 3, 30]);
    }

    #[test]
    fn the_county_units_come_one_a_line() {
        let units = CountyUnits::parse("# 部门\n 县水利局 \n\n城关镇\n县水利局\n").unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units.check("县水利局"), Ok(()));
        assert_eq!(units.check("城关镇"), Ok(()));
        assert_eq!(
            units.check("县交通局"),
            Err("\"县交通局\" is not one of the county's 2 configured units".to_string())
        );
        let long = format!(
            "城关镇\n{}\n",
            "局".repeat(crate::domain::values::UNIT_CHARS + 1)
        );
        assert!(
            CountyUnits::parse(&long)
                .unwrap_err()
                .starts_with("line 2: ")
        );
        assert!(CountyUnits::parse("# only a comment\n\n").is_err());
    }

    #[test]
    fn an_update_names_what_changed() {
        let mut p = problem();
        let change = p
            .update(
                ProblemPatch {
                    description: Some(p.fields.description.clone()),
                    responsible_leader: Some("李副县长".into()),
                    milestone_id: Some(Some("start".into())),
                    ..Default::default()
                },
                reason("分管领导调整"),
                9,
            )
            .unwrap();
        assert_eq!(
            change.changed_fields,
            ["responsible_leader", "blocked_milestone"]
        );
        assert_eq!(p.version, 2);
        assert!(
            p.update(ProblemPatch::default(), reason(""), 10)
                .unwrap()
                .changed_fields
                .is_empty()
        );
        assert_eq!(p.version, 2);
        assert_eq!(
            parse_problem_name("projects/a/problems/b").unwrap(),
            ("a", "b")
        );
        assert!(parse_problem_name("projects/a/milestones/b").is_err());
        assert_eq!(
            blocked_milestone("a", "projects/a/milestones/m").unwrap(),
            Some("m".into())
        );
        assert!(blocked_milestone("a", "projects/b/milestones/m").is_err());
    }
}
