//! The monthly investment cycle's records as `pipeline.v1` messages.

use chrono::NaiveDate;

use super::{date, timestamp, v1};
use crate::domain::enrolment::{self, Enrolment};
use crate::domain::investment::{InvestmentReport, PlanRecord, ReportRevision, RuleSetRevision};
use crate::domain::justification::{
    Justification, JustificationReason, JustificationScope, JustificationState,
};
use crate::domain::pace::{
    MonthPace, PaceMeasure, PaceRule, Recovery, ReportStatus, report_status,
};
use crate::store::investment::PaceSubject;

impl From<&PlanRecord> for v1::InvestmentPlan {
    fn from(record: &PlanRecord) -> Self {
        v1::InvestmentPlan {
            name: record.name(),
            uid: record.uid.clone(),
            year: record.plan.year,
            total_yuan: record.plan.total_yuan,
            monthly_yuan: record.plan.monthly_yuan.map(Vec::from).unwrap_or_default(),
            create_time: Some(timestamp(record.created_at_us)),
            update_time: Some(timestamp(record.updated_at_us)),
            etag: record.etag(),
        }
    }
}

impl From<ReportStatus> for v1::ReportTimeliness {
    fn from(status: ReportStatus) -> Self {
        match status {
            ReportStatus::NotDue => Self::NotDue,
            ReportStatus::OnTime => Self::OnTime,
            ReportStatus::Late => Self::Late,
            ReportStatus::Missing => Self::Missing,
        }
    }
}

fn revision(r: &ReportRevision) -> v1::InvestmentReportRevision {
    v1::InvestmentReportRevision {
        number: r.number,
        old_amount_yuan: r.old_amount_yuan,
        new_amount_yuan: r.new_amount_yuan,
        old_physical_progress: r.old_physical_progress.clone(),
        new_physical_progress: r.new_physical_progress.clone(),
        reason: r.reason.clone(),
        actor: r.actor.clone(),
        create_time: Some(timestamp(r.created_at_us)),
    }
}

/// A report as the API shows it: its timeliness is judged by `due_day` (the active rule set's
/// `report_due_day`); a submitted report is ON_TIME or LATE whatever `today` is.
pub fn report(report: &InvestmentReport, due_day: i32) -> v1::InvestmentReport {
    let timeliness = report_status(
        report.month,
        Some(report.report_date),
        due_day.clamp(1, 28) as u32,
        report.report_date,
    );
    v1::InvestmentReport {
        name: report.name(),
        uid: report.uid.clone(),
        month: report.month.to_string(),
        amount_yuan: report.amount_yuan,
        physical_progress: report.physical_progress.clone(),
        reporter: report.reporter.clone(),
        report_time: Some(timestamp(report.created_at_us)),
        report_date: Some(date(report.report_date)),
        timeliness: v1::ReportTimeliness::from(timeliness) as i32,
        revisions: report.revisions.iter().map(revision).collect(),
        update_time: Some(timestamp(report.updated_at_us)),
        etag: report.etag(),
    }
}

impl From<PaceMeasure> for v1::PaceMeasure {
    fn from(m: PaceMeasure) -> Self {
        match m {
            PaceMeasure::Points => Self::Points,
            PaceMeasure::Ratio => Self::Ratio,
        }
    }
}

impl From<Recovery> for v1::RecoveryPolicy {
    fn from(r: Recovery) -> Self {
        match r {
            Recovery::Immediate => Self::Immediate,
            Recovery::ThroughYellow => Self::ThroughYellow,
        }
    }
}

impl From<PaceRule> for v1::PaceRule {
    fn from(r: PaceRule) -> Self {
        match r {
            PaceRule::NothingDue => Self::NothingDue,
            PaceRule::PacePoints => Self::PacePoints,
            PaceRule::PaceRatio => Self::PaceRatio,
            PaceRule::Escalation => Self::Escalation,
            PaceRule::RecoveryThroughYellow => Self::RecoveryThroughYellow,
        }
    }
}

impl From<&RuleSetRevision> for v1::LightRuleSet {
    fn from(r: &RuleSetRevision) -> Self {
        let rules = &r.rules;
        v1::LightRuleSet {
            name: r.name(),
            uid: r.uid.clone(),
            revision: r.revision,
            display_name: r.display_name.clone(),
            description: r.description.clone(),
            milestone_tolerance_days: rules.milestone_tolerance_days,
            warning_horizon_days: rules.warning_horizon_days,
            pace_measure: v1::PaceMeasure::from(rules.pace_measure) as i32,
            pace_yellow_percent: rules.pace_yellow_percent,
            pace_red_percent: rules.pace_red_percent,
            escalate_after_months: rules.escalate_after_months,
            recovery_policy: v1::RecoveryPolicy::from(rules.recovery) as i32,
            enrolment_yellow_after_months: rules.enrolment_yellow_after_months,
            enrolment_red_after_months: rules.enrolment_red_after_months,
            report_due_day: rules.report_due_day,
            active: r.active,
            publisher: r.publisher.clone(),
            create_time: Some(timestamp(r.created_at_us)),
            problem_escalation_days: rules.problem_escalation.days().to_vec(),
        }
    }
}

/// One project's pace entry: its month's light under `rule_set`, whether that month's report
/// came in by the due day as of `today`, and the justification that exempts it.
pub fn pace(
    subject: &PaceSubject,
    month: &MonthPace,
    justification: Option<&str>,
    rule_set: &RuleSetRevision,
    today: NaiveDate,
) -> v1::InvestmentPace {
    let m = month.month.month() as usize;
    let submitted = subject.reports[m - 1].map(|(_, on)| on);
    let timeliness = report_status(
        month.month,
        submitted,
        rule_set.rules.report_due_day.clamp(1, 28) as u32,
        today,
    );
    v1::InvestmentPace {
        project: crate::domain::names::project_name(&subject.project_id),
        display_name: subject.display_name.clone(),
        township: subject.township.clone(),
        department: subject.department.clone(),
        month: month.month.to_string(),
        plan_yuan: month.plan_yuan,
        pace_yuan: month.pace_yuan,
        completed_yuan: month.completed_yuan,
        completed_percent: month.completed_percent,
        pace_percent: month.pace_percent,
        points_behind: month.points_behind,
        light: v1::AlertLight::from(month.light) as i32,
        raw_light: v1::AlertLight::from(month.raw_light) as i32,
        rule: v1::PaceRule::from(month.rule) as i32,
        reason: month.reason.clone(),
        light_rule_set: rule_set.name(),
        report_timeliness: v1::ReportTimeliness::from(timeliness) as i32,
        exempt: month.exempt,
        justification: justification.unwrap_or_default().to_string(),
        enrolment: subject.construction_start.and_then(|start| {
            let as_of = month.month.last_day().min(today);
            (start <= as_of).then(|| {
                let judged = enrolment::assess(
                    start,
                    subject.statistics_enrolment_date,
                    as_of,
                    &rule_set.rules,
                    &rule_set.label(),
                );
                statistics_enrolment(&judged, rule_set)
            })
        }),
    }
}

/// The API form of an enrolment judged under `rule_set`.
pub fn statistics_enrolment(
    judged: &Enrolment,
    rule_set: &RuleSetRevision,
) -> v1::StatisticsEnrolment {
    v1::StatisticsEnrolment {
        construction_start_date: Some(date(judged.construction_start)),
        statistics_enrolment_date: judged.enrolled_on.map(date),
        months: judged.months,
        light: v1::AlertLight::from(judged.light) as i32,
        reason: judged.reason.clone(),
        light_rule_set: rule_set.name(),
    }
}

impl From<JustificationScope> for v1::JustificationScope {
    fn from(s: JustificationScope) -> Self {
        match s {
            JustificationScope::InvestmentPace => Self::InvestmentPace,
            JustificationScope::Milestone => Self::Milestone,
            JustificationScope::Project => Self::Project,
        }
    }
}

impl From<JustificationReason> for v1::JustificationReason {
    fn from(r: JustificationReason) -> Self {
        match r {
            JustificationReason::ForceMajeure => Self::ForceMajeure,
            JustificationReason::Judicial => Self::Judicial,
            JustificationReason::PolicyChange => Self::PolicyChange,
            JustificationReason::HigherApproval => Self::HigherApproval,
            JustificationReason::Other => Self::Other,
        }
    }
}

impl From<JustificationState> for v1::JustificationState {
    fn from(s: JustificationState) -> Self {
        match s {
            JustificationState::Scheduled => Self::Scheduled,
            JustificationState::Active => Self::Active,
            JustificationState::Expired => Self::Expired,
            JustificationState::Revoked => Self::Revoked,
        }
    }
}

/// A justification as the API shows it, its state as of `today`.
pub fn justification(j: &Justification, today: NaiveDate) -> v1::Justification {
    let f = &j.fields;
    v1::Justification {
        name: j.name(),
        uid: j.uid.clone(),
        scope: v1::JustificationScope::from(f.scope) as i32,
        milestone: f
            .milestone_id
            .as_deref()
            .map(|m| crate::domain::names::milestone_name(&j.project_id, m))
            .unwrap_or_default(),
        reason: v1::JustificationReason::from(f.reason) as i32,
        evidence_note: f.evidence_note.clone(),
        valid_from: Some(date(f.valid_from)),
        valid_to: Some(date(f.valid_to)),
        approver: j.approver.clone(),
        state: v1::JustificationState::from(j.state(today)) as i32,
        revoke_reason: j.revoke_reason.clone(),
        revoke_time: j.revoked_at_us.map(timestamp),
        create_time: Some(timestamp(j.created_at_us)),
        etag: j.etag(),
    }
}
