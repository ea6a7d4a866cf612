//! sea-orm entities, one module per table. See the first migration for the storage
//! conventions (microsecond instants, day-number dates, enum names as text).

pub mod project {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projects")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_id: String,
        pub uid: String,
        pub display_name: String,
        pub description: String,
        pub project_code: Option<String>,
        pub category: String,
        pub investment_type: String,
        pub township: String,
        pub department: String,
        pub owner: String,
        pub leader: String,
        pub total_investment_yuan: i64,
        pub annual_planned_investment_yuan: i64,
        pub completed_investment_yuan: i64,
        pub stage: String,
        pub suspended_from_stage: Option<String>,
        pub stage_changed_at_us: i64,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
        pub reported_investment_yuan: i64,
        /// Civil day number of the statistics enrolment (入库纳统), see migration 12.
        pub statistics_enrolment_date: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod prerequisite {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "prerequisites")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub prerequisite_id: String,
        pub uid: String,
        pub kind: String,
        pub title: String,
        pub state: String,
        pub due_date: Option<i32>,
        pub note: String,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod stage_change {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stage_changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub from_stage: String,
        pub to_stage: String,
        pub reason: String,
        pub actor: String,
        pub effective_date: i32,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub transaction_end_seq: i64,
        pub kind: String,
        pub project_id: String,
        pub resource: String,
        pub township: String,
        pub department: String,
        pub leader: String,
        pub actor: String,
        pub created_at_us: i64,
        pub payload: Vec<u8>,
        pub light: Option<String>,
        pub slip_days: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod request_id {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_ids")]
    pub struct Model {
        /// The token name of the caller who earned the response (migration 9).
        #[sea_orm(primary_key, auto_increment = false)]
        pub caller: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub method: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        pub fingerprint: String,
        pub response: Vec<u8>,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod milestone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "milestones")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub milestone_id: String,
        pub uid: String,
        pub kind: String,
        pub title: String,
        pub description: String,
        pub baseline_date: i32,
        pub forecast_date: i32,
        pub actual_date: Option<i32>,
        pub slip_count: i32,
        pub days_slipped: i32,
        pub revision_count: i32,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
        /// The project's township, kept in step with it (see migration 8).
        pub township: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod milestone_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "milestone_revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub milestone_pk: i64,
        pub number: i32,
        pub field: String,
        pub old_date: Option<i32>,
        pub new_date: i32,
        pub reason: String,
        pub actor: String,
        pub recorded_on: i32,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod milestone_alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "milestone_alerts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub milestone_pk: i64,
        pub kind: String,
        pub baseline_date: i32,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod subscription {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub subscription_id: String,
        pub uid: String,
        pub display_name: String,
        pub filter: Vec<u8>,
        pub acked_seq: i64,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
        pub owner: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod funding_window {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "funding_windows")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub window_id: String,
        pub uid: String,
        pub channel: String,
        pub title: String,
        pub description: String,
        pub open_date: i32,
        pub close_date: i32,
        pub target_count: i32,
        pub target_amount_yuan: i64,
        pub eligible_stages: String,
        pub eligible_categories: String,
        pub eligible_investment_type: Option<String>,
        pub min_total_investment_yuan: i64,
        pub required_prerequisites: String,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod funding_application {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "funding_applications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_id: String,
        pub uid: String,
        pub project_pk: i64,
        pub window_pk: i64,
        pub state: String,
        pub requested_amount_yuan: i64,
        pub approved_amount_yuan: i64,
        pub disbursed_amount_yuan: i64,
        pub description: String,
        pub state_reason: String,
        pub state_actor: String,
        pub state_changed_at_us: i64,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod funding_disbursement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "funding_disbursements")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub application_pk: i64,
        pub amount_yuan: i64,
        pub disbursement_date: i32,
        pub note: String,
        pub actor: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub role: String,
        pub departments: String,
        pub townships: String,
        pub secret_hash: String,
        pub created_at_us: i64,
        pub revoked_at_us: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod bulletin {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bulletins")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub bulletin_id: String,
        pub uid: String,
        pub title: String,
        pub status_date: i32,
        pub payload: Vec<u8>,
        pub publisher: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod investment_plan {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "investment_plans")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub year: i32,
        pub uid: String,
        pub total_yuan: i64,
        pub monthly_yuan: String,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod investment_report {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "investment_reports")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub month_index: i32,
        pub uid: String,
        pub amount_yuan: i64,
        pub physical_progress: String,
        pub reporter: String,
        pub report_date: i32,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
        pub revision_count: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod investment_report_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "investment_report_revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub report_pk: i64,
        pub number: i32,
        pub old_amount_yuan: i64,
        pub new_amount_yuan: i64,
        pub old_physical_progress: String,
        pub new_physical_progress: String,
        pub reason: String,
        pub actor: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod light_rule_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "light_rule_sets")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub rule_set_id: String,
        pub revision: i32,
        pub uid: String,
        pub display_name: String,
        pub description: String,
        pub milestone_tolerance_days: i32,
        pub warning_horizon_days: i32,
        pub pace_measure: String,
        pub pace_yellow_percent: i32,
        pub pace_red_percent: i32,
        pub escalate_after_months: i32,
        pub recovery_policy: String,
        pub enrolment_yellow_after_months: i32,
        pub enrolment_red_after_months: i32,
        pub report_due_day: i32,
        /// "0,7,15": `EscalationLadder` as its `Display` writes it.
        pub problem_escalation_days: String,
        pub publisher: String,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod light_rule_set_activation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "light_rule_set_activation")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub rule_set_pk: i64,
        pub activated_by: String,
        pub activated_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod justification {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "justifications")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub justification_id: String,
        pub uid: String,
        pub scope: String,
        pub milestone_id: String,
        pub reason: String,
        pub evidence_note: String,
        pub valid_from: i32,
        pub valid_to: i32,
        pub approver: String,
        pub revoke_reason: String,
        pub revoked_at_us: Option<i64>,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod investment_alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "investment_alerts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub kind: String,
        pub period: i64,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod problem {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "problems")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub project_pk: i64,
        pub problem_id: String,
        pub uid: String,
        pub category: String,
        pub description: String,
        pub raised_by: String,
        pub raise_date: i32,
        pub responsible_unit: String,
        pub responsible_leader: String,
        pub deadline: i32,
        pub milestone_id: String,
        pub state: String,
        pub resolution_note: String,
        pub extension_count: i32,
        pub resolved_at_us: Option<i64>,
        /// Civil day number of the latest resolution (migration 15).
        pub resolved_on: Option<i32>,
        pub closed_at_us: Option<i64>,
        pub created_at_us: i64,
        pub updated_at_us: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod problem_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "problem_revisions")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub problem_pk: i64,
        pub number: i32,
        pub action: String,
        pub actor: String,
        pub created_at_us: i64,
        pub from_state: String,
        pub to_state: String,
        pub changed_fields: String,
        pub reason: String,
        pub old_deadline: Option<i32>,
        pub new_deadline: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod problem_alert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "problem_alerts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub problem_pk: i64,
        pub level: i32,
        pub deadline: i32,
        pub created_at_us: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
