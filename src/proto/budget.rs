//! What any one message may take on the wire. The server's message limit
//! (`serve --max-message-bytes`) is at least 64 KiB; a resource, an event or a single-resource
//! response is held to `MAX_RESOURCE_BYTES` below that by construction (text limits, bounded
//! repeated fields, reports cut to documented sizes), and lists cut their pages by encoded size,
//! so whatever the service accepts it can also send back. The tests named `worst_case_*` build
//! every message at its bounds and check it against these figures.

use prost::Message;

/// The smallest message limit a server may be configured with.
pub const MIN_MESSAGE_LIMIT: usize = 64 * 1024;

/// The most one resource, one event, the events of one transaction, or one single-resource
/// response may take when encoded: the smallest limit less `LIST_MARGIN`, so that one item
/// always fits in a list page, whatever the limit.
pub const MAX_RESOURCE_BYTES: usize = MIN_MESSAGE_LIMIT - LIST_MARGIN;

/// What a list response keeps for everything but its items: the next page token (at most
/// about 1.2 KiB), totals and headers of reports.
pub const LIST_MARGIN: usize = 4 * 1024;

/// The bytes `message` adds to a repeated field of its parent: its tag (counted as two bytes,
/// enough for any field number below 2048), its length and its body.
pub fn entry_len(message: &impl Message) -> usize {
    let body = message.encoded_len();
    2 + prost::length_delimiter_len(body) + body
}

/// How many of `items`, from the first, fit in `budget` bytes as entries of a repeated field.
pub fn fitting<M: Message>(items: &[M], budget: usize) -> usize {
    let mut used = 0;
    items
        .iter()
        .take_while(|item| {
            used += entry_len(*item);
            used <= budget
        })
        .count()
}

/// Every message at its bounds: free text at its limit in 4-byte characters, ids at 63
/// characters, repeated fields at their bounds, numbers at their widest. The literals name
/// every field on purpose (no `..Default::default()`), so a field added to the proto does not
/// compile here until its bound is written down.
#[cfg(test)]
pub(crate) mod worst {
    use prost_types::Timestamp;

    use crate::domain::funding::MAX_DISBURSEMENTS;
    use crate::domain::values::*;
    use crate::proto::v1;

    /// `chars` characters of four bytes each.
    pub fn text(chars: usize) -> String {
        "\u{20000}".repeat(chars)
    }

    pub fn id() -> String {
        "a".repeat(63)
    }

    pub fn uid() -> String {
        uuid::Uuid::nil().to_string()
    }

    pub fn project_name() -> String {
        format!("projects/{}", id())
    }

    pub fn application_name() -> String {
        format!("{}/fundingApplications/{}", project_name(), id())
    }

    pub fn window_name() -> String {
        format!("fundingWindows/{}", id())
    }

    pub fn time() -> Option<Timestamp> {
        Some(Timestamp {
            seconds: i64::MAX,
            nanos: 999_999_999,
        })
    }

    pub fn date() -> Option<v1::Date> {
        Some(v1::Date {
            year: MAX_YEAR,
            month: 12,
            day: 31,
        })
    }

    pub fn etag() -> String {
        crate::domain::names::etag(i64::MAX)
    }

    /// The longest cursor a client may send back.
    pub fn cursor() -> String {
        "A".repeat(200)
    }

    pub fn actor() -> String {
        text(ACTOR_CHARS)
    }

    pub fn project() -> v1::Project {
        v1::Project {
            name: project_name(),
            uid: uid(),
            display_name: text(TITLE_CHARS),
            description: text(DESCRIPTION_CHARS),
            project_code: "9".repeat(PROJECT_CODE_CHARS),
            category: v1::ProjectCategory::Other as i32,
            investment_type: v1::InvestmentType::Enterprise as i32,
            township: text(UNIT_CHARS),
            department: text(UNIT_CHARS),
            owner: text(TITLE_CHARS),
            leader: text(UNIT_CHARS),
            total_investment_yuan: MAX_YUAN,
            annual_planned_investment_yuan: MAX_YUAN,
            completed_investment_yuan: MAX_YUAN,
            stage: v1::ProjectStage::Cancelled as i32,
            suspended_from_stage: v1::ProjectStage::Cancelled as i32,
            stage_change_time: time(),
            create_time: time(),
            update_time: time(),
            etag: etag(),
            reported_investment_yuan: MAX_YUAN,
            statistics_enrolment_date: date(),
        }
    }

    pub fn prerequisite() -> v1::Prerequisite {
        v1::Prerequisite {
            name: format!("{}/prerequisites/{}", project_name(), id()),
            uid: uid(),
            kind: v1::PrerequisiteKind::Other as i32,
            title: text(TITLE_CHARS),
            state: v1::PrerequisiteState::Waived as i32,
            due_date: date(),
            note: text(NOTE_CHARS),
            create_time: time(),
            update_time: time(),
            etag: etag(),
        }
    }

    pub fn milestone() -> v1::Milestone {
        v1::Milestone {
            name: format!("{}/milestones/{}", project_name(), id()),
            uid: uid(),
            kind: v1::MilestoneKind::Custom as i32,
            title: text(TITLE_CHARS),
            description: text(NOTE_CHARS),
            baseline_date: date(),
            forecast_date: date(),
            actual_date: date(),
            status_date: date(),
            projected_date: date(),
            variance_days: i32::MIN,
            status: v1::MilestoneStatus::OnTrack as i32,
            light: v1::AlertLight::Red as i32,
            slip_count: i32::MAX,
            days_slipped: i32::MAX,
            create_time: time(),
            update_time: time(),
            etag: etag(),
            exempt: true,
            justification: format!("{}/justifications/{}", project_name(), id()),
            light_rule_set: format!("lightRuleSets/{}@{}", id(), i32::MAX),
            // The longest reason: the at-risk text naming the longest problem name, with the
            // widest numbers and label (about 330 characters).
            light_reason: text(400),
            open_problem: format!("{}/problems/{}", project_name(), id()),
        }
    }

    pub fn revision() -> v1::MilestoneRevision {
        v1::MilestoneRevision {
            field: v1::RevisionField::Actual as i32,
            old_date: date(),
            new_date: date(),
            delta_days: i32::MIN,
            reason: text(REASON_CHARS),
            actor: actor(),
            create_time: time(),
            recorded_date: date(),
        }
    }

    pub fn window() -> v1::FundingWindow {
        v1::FundingWindow {
            name: window_name(),
            uid: uid(),
            channel: v1::FundingChannel::Other as i32,
            title: text(TITLE_CHARS),
            description: text(DESCRIPTION_CHARS),
            open_date: date(),
            close_date: date(),
            target_count: i32::MAX,
            target_amount_yuan: MAX_YUAN,
            eligibility: Some(v1::FundingEligibility {
                stages: vec![v1::ProjectStage::Cancelled as i32; 8],
                categories: vec![v1::ProjectCategory::Other as i32; 9],
                investment_type: v1::InvestmentType::Enterprise as i32,
                min_total_investment_yuan: MAX_YUAN,
                required_prerequisites: vec![v1::PrerequisiteKind::Other as i32; 7],
            }),
            create_time: time(),
            update_time: time(),
            etag: etag(),
        }
    }

    pub fn disbursement() -> v1::FundingDisbursement {
        v1::FundingDisbursement {
            amount_yuan: MAX_YUAN,
            disbursement_date: date(),
            note: text(DISBURSEMENT_NOTE_CHARS),
            actor: actor(),
            create_time: time(),
        }
    }

    /// An application with every disbursement it may keep.
    pub fn application() -> v1::FundingApplication {
        v1::FundingApplication {
            name: application_name(),
            uid: uid(),
            funding_window: window_name(),
            channel: v1::FundingChannel::Other as i32,
            requested_amount_yuan: MAX_YUAN,
            approved_amount_yuan: MAX_YUAN,
            disbursed_amount_yuan: MAX_YUAN,
            state: v1::FundingApplicationState::Withdrawn as i32,
            description: text(DESCRIPTION_CHARS),
            state_reason: text(NOTE_CHARS),
            state_actor: actor(),
            state_change_time: time(),
            disbursements: vec![disbursement(); MAX_DISBURSEMENTS],
            create_time: time(),
            update_time: time(),
            etag: etag(),
        }
    }

    pub fn subscription() -> v1::Subscription {
        use crate::events::filter::{MAX_FILTER_PROJECTS, MAX_FILTER_UNITS, event_kinds};
        v1::Subscription {
            name: format!("subscriptions/{}", id()),
            uid: uid(),
            display_name: text(TITLE_CHARS),
            filter: Some(v1::EventFilter {
                projects: vec![project_name(); MAX_FILTER_PROJECTS],
                townships: vec![text(UNIT_CHARS); MAX_FILTER_UNITS],
                departments: vec![text(UNIT_CHARS); MAX_FILTER_UNITS],
                leader: text(UNIT_CHARS),
                kinds: vec![v1::EventKind::BulletinPublished as i32; event_kinds()],
                min_light: v1::AlertLight::Red as i32,
                min_slip_days: i32::MAX,
            }),
            acknowledged_cursor: cursor(),
            create_time: time(),
            update_time: time(),
            etag: etag(),
        }
    }

    /// An event with `detail`, naming every field of a project as changed.
    pub fn event(detail: Option<v1::event::Detail>) -> v1::Event {
        v1::Event {
            sequence: i64::MAX,
            kind: v1::EventKind::BulletinPublished as i32,
            create_time: time(),
            actor: actor(),
            project: project_name(),
            resource: application_name(),
            changed_fields: crate::domain::project::MUTABLE_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect(),
            transaction_end_sequence: i64::MAX,
            detail,
        }
    }

    pub fn stage_change() -> v1::StageChange {
        v1::StageChange {
            from_stage: v1::ProjectStage::Cancelled as i32,
            to_stage: v1::ProjectStage::Cancelled as i32,
            reason: text(REASON_CHARS),
            effective_date: date(),
        }
    }

    pub fn milestone_change() -> v1::MilestoneChange {
        v1::MilestoneChange {
            milestone_after: Some(milestone()),
            old_date: date(),
            new_date: date(),
            delta_days: i32::MIN,
            variance_days: i32::MIN,
            light: v1::AlertLight::Red as i32,
            status: v1::MilestoneStatus::OnTrack as i32,
            reason: text(REASON_CHARS),
        }
    }

    pub fn application_change() -> v1::FundingApplicationChange {
        v1::FundingApplicationChange {
            // Events carry the application without its disbursements.
            funding_application_after: Some(v1::FundingApplication {
                disbursements: Vec::new(),
                ..application()
            }),
            from_state: v1::FundingApplicationState::Withdrawn as i32,
            to_state: v1::FundingApplicationState::Withdrawn as i32,
            reason: text(NOTE_CHARS),
            disbursement: Some(disbursement()),
        }
    }

    pub fn window_alert() -> v1::FundingWindowAlert {
        v1::FundingWindowAlert {
            funding_window: window_name(),
            title: text(TITLE_CHARS),
            channel: v1::FundingChannel::Other as i32,
            status_date: date(),
            days_to_close: i32::MIN,
            draft_count: i32::MAX,
            undeclared_count: i32::MAX,
            undeclared_projects: vec![project_name(); crate::domain::funding::ALERT_PROJECTS],
        }
    }

    pub fn investment_plan() -> v1::InvestmentPlan {
        v1::InvestmentPlan {
            name: format!("{}/investmentPlans/2200", project_name()),
            uid: uid(),
            year: 2200,
            total_yuan: MAX_YUAN,
            monthly_yuan: vec![MAX_YUAN; 12],
            create_time: time(),
            update_time: time(),
            etag: etag(),
        }
    }

    pub fn report_revision() -> v1::InvestmentReportRevision {
        v1::InvestmentReportRevision {
            number: crate::domain::investment::MAX_REPORT_CORRECTIONS as i32,
            old_amount_yuan: MAX_YUAN,
            new_amount_yuan: MAX_YUAN,
            old_physical_progress: text(TITLE_CHARS),
            new_physical_progress: text(TITLE_CHARS),
            reason: text(REASON_CHARS),
            actor: actor(),
            create_time: time(),
        }
    }

    pub fn investment_report() -> v1::InvestmentReport {
        v1::InvestmentReport {
            name: format!("{}/investmentReports/2200-12", project_name()),
            uid: uid(),
            month: "2200-12".into(),
            amount_yuan: MAX_YUAN,
            physical_progress: text(TITLE_CHARS),
            reporter: actor(),
            report_time: time(),
            report_date: date(),
            timeliness: v1::ReportTimeliness::Missing as i32,
            revisions: vec![report_revision(); crate::domain::investment::MAX_REPORT_CORRECTIONS],
            update_time: time(),
            etag: etag(),
        }
    }

    pub fn light_rule_set() -> v1::LightRuleSet {
        v1::LightRuleSet {
            name: format!("lightRuleSets/{}@{}", id(), i32::MAX),
            uid: uid(),
            revision: i32::MAX,
            display_name: text(TITLE_CHARS),
            description: text(NOTE_CHARS),
            milestone_tolerance_days: i32::MAX,
            warning_horizon_days: i32::MAX,
            pace_measure: v1::PaceMeasure::Ratio as i32,
            pace_yellow_percent: i32::MAX,
            pace_red_percent: i32::MAX,
            escalate_after_months: i32::MAX,
            recovery_policy: v1::RecoveryPolicy::ThroughYellow as i32,
            enrolment_yellow_after_months: i32::MAX,
            enrolment_red_after_months: i32::MAX,
            report_due_day: i32::MAX,
            problem_escalation_days: vec![i32::MAX; 3],
            active: true,
            publisher: actor(),
            create_time: time(),
        }
    }

    pub fn justification() -> v1::Justification {
        v1::Justification {
            name: format!("{}/justifications/{}", project_name(), id()),
            uid: uid(),
            scope: v1::JustificationScope::Milestone as i32,
            milestone: format!("{}/milestones/{}", project_name(), id()),
            reason: v1::JustificationReason::HigherApproval as i32,
            evidence_note: text(NOTE_CHARS),
            valid_from: date(),
            valid_to: date(),
            approver: actor(),
            state: v1::JustificationState::Revoked as i32,
            revoke_reason: text(REASON_CHARS),
            revoke_time: time(),
            create_time: time(),
            etag: etag(),
        }
    }

    pub fn problem() -> v1::Problem {
        v1::Problem {
            name: format!("{}/problems/{}", project_name(), id()),
            uid: uid(),
            category: v1::ProblemCategory::EnterpriseRequest as i32,
            description: text(DESCRIPTION_CHARS),
            raised_by: actor(),
            raise_date: date(),
            responsible_unit: text(UNIT_CHARS),
            responsible_leader: text(UNIT_CHARS),
            deadline: date(),
            blocked_milestone: format!("{}/milestones/{}", project_name(), id()),
            state: v1::ProblemState::InProgress as i32,
            resolution_note: text(NOTE_CHARS),
            extension_count: i32::MAX,
            resolve_time: time(),
            resolve_date: date(),
            close_time: time(),
            create_time: time(),
            update_time: time(),
            etag: etag(),
        }
    }

    pub fn problem_revision() -> v1::ProblemRevision {
        v1::ProblemRevision {
            number: i32::MAX,
            action: v1::ProblemAction::DeadlineExtended as i32,
            actor: actor(),
            create_time: time(),
            from_state: v1::ProblemState::InProgress as i32,
            to_state: v1::ProblemState::InProgress as i32,
            changed_fields: [
                "category",
                "description",
                "responsible_unit",
                "responsible_leader",
                "blocked_milestone",
            ]
            .map(String::from)
            .to_vec(),
            // The longest of a reason and a resolution note.
            reason: text(NOTE_CHARS),
            old_deadline: date(),
            new_deadline: date(),
        }
    }

    pub fn investment_pace() -> v1::InvestmentPace {
        v1::InvestmentPace {
            project: project_name(),
            display_name: text(TITLE_CHARS),
            township: text(UNIT_CHARS),
            department: text(UNIT_CHARS),
            month: "2200-12".into(),
            plan_yuan: MAX_YUAN,
            pace_yuan: MAX_YUAN,
            completed_yuan: i64::MAX,
            completed_percent: f64::MAX,
            pace_percent: f64::MAX,
            points_behind: f64::MIN,
            light: v1::AlertLight::Yellow as i32,
            raw_light: v1::AlertLight::Yellow as i32,
            rule: v1::PaceRule::RecoveryThroughYellow as i32,
            // The longest reason: the recovery text, numbers at their widest, a revision
            // label with a 63-character id, and the exemption.
            reason: text(400),
            light_rule_set: format!("lightRuleSets/{}@{}", id(), i32::MAX),
            report_timeliness: v1::ReportTimeliness::Missing as i32,
            exempt: true,
            justification: format!("{}/justifications/{}", project_name(), id()),
            enrolment: Some(enrolment()),
        }
    }

    pub fn enrolment() -> v1::StatisticsEnrolment {
        v1::StatisticsEnrolment {
            construction_start_date: date(),
            statistics_enrolment_date: date(),
            months: i32::MAX,
            light: v1::AlertLight::Yellow as i32,
            // The reason is under 200 characters with the widest numbers and a 63-character id.
            reason: text(200),
            light_rule_set: format!("lightRuleSets/{}@{}", id(), i32::MAX),
        }
    }

    pub fn investment_alert() -> v1::InvestmentAlert {
        v1::InvestmentAlert {
            month: "2200-12".into(),
            due_date: date(),
            light: v1::AlertLight::Yellow as i32,
            previous_light: v1::AlertLight::Yellow as i32,
            pace: Some(investment_pace()),
            justification: Some(justification()),
            enrolment: Some(enrolment()),
        }
    }

    /// Every kind of event detail, and none.
    pub fn events() -> Vec<v1::Event> {
        use v1::event::Detail;
        vec![
            event(None),
            event(Some(Detail::ProjectAfter(project()))),
            event(Some(Detail::StageChange(stage_change()))),
            event(Some(Detail::PrerequisiteAfter(prerequisite()))),
            event(Some(Detail::MilestoneChange(milestone_change()))),
            event(Some(Detail::FundingWindowAfter(window()))),
            event(Some(Detail::FundingApplicationChange(application_change()))),
            event(Some(Detail::FundingWindowAlert(window_alert()))),
            event(Some(Detail::InvestmentPlanAfter(investment_plan()))),
            event(Some(Detail::InvestmentReportAfter(investment_report()))),
            event(Some(Detail::LightRuleSetAfter(light_rule_set()))),
            event(Some(Detail::InvestmentAlert(investment_alert()))),
            event(Some(Detail::JustificationAfter(justification()))),
            event(Some(Detail::ProblemAfter(problem()))),
            event(Some(Detail::ProblemAlert(v1::ProblemAlert {
                problem: Some(problem()),
                status_date: date(),
                days_overdue: i32::MAX,
                level: 2,
                escalated_to: v1::EscalationTarget::CountyLeader as i32,
                threshold_days: 366,
            }))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1;

    fn fits(name: &str, message: &impl Message) {
        let len = message.encoded_len();
        assert!(
            len <= MAX_RESOURCE_BYTES,
            "{name} takes {len} bytes at its bounds, over the {MAX_RESOURCE_BYTES} of a resource"
        );
    }

    #[test]
    fn worst_case_resources_fit() {
        fits("Project", &worst::project());
        fits("Prerequisite", &worst::prerequisite());
        fits("Milestone", &worst::milestone());
        fits("MilestoneRevision", &worst::revision());
        fits("FundingWindow", &worst::window());
        fits("FundingApplication", &worst::application());
        fits("Subscription", &worst::subscription());
        fits("InvestmentPlan", &worst::investment_plan());
        fits("InvestmentReport", &worst::investment_report());
        fits("LightRuleSet", &worst::light_rule_set());
        fits("Justification", &worst::justification());
        fits("InvestmentPace", &worst::investment_pace());
        fits("Problem", &worst::problem());
        fits("ProblemRevision", &worst::problem_revision());
    }

    #[test]
    fn worst_case_events_fit_alone_and_by_transaction() {
        for event in worst::events() {
            fits("Event", &event);
            assert!(entry_len(&event) <= MAX_RESOURCE_BYTES);
        }
        // The largest transaction outside the scanner: achieving a milestone also moves its
        // project's stage.
        use v1::event::Detail;
        let achieved = [
            worst::event(Some(Detail::MilestoneChange(worst::milestone_change()))),
            worst::event(Some(Detail::StageChange(worst::stage_change()))),
        ];
        let batch: usize = achieved.iter().map(entry_len).sum();
        assert!(batch <= MAX_RESOURCE_BYTES, "{batch}");
        // A report's correction also moves its project's completed investment.
        let corrected = [
            worst::event(Some(Detail::InvestmentReportAfter(
                worst::investment_report(),
            ))),
            worst::event(Some(Detail::ProjectAfter(worst::project()))),
        ];
        let batch: usize = corrected.iter().map(entry_len).sum();
        assert!(
            batch <= MAX_RESOURCE_BYTES,
            "a correction's events take {batch}"
        );
        // And the stream's message around them stays below the smallest limit.
        let message = v1::WatchEventsResponse {
            response: Some(v1::watch_events_response::Response::Batch(v1::EventBatch {
                events: achieved.to_vec(),
                cursor: worst::cursor(),
                encoded_events: Vec::new(),
            })),
        };
        assert!(message.encoded_len() <= MIN_MESSAGE_LIMIT);
    }

    #[test]
    fn entries_are_counted_with_their_framing() {
        let tally = v1::ProjectTally {
            key: "城关镇".into(),
            ..Default::default()
        };
        let parent = v1::PipelineSummary {
            by_township: vec![tally.clone(); 3],
            ..Default::default()
        };
        assert!(3 * entry_len(&tally) >= parent.encoded_len());
        let items = vec![tally.clone(); 10];
        assert_eq!(fitting(&items, 3 * entry_len(&tally)), 3);
        assert_eq!(fitting(&items, 3 * entry_len(&tally) - 1), 2);
        assert_eq!(fitting(&items, usize::MAX / 2), 10);
    }
}
