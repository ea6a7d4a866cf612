//! The repository of the monthly investment cycle: annual plans, monthly reports with their
//! corrections, light rule set revisions and the active one. The commands that use it are in
//! `service::investment`.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{
    investment_plan, investment_report, investment_report_revision, light_rule_set,
    light_rule_set_activation, milestone, project,
};
use super::error::{StoreError, conflict_on};
use super::sql::Sql;
use super::{Cursor, Page, SortKey, Store};
use crate::domain::investment::{
    InvestmentReport, PlanRecord, ReportRevision, RuleSetRef, RuleSetRevision, plan_name,
    report_name,
};
use crate::domain::milestone::MilestoneKind;
use crate::domain::names;
use crate::domain::pace::{InvestmentPlan, LightRules, PaceMeasure, Recovery, YearMonth};
use crate::domain::problem::EscalationLadder;
use crate::domain::project::Stage;
use crate::domain::values;

// ---- plans ----

fn monthly_text(plan: &InvestmentPlan) -> String {
    plan.monthly_yuan
        .map(|m| m.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// A stored plan: its year, total and monthly column ('' or 12 comma-separated amounts).
pub(crate) fn parse_plan(
    year: i32,
    total_yuan: i64,
    monthly_yuan: &str,
) -> Result<InvestmentPlan, StoreError> {
    let monthly = if monthly_yuan.is_empty() {
        Vec::new()
    } else {
        monthly_yuan
            .split(',')
            .map(|a| a.parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                StoreError::corrupt(format!(
                    "stored monthly plan {monthly_yuan:?} is not a list of amounts"
                ))
            })?
    };
    InvestmentPlan::new(year, total_yuan, &monthly)
        .map_err(|err| StoreError::corrupt(format!("stored plan is invalid: {err}")))
}

fn plan_to_domain(project_id: &str, row: investment_plan::Model) -> Result<PlanRecord, StoreError> {
    let plan = parse_plan(row.year, row.total_yuan, &row.monthly_yuan)?;
    Ok(PlanRecord {
        project_id: project_id.to_string(),
        uid: row.uid,
        plan,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

/// The plan of the project row `project_pk` for `year`, with its primary key.
pub async fn find_plan<C: ConnectionTrait>(
    c: &C,
    project_pk: i64,
    project_id: &str,
    year: i32,
) -> Result<Option<(i64, PlanRecord)>, StoreError> {
    let Some(row) = investment_plan::Entity::find()
        .filter(investment_plan::Column::ProjectPk.eq(project_pk))
        .filter(investment_plan::Column::Year.eq(year))
        .one(c)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((row.id, plan_to_domain(project_id, row)?)))
}

/// Inserts the plan of the project row `project_pk` at `now_us`.
pub async fn insert_plan(
    tx: &DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    plan: &InvestmentPlan,
    now_us: i64,
) -> Result<PlanRecord, StoreError> {
    let name = || plan_name(project_id, plan.year);
    let row = investment_plan::ActiveModel {
        project_pk: Set(project_pk),
        year: Set(plan.year),
        uid: Set(uuid::Uuid::new_v4().to_string()),
        total_yuan: Set(plan.total_yuan),
        monthly_yuan: Set(monthly_text(plan)),
        created_at_us: Set(now_us),
        updated_at_us: Set(now_us),
        version: Set(1),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|err| conflict_on(err, &[("", &name, "investment_plan.name")]))?;
    plan_to_domain(project_id, row)
}

/// Writes the plan, update time and version of the plan row `pk`.
pub async fn update_plan(
    tx: &DatabaseTransaction,
    pk: i64,
    record: &PlanRecord,
) -> Result<(), StoreError> {
    investment_plan::ActiveModel {
        id: sea_orm::Unchanged(pk),
        total_yuan: Set(record.plan.total_yuan),
        monthly_yuan: Set(monthly_text(&record.plan)),
        updated_at_us: Set(record.updated_at_us),
        version: Set(record.version),
        ..Default::default()
    }
    .update(tx)
    .await?;
    Ok(())
}

// ---- reports ----

fn revision_to_domain(row: investment_report_revision::Model) -> ReportRevision {
    ReportRevision {
        number: row.number,
        old_amount_yuan: row.old_amount_yuan,
        new_amount_yuan: row.new_amount_yuan,
        old_physical_progress: row.old_physical_progress,
        new_physical_progress: row.new_physical_progress,
        reason: row.reason,
        actor: row.actor,
        created_at_us: row.created_at_us,
    }
}

fn report_to_domain(
    project_id: &str,
    row: investment_report::Model,
    revisions: Vec<ReportRevision>,
) -> InvestmentReport {
    InvestmentReport {
        project_id: project_id.to_string(),
        month: YearMonth::from_index(row.month_index),
        uid: row.uid,
        amount_yuan: row.amount_yuan,
        physical_progress: row.physical_progress,
        reporter: row.reporter,
        report_date: values::from_day_number(row.report_date),
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
        revisions,
    }
}

/// The corrections of the report rows `pks`, oldest first, by report row.
async fn revisions_of<C: ConnectionTrait>(
    c: &C,
    pks: &[i64],
) -> Result<HashMap<i64, Vec<ReportRevision>>, StoreError> {
    let mut by_report: HashMap<i64, Vec<ReportRevision>> = HashMap::new();
    if pks.is_empty() {
        return Ok(by_report);
    }
    let rows = investment_report_revision::Entity::find()
        .filter(investment_report_revision::Column::ReportPk.is_in(pks.iter().copied()))
        .order_by_asc(investment_report_revision::Column::ReportPk)
        .order_by_asc(investment_report_revision::Column::Number)
        .all(c)
        .await?;
    for row in rows {
        by_report
            .entry(row.report_pk)
            .or_default()
            .push(revision_to_domain(row));
    }
    Ok(by_report)
}

/// Inserts a new report of the project row `project_pk`; a month already reported is a
/// conflict on `investment_report_id`.
pub async fn insert_report(
    tx: &DatabaseTransaction,
    project_pk: i64,
    report: &InvestmentReport,
) -> Result<i64, StoreError> {
    let name = || report_name(&report.project_id, report.month);
    let row = investment_report::ActiveModel {
        project_pk: Set(project_pk),
        month_index: Set(report.month.index()),
        uid: Set(report.uid.clone()),
        amount_yuan: Set(report.amount_yuan),
        physical_progress: Set(report.physical_progress.clone()),
        reporter: Set(report.reporter.clone()),
        report_date: Set(values::day_number(report.report_date)),
        created_at_us: Set(report.created_at_us),
        updated_at_us: Set(report.updated_at_us),
        version: Set(report.version),
        revision_count: Set(0),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|err| conflict_on(err, &[("", &name, "investment_report_id")]))?;
    Ok(row.id)
}

/// The report of the project row `project_pk` for `month`, with its corrections and primary
/// key.
pub async fn find_report<C: ConnectionTrait>(
    c: &C,
    project_pk: i64,
    project_id: &str,
    month: YearMonth,
) -> Result<(i64, InvestmentReport), StoreError> {
    let row = investment_report::Entity::find()
        .filter(investment_report::Column::ProjectPk.eq(project_pk))
        .filter(investment_report::Column::MonthIndex.eq(month.index()))
        .one(c)
        .await?
        .ok_or_else(|| StoreError::not_found(report_name(project_id, month)))?;
    let pk = row.id;
    let revisions = revisions_of(c, &[pk])
        .await?
        .remove(&pk)
        .unwrap_or_default();
    Ok((pk, report_to_domain(project_id, row, revisions)))
}

/// Writes a corrected report (row `pk`) and its new revision.
pub async fn save_correction(
    tx: &DatabaseTransaction,
    pk: i64,
    report: &InvestmentReport,
    revision: &ReportRevision,
) -> Result<(), StoreError> {
    investment_report::ActiveModel {
        id: sea_orm::Unchanged(pk),
        amount_yuan: Set(report.amount_yuan),
        physical_progress: Set(report.physical_progress.clone()),
        updated_at_us: Set(report.updated_at_us),
        version: Set(report.version),
        revision_count: Set(report.revisions.len() as i32),
        ..Default::default()
    }
    .update(tx)
    .await?;
    investment_report_revision::ActiveModel {
        report_pk: Set(pk),
        number: Set(revision.number),
        old_amount_yuan: Set(revision.old_amount_yuan),
        new_amount_yuan: Set(revision.new_amount_yuan),
        old_physical_progress: Set(revision.old_physical_progress.clone()),
        new_physical_progress: Set(revision.new_physical_progress.clone()),
        reason: Set(revision.reason.clone()),
        actor: Set(revision.actor.clone()),
        created_at_us: Set(revision.created_at_us),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// How many plans and reports hang off the project row `pk`.
pub async fn count_for_project(
    tx: &DatabaseTransaction,
    pk: i64,
) -> Result<(u64, u64), StoreError> {
    let plans = investment_plan::Entity::find()
        .filter(investment_plan::Column::ProjectPk.eq(pk))
        .count(tx)
        .await?;
    let reports = investment_report::Entity::find()
        .filter(investment_report::Column::ProjectPk.eq(pk))
        .count(tx)
        .await?;
    Ok((plans, reports))
}

/// Deletes the plans and reports (with their corrections), the justifications and the alert
/// ledger rows of the project row `pk`.
pub async fn delete_for_project(tx: &DatabaseTransaction, pk: i64) -> Result<(), StoreError> {
    super::justifications::delete_for_project(tx, pk).await?;
    let report_pks: Vec<i64> = investment_report::Entity::find()
        .select_only()
        .column(investment_report::Column::Id)
        .filter(investment_report::Column::ProjectPk.eq(pk))
        .into_tuple()
        .all(tx)
        .await?;
    for chunk in report_pks.chunks(500) {
        investment_report_revision::Entity::delete_many()
            .filter(investment_report_revision::Column::ReportPk.is_in(chunk.iter().copied()))
            .exec(tx)
            .await?;
    }
    investment_report::Entity::delete_many()
        .filter(investment_report::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    investment_plan::Entity::delete_many()
        .filter(investment_plan::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    Ok(())
}

// ---- rule sets ----

fn rule_set_to_domain(
    row: light_rule_set::Model,
    active_pk: Option<i64>,
) -> Result<RuleSetRevision, StoreError> {
    let bad = |what: &str, value: &str| {
        StoreError::corrupt(format!("stored {what} {value:?} is unknown"))
    };
    let bad_ladder = |value: &str, err: &str| {
        StoreError::corrupt(format!("stored escalation ladder {value:?}: {err}"))
    };
    let rules = LightRules {
        milestone_tolerance_days: row.milestone_tolerance_days,
        warning_horizon_days: row.warning_horizon_days,
        pace_measure: PaceMeasure::parse(&row.pace_measure)
            .ok_or_else(|| bad("pace measure", &row.pace_measure))?,
        pace_yellow_percent: row.pace_yellow_percent,
        pace_red_percent: row.pace_red_percent,
        escalate_after_months: row.escalate_after_months,
        recovery: Recovery::parse(&row.recovery_policy)
            .ok_or_else(|| bad("recovery policy", &row.recovery_policy))?,
        enrolment_yellow_after_months: row.enrolment_yellow_after_months,
        enrolment_red_after_months: row.enrolment_red_after_months,
        report_due_day: row.report_due_day,
        problem_escalation: EscalationLadder::parse(&row.problem_escalation_days)
            .map_err(|err| bad_ladder(&row.problem_escalation_days, &err))?,
    };
    Ok(RuleSetRevision {
        active: active_pk == Some(row.id),
        id: row.rule_set_id,
        revision: row.revision,
        uid: row.uid,
        display_name: row.display_name,
        description: row.description,
        rules,
        publisher: row.publisher,
        created_at_us: row.created_at_us,
    })
}

async fn active_pk<C: ConnectionTrait>(c: &C) -> Result<Option<i64>, StoreError> {
    Ok(light_rule_set_activation::Entity::find_by_id(1)
        .one(c)
        .await?
        .map(|row| row.rule_set_pk))
}

/// The revision a reference names, with its primary key.
pub async fn find_rule_set<C: ConnectionTrait>(
    c: &C,
    reference: &RuleSetRef,
) -> Result<(i64, RuleSetRevision), StoreError> {
    let mut query = light_rule_set::Entity::find();
    query = match reference {
        RuleSetRef::Revision(id, revision) => query
            .filter(light_rule_set::Column::RuleSetId.eq(id.as_str()))
            .filter(light_rule_set::Column::Revision.eq(*revision)),
        RuleSetRef::Latest(id) => query
            .filter(light_rule_set::Column::RuleSetId.eq(id.as_str()))
            .order_by_desc(light_rule_set::Column::Revision),
    };
    let row = query
        .one(c)
        .await?
        .ok_or_else(|| StoreError::not_found(reference.name()))?;
    let pk = row.id;
    Ok((pk, rule_set_to_domain(row, active_pk(c).await?)?))
}

/// The active revision.
pub async fn active_rule_set<C: ConnectionTrait>(c: &C) -> Result<RuleSetRevision, StoreError> {
    let pk = active_pk(c)
        .await?
        .ok_or_else(|| StoreError::corrupt("no light rule set is active"))?;
    let row = light_rule_set::Entity::find_by_id(pk)
        .one(c)
        .await?
        .ok_or_else(|| StoreError::corrupt("the active light rule set row is missing"))?;
    rule_set_to_domain(row, Some(pk))
}

/// What a new revision holds besides its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRuleSet<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
    pub description: &'a str,
    pub rules: LightRules,
    pub publisher: &'a str,
}

/// Publishes the next revision of `new.id` (1 for a new id) at `now_us`. Two publishers
/// racing for one number meet the unique key and the later one is a conflict (ABORTED-free:
/// the write transaction on SQLite and the retry on PostgreSQL are the caller's).
pub async fn insert_rule_set(
    tx: &DatabaseTransaction,
    new: &NewRuleSet<'_>,
    now_us: i64,
) -> Result<RuleSetRevision, StoreError> {
    let latest: Option<i32> = light_rule_set::Entity::find()
        .select_only()
        .column(light_rule_set::Column::Revision)
        .filter(light_rule_set::Column::RuleSetId.eq(new.id))
        .order_by_desc(light_rule_set::Column::Revision)
        .into_tuple()
        .one(tx)
        .await?;
    let revision = latest.unwrap_or(0) + 1;
    let name = || format!("lightRuleSets/{}@{revision}", new.id);
    let r = &new.rules;
    let row = light_rule_set::ActiveModel {
        rule_set_id: Set(new.id.to_string()),
        revision: Set(revision),
        uid: Set(uuid::Uuid::new_v4().to_string()),
        display_name: Set(new.display_name.to_string()),
        description: Set(new.description.to_string()),
        milestone_tolerance_days: Set(r.milestone_tolerance_days),
        warning_horizon_days: Set(r.warning_horizon_days),
        pace_measure: Set(r.pace_measure.as_str().to_string()),
        pace_yellow_percent: Set(r.pace_yellow_percent),
        pace_red_percent: Set(r.pace_red_percent),
        escalate_after_months: Set(r.escalate_after_months),
        recovery_policy: Set(r.recovery.as_str().to_string()),
        enrolment_yellow_after_months: Set(r.enrolment_yellow_after_months),
        enrolment_red_after_months: Set(r.enrolment_red_after_months),
        report_due_day: Set(r.report_due_day),
        problem_escalation_days: Set(r.problem_escalation.to_string()),
        publisher: Set(new.publisher.to_string()),
        created_at_us: Set(now_us),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|err| conflict_on(err, &[("", &name, "light_rule_set_id")]))?;
    let active = active_pk(tx).await?;
    rule_set_to_domain(row, active)
}

/// Makes the revision row `pk` the active one.
pub async fn activate(
    tx: &DatabaseTransaction,
    pk: i64,
    actor: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    light_rule_set_activation::ActiveModel {
        id: sea_orm::Unchanged(1),
        rule_set_pk: Set(pk),
        activated_by: Set(actor.to_string()),
        activated_at_us: Set(now_us),
    }
    .update(tx)
    .await?;
    Ok(())
}

/// One project's inputs to its pace light for one plan year.
#[derive(Debug, Clone, PartialEq)]
pub struct PaceSubject {
    pub project_pk: i64,
    pub project_id: String,
    pub display_name: String,
    pub township: String,
    pub department: String,
    pub leader: String,
    pub plan: InvestmentPlan,
    /// Month m's report at index m−1: its amount in yuan and submission date.
    pub reports: [Option<(i64, NaiveDate)>; 12],
    /// The actual date of the project's construction start milestone (the earliest achieved).
    pub construction_start: Option<NaiveDate>,
    /// The project's statistics enrolment date (入库纳统).
    pub statistics_enrolment_date: Option<NaiveDate>,
}

/// A project whose construction start milestone is achieved and that is not enrolled in the
/// statistics system as of the scan (`Store::unenrolled_starts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentSubject {
    pub project_pk: i64,
    pub project_id: String,
    pub township: String,
    pub department: String,
    pub leader: String,
    /// The earliest achieved construction start.
    pub construction_start: NaiveDate,
    /// An enrolment date after the day scanned, if one was recorded.
    pub statistics_enrolment_date: Option<NaiveDate>,
}

/// The construction start (the earliest achieved CONSTRUCTION_START milestone's actual date) of
/// each of the project rows `pks` that has one.
pub async fn construction_starts(
    db: &impl ConnectionTrait,
    pks: &[i64],
) -> Result<Vec<(i64, NaiveDate)>, StoreError> {
    if pks.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Option<i32>)> = milestone::Entity::find()
        .select_only()
        .column(milestone::Column::ProjectPk)
        .column_as(milestone::Column::ActualDate.min(), "start")
        .filter(milestone::Column::ProjectPk.is_in(pks.iter().copied()))
        .filter(milestone::Column::Kind.eq(MilestoneKind::ConstructionStart.as_str()))
        .filter(milestone::Column::ActualDate.is_not_null())
        .group_by(milestone::Column::ProjectPk)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(pk, start)| Some((pk, values::from_day_number(start?))))
        .collect())
}

impl Store {
    async fn project_pk(&self, project_id: &str) -> Result<i64, StoreError> {
        project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .filter(project::Column::ProjectId.eq(project_id))
            .into_tuple::<i64>()
            .one(self.connection())
            .await?
            .ok_or_else(|| StoreError::not_found(names::project_name(project_id)))
    }

    /// A project's plan for `year`.
    pub async fn get_investment_plan(
        &self,
        project_id: &str,
        year: i32,
    ) -> Result<PlanRecord, StoreError> {
        let pk = self.project_pk(project_id).await?;
        find_plan(self.connection(), pk, project_id, year)
            .await?
            .map(|(_, plan)| plan)
            .ok_or_else(|| StoreError::not_found(plan_name(project_id, year)))
    }

    /// A project's report for `month`, with its corrections.
    pub async fn get_investment_report(
        &self,
        project_id: &str,
        month: YearMonth,
    ) -> Result<InvestmentReport, StoreError> {
        let pk = self.project_pk(project_id).await?;
        Ok(find_report(self.connection(), pk, project_id, month)
            .await?
            .1)
    }

    /// One page of reports, newest month first (then by uid, descending), of one project or of
    /// all, within the months given (inclusive).
    pub async fn list_investment_reports(
        &self,
        project_id: Option<&str>,
        start: Option<YearMonth>,
        end: Option<YearMonth>,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<InvestmentReport>, StoreError> {
        use investment_report::Column as C;
        let mut condition = Condition::all();
        if let Some(project_id) = project_id {
            condition = condition.add(C::ProjectPk.eq(self.project_pk(project_id).await?));
        }
        if let Some(start) = start {
            condition = condition.add(C::MonthIndex.gte(start.index()));
        }
        if let Some(end) = end {
            condition = condition.add(C::MonthIndex.lte(end.index()));
        }
        if let Some(after) = after {
            condition = condition.add(after.after(C::MonthIndex, C::Uid, true));
        }
        let rows = investment_report::Entity::find()
            .filter(condition)
            .order_by_desc(C::MonthIndex)
            .order_by_desc(C::Uid)
            .limit(limit + 1)
            .all(self.connection())
            .await?;
        let pks: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut revisions = revisions_of(self.connection(), &pks).await?;
        let project_ids =
            super::projects::ids_by_pk(self.connection(), rows.iter().map(|r| r.project_pk))
                .await?;
        super::page(
            rows,
            limit,
            |row| {
                let project_id = project_ids
                    .get(&row.project_pk)
                    .ok_or_else(|| StoreError::corrupt("a report's project row is missing"))?;
                let revisions = revisions.remove(&row.id).unwrap_or_default();
                Ok::<_, StoreError>(report_to_domain(project_id, row, revisions))
            },
            |report| Cursor {
                key: SortKey::Int(i64::from(report.month.index())),
                id: report.uid.clone(),
            },
        )
    }

    /// Up to `limit` + 1 projects with a plan for `year`, by project id after `after`, each
    /// with its reports for months 1..=`through` of that year.
    pub async fn pace_subjects(
        &self,
        year: i32,
        through: u32,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<PaceSubject>, StoreError> {
        // Projects first, in project id order, each with its plan looked up by the plan's
        // unique key: a page reads its rows and stops. (Planned from the plans instead, SQLite
        // read and sorted every plan of the year for each page: 18.5 ms against 0.16 ms for a
        // page of 50 on the benchmark's 100,000-project county; `CROSS JOIN` keeps SQLite's
        // planner to this order, PostgreSQL plans it as an inner join either way.)
        let mut sql = Sql::new(
            self.backend(),
            "SELECT p.id, p.project_id, p.display_name, p.township, p.department, \
             pl.year, pl.total_yuan, pl.monthly_yuan, p.leader, p.statistics_enrolment_date \
             FROM projects p CROSS JOIN investment_plans pl \
             WHERE pl.project_pk = p.id AND pl.year = ",
        );
        sql.bind(year);
        if let Some(after) = after {
            sql.push(" AND p.project_id > ").bind(after.to_string());
        }
        sql.push(" ORDER BY p.project_id LIMIT ")
            .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        let rows = self.connection().query_all_raw(sql.build()).await?;
        let mut subjects = Vec::with_capacity(rows.len());
        let mut by_pk = HashMap::new();
        for row in rows {
            let pk: i64 = row.try_get_by_index(0)?;
            let project_id: String = row.try_get_by_index(1)?;
            let plan = plan_to_domain(
                &project_id,
                investment_plan::Model {
                    id: 0,
                    project_pk: pk,
                    year: row.try_get_by_index(5)?,
                    uid: String::new(),
                    total_yuan: row.try_get_by_index(6)?,
                    monthly_yuan: row.try_get_by_index(7)?,
                    created_at_us: 0,
                    updated_at_us: 0,
                    version: 0,
                },
            )?
            .plan;
            by_pk.insert(pk, subjects.len());
            subjects.push(PaceSubject {
                project_pk: pk,
                leader: row.try_get_by_index(8)?,
                display_name: row.try_get_by_index(2)?,
                township: row.try_get_by_index(3)?,
                department: row.try_get_by_index(4)?,
                project_id,
                plan,
                reports: [None; 12],
                construction_start: None,
                statistics_enrolment_date: row
                    .try_get_by_index::<Option<i32>>(9)?
                    .map(values::from_day_number),
            });
        }
        let first = YearMonth::new(year, 1)
            .map_err(StoreError::corrupt)?
            .index();
        let last = first + through.clamp(1, 12) as i32 - 1;
        let pks: Vec<i64> = by_pk.keys().copied().collect();
        for chunk in pks.chunks(500) {
            let reports: Vec<(i64, i32, i64, i32)> = investment_report::Entity::find()
                .select_only()
                .column(investment_report::Column::ProjectPk)
                .column(investment_report::Column::MonthIndex)
                .column(investment_report::Column::AmountYuan)
                .column(investment_report::Column::ReportDate)
                .filter(investment_report::Column::ProjectPk.is_in(chunk.iter().copied()))
                .filter(investment_report::Column::MonthIndex.between(first, last))
                .into_tuple()
                .all(self.connection())
                .await?;
            for (pk, month_index, amount, date) in reports {
                if let Some(&i) = by_pk.get(&pk) {
                    let m = (month_index - first) as usize;
                    subjects[i].reports[m] = Some((amount, values::from_day_number(date)));
                }
            }
            for (pk, start) in construction_starts(self.connection(), chunk).await? {
                if let Some(&i) = by_pk.get(&pk) {
                    subjects[i].construction_start = Some(start);
                }
            }
        }
        Ok(subjects)
    }

    /// One page (`limit` + 1 rows, to tell whether more follow), in project id order after
    /// `after`, of the projects that are not CANCELLED, have a construction start milestone
    /// achieved on or before `started_by`, and have no statistics enrolment on or before
    /// `today`.
    pub async fn unenrolled_starts(
        &self,
        started_by: NaiveDate,
        today: NaiveDate,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<EnrolmentSubject>, StoreError> {
        let start_kind = MilestoneKind::ConstructionStart.as_str().to_string();
        let mut sql = Sql::new(
            self.backend(),
            "SELECT p.id, p.project_id, p.township, p.department, p.leader, \
             p.statistics_enrolment_date, \
             (SELECT MIN(m.actual_date) FROM milestones m WHERE m.project_pk = p.id AND m.kind = ",
        );
        sql.bind(start_kind.clone())
            .push(") FROM projects p WHERE p.stage <> ")
            .bind(Stage::Cancelled.as_str().to_string())
            .push(" AND (p.statistics_enrolment_date IS NULL OR p.statistics_enrolment_date > ")
            .bind(values::day_number(today))
            .push(
                ") AND EXISTS (SELECT 1 FROM milestones m WHERE m.project_pk = p.id AND m.kind = ",
            )
            .bind(start_kind)
            .push(" AND m.actual_date <= ")
            .bind(values::day_number(started_by))
            .push(")");
        if let Some(after) = after {
            sql.push(" AND p.project_id > ").bind(after.to_string());
        }
        sql.push(" ORDER BY p.project_id LIMIT ")
            .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        let rows = self.connection().query_all_raw(sql.build()).await?;
        rows.into_iter()
            .map(|row| {
                let start: i32 = row.try_get_by_index(6)?;
                Ok(EnrolmentSubject {
                    project_pk: row.try_get_by_index(0)?,
                    project_id: row.try_get_by_index(1)?,
                    township: row.try_get_by_index(2)?,
                    department: row.try_get_by_index(3)?,
                    leader: row.try_get_by_index(4)?,
                    statistics_enrolment_date: row
                        .try_get_by_index::<Option<i32>>(5)?
                        .map(values::from_day_number),
                    construction_start: values::from_day_number(start),
                })
            })
            .collect()
    }

    /// One page of rule set revisions, by id then revision.
    pub async fn list_light_rule_sets(
        &self,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<RuleSetRevision>, StoreError> {
        use light_rule_set::Column as C;
        let mut query = light_rule_set::Entity::find();
        if let Some(after) = after {
            // The cursor's key is the id, its tie-breaker the revision (as zero-padded text, so
            // that it orders as the number does).
            let SortKey::Text(id) = &after.key else {
                return Err(StoreError::corrupt("a rule set cursor without an id"));
            };
            let revision: i32 = after.id.parse().unwrap_or(i32::MAX);
            query = query.filter(
                Condition::any().add(C::RuleSetId.gt(id.as_str())).add(
                    Condition::all()
                        .add(C::RuleSetId.eq(id.as_str()))
                        .add(C::Revision.gt(revision)),
                ),
            );
        }
        let rows = query
            .order_by_asc(C::RuleSetId)
            .order_by_asc(C::Revision)
            .limit(limit + 1)
            .all(self.connection())
            .await?;
        let active = active_pk(self.connection()).await?;
        super::page(
            rows,
            limit,
            |row| rule_set_to_domain(row, active),
            |r| Cursor {
                key: SortKey::Text(r.id.clone()),
                id: format!("{:010}", r.revision),
            },
        )
    }
}
