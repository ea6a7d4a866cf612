//! Problem events (PROBLEM_*): each carries the problem after the change.

use crate::domain::problem::{Problem, ProblemAction};
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
