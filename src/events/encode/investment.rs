//! The events of the monthly investment cycle: plans set, reports submitted and corrected,
//! light rule set revisions published and activated.

use crate::domain::investment::{InvestmentReport, PlanRecord, RuleSetRevision};
use crate::domain::project::Project;
use crate::events::outbox::EventDraft;
use crate::proto::v1;

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
