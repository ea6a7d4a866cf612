//! The events of the monthly investment cycle: plans set, reports submitted and corrected,
//! light rule set revisions published and activated, justifications, and the scanner's alerts
//! (a missing report, a changed pace light, an expired justification).

use chrono::NaiveDate;

use crate::domain::investment::{InvestmentReport, PlanRecord, RuleSetRevision};
use crate::domain::justification::Justification;
use crate::domain::milestone::Light;
use crate::domain::names;
use crate::domain::pace::YearMonth;
use crate::domain::project::Project;
use crate::events::outbox::EventDraft;
use crate::proto::{self, v1};
use crate::store::investment::{EnrolmentSubject, PaceSubject};

/// INVESTMENT_PLAN_SET, carrying the plan after the change.
pub fn plan_set(project: &Project, plan: &PlanRecord, after: v1::InvestmentPlan) -> EventDraft {
    EventDraft::about(
        v1::EventKind::InvestmentPlanSet,
        project,
        plan.name(),
        Some(v1::event::Detail::InvestmentPlanAfter(after)),
        Vec::new(),
    )
}

/// INVESTMENT_REPORT_CREATED, carrying the report (the message its response is made of).
pub fn report_created(
    project: &Project,
    report: &InvestmentReport,
    after: v1::InvestmentReport,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::InvestmentReportCreated,
        project,
        report.name(),
        Some(v1::event::Detail::InvestmentReportAfter(after)),
        Vec::new(),
    )
}

/// INVESTMENT_REPORT_CORRECTED, carrying the report with its new revision.
pub fn report_corrected(
    project: &Project,
    report: &InvestmentReport,
    after: v1::InvestmentReport,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::InvestmentReportCorrected,
        project,
        report.name(),
        Some(v1::event::Detail::InvestmentReportAfter(after)),
        Vec::new(),
    )
}

/// LIGHT_RULE_SET_PUBLISHED: a rule set belongs to no project.
pub fn rule_set_published(revision: &RuleSetRevision) -> EventDraft {
    EventDraft::global(
        v1::EventKind::LightRuleSetPublished,
        revision.name(),
        Some(v1::event::Detail::LightRuleSetAfter(
            v1::LightRuleSet::from(revision),
        )),
        Vec::new(),
    )
}

/// LIGHT_RULE_SET_ACTIVATED.
pub fn rule_set_activated(revision: &RuleSetRevision) -> EventDraft {
    EventDraft::global(
        v1::EventKind::LightRuleSetActivated,
        revision.name(),
        Some(v1::event::Detail::LightRuleSetAfter(
            v1::LightRuleSet::from(revision),
        )),
        Vec::new(),
    )
}

/// An event about the project of a pace subject (the scanner's alerts).
fn about_subject(
    kind: v1::EventKind,
    subject: &PaceSubject,
    alert: v1::InvestmentAlert,
) -> EventDraft {
    let project = names::project_name(&subject.project_id);
    EventDraft {
        event: v1::Event {
            kind: kind as i32,
            project: project.clone(),
            resource: project,
            detail: Some(v1::event::Detail::InvestmentAlert(alert)),
            ..Default::default()
        },
        project_id: subject.project_id.clone(),
        township: subject.township.clone(),
        department: subject.department.clone(),
        leader: subject.leader.clone(),
        light: None,
        slip_days: None,
    }
}

/// INVESTMENT_REPORT_MISSING: no report for `month` by its due date.
pub fn report_missing(subject: &PaceSubject, month: YearMonth, due_date: NaiveDate) -> EventDraft {
    about_subject(
        v1::EventKind::InvestmentReportMissing,
        subject,
        v1::InvestmentAlert {
            month: month.to_string(),
            due_date: Some(proto::date(due_date)),
            ..Default::default()
        },
    )
}

/// INVESTMENT_PACE_CHANGED: the month's light differs from the month before. The event's
/// light (a stream filter) is the new one.
pub fn pace_changed(
    subject: &PaceSubject,
    month: YearMonth,
    due_date: NaiveDate,
    light: Light,
    previous: Light,
    pace: v1::InvestmentPace,
) -> EventDraft {
    let mut draft = about_subject(
        v1::EventKind::InvestmentPaceChanged,
        subject,
        v1::InvestmentAlert {
            month: month.to_string(),
            due_date: Some(proto::date(due_date)),
            light: v1::AlertLight::from(light) as i32,
            previous_light: v1::AlertLight::from(previous) as i32,
            pace: Some(pace),
            ..Default::default()
        },
    );
    draft.light = Some(light.as_str().to_string());
    draft
}

/// STATISTICS_ENROLMENT_LAGGING: a started project not enrolled in the statistics system once
/// the rule set's months for the enrolment's light have passed. The event's light (a stream
/// filter) is the enrolment's.
pub fn enrolment_lagging(
    subject: &EnrolmentSubject,
    light: Light,
    enrolment: v1::StatisticsEnrolment,
) -> EventDraft {
    let project = names::project_name(&subject.project_id);
    EventDraft {
        event: v1::Event {
            kind: v1::EventKind::StatisticsEnrolmentLagging as i32,
            project: project.clone(),
            resource: project,
            detail: Some(v1::event::Detail::InvestmentAlert(v1::InvestmentAlert {
                light: v1::AlertLight::from(light) as i32,
                enrolment: Some(enrolment),
                ..Default::default()
            })),
            ..Default::default()
        },
        project_id: subject.project_id.clone(),
        township: subject.township.clone(),
        department: subject.department.clone(),
        leader: subject.leader.clone(),
        light: Some(light.as_str().to_string()),
        slip_days: None,
    }
}

/// JUSTIFICATION_CREATED, carrying the justification.
pub fn justification_created(
    project: &Project,
    item: &Justification,
    after: v1::Justification,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::JustificationCreated,
        project,
        item.name(),
        Some(v1::event::Detail::JustificationAfter(after)),
        Vec::new(),
    )
}

/// JUSTIFICATION_REVOKED, carrying the justification with its revocation.
pub fn justification_revoked(
    project: &Project,
    item: &Justification,
    after: v1::Justification,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::JustificationRevoked,
        project,
        item.name(),
        Some(v1::event::Detail::JustificationAfter(after)),
        Vec::new(),
    )
}

/// JUSTIFICATION_EXPIRED: its last day has passed.
pub fn justification_expired(
    project: &Project,
    item: &Justification,
    message: v1::Justification,
) -> EventDraft {
    EventDraft::about(
        v1::EventKind::JustificationExpired,
        project,
        item.name(),
        Some(v1::event::Detail::InvestmentAlert(v1::InvestmentAlert {
            justification: Some(message),
            ..Default::default()
        })),
        Vec::new(),
    )
}
