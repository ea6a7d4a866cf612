//! The generated protobuf and gRPC code of `pipeline.v1`, and the conversions from domain
//! types to messages (the reverse direction, which validates, lives in `api`).

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

pub mod budget;
pub mod investment;
pub mod problems;
pub mod reports;

pub mod v1 {
    tonic::include_proto!("pipeline.v1");
    /// Written by hand (`transport::wire`) so that streams send events already encoded.
    pub type EventBatch = crate::transport::wire::EventBatch<Event>;
}

/// The encoded FileDescriptorSet of every proto file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/pipeline_descriptor.bin"));

use crate::domain::prerequisite::{Prerequisite, PrerequisiteKind, PrerequisiteState};
use crate::domain::project::{Category, InvestmentType, Project, Stage};
use crate::domain::values;

pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

pub fn date(date: chrono::NaiveDate) -> v1::Date {
    let (year, month, day) = values::date_parts(date);
    v1::Date { year, month, day }
}

impl From<Stage> for v1::ProjectStage {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Concept => Self::Concept,
            Stage::Reserve => Self::Reserve,
            Stage::Preparation => Self::Preparation,
            Stage::Construction => Self::Construction,
            Stage::TrialProduction => Self::TrialProduction,
            Stage::Operation => Self::Operation,
            Stage::Suspended => Self::Suspended,
            Stage::Cancelled => Self::Cancelled,
        }
    }
}

impl From<Category> for v1::ProjectCategory {
    fn from(category: Category) -> Self {
        match category {
            Category::Transport => Self::Transport,
            Category::Water => Self::Water,
            Category::Energy => Self::Energy,
            Category::Industry => Self::Industry,
            Category::Urban => Self::Urban,
            Category::Agriculture => Self::Agriculture,
            Category::Social => Self::Social,
            Category::Ecology => Self::Ecology,
            Category::Other => Self::Other,
        }
    }
}

impl From<InvestmentType> for v1::InvestmentType {
    fn from(value: InvestmentType) -> Self {
        match value {
            InvestmentType::Government => Self::Government,
            InvestmentType::Enterprise => Self::Enterprise,
        }
    }
}

impl From<PrerequisiteKind> for v1::PrerequisiteKind {
    fn from(kind: PrerequisiteKind) -> Self {
        match kind {
            PrerequisiteKind::Land => Self::Land,
            PrerequisiteKind::PlanningPermit => Self::PlanningPermit,
            PrerequisiteKind::EnvironmentalAssessment => Self::EnvironmentalAssessment,
            PrerequisiteKind::EnergyAssessment => Self::EnergyAssessment,
            PrerequisiteKind::ConstructionPermit => Self::ConstructionPermit,
            PrerequisiteKind::FundingClosed => Self::FundingClosed,
            PrerequisiteKind::Other => Self::Other,
        }
    }
}

impl From<PrerequisiteState> for v1::PrerequisiteState {
    fn from(state: PrerequisiteState) -> Self {
        match state {
            PrerequisiteState::NotStarted => Self::NotStarted,
            PrerequisiteState::InProgress => Self::InProgress,
            PrerequisiteState::Done => Self::Done,
            PrerequisiteState::Waived => Self::Waived,
        }
    }
}

impl From<&Project> for v1::Project {
    fn from(project: &Project) -> Self {
        let f = &project.fields;
        v1::Project {
            name: project.name(),
            uid: project.uid.clone(),
            display_name: f.display_name.clone(),
            description: f.description.clone(),
            project_code: f.project_code.clone().unwrap_or_default(),
            category: v1::ProjectCategory::from(f.category) as i32,
            investment_type: v1::InvestmentType::from(f.investment_type) as i32,
            township: f.township.clone(),
            department: f.department.clone(),
            owner: f.owner.clone(),
            leader: f.leader.clone(),
            total_investment_yuan: f.total_investment_yuan,
            annual_planned_investment_yuan: f.annual_planned_investment_yuan,
            completed_investment_yuan: f.completed_investment_yuan,
            stage: v1::ProjectStage::from(project.stage) as i32,
            suspended_from_stage: project
                .suspended_from_stage
                .map(|s| v1::ProjectStage::from(s) as i32)
                .unwrap_or_default(),
            stage_change_time: Some(timestamp(project.stage_changed_at_us)),
            create_time: Some(timestamp(project.created_at_us)),
            update_time: Some(timestamp(project.updated_at_us)),
            etag: project.etag(),
            reported_investment_yuan: project.reported_investment_yuan,
            statistics_enrolment_date: f.statistics_enrolment_date.map(date),
        }
    }
}

impl From<&Prerequisite> for v1::Prerequisite {
    fn from(p: &Prerequisite) -> Self {
        v1::Prerequisite {
            name: p.name(),
            uid: p.uid.clone(),
            kind: v1::PrerequisiteKind::from(p.fields.kind) as i32,
            title: p.fields.title.clone(),
            state: v1::PrerequisiteState::from(p.fields.state) as i32,
            due_date: p.fields.due_date.map(date),
            note: p.fields.note.clone(),
            create_time: Some(timestamp(p.created_at_us)),
            update_time: Some(timestamp(p.updated_at_us)),
            etag: p.etag(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_before_and_after_epoch() {
        let t = timestamp(1_500_000);
        assert_eq!((t.seconds, t.nanos), (1, 500_000_000));
        let t = timestamp(-1);
        assert_eq!((t.seconds, t.nanos), (-1, 999_999_000));
    }
}

mod milestones {
    use super::{date, timestamp, v1};
    use crate::domain::milestone::{
        AssessedMilestone, Light, MilestoneKind, MilestoneStatus, Revision, RevisionField,
    };

    impl From<MilestoneKind> for v1::MilestoneKind {
        fn from(kind: MilestoneKind) -> Self {
            match kind {
                MilestoneKind::ContractSigning => Self::ContractSigning,
                MilestoneKind::ConstructionStart => Self::ConstructionStart,
                MilestoneKind::TrialProduction => Self::TrialProduction,
                MilestoneKind::Completion => Self::Completion,
                MilestoneKind::Custom => Self::Custom,
            }
        }
    }

    impl From<MilestoneStatus> for v1::MilestoneStatus {
        fn from(status: MilestoneStatus) -> Self {
            match status {
                MilestoneStatus::Achieved => Self::Achieved,
                MilestoneStatus::Overdue => Self::Overdue,
                MilestoneStatus::Slipped => Self::Slipped,
                MilestoneStatus::AtRisk => Self::AtRisk,
                MilestoneStatus::OnTrack => Self::OnTrack,
            }
        }
    }

    impl From<Light> for v1::AlertLight {
        fn from(light: Light) -> Self {
            match light {
                Light::Green => Self::Green,
                Light::Yellow => Self::Yellow,
                Light::Red => Self::Red,
            }
        }
    }

    impl From<RevisionField> for v1::RevisionField {
        fn from(field: RevisionField) -> Self {
            match field {
                RevisionField::Baseline => Self::Baseline,
                RevisionField::Forecast => Self::Forecast,
                RevisionField::Actual => Self::Actual,
            }
        }
    }

    impl From<&AssessedMilestone> for v1::Milestone {
        fn from(assessed: &AssessedMilestone) -> Self {
            let m = &assessed.milestone;
            let a = &assessed.assessment;
            v1::Milestone {
                name: m.name(),
                uid: m.uid.clone(),
                kind: v1::MilestoneKind::from(m.kind) as i32,
                title: m.title.clone(),
                description: m.description.clone(),
                baseline_date: Some(date(m.dates.baseline)),
                forecast_date: Some(date(m.dates.forecast)),
                actual_date: m.dates.actual.map(date),
                status_date: Some(date(a.status_date)),
                projected_date: Some(date(a.projected)),
                variance_days: a.variance_days,
                status: v1::MilestoneStatus::from(a.status) as i32,
                light: v1::AlertLight::from(a.light) as i32,
                slip_count: m.totals.slip_count,
                days_slipped: m.totals.days_slipped,
                create_time: Some(timestamp(m.created_at_us)),
                update_time: Some(timestamp(m.updated_at_us)),
                etag: m.etag(),
                // Set by the reads that look justifications up
                // (`service::investment::mark_exempt_milestones`).
                exempt: false,
                justification: String::new(),
                // Set by the API, which knows the rule set (`api::milestones::annotate`).
                light_rule_set: String::new(),
                light_reason: String::new(),
                open_problem: assessed.open_problem_name(),
            }
        }
    }

    impl From<&Revision> for v1::MilestoneRevision {
        fn from(r: &Revision) -> Self {
            v1::MilestoneRevision {
                field: v1::RevisionField::from(r.field) as i32,
                old_date: r.old_date.map(date),
                new_date: Some(date(r.new_date)),
                delta_days: r.delta_days(),
                reason: r.reason.clone(),
                actor: r.actor.clone(),
                create_time: Some(timestamp(r.created_at_us)),
                recorded_date: Some(date(r.recorded_on)),
            }
        }
    }
}

mod funding {
    use super::{date, timestamp, v1};
    use crate::domain::funding::{
        ApplicationState, Disbursement, FundingApplication, FundingChannel, FundingWindow,
        WindowState,
    };

    impl From<ApplicationState> for v1::FundingApplicationState {
        fn from(state: ApplicationState) -> Self {
            match state {
                ApplicationState::Draft => Self::Draft,
                ApplicationState::Submitted => Self::Submitted,
                ApplicationState::Approved => Self::Approved,
                ApplicationState::Rejected => Self::Rejected,
                ApplicationState::Withdrawn => Self::Withdrawn,
            }
        }
    }

    impl From<WindowState> for v1::FundingWindowState {
        fn from(state: WindowState) -> Self {
            match state {
                WindowState::Upcoming => Self::Upcoming,
                WindowState::Open => Self::Open,
                WindowState::Closed => Self::Closed,
            }
        }
    }

    impl From<&Disbursement> for v1::FundingDisbursement {
        fn from(d: &Disbursement) -> Self {
            v1::FundingDisbursement {
                amount_yuan: d.amount_yuan,
                disbursement_date: Some(date(d.date)),
                note: d.note.clone(),
                actor: d.actor.clone(),
                create_time: Some(timestamp(d.created_at_us)),
            }
        }
    }

    impl From<&FundingApplication> for v1::FundingApplication {
        fn from(a: &FundingApplication) -> Self {
            v1::FundingApplication {
                name: a.name(),
                uid: a.uid.clone(),
                funding_window: a.window_name(),
                channel: v1::FundingChannel::from(a.channel) as i32,
                requested_amount_yuan: a.requested_amount_yuan,
                approved_amount_yuan: a.approved_amount_yuan,
                disbursed_amount_yuan: a.disbursed_amount_yuan,
                state: v1::FundingApplicationState::from(a.state) as i32,
                description: a.description.clone(),
                state_reason: a.state_reason.clone(),
                state_actor: a.state_actor.clone(),
                state_change_time: Some(timestamp(a.state_changed_at_us)),
                disbursements: a
                    .disbursements
                    .iter()
                    .map(v1::FundingDisbursement::from)
                    .collect(),
                create_time: Some(timestamp(a.created_at_us)),
                update_time: Some(timestamp(a.updated_at_us)),
                etag: a.etag(),
            }
        }
    }

    impl From<FundingChannel> for v1::FundingChannel {
        fn from(channel: FundingChannel) -> Self {
            match channel {
                FundingChannel::SpecialBond => Self::SpecialBond,
                FundingChannel::PolicyFinance => Self::PolicyFinance,
                FundingChannel::CentralBudget => Self::CentralBudget,
                FundingChannel::LongTermLoan => Self::LongTermLoan,
                FundingChannel::Other => Self::Other,
            }
        }
    }

    impl From<&FundingWindow> for v1::FundingWindow {
        fn from(w: &FundingWindow) -> Self {
            let f = &w.fields;
            let e = &f.eligibility;
            v1::FundingWindow {
                name: w.name(),
                uid: w.uid.clone(),
                channel: v1::FundingChannel::from(f.channel) as i32,
                title: f.title.clone(),
                description: f.description.clone(),
                open_date: Some(date(f.open_date)),
                close_date: Some(date(f.close_date)),
                target_count: f.target_count,
                target_amount_yuan: f.target_amount_yuan,
                eligibility: Some(v1::FundingEligibility {
                    stages: e
                        .stages
                        .iter()
                        .map(|s| v1::ProjectStage::from(*s) as i32)
                        .collect(),
                    categories: e
                        .categories
                        .iter()
                        .map(|c| v1::ProjectCategory::from(*c) as i32)
                        .collect(),
                    investment_type: e
                        .investment_type
                        .map(|t| v1::InvestmentType::from(t) as i32)
                        .unwrap_or_default(),
                    min_total_investment_yuan: e.min_total_investment_yuan,
                    required_prerequisites: e
                        .required_prerequisites
                        .iter()
                        .map(|k| v1::PrerequisiteKind::from(*k) as i32)
                        .collect(),
                }),
                create_time: Some(timestamp(w.created_at_us)),
                update_time: Some(timestamp(w.updated_at_us)),
                etag: w.etag(),
            }
        }
    }
}

/// A milestone as the API answers it: with the rule set revision that decided its light and
/// the reason (`domain::milestone::light_reason`), read back from its own fields so that a
/// replayed response is annotated the same way.
pub fn annotated_milestone(
    mut m: v1::Milestone,
    policy: &crate::domain::milestone::Policy,
    rule_set: &str,
) -> v1::Milestone {
    let status = match v1::MilestoneStatus::try_from(m.status) {
        Ok(v1::MilestoneStatus::Achieved) => crate::domain::milestone::MilestoneStatus::Achieved,
        Ok(v1::MilestoneStatus::Overdue) => crate::domain::milestone::MilestoneStatus::Overdue,
        Ok(v1::MilestoneStatus::Slipped) => crate::domain::milestone::MilestoneStatus::Slipped,
        Ok(v1::MilestoneStatus::AtRisk) => crate::domain::milestone::MilestoneStatus::AtRisk,
        _ => crate::domain::milestone::MilestoneStatus::OnTrack,
    };
    let light = match v1::AlertLight::try_from(m.light) {
        Ok(v1::AlertLight::Red) => crate::domain::milestone::Light::Red,
        Ok(v1::AlertLight::Yellow) => crate::domain::milestone::Light::Yellow,
        _ => crate::domain::milestone::Light::Green,
    };
    let day = |d: Option<&v1::Date>| {
        d.and_then(|d| crate::domain::values::civil_date(d.year, d.month, d.day).ok())
    };
    let days_to_baseline = match (day(m.baseline_date.as_ref()), day(m.status_date.as_ref())) {
        (Some(baseline), Some(status_date)) => (baseline - status_date).num_days() as i32,
        _ => 0,
    };
    let label = rule_set.strip_prefix("lightRuleSets/").unwrap_or(rule_set);
    m.light_reason = crate::domain::milestone::light_reason(
        status,
        light,
        m.variance_days,
        days_to_baseline,
        &m.open_problem,
        policy,
        label,
    );
    m.light_rule_set = rule_set.to_string();
    m
}
