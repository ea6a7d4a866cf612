//! The events of milestones: scheduled, updated, deleted, a date moved (slipped, recovered,
//! rebaselined, achieved) and the scanner's alerts. Each carries the milestone after the change
//! with its light and status, as of the writer's today.

use chrono::NaiveDate;

use crate::domain::milestone::{Alert, AssessedMilestone, DateChanged, DateMove, Milestone};
use crate::domain::project::Project;
use crate::events::outbox::EventDraft;
use crate::proto::v1;

/// A milestone change: `after` is the milestone's message, built once by the writer for its
/// response too; `from` is the date the move is measured from.
fn milestone_change(
    kind: v1::EventKind,
    project: &Project,
    assessed: &AssessedMilestone,
    after: v1::Milestone,
    from: Option<NaiveDate>,
    new_date: NaiveDate,
    reason: String,
) -> EventDraft {
    let delta_days = from
        .map(|old| (new_date - old).num_days() as i32)
        .unwrap_or(0);
    let a = &assessed.assessment;
    let mut draft = EventDraft::about(
        kind,
        project,
        assessed.milestone.name(),
        Some(v1::event::Detail::MilestoneChange(v1::MilestoneChange {
            milestone_after: Some(after),
            old_date: from.map(crate::proto::date),
            new_date: Some(crate::proto::date(new_date)),
            delta_days,
            variance_days: a.variance_days,
            light: v1::AlertLight::from(a.light) as i32,
            status: v1::MilestoneStatus::from(a.status) as i32,
            reason,
        })),
        Vec::new(),
    );
    draft.light = Some(a.light.as_str().to_string());
    if kind == v1::EventKind::MilestoneSlipped {
        draft.slip_days = Some(delta_days);
    }
    draft
}

/// A change that moves no date, reported against the baseline.
fn unmoved(
    kind: v1::EventKind,
    project: &Project,
    assessed: &AssessedMilestone,
    after: v1::Milestone,
) -> EventDraft {
    let baseline = assessed.milestone.dates.baseline;
    milestone_change(
        kind,
        project,
        assessed,
        after,
        None,
        baseline,
        String::new(),
    )
}

/// MILESTONE_SCHEDULED.
pub fn scheduled(
    project: &Project,
    assessed: &AssessedMilestone,
    after: v1::Milestone,
) -> EventDraft {
    unmoved(v1::EventKind::MilestoneScheduled, project, assessed, after)
}

/// MILESTONE_UPDATED, naming the fields that changed.
pub fn updated(
    project: &Project,
    assessed: &AssessedMilestone,
    after: v1::Milestone,
    changed: &[&'static str],
) -> EventDraft {
    let mut draft = unmoved(v1::EventKind::MilestoneUpdated, project, assessed, after);
    draft.event.changed_fields = changed.iter().map(|f| f.to_string()).collect();
    draft
}

/// MILESTONE_DELETED.
pub fn deleted(project: &Project, milestone: &Milestone) -> EventDraft {
    EventDraft::about(
        v1::EventKind::MilestoneDeleted,
        project,
        milestone.name(),
        None,
        Vec::new(),
    )
}

/// MILESTONE_SLIPPED, _RECOVERED, _REBASELINED or _ACHIEVED.
pub fn date_changed(
    project: &Project,
    assessed: &AssessedMilestone,
    after: v1::Milestone,
    changed: &DateChanged,
) -> EventDraft {
    let kind = match changed.moved {
        DateMove::Slipped => v1::EventKind::MilestoneSlipped,
        DateMove::Recovered => v1::EventKind::MilestoneRecovered,
        DateMove::Rebaselined => v1::EventKind::MilestoneRebaselined,
        DateMove::Achieved => v1::EventKind::MilestoneAchieved,
    };
    milestone_change(
        kind,
        project,
        assessed,
        after,
        Some(changed.from),
        changed.revision.new_date,
        changed.revision.reason.clone(),
    )
}

/// MILESTONE_OVERDUE or MILESTONE_AT_RISK, raised by the scanner.
pub fn alert(
    project: &Project,
    assessed: &AssessedMilestone,
    after: v1::Milestone,
    alert: Alert,
) -> EventDraft {
    let kind = match alert {
        Alert::Overdue => v1::EventKind::MilestoneOverdue,
        Alert::AtRisk => v1::EventKind::MilestoneAtRisk,
    };
    let baseline = assessed.milestone.dates.baseline;
    milestone_change(
        kind,
        project,
        assessed,
        after,
        None,
        baseline,
        alert.reason(baseline, &assessed.open_problem_name()),
    )
}
