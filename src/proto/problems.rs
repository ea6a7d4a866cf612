//! Problems and their revisions as messages.

use super::{date, timestamp, v1};
use crate::domain::names;
use crate::domain::problem::{
    EscalationTarget, Problem, ProblemAction, ProblemCategory, ProblemState,
};
use crate::store::problems::RevisionRecord;

impl From<ProblemCategory> for v1::ProblemCategory {
    fn from(value: ProblemCategory) -> Self {
        match value {
            ProblemCategory::Land => Self::Land,
            ProblemCategory::Demolition => Self::Demolition,
            ProblemCategory::Power => Self::Power,
            ProblemCategory::Water => Self::Water,
            ProblemCategory::Gas => Self::Gas,
            ProblemCategory::Road => Self::Road,
            ProblemCategory::Funding => Self::Funding,
            ProblemCategory::Approval => Self::Approval,
            ProblemCategory::EnterpriseRequest => Self::EnterpriseRequest,
            ProblemCategory::Other => Self::Other,
        }
    }
}

/// The domain category of a message's value; None for UNSPECIFIED and unknown numbers.
pub fn category(raw: i32) -> Option<ProblemCategory> {
    Some(match v1::ProblemCategory::try_from(raw).ok()? {
        v1::ProblemCategory::Land => ProblemCategory::Land,
        v1::ProblemCategory::Demolition => ProblemCategory::Demolition,
        v1::ProblemCategory::Power => ProblemCategory::Power,
        v1::ProblemCategory::Water => ProblemCategory::Water,
        v1::ProblemCategory::Gas => ProblemCategory::Gas,
        v1::ProblemCategory::Road => ProblemCategory::Road,
        v1::ProblemCategory::Funding => ProblemCategory::Funding,
        v1::ProblemCategory::Approval => ProblemCategory::Approval,
        v1::ProblemCategory::EnterpriseRequest => ProblemCategory::EnterpriseRequest,
        v1::ProblemCategory::Other => ProblemCategory::Other,
        v1::ProblemCategory::Unspecified => return None,
    })
}

impl From<ProblemState> for v1::ProblemState {
    fn from(value: ProblemState) -> Self {
        match value {
            ProblemState::Open => Self::Open,
            ProblemState::InProgress => Self::InProgress,
            ProblemState::Resolved => Self::Resolved,
            ProblemState::Closed => Self::Closed,
        }
    }
}

/// The domain state of a message's value; None for UNSPECIFIED and unknown numbers.
pub fn state(raw: i32) -> Option<ProblemState> {
    Some(match v1::ProblemState::try_from(raw).ok()? {
        v1::ProblemState::Open => ProblemState::Open,
        v1::ProblemState::InProgress => ProblemState::InProgress,
        v1::ProblemState::Resolved => ProblemState::Resolved,
        v1::ProblemState::Closed => ProblemState::Closed,
        v1::ProblemState::Unspecified => return None,
    })
}

impl From<ProblemAction> for v1::ProblemAction {
    fn from(value: ProblemAction) -> Self {
        match value {
            ProblemAction::Created => Self::Created,
            ProblemAction::Updated => Self::Updated,
            ProblemAction::Started => Self::Started,
            ProblemAction::Resolved => Self::Resolved,
            ProblemAction::Reopened => Self::Reopened,
            ProblemAction::Closed => Self::Closed,
            ProblemAction::DeadlineExtended => Self::DeadlineExtended,
        }
    }
}

pub fn problem(p: &Problem) -> v1::Problem {
    let f = &p.fields;
    v1::Problem {
        name: p.name(),
        uid: p.uid.clone(),
        category: v1::ProblemCategory::from(f.category) as i32,
        description: f.description.clone(),
        raised_by: p.raised_by.clone(),
        raise_date: Some(date(f.raise_date)),
        responsible_unit: f.responsible_unit.clone(),
        responsible_leader: f.responsible_leader.clone(),
        deadline: Some(date(f.deadline)),
        blocked_milestone: f
            .milestone_id
            .as_deref()
            .map(|m| names::milestone_name(&p.project_id, m))
            .unwrap_or_default(),
        state: v1::ProblemState::from(p.state) as i32,
        resolution_note: p.resolution_note.clone(),
        extension_count: p.extension_count,
        resolve_time: p.resolved_at_us.map(timestamp),
        resolve_date: p.resolved_on.map(date),
        close_time: p.closed_at_us.map(timestamp),
        create_time: Some(timestamp(p.created_at_us)),
        update_time: Some(timestamp(p.updated_at_us)),
        etag: p.etag(),
    }
}

pub fn revision(r: &RevisionRecord) -> v1::ProblemRevision {
    let c = &r.change;
    v1::ProblemRevision {
        number: r.number,
        action: v1::ProblemAction::from(c.action) as i32,
        actor: r.actor.clone(),
        create_time: Some(timestamp(r.created_at_us)),
        from_state: c
            .from_state
            .map_or(v1::ProblemState::Unspecified, v1::ProblemState::from)
            as i32,
        to_state: v1::ProblemState::from(c.to_state) as i32,
        changed_fields: c.changed_fields.iter().map(|f| f.to_string()).collect(),
        reason: c.reason.clone(),
        old_deadline: c.old_deadline.map(date),
        new_deadline: Some(date(c.new_deadline)),
    }
}

impl From<EscalationTarget> for v1::EscalationTarget {
    fn from(value: EscalationTarget) -> Self {
        match value {
            EscalationTarget::ResponsibleUnit => Self::ResponsibleUnit,
            EscalationTarget::ResponsibleLeader => Self::ResponsibleLeader,
            EscalationTarget::CountyLeader => Self::CountyLeader,
        }
    }
}
