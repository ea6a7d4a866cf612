//! Events of the projects aggregate: projects, their stage changes and their prerequisites.

use chrono::NaiveDate;

use crate::domain::prerequisite::Prerequisite;
use crate::domain::project::{Project, StageTransition};
use crate::events::outbox::EventDraft;
use crate::proto::{self, v1};

/// PROJECT_CREATED, carrying the new project (`after`, the message its response is made of).
pub fn created(project: &Project, after: v1::Project) -> EventDraft {
    EventDraft::about(
        v1::EventKind::ProjectCreated,
        project,
        project.name(),
        Some(v1::event::Detail::ProjectAfter(after)),
        Vec::new(),
    )
}

/// PROJECT_UPDATED, carrying the project after the change and the fields that changed.
pub fn updated(project: &Project, changed: Vec<&'static str>) -> EventDraft {
    EventDraft::about(
        v1::EventKind::ProjectUpdated,
        project,
        project.name(),
        Some(v1::event::Detail::ProjectAfter(v1::Project::from(project))),
        changed,
    )
}

/// PROJECT_DELETED.
pub fn deleted(project: &Project) -> EventDraft {
    EventDraft::about(
        v1::EventKind::ProjectDeleted,
        project,
        project.name(),
        None,
        Vec::new(),
    )
}

/// PROJECT_STAGE_CHANGED: from and to, why, and as of when.
pub fn stage_changed(
    project: &Project,
    step: StageTransition,
    reason: String,
    effective_date: NaiveDate,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::ProjectStageChanged,
        project,
        project.name(),
        Some(v1::event::Detail::StageChange(v1::StageChange {
            from_stage: v1::ProjectStage::from(step.from) as i32,
            to_stage: v1::ProjectStage::from(step.to) as i32,
            reason,
            effective_date: Some(proto::date(effective_date)),
        })),
        Vec::new(),
    )
}

/// PREREQUISITE_CREATED, carrying the new prerequisite (`after`, the message its response is
/// made of).
pub fn prerequisite_created(
    project: &Project,
    item: &Prerequisite,
    after: v1::Prerequisite,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::PrerequisiteCreated,
        project,
        item.name(),
        Some(v1::event::Detail::PrerequisiteAfter(after)),
        Vec::new(),
    )
}

/// PREREQUISITE_UPDATED, carrying the prerequisite after the change and the fields that
/// changed.
pub fn prerequisite_updated(
    project: &Project,
    item: &Prerequisite,
    changed: Vec<&'static str>,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::PrerequisiteUpdated,
        project,
        item.name(),
        Some(v1::event::Detail::PrerequisiteAfter(
            v1::Prerequisite::from(item),
        )),
        changed,
    )
}

/// PREREQUISITE_DELETED.
pub fn prerequisite_deleted(project: &Project, item: &Prerequisite) -> EventDraft {
    EventDraft::about(
        v1::EventKind::PrerequisiteDeleted,
        project,
        item.name(),
        None,
        Vec::new(),
    )
}
