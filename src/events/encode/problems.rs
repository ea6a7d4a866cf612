//! Problem events: PROBLEM_* changes, each carrying the problem after the change, and the
//! scanner's PROBLEM_OVERDUE and PROBLEM_ESCALATED alerts.

use chrono::NaiveDate;

use crate::domain::problem::{Problem, ProblemAction, Rung};
use crate::domain::project::Project;
use crate::events::outbox::EventDraft;
use crate::proto::v1;

/// The event of `action` on `problem` of `project`, carrying `after` (the message the response
/// is made of) and, for an update, the names of the fields that changed.
pub fn changed(
    project: &Project,
    problem: &Problem,
    action: ProblemAction,
    changed_fields: Vec<&'static str>,
    after: v1::Problem,
) -> EventDraft {
    let kind = match action {
        ProblemAction::Created => v1::EventKind::ProblemCreated,
        ProblemAction::Updated => v1::EventKind::ProblemUpdated,
        ProblemAction::Started => v1::EventKind::ProblemStarted,
        ProblemAction::Resolved => v1::EventKind::ProblemResolved,
        ProblemAction::Reopened => v1::EventKind::ProblemReopened,
        ProblemAction::Closed => v1::EventKind::ProblemClosed,
        ProblemAction::DeadlineExtended => v1::EventKind::ProblemDeadlineExtended,
    };
    EventDraft::about(
        kind,
        project,
        problem.name(),
        Some(v1::event::Detail::ProblemAfter(after)),
        changed_fields,
    )
}

/// PROBLEM_OVERDUE (rung 0, the responsible unit) or PROBLEM_ESCALATED (higher rungs): the
/// scanner's alert with the problem as of `status_date`.
pub fn alert(
    project: &Project,
    problem: &Problem,
    rung: &Rung,
    status_date: NaiveDate,
    after: v1::Problem,
) -> EventDraft {
    let kind = if rung.level == 0 {
        v1::EventKind::ProblemOverdue
    } else {
        v1::EventKind::ProblemEscalated
    };
    let days_overdue = (status_date - problem.fields.deadline).num_days();
    EventDraft::about(
        kind,
        project,
        problem.name(),
        Some(v1::event::Detail::ProblemAlert(v1::ProblemAlert {
            problem: Some(after),
            status_date: Some(crate::proto::date(status_date)),
            days_overdue: i32::try_from(days_overdue).unwrap_or(i32::MAX),
            level: rung.level,
            escalated_to: v1::EscalationTarget::from(rung.target) as i32,
            threshold_days: rung.threshold_days,
        })),
        Vec::new(),
    )
}
