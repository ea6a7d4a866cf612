//! Milestones and the slippage rules (DESIGN §5), as pure functions of dates.
//!
//! As of a status date: the projected date is the actual date when achieved, otherwise the
//! later of forecast and status date; the variance is projected minus baseline; the status is
//! the first of ACHIEVED, OVERDUE, SLIPPED, AT_RISK, ON_TRACK that holds; the light is RED for
//! OVERDUE or a variance above the tolerance, YELLOW for AT_RISK or a variance from 1 day to the
//! tolerance, GREEN otherwise.

use chrono::{Datelike, NaiveDate};

use super::error::{Invalid, Refused};
use super::project::{Project, Stage, StageTransition, named_enum};

named_enum!(
    /// What a milestone marks.
    MilestoneKind {
        ContractSigning => "CONTRACT_SIGNING",
        ConstructionStart => "CONSTRUCTION_START",
        TrialProduction => "TRIAL_PRODUCTION",
        Completion => "COMPLETION",
        Custom => "CUSTOM",
    }
);

named_enum!(
    /// Where a milestone stands as of a status date.
    MilestoneStatus {
        Achieved => "ACHIEVED",
        Overdue => "OVERDUE",
        Slipped => "SLIPPED",
        AtRisk => "AT_RISK",
        OnTrack => "ON_TRACK",
    }
);

named_enum!(
    /// The colour a leader sees.
    Light {
        Green => "GREEN",
        Yellow => "YELLOW",
        Red => "RED",
    }
);

named_enum!(
    /// Which date a revision changed.
    RevisionField {
        Baseline => "BASELINE",
        Forecast => "FORECAST",
        Actual => "ACTUAL",
    }
);

impl MilestoneKind {
    /// The stage a project reaches when this milestone is achieved.
    pub fn stage_on_achieve(self) -> Option<Stage> {
        match self {
            MilestoneKind::ConstructionStart => Some(Stage::Construction),
            MilestoneKind::TrialProduction => Some(Stage::TrialProduction),
            MilestoneKind::Completion => Some(Stage::Operation),
            MilestoneKind::ContractSigning | MilestoneKind::Custom => None,
        }
    }
}

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// A milestone this many days ahead (inclusive) with something blocking it (`Blockers`) is
    /// AT_RISK.
    pub warning_horizon_days: i32,
    /// A variance above this many days is RED.
    pub tolerance_days: i32,
    /// A funding window this many days (inclusive) from closing raises daily CLOSING alerts
    /// while something is missing.
    pub funding_horizon_days: i32,
    /// The escalation ladder of overdue problems: the active light rule set's
    /// (`Services::light_policy`).
    pub problem_escalation: super::problem::EscalationLadder,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            warning_horizon_days: 14,
            tolerance_days: 30,
            funding_horizon_days: 7,
            problem_escalation: super::problem::EscalationLadder::default(),
        }
    }
}

/// The three dates of a milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MilestoneDates {
    pub baseline: NaiveDate,
    pub forecast: NaiveDate,
    pub actual: Option<NaiveDate>,
}

/// The derived view of a milestone as of a status date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub status_date: NaiveDate,
    pub projected: NaiveDate,
    pub variance_days: i32,
    pub status: MilestoneStatus,
    pub light: Light,
}

fn days(from: NaiveDate, to: NaiveDate) -> i32 {
    (to - from).num_days() as i32
}

/// What, besides its dates, can put a milestone AT_RISK inside the warning horizon (DESIGN §5):
/// open prerequisites (要件未办结) for a construction start, and, for any milestone, an open
/// problem of the problem ledger linked to it (issue 20).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blockers {
    /// Some prerequisite of the project is neither DONE nor WAIVED.
    pub open_prerequisites: bool,
    /// The id of the OPEN or IN_PROGRESS problem linked to the milestone with the earliest
    /// deadline (ties by id), if any.
    pub open_problem: Option<String>,
}

impl Blockers {
    /// Whether these put a milestone of `kind` at risk inside the warning horizon.
    pub fn block(&self, kind: MilestoneKind) -> bool {
        self.open_problem.is_some()
            || (kind == MilestoneKind::ConstructionStart && self.open_prerequisites)
    }
}

/// Applies the rules.
pub fn assess(
    kind: MilestoneKind,
    dates: &MilestoneDates,
    blockers: &Blockers,
    status_date: NaiveDate,
    policy: &Policy,
) -> Assessment {
    let projected = dates
        .actual
        .unwrap_or_else(|| dates.forecast.max(status_date));
    let variance_days = days(dates.baseline, projected);
    let days_to_baseline = days(status_date, dates.baseline);
    let status = if dates.actual.is_some() {
        MilestoneStatus::Achieved
    } else if status_date > dates.baseline {
        MilestoneStatus::Overdue
    } else if dates.forecast > dates.baseline {
        MilestoneStatus::Slipped
    } else if (0..=policy.warning_horizon_days).contains(&days_to_baseline) && blockers.block(kind)
    {
        MilestoneStatus::AtRisk
    } else {
        MilestoneStatus::OnTrack
    };
    let light = if status == MilestoneStatus::Overdue || variance_days > policy.tolerance_days {
        Light::Red
    } else if status == MilestoneStatus::AtRisk || variance_days >= 1 {
        Light::Yellow
    } else {
        Light::Green
    };
    Assessment {
        status_date,
        projected,
        variance_days,
        status,
        light,
    }
}

/// Why a milestone has its light, in the county's terms and English, naming the rule and the
/// light rule set revision that decided it (`label`, e.g. `default@1`). `days_to_baseline` is
/// the baseline minus the status date (negative once it has passed); `open_problem`, the name
/// of the open problem linked to the milestone (empty when none), is the cause an AT_RISK
/// names first.
pub fn light_reason(
    status: MilestoneStatus,
    light: Light,
    variance_days: i32,
    days_to_baseline: i32,
    open_problem: &str,
    policy: &Policy,
    label: &str,
) -> String {
    let tolerance = policy.tolerance_days;
    let late = |v: i32| format!("{v} days late (滞后{v}天)");
    let (why, rule) = match (status, light) {
        (MilestoneStatus::Overdue, _) => (
            format!(
                "not achieved {} days after the baseline (逾期)",
                -days_to_baseline
            ),
            "milestone-overdue",
        ),
        (MilestoneStatus::AtRisk, _) if !open_problem.is_empty() => (
            format!(
                "due in {days_to_baseline} days with problem {open_problem} still open (问题未解决), within the {}-day warning horizon",
                policy.warning_horizon_days
            ),
            "milestone-at-risk",
        ),
        (MilestoneStatus::AtRisk, _) => (
            format!(
                "construction start in {days_to_baseline} days with approvals still open (要件未办结), within the {}-day warning horizon",
                policy.warning_horizon_days
            ),
            "milestone-at-risk",
        ),
        (MilestoneStatus::Achieved, _) if variance_days <= 0 => (
            "achieved on time (按期完成)".to_string(),
            "milestone-tolerance",
        ),
        (MilestoneStatus::Achieved, Light::Red) => (
            format!(
                "achieved {}, above the {tolerance}-day tolerance",
                late(variance_days)
            ),
            "milestone-tolerance",
        ),
        (MilestoneStatus::Achieved, _) => (
            format!(
                "achieved {}, within the {tolerance}-day tolerance",
                late(variance_days)
            ),
            "milestone-tolerance",
        ),
        (_, Light::Red) => (
            format!(
                "projected {}, above the {tolerance}-day tolerance",
                late(variance_days)
            ),
            "milestone-tolerance",
        ),
        (_, Light::Yellow) => (
            format!(
                "projected {}, within the {tolerance}-day tolerance",
                late(variance_days)
            ),
            "milestone-tolerance",
        ),
        (_, Light::Green) => ("on schedule (按期)".to_string(), "milestone-tolerance"),
    };
    format!("{why}: {} by rule {rule} {label}", light.as_str())
}

/// One change of one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub number: i32,
    pub field: RevisionField,
    pub old_date: Option<NaiveDate>,
    pub new_date: NaiveDate,
    pub reason: String,
    pub actor: String,
    pub created_at_us: i64,
    /// The jurisdiction's date when it was recorded.
    pub recorded_on: NaiveDate,
}

impl Revision {
    pub fn delta_days(&self) -> i32 {
        self.old_date
            .map(|old| days(old, self.new_date))
            .unwrap_or(0)
    }

    /// A forecast change that moved the date later.
    pub fn is_slip(&self) -> bool {
        self.field == RevisionField::Forecast && self.delta_days() > 0
    }
}

/// Slip counters over a sequence of revisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlipTotals {
    pub slip_count: i32,
    pub days_slipped: i32,
}

impl SlipTotals {
    /// Counts `revision` if it is a slip. The counters saturate: a milestone's forecast can be
    /// moved back and forth without limit, and a few hundred thousand slips of decades would
    /// otherwise leave 32 bits.
    pub fn add(&mut self, revision: &Revision) {
        if revision.is_slip() {
            self.slip_count = self.slip_count.saturating_add(1);
            self.days_slipped = self.days_slipped.saturating_add(revision.delta_days());
        }
    }
}

/// What the milestone's dates were at the end of `day`, rebuilt from its revisions (oldest
/// first). None when it had not been scheduled yet.
pub fn dates_as_of(revisions: &[Revision], day: NaiveDate) -> Option<(MilestoneDates, SlipTotals)> {
    let mut baseline = None;
    let mut forecast = None;
    let mut actual = None;
    let mut totals = SlipTotals::default();
    for revision in revisions.iter().filter(|r| r.recorded_on <= day) {
        match revision.field {
            RevisionField::Baseline => baseline = Some(revision.new_date),
            RevisionField::Forecast => forecast = Some(revision.new_date),
            RevisionField::Actual => actual = Some(revision.new_date),
        }
        totals.add(revision);
    }
    let baseline = baseline?;
    Some((
        MilestoneDates {
            baseline,
            forecast: forecast.unwrap_or(baseline),
            actual,
        },
        totals,
    ))
}

/// A date is plausible for a project created in `created_year`: from ten years before that
/// year to thirty years after today. `plausible` applies it to a request field.
pub fn check_plausible(date: NaiveDate, created_year: i32, today: NaiveDate) -> Result<(), String> {
    let earliest = NaiveDate::from_ymd_opt(created_year - 10, 1, 1).expect("valid year");
    let latest = today
        .with_year(today.year() + 30)
        .unwrap_or_else(|| today + chrono::Duration::days(30 * 365));
    if date < earliest {
        Err(format!(
            "{date} is before {earliest}, ten years before the project was created"
        ))
    } else if date > latest {
        Err(format!("{date} is more than 30 years ahead"))
    } else {
        Ok(())
    }
}

/// A milestone as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub project_id: String,
    pub id: String,
    pub uid: String,
    pub kind: MilestoneKind,
    pub title: String,
    pub description: String,
    pub dates: MilestoneDates,
    pub totals: SlipTotals,
    /// Revisions recorded so far; the next one takes the number after it.
    pub revision_count: i32,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

impl Milestone {
    pub fn name(&self) -> String {
        super::names::milestone_name(&self.project_id, &self.id)
    }

    pub fn etag(&self) -> String {
        super::names::etag(self.version)
    }
}

impl Milestone {
    /// The milestone with its derived view as of `status_date` (`assess`).
    pub fn assessed(
        self,
        blockers: Blockers,
        status_date: NaiveDate,
        policy: &Policy,
    ) -> AssessedMilestone {
        let assessment = assess(self.kind, &self.dates, &blockers, status_date, policy);
        AssessedMilestone {
            milestone: self,
            assessment,
            blockers,
        }
    }
}

/// A milestone with its derived view, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssessedMilestone {
    pub milestone: Milestone,
    pub assessment: Assessment,
    /// What was weighed besides the dates.
    pub blockers: Blockers,
}

impl AssessedMilestone {
    /// The name of the open problem linked to the milestone, empty when none.
    pub fn open_problem_name(&self) -> String {
        self.blockers
            .open_problem
            .as_deref()
            .map(|id| super::problem::problem_name(&self.milestone.project_id, id))
            .unwrap_or_default()
    }
}

/// What a rule of milestones answers when it refuses: a malformed value (INVALID_ARGUMENT)
/// or a change the current state does not allow (FAILED_PRECONDITION).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MilestoneError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Refused(#[from] Refused),
}

/// Who records a change, and when: the instant and the jurisdiction's date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp<'a> {
    pub actor: &'a str,
    pub now_us: i64,
    pub today: NaiveDate,
}

/// The date of request field `field` is plausible for `project` (`check_plausible`, from the
/// year the project was created).
pub fn plausible(
    field: &str,
    date: NaiveDate,
    project: &Project,
    today: NaiveDate,
) -> Result<(), Invalid> {
    let created_year = chrono::DateTime::from_timestamp_micros(project.created_at_us)
        .map(|t| t.year())
        .unwrap_or(today.year());
    check_plausible(date, created_year, today).map_err(|e| Invalid::field(field, e))
}

/// A cancelled project's milestones no longer change: none is scheduled, no date moves.
pub fn refuse_cancelled(project: &Project) -> Result<(), Refused> {
    if project.stage == Stage::Cancelled {
        return Err(Refused::new(
            "PROJECT_CANCELLED",
            format!(
                "{} is CANCELLED; its milestones no longer change",
                project.name()
            ),
        )
        .on(project.name(), "current stage is CANCELLED"));
    }
    Ok(())
}

impl MilestoneKind {
    /// A CUSTOM milestone says what it marks: its title is required.
    pub fn check_title(self, title: &str) -> Result<(), String> {
        if self == MilestoneKind::Custom && title.is_empty() {
            Err("is required for CUSTOM milestones".into())
        } else {
            Ok(())
        }
    }
}

/// A milestone to schedule, parsed.
#[derive(Debug, Clone)]
pub struct NewMilestone {
    pub kind: MilestoneKind,
    pub title: String,
    pub description: String,
    pub baseline: NaiveDate,
    /// The baseline when None.
    pub forecast: Option<NaiveDate>,
}

/// A scheduled milestone with its first revisions (the baseline, then the forecast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub milestone: Milestone,
    pub revisions: [Revision; 2],
}

/// Schedules a milestone of `project` with id `id` and uid `uid`: refused on a cancelled
/// project; both dates must be plausible (both are named when both are not).
pub fn schedule(
    project: &Project,
    id: String,
    uid: String,
    new: NewMilestone,
    stamp: Stamp<'_>,
) -> Result<Scheduled, MilestoneError> {
    refuse_cancelled(project)?;
    let forecast = new.forecast.unwrap_or(new.baseline);
    let mut problems = Vec::new();
    for (field, date) in [
        ("milestone.baseline_date", new.baseline),
        ("milestone.forecast_date", forecast),
    ] {
        if let Err(Invalid(mut v)) = plausible(field, date, project, stamp.today) {
            problems.append(&mut v);
        }
    }
    if !problems.is_empty() {
        return Err(Invalid(problems).into());
    }
    let revision = |number, field, new_date| Revision {
        number,
        field,
        old_date: None,
        new_date,
        reason: "scheduled".into(),
        actor: stamp.actor.to_string(),
        created_at_us: stamp.now_us,
        recorded_on: stamp.today,
    };
    let revisions = [
        revision(1, RevisionField::Baseline, new.baseline),
        revision(2, RevisionField::Forecast, forecast),
    ];
    Ok(Scheduled {
        milestone: Milestone {
            project_id: project.id.clone(),
            id,
            uid,
            kind: new.kind,
            title: new.title,
            description: new.description,
            dates: MilestoneDates {
                baseline: new.baseline,
                forecast,
                actual: None,
            },
            totals: SlipTotals::default(),
            revision_count: revisions.len() as i32,
            created_at_us: stamp.now_us,
            updated_at_us: stamp.now_us,
            version: 1,
        },
        revisions,
    })
}

/// A change of descriptive fields; each Some field replaces the stored value.
#[derive(Debug, Clone, Default)]
pub struct MilestonePatch {
    pub title: Option<String>,
    pub description: Option<String>,
}

/// A milestone after an update, with the fields that changed (in mask order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    pub milestone: Milestone,
    pub changed: Vec<&'static str>,
}

/// Which date-changing method is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateChange {
    Forecast,
    Achieve,
    Rebaseline,
}

impl DateChange {
    /// The date the change records.
    pub fn field(self) -> RevisionField {
        match self {
            DateChange::Forecast => RevisionField::Forecast,
            DateChange::Achieve => RevisionField::Actual,
            DateChange::Rebaseline => RevisionField::Baseline,
        }
    }

    /// The request field that carries the new date.
    pub fn date_field(self) -> &'static str {
        match self {
            DateChange::Forecast => "forecast_date",
            DateChange::Achieve => "actual_date",
            DateChange::Rebaseline => "baseline_date",
        }
    }

    /// A rebaseline needs a reason, whatever the new date; a forecast needs one when it moves
    /// later (`Milestone::change_date`).
    pub fn needs_reason(self) -> bool {
        self == DateChange::Rebaseline
    }

    /// The new date on its own: an achievement cannot be dated after today.
    pub fn check_date(self, date: NaiveDate, today: NaiveDate) -> Result<(), String> {
        if self == DateChange::Achieve && date > today {
            Err(format!("{date} is in the future (today is {today})"))
        } else {
            Ok(())
        }
    }
}

/// How a date change moved the milestone: the kind of its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateMove {
    /// The forecast moved later.
    Slipped,
    /// The forecast moved earlier.
    Recovered,
    Rebaselined,
    Achieved,
}

/// The project's stage moving forward because a milestone was achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageAdvance {
    pub step: StageTransition,
    pub reason: String,
    pub effective_date: NaiveDate,
}

/// A date change that moved something (the milestone after it comes beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateChanged {
    /// The revision to record.
    pub revision: Revision,
    pub moved: DateMove,
    /// The date the move is measured from in its event: the old date, or the baseline for an
    /// achievement.
    pub from: NaiveDate,
    /// Achieving may move the project's stage forward.
    pub stage: Option<StageAdvance>,
}

impl Milestone {
    /// An achieved milestone's dates no longer change.
    pub fn refuse_achieved(&self) -> Result<(), Refused> {
        match self.dates.actual {
            Some(actual) => Err(Refused::new(
                "MILESTONE_ACHIEVED",
                format!("{} was already achieved on {actual}", self.name()),
            )
            .on(self.name(), format!("achieved on {actual}"))),
            None => Ok(()),
        }
    }

    /// ForecastMilestone, AchieveMilestone and RebaselineMilestone, in the order their answers
    /// are checked: a cancelled project, an achieved milestone, an implausible date, a forecast
    /// moved later without a reason. A forecast or baseline that does not move is None
    /// (nothing is recorded); otherwise the milestone after the change (dates, slip totals,
    /// revision count, version) and what changed: the revision, the event's kind and, for an
    /// achievement, the project's stage moving forward to the milestone's (never backwards).
    pub fn change_date(
        &self,
        change: DateChange,
        new_date: NaiveDate,
        reason: &str,
        project: &Project,
        stamp: Stamp<'_>,
    ) -> Result<Option<(Milestone, DateChanged)>, MilestoneError> {
        refuse_cancelled(project)?;
        self.refuse_achieved()?;
        let old_date = match change {
            DateChange::Forecast | DateChange::Achieve => self.dates.forecast,
            DateChange::Rebaseline => self.dates.baseline,
        };
        plausible(change.date_field(), new_date, project, stamp.today)?;
        if change == DateChange::Forecast && new_date > old_date && reason.is_empty() {
            return Err(
                Invalid::field("reason", "is required when the forecast moves later").into(),
            );
        }
        if change != DateChange::Achieve && new_date == old_date {
            return Ok(None);
        }
        let revision = Revision {
            number: self.revision_count + 1,
            field: change.field(),
            old_date: (change != DateChange::Achieve).then_some(old_date),
            new_date,
            reason: reason.to_string(),
            actor: stamp.actor.to_string(),
            created_at_us: stamp.now_us,
            recorded_on: stamp.today,
        };
        let mut milestone = self.clone();
        match change {
            DateChange::Forecast => milestone.dates.forecast = new_date,
            DateChange::Rebaseline => milestone.dates.baseline = new_date,
            DateChange::Achieve => milestone.dates.actual = Some(new_date),
        }
        milestone.totals.add(&revision);
        milestone.revision_count = revision.number;
        milestone.version += 1;
        milestone.updated_at_us = stamp.now_us;
        let moved = match change {
            DateChange::Forecast if new_date > old_date => DateMove::Slipped,
            DateChange::Forecast => DateMove::Recovered,
            DateChange::Rebaseline => DateMove::Rebaselined,
            DateChange::Achieve => DateMove::Achieved,
        };
        let from = match change {
            DateChange::Achieve => milestone.dates.baseline,
            _ => old_date,
        };
        let stage = match change {
            DateChange::Achieve => self
                .kind
                .stage_on_achieve()
                .filter(|target| project.stage.is_behind(*target))
                .map(|to| StageAdvance {
                    step: StageTransition {
                        from: project.stage,
                        to,
                        suspended_from: None,
                    },
                    reason: format!("{} achieved on {new_date}", self.name()),
                    effective_date: new_date,
                }),
            _ => None,
        };
        let changed = DateChanged {
            revision,
            moved,
            from,
            stage,
        };
        Ok(Some((milestone, changed)))
    }

    /// UpdateMilestone: the patched fields that differ replace the stored ones; a CUSTOM
    /// milestone keeps a title. None when nothing differs (nothing is recorded).
    pub fn update(&self, patch: MilestonePatch, now_us: i64) -> Result<Option<Updated>, Invalid> {
        let mut milestone = self.clone();
        let mut changed = Vec::new();
        if let Some(title) = patch.title.filter(|t| *t != milestone.title) {
            milestone.title = title;
            changed.push("title");
        }
        if let Some(description) = patch.description.filter(|d| *d != milestone.description) {
            milestone.description = description;
            changed.push("description");
        }
        milestone
            .kind
            .check_title(&milestone.title)
            .map_err(|e| Invalid::field("milestone.title", e))?;
        if changed.is_empty() {
            return Ok(None);
        }
        milestone.version += 1;
        milestone.updated_at_us = now_us;
        Ok(Some(Updated { milestone, changed }))
    }

    /// The milestone as it stood at the end of `day`, rebuilt from its revisions (oldest
    /// first); refused for a day before it was scheduled.
    pub fn as_of(mut self, revisions: &[Revision], day: NaiveDate) -> Result<Milestone, Refused> {
        let Some((dates, totals)) = dates_as_of(revisions, day) else {
            return Err(Refused::new(
                "MILESTONE_NOT_YET_SCHEDULED",
                format!("{} was not scheduled yet on {day}", self.name()),
            )
            .on(self.name(), format!("first scheduled after {day}")));
        };
        self.dates = dates;
        self.totals = totals;
        Ok(self)
    }
}

/// The scanner's once-only alerts (DESIGN §5): which condition, recorded under this name in
/// the alert ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// The status date passed the baseline of a milestone not achieved.
    Overdue,
    /// A milestone inside the warning horizon with something blocking it (`Blockers`).
    AtRisk,
}

impl Alert {
    pub const ALL: [Alert; 2] = [Alert::Overdue, Alert::AtRisk];

    /// The ledger's name of the alert.
    pub fn as_str(self) -> &'static str {
        match self {
            Alert::Overdue => "OVERDUE",
            Alert::AtRisk => "AT_RISK",
        }
    }

    /// Why the alert was raised, for its event; `open_problem` is the linked open problem's
    /// name, empty when none.
    pub fn reason(self, baseline: NaiveDate, open_problem: &str) -> String {
        match self {
            Alert::Overdue => {
                format!("baseline {baseline} passed without the milestone being achieved")
            }
            Alert::AtRisk if !open_problem.is_empty() => {
                format!("milestone due {baseline} with problem {open_problem} still open")
            }
            Alert::AtRisk => {
                format!("construction start due {baseline} with prerequisites still open")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, month, day).unwrap()
    }

    fn open(baseline: NaiveDate, forecast: NaiveDate) -> MilestoneDates {
        MilestoneDates {
            baseline,
            forecast,
            actual: None,
        }
    }

    fn check(
        kind: MilestoneKind,
        dates: MilestoneDates,
        prereqs_open: bool,
        status_date: NaiveDate,
    ) -> (MilestoneStatus, Light, i32) {
        let blockers = Blockers {
            open_prerequisites: prereqs_open,
            open_problem: None,
        };
        let a = assess(kind, &dates, &blockers, status_date, &Policy::default());
        (a.status, a.light, a.variance_days)
    }

    use Light::*;
    use MilestoneKind::*;
    use MilestoneStatus::*;

    #[test]
    fn slip_totals_saturate_instead_of_wrapping() {
        let slip = Revision {
            number: 2,
            field: RevisionField::Forecast,
            old_date: Some(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()),
            new_date: NaiveDate::from_ymd_opt(2056, 1, 1).unwrap(),
            reason: String::new(),
            actor: String::new(),
            created_at_us: 0,
            recorded_on: d(1, 1),
        };
        let mut totals = SlipTotals {
            slip_count: i32::MAX - 1,
            days_slipped: i32::MAX - 30_000,
        };
        totals.add(&slip);
        totals.add(&slip);
        assert_eq!(totals.slip_count, i32::MAX);
        assert_eq!(totals.days_slipped, i32::MAX);
    }

    #[test]
    fn baseline_day_itself_is_not_overdue() {
        assert_eq!(
            check(
                TrialProduction,
                open(d(10, 31), d(10, 31)),
                false,
                d(10, 31)
            ),
            (OnTrack, Green, 0)
        );
    }

    #[test]
    fn the_day_after_the_baseline_is_overdue_and_red() {
        assert_eq!(
            check(TrialProduction, open(d(10, 31), d(10, 31)), false, d(11, 1)),
            (Overdue, Red, 1)
        );
        // An overdue milestone whose forecast nobody updated still shows how late it is.
        assert_eq!(
            check(
                TrialProduction,
                open(d(10, 31), d(10, 20)),
                false,
                d(11, 20)
            ),
            (Overdue, Red, 20)
        );
    }

    #[test]
    fn an_open_linked_problem_puts_any_milestone_at_risk_inside_the_horizon() {
        let blocked = Blockers {
            open_prerequisites: false,
            open_problem: Some("land".into()),
        };
        let at = |kind, dates: MilestoneDates, status_date| {
            let a = assess(kind, &dates, &blocked, status_date, &Policy::default());
            (a.status, a.light)
        };
        // Any kind, from 14 days ahead to the baseline day itself.
        assert_eq!(
            at(TrialProduction, open(d(10, 15), d(10, 15)), d(10, 1)),
            (AtRisk, Yellow)
        );
        assert_eq!(
            at(Custom, open(d(10, 15), d(10, 15)), d(10, 15)),
            (AtRisk, Yellow)
        );
        assert_eq!(
            at(TrialProduction, open(d(10, 15), d(10, 15)), d(9, 30)),
            (OnTrack, Green)
        );
        // Late milestones keep their own status.
        assert_eq!(
            at(TrialProduction, open(d(10, 15), d(10, 20)), d(10, 10)),
            (Slipped, Yellow)
        );
        assert_eq!(
            at(TrialProduction, open(d(10, 15), d(10, 15)), d(10, 16)),
            (Overdue, Red)
        );
        // Open prerequisites alone still count only for a construction start.
        let prerequisites = Blockers {
            open_prerequisites: true,
            open_problem: None,
        };
        assert!(prerequisites.block(ConstructionStart));
        assert!(!prerequisites.block(TrialProduction));
        assert!(blocked.block(TrialProduction));
    }

    #[test]
    fn every_light_says_why_and_by_which_rule() {
        let p = Policy::default();
        use Light::*;
        use MilestoneStatus::*;
        assert_eq!(
            light_reason(Slipped, Yellow, 12, 20, "", &p, "default@1"),
            "projected 12 days late (滞后12天), within the 30-day tolerance: YELLOW by rule milestone-tolerance default@1"
        );
        assert_eq!(
            light_reason(Slipped, Red, 31, 20, "", &p, "city@2"),
            "projected 31 days late (滞后31天), above the 30-day tolerance: RED by rule milestone-tolerance city@2"
        );
        assert_eq!(
            light_reason(Overdue, Red, 5, -5, "", &p, "default@1"),
            "not achieved 5 days after the baseline (逾期): RED by rule milestone-overdue default@1"
        );
        assert!(
            light_reason(AtRisk, Yellow, 0, 10, "", &p, "default@1")
                .starts_with("construction start in 10 days with approvals still open")
        );
        assert_eq!(
            light_reason(
                AtRisk,
                Yellow,
                0,
                10,
                "projects/reservoir/problems/land",
                &p,
                "default@1"
            ),
            "due in 10 days with problem projects/reservoir/problems/land still open (问题未解决), within the 14-day warning horizon: YELLOW by rule milestone-at-risk default@1"
        );
        assert_eq!(
            light_reason(OnTrack, Green, 0, 40, "", &p, "default@1"),
            "on schedule (按期): GREEN by rule milestone-tolerance default@1"
        );
        assert_eq!(
            light_reason(Achieved, Green, -3, -10, "", &p, "default@1"),
            "achieved on time (按期完成): GREEN by rule milestone-tolerance default@1"
        );
    }

    #[test]
    fn slipped_lights_follow_the_tolerance() {
        assert_eq!(
            check(TrialProduction, open(d(10, 1), d(10, 2)), false, d(9, 1)),
            (Slipped, Yellow, 1)
        );
        assert_eq!(
            check(TrialProduction, open(d(10, 1), d(10, 31)), false, d(9, 1)),
            (Slipped, Yellow, 30)
        );
        assert_eq!(
            check(TrialProduction, open(d(10, 1), d(11, 1)), false, d(9, 1)),
            (Slipped, Red, 31)
        );
    }

    #[test]
    fn warning_horizon_edges() {
        // 14 days ahead, inclusive, with open prerequisites.
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                true,
                d(10, 1)
            ),
            (AtRisk, Yellow, 0)
        );
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                true,
                d(9, 30)
            ),
            (OnTrack, Green, 0)
        );
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                true,
                d(10, 15)
            ),
            (AtRisk, Yellow, 0)
        );
        // Only construction starts, and only with open prerequisites.
        assert_eq!(
            check(TrialProduction, open(d(10, 15), d(10, 15)), true, d(10, 10)),
            (OnTrack, Green, 0)
        );
        // Waived or done prerequisites do not count as open.
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 15)),
                false,
                d(10, 10)
            ),
            (OnTrack, Green, 0)
        );
        // SLIPPED wins over AT_RISK.
        assert_eq!(
            check(
                ConstructionStart,
                open(d(10, 15), d(10, 20)),
                true,
                d(10, 10)
            ),
            (Slipped, Yellow, 5)
        );
    }

    #[test]
    fn achieved_keeps_the_light_of_its_final_variance() {
        let early = MilestoneDates {
            baseline: d(10, 31),
            forecast: d(10, 31),
            actual: Some(d(10, 25)),
        };
        assert_eq!(
            check(TrialProduction, early, false, d(12, 31)),
            (Achieved, Green, -6)
        );
        let late = MilestoneDates {
            baseline: d(10, 31),
            forecast: d(11, 10),
            actual: Some(d(11, 12)),
        };
        assert_eq!(
            check(TrialProduction, late, false, d(12, 31)),
            (Achieved, Yellow, 12)
        );
        let very_late = MilestoneDates {
            baseline: d(9, 1),
            forecast: d(9, 1),
            actual: Some(d(11, 12)),
        };
        assert_eq!(
            check(TrialProduction, very_late, false, d(12, 31)),
            (Achieved, Red, 72)
        );
    }

    fn revision(
        number: i32,
        field: RevisionField,
        old: Option<NaiveDate>,
        new: NaiveDate,
        on: NaiveDate,
    ) -> Revision {
        Revision {
            number,
            field,
            old_date: old,
            new_date: new,
            reason: String::new(),
            actor: "t".into(),
            created_at_us: 0,
            recorded_on: on,
        }
    }

    #[test]
    fn rebaselined_after_a_slip() {
        use RevisionField::*;
        let revisions = vec![
            revision(1, Baseline, None, d(10, 31), d(8, 1)),
            revision(2, Forecast, None, d(10, 31), d(8, 1)),
            revision(3, Forecast, Some(d(10, 31)), d(11, 10), d(9, 5)),
            revision(4, Forecast, Some(d(11, 10)), d(11, 20), d(9, 25)),
            revision(5, Baseline, Some(d(10, 31)), d(11, 30), d(11, 3)),
        ];
        let (before, totals) = dates_as_of(&revisions, d(9, 10)).unwrap();
        assert_eq!(before, open(d(10, 31), d(11, 10)));
        assert_eq!(
            totals,
            SlipTotals {
                slip_count: 1,
                days_slipped: 10
            }
        );
        assert_eq!(
            check(TrialProduction, before, false, d(9, 10)),
            (Slipped, Yellow, 10)
        );
        let (overdue, _) = dates_as_of(&revisions, d(11, 1)).unwrap();
        assert_eq!(
            check(TrialProduction, overdue, false, d(11, 1)),
            (Overdue, Red, 20)
        );
        let (after, totals) = dates_as_of(&revisions, d(11, 3)).unwrap();
        assert_eq!(after, open(d(11, 30), d(11, 20)));
        assert_eq!(
            totals,
            SlipTotals {
                slip_count: 2,
                days_slipped: 20
            }
        );
        // The new baseline is ahead of the forecast: on track again, slips kept in the record.
        assert_eq!(
            check(TrialProduction, after, false, d(11, 3)),
            (OnTrack, Green, -10)
        );
        assert!(dates_as_of(&revisions, d(7, 31)).is_none());
    }

    #[test]
    fn recoveries_are_not_slips() {
        let r = revision(
            3,
            RevisionField::Forecast,
            Some(d(11, 10)),
            d(11, 1),
            d(9, 5),
        );
        assert!(!r.is_slip());
        assert_eq!(r.delta_days(), -9);
        let b = revision(
            3,
            RevisionField::Baseline,
            Some(d(11, 10)),
            d(11, 30),
            d(9, 5),
        );
        assert!(!b.is_slip());
    }

    #[test]
    fn plausible_dates() {
        assert!(check_plausible(d(1, 1), 2026, d(9, 1)).is_ok());
        assert!(
            check_plausible(NaiveDate::from_ymd_opt(2016, 1, 1).unwrap(), 2026, d(9, 1)).is_ok()
        );
        assert!(
            check_plausible(
                NaiveDate::from_ymd_opt(2015, 12, 31).unwrap(),
                2026,
                d(9, 1)
            )
            .is_err()
        );
        assert!(
            check_plausible(NaiveDate::from_ymd_opt(2056, 9, 1).unwrap(), 2026, d(9, 1)).is_ok()
        );
        assert!(
            check_plausible(NaiveDate::from_ymd_opt(2056, 9, 2).unwrap(), 2026, d(9, 1)).is_err()
        );
    }

    #[test]
    fn stages_on_achievement() {
        assert_eq!(
            ConstructionStart.stage_on_achieve(),
            Some(Stage::Construction)
        );
        assert_eq!(Completion.stage_on_achieve(), Some(Stage::Operation));
        assert_eq!(ContractSigning.stage_on_achieve(), None);
    }

    // The rules of scheduling and of the date-changing methods.

    fn project(stage: Stage) -> Project {
        use crate::domain::project::{Category, InvestmentType, ProjectFields};
        Project {
            id: "water".into(),
            uid: "u".into(),
            fields: ProjectFields {
                display_name: "水厂".into(),
                description: String::new(),
                project_code: None,
                category: Category::Water,
                investment_type: InvestmentType::Government,
                township: "城关镇".into(),
                department: "水务局".into(),
                owner: String::new(),
                leader: String::new(),
                total_investment_yuan: 0,
                annual_planned_investment_yuan: 0,
                completed_investment_yuan: 0,
                statistics_enrolment_date: None,
            },
            stage,
            suspended_from_stage: None,
            stage_changed_at_us: 0,
            // 2026-01-01T00:00:00Z
            created_at_us: 1_767_225_600_000_000,
            updated_at_us: 0,
            version: 1,
            reported_investment_yuan: 0,
        }
    }

    fn stamp() -> Stamp<'static> {
        Stamp {
            actor: "t",
            now_us: 42,
            today: d(9, 1),
        }
    }

    fn scheduled(kind: MilestoneKind, baseline: NaiveDate) -> Milestone {
        let new = NewMilestone {
            kind,
            title: "试生产".into(),
            description: String::new(),
            baseline,
            forecast: None,
        };
        schedule(
            &project(Stage::Preparation),
            "m".into(),
            "u".into(),
            new,
            stamp(),
        )
        .unwrap()
        .milestone
    }

    fn change(
        m: &Milestone,
        change: DateChange,
        date: NaiveDate,
        reason: &str,
        stage: Stage,
    ) -> Result<Option<(Milestone, DateChanged)>, MilestoneError> {
        m.change_date(change, date, reason, &project(stage), stamp())
    }

    fn reason_of(err: MilestoneError) -> &'static str {
        match err {
            MilestoneError::Refused(r) => r.reason,
            MilestoneError::Invalid(_) => "INVALID",
        }
    }

    fn fields_of(err: MilestoneError) -> Vec<String> {
        match err {
            MilestoneError::Invalid(Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
            MilestoneError::Refused(r) => vec![r.reason.to_string()],
        }
    }

    #[test]
    fn scheduling_records_baseline_then_forecast() {
        let m = scheduled(TrialProduction, d(10, 31));
        assert_eq!(m.dates, open(d(10, 31), d(10, 31)));
        assert_eq!((m.revision_count, m.version, m.created_at_us), (2, 1, 42));
    }

    #[test]
    fn a_cancelled_projects_milestones_no_longer_change() {
        let new = NewMilestone {
            kind: TrialProduction,
            title: String::new(),
            description: String::new(),
            baseline: d(10, 31),
            forecast: None,
        };
        let err = schedule(
            &project(Stage::Cancelled),
            "m".into(),
            "u".into(),
            new,
            stamp(),
        );
        assert_eq!(reason_of(err.unwrap_err()), "PROJECT_CANCELLED");
        let m = scheduled(TrialProduction, d(10, 31));
        for kind in [
            DateChange::Forecast,
            DateChange::Achieve,
            DateChange::Rebaseline,
        ] {
            let err = change(&m, kind, d(8, 1), "x", Stage::Cancelled).unwrap_err();
            assert_eq!(reason_of(err), "PROJECT_CANCELLED");
        }
    }

    #[test]
    fn both_scheduled_dates_must_be_plausible() {
        let new = NewMilestone {
            kind: TrialProduction,
            title: String::new(),
            description: String::new(),
            baseline: NaiveDate::from_ymd_opt(2015, 1, 1).unwrap(),
            forecast: Some(NaiveDate::from_ymd_opt(2060, 1, 1).unwrap()),
        };
        let err = schedule(
            &project(Stage::Reserve),
            "m".into(),
            "u".into(),
            new,
            stamp(),
        );
        assert_eq!(
            fields_of(err.unwrap_err()),
            vec!["milestone.baseline_date", "milestone.forecast_date"]
        );
    }

    #[test]
    fn an_achieved_milestones_dates_no_longer_change() {
        let m = scheduled(TrialProduction, d(10, 31));
        let (achieved, _) = change(&m, DateChange::Achieve, d(8, 20), "", Stage::Construction)
            .unwrap()
            .unwrap();
        for kind in [
            DateChange::Forecast,
            DateChange::Achieve,
            DateChange::Rebaseline,
        ] {
            let err = change(&achieved, kind, d(8, 1), "x", Stage::Construction).unwrap_err();
            assert_eq!(reason_of(err), "MILESTONE_ACHIEVED");
        }
        // A cancelled project answers first.
        let err = change(
            &achieved,
            DateChange::Forecast,
            d(8, 1),
            "x",
            Stage::Cancelled,
        );
        assert_eq!(reason_of(err.unwrap_err()), "PROJECT_CANCELLED");
    }

    #[test]
    fn a_changed_date_must_be_plausible_and_is_named_by_its_field() {
        let m = scheduled(TrialProduction, d(10, 31));
        let far = NaiveDate::from_ymd_opt(2057, 1, 1).unwrap();
        for (kind, field) in [
            (DateChange::Forecast, "forecast_date"),
            (DateChange::Rebaseline, "baseline_date"),
            (DateChange::Achieve, "actual_date"),
        ] {
            // Plausibility answers before the missing reason.
            let err = change(&m, kind, far, "", Stage::Reserve).unwrap_err();
            assert_eq!(fields_of(err), vec![field]);
        }
    }

    #[test]
    fn a_forecast_moved_later_needs_a_reason() {
        let m = scheduled(TrialProduction, d(10, 31));
        let err = change(&m, DateChange::Forecast, d(11, 10), "", Stage::Reserve).unwrap_err();
        assert_eq!(
            err,
            MilestoneError::Invalid(Invalid::field(
                "reason",
                "is required when the forecast moves later"
            ))
        );
        // Earlier needs none.
        assert!(change(&m, DateChange::Forecast, d(10, 20), "", Stage::Reserve).is_ok());
    }

    #[test]
    fn a_rebaseline_needs_a_reason_and_an_achievement_none() {
        assert!(DateChange::Rebaseline.needs_reason());
        assert!(!DateChange::Forecast.needs_reason());
        assert!(!DateChange::Achieve.needs_reason());
    }

    #[test]
    fn an_achievement_cannot_be_dated_after_today() {
        let today = d(9, 1);
        assert!(DateChange::Achieve.check_date(d(9, 1), today).is_ok());
        assert_eq!(
            DateChange::Achieve.check_date(d(9, 2), today),
            Err("2026-09-02 is in the future (today is 2026-09-01)".into())
        );
        assert!(DateChange::Forecast.check_date(d(12, 1), today).is_ok());
    }

    #[test]
    fn a_date_that_does_not_move_records_nothing() {
        let m = scheduled(TrialProduction, d(10, 31));
        for kind in [DateChange::Forecast, DateChange::Rebaseline] {
            assert_eq!(change(&m, kind, d(10, 31), "", Stage::Reserve), Ok(None));
        }
        // Achieving on the forecast date is an achievement all the same.
        assert!(
            change(&m, DateChange::Achieve, d(8, 31), "", Stage::Reserve)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_later_forecast_is_a_slip_and_an_earlier_one_a_recovery() {
        let m = scheduled(TrialProduction, d(10, 31));
        let (slipped, slip) = change(&m, DateChange::Forecast, d(11, 10), "x", Stage::Reserve)
            .unwrap()
            .unwrap();
        assert_eq!((slip.moved, slip.from), (DateMove::Slipped, d(10, 31)));
        assert_eq!(
            slipped.totals,
            SlipTotals {
                slip_count: 1,
                days_slipped: 10
            }
        );
        assert_eq!(slip.revision.number, 3);
        assert_eq!(slip.revision.old_date, Some(d(10, 31)));
        assert_eq!((slipped.revision_count, slipped.version), (3, 2));
        let (recovered, back) =
            change(&slipped, DateChange::Forecast, d(11, 1), "", Stage::Reserve)
                .unwrap()
                .unwrap();
        assert_eq!(back.moved, DateMove::Recovered);
        assert_eq!(recovered.totals, slipped.totals);
        let (rebaselined, moved) =
            change(&m, DateChange::Rebaseline, d(12, 1), "x", Stage::Reserve)
                .unwrap()
                .unwrap();
        assert_eq!(moved.moved, DateMove::Rebaselined);
        assert_eq!(rebaselined.dates.baseline, d(12, 1));
    }

    #[test]
    fn an_achievement_is_measured_from_the_baseline_and_records_no_old_date() {
        let m = scheduled(TrialProduction, d(10, 31));
        let (achieved, done) = change(&m, DateChange::Achieve, d(8, 30), "", Stage::Reserve)
            .unwrap()
            .unwrap();
        assert_eq!((done.moved, done.from), (DateMove::Achieved, d(10, 31)));
        assert_eq!(done.revision.old_date, None);
        assert_eq!(achieved.dates.actual, Some(d(8, 30)));
    }

    #[test]
    fn achieving_moves_the_stage_forward_never_back() {
        let start = scheduled(ConstructionStart, d(10, 31));
        let advance = |stage| {
            change(&start, DateChange::Achieve, d(8, 30), "", stage)
                .unwrap()
                .unwrap()
                .1
                .stage
        };
        let step = advance(Stage::Preparation).unwrap();
        assert_eq!(
            step.step,
            StageTransition {
                from: Stage::Preparation,
                to: Stage::Construction,
                suspended_from: None
            }
        );
        assert_eq!(step.effective_date, d(8, 30));
        assert_eq!(
            step.reason,
            "projects/water/milestones/m achieved on 2026-08-30"
        );
        assert_eq!(advance(Stage::Construction), None);
        assert_eq!(advance(Stage::Operation), None);
        assert_eq!(advance(Stage::Suspended), None);
        let custom = scheduled(Custom, d(10, 31));
        let none = change(&custom, DateChange::Achieve, d(8, 30), "", Stage::Reserve);
        assert_eq!(none.unwrap().unwrap().1.stage, None);
    }

    #[test]
    fn a_custom_milestone_keeps_a_title() {
        assert!(Custom.check_title("").is_err());
        assert!(Custom.check_title("验收").is_ok());
        assert!(TrialProduction.check_title("").is_ok());
        let m = scheduled(Custom, d(10, 31));
        let patch = MilestonePatch {
            title: Some(String::new()),
            description: None,
        };
        assert_eq!(
            m.update(patch, 7),
            Err(Invalid::field(
                "milestone.title",
                "is required for CUSTOM milestones"
            ))
        );
    }

    #[test]
    fn an_update_records_only_what_differs() {
        let m = scheduled(TrialProduction, d(10, 31));
        let same = MilestonePatch {
            title: Some(m.title.clone()),
            description: Some(String::new()),
        };
        assert_eq!(m.update(same, 7), Ok(None));
        let patch = MilestonePatch {
            title: None,
            description: Some("说明".into()),
        };
        let updated = m.update(patch, 7).unwrap().unwrap();
        assert_eq!(updated.changed, vec!["description"]);
        assert_eq!(
            (updated.milestone.version, updated.milestone.updated_at_us),
            (2, 7)
        );
    }

    #[test]
    fn a_day_before_scheduling_is_refused() {
        let m = scheduled(TrialProduction, d(10, 31));
        let revisions = vec![
            revision(1, RevisionField::Baseline, None, d(10, 31), d(9, 1)),
            revision(2, RevisionField::Forecast, None, d(10, 31), d(9, 1)),
        ];
        let err = m.clone().as_of(&revisions, d(8, 31)).unwrap_err();
        assert_eq!(err.reason, "MILESTONE_NOT_YET_SCHEDULED");
        assert_eq!(m.clone().as_of(&revisions, d(9, 1)).unwrap(), m);
    }
}
