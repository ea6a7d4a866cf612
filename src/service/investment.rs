//! The commands of the monthly investment cycle (DESIGN §11): SetInvestmentPlan,
//! CreateInvestmentReport, CorrectInvestmentReport, CreateLightRuleSet and
//! ActivateLightRuleSet, each one unit of work with its events; and the pace read. The rules
//! are `domain::investment`'s and `domain::pace`'s.

use prost::Message;

use super::ServiceError;
use super::projects::{begin_on_project, begun};
use super::unit::{Unit, check_etag};
use crate::domain::investment::{
    self as rules, Correction, InvestmentReport, NewReport, PlanRecord, RuleSetRef, RuleSetRevision,
};
use crate::domain::pace::{InvestmentPlan, LightRules, MonthPace, YearMonth, assess_year};
use crate::domain::values::{Id, Note, Title};
use crate::events::encode::investment as encode;
use crate::events::encode::projects as project_events;
use crate::proto::{self, v1};
use crate::store::idempotency::RequestKey;
use crate::store::investment::{self as repository, NewRuleSet, PaceSubject};
use crate::store::projects as projects_repository;
use crate::store::{Outcome, Store, WriteContext};

/// The project fields a report moves.
const REPORTED_FIELDS: [&str; 2] = ["completed_investment_yuan", "reported_investment_yuan"];

/// SetInvestmentPlan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPlan {
    pub project_id: String,
    pub plan: InvestmentPlan,
    pub etag: Option<String>,
}

pub async fn set_plan(
    store: &Store,
    ctx: &WriteContext,
    cmd: SetPlan,
) -> Result<Outcome<PlanRecord>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, None, &cmd.project_id));
    let record = match repository::find_plan(unit.tx(), pk, &cmd.project_id, cmd.plan.year).await? {
        Some((row_pk, mut record)) => {
            check_etag(cmd.etag.as_deref(), record.name(), record.etag())?;
            if !record.replace(cmd.plan, ctx.now_us) {
                return Ok(Outcome::Done(record));
            }
            repository::update_plan(unit.tx(), row_pk, &record).await?;
            record
        }
        None => {
            let name = rules::plan_name(&cmd.project_id, cmd.plan.year);
            check_etag(cmd.etag.as_deref(), name, String::new())?;
            repository::insert_plan(unit.tx(), pk, &cmd.project_id, &cmd.plan, ctx.now_us).await?
        }
    };
    let message = v1::InvestmentPlan::from(&record);
    unit.emit(encode::plan_set(&project, &record, message));
    unit.commit(record, |_| Vec::new()).await
}

/// CreateInvestmentReport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateReport {
    pub project_id: String,
    pub report: NewReport,
}

/// Submits a report; answers the report with the due day it was judged by.
pub async fn create_report(
    store: &Store,
    ctx: &WriteContext,
    cmd: CreateReport,
    key: Option<&RequestKey>,
) -> Result<Outcome<(InvestmentReport, i32)>, ServiceError> {
    rules::check_reportable(cmd.report.month, ctx.today)?;
    let (mut unit, (pk, mut project)) = begun!(begin_on_project(store, ctx, key, &cmd.project_id));
    let due_day = repository::active_rule_set(unit.tx())
        .await?
        .rules
        .report_due_day;
    let report = InvestmentReport {
        project_id: cmd.project_id.clone(),
        month: cmd.report.month,
        uid: uuid::Uuid::new_v4().to_string(),
        amount_yuan: cmd.report.amount.get(),
        physical_progress: cmd.report.physical_progress.into_string(),
        reporter: ctx.actor.clone(),
        report_date: ctx.today,
        created_at_us: ctx.now_us,
        updated_at_us: ctx.now_us,
        version: 1,
        revisions: Vec::new(),
    };
    rules::add_reported(
        &mut project,
        report.amount_yuan,
        "investment_report.amount_yuan",
        ctx.now_us,
    )?;
    repository::insert_report(unit.tx(), pk, &report).await?;
    projects_repository::save_investment(unit.tx(), pk, &project).await?;
    let message = proto::investment::report(&report, due_day);
    unit.emit(encode::report_created(&project, &report, message.clone()));
    if report.amount_yuan != 0 {
        unit.emit(project_events::updated(&project, REPORTED_FIELDS.to_vec()));
    }
    unit.commit((report, due_day), |_| message.encode_to_vec())
        .await
}

/// CorrectInvestmentReport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectReport {
    pub project_id: String,
    pub month: YearMonth,
    pub correction: Correction,
    pub etag: Option<String>,
}

pub async fn correct_report(
    store: &Store,
    ctx: &WriteContext,
    cmd: CorrectReport,
    key: Option<&RequestKey>,
) -> Result<Outcome<(InvestmentReport, i32)>, ServiceError> {
    let (mut unit, (pk, mut project)) = begun!(begin_on_project(store, ctx, key, &cmd.project_id));
    let due_day = repository::active_rule_set(unit.tx())
        .await?
        .rules
        .report_due_day;
    let (row_pk, mut report) =
        repository::find_report(unit.tx(), pk, &cmd.project_id, cmd.month).await?;
    check_etag(cmd.etag.as_deref(), report.name(), report.etag())?;
    let old_amount = report.amount_yuan;
    let Some(revision) = report.correct(cmd.correction, &ctx.actor, ctx.now_us)? else {
        return Ok(Outcome::Done((report, due_day)));
    };
    let delta = report.amount_yuan - old_amount;
    rules::add_reported(&mut project, delta, "amount_yuan", ctx.now_us)?;
    repository::save_correction(unit.tx(), row_pk, &report, &revision).await?;
    if delta != 0 {
        projects_repository::save_investment(unit.tx(), pk, &project).await?;
    }
    let message = proto::investment::report(&report, due_day);
    unit.emit(encode::report_corrected(&project, &report, message.clone()));
    if delta != 0 {
        unit.emit(project_events::updated(&project, REPORTED_FIELDS.to_vec()));
    }
    unit.commit((report, due_day), |_| message.encode_to_vec())
        .await
}

/// The due day reads judge reports by: the active rule set's.
pub async fn report_due_day(store: &Store) -> Result<i32, ServiceError> {
    Ok(repository::active_rule_set(store.connection())
        .await?
        .rules
        .report_due_day)
}

/// CreateLightRuleSet: publishes the next revision of a rule set (ADMIN, checked by the auth
/// layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRuleSet {
    pub id: Id,
    pub display_name: Title,
    pub description: Note,
    pub rules: LightRules,
}

pub async fn publish_rule_set(
    store: &Store,
    ctx: &WriteContext,
    cmd: PublishRuleSet,
    key: Option<&RequestKey>,
) -> Result<Outcome<RuleSetRevision>, ServiceError> {
    let (mut unit, ()) = begun!(Unit::begin(store, ctx, key, async |_| Ok(())));
    let revision = repository::insert_rule_set(
        unit.tx(),
        &NewRuleSet {
            id: cmd.id.as_str(),
            display_name: cmd.display_name.as_str(),
            description: cmd.description.as_str(),
            rules: cmd.rules,
            publisher: &ctx.actor,
        },
        ctx.now_us,
    )
    .await?;
    let message = v1::LightRuleSet::from(&revision);
    unit.emit(encode::rule_set_published(&revision));
    unit.commit(revision, |_| message.encode_to_vec()).await
}

/// ActivateLightRuleSet (ADMIN). Activating the active revision changes nothing.
pub async fn activate_rule_set(
    store: &Store,
    ctx: &WriteContext,
    reference: RuleSetRef,
) -> Result<Outcome<RuleSetRevision>, ServiceError> {
    let (mut unit, ()) = begun!(Unit::begin(store, ctx, None, async |_| Ok(())));
    let (pk, mut revision) = repository::find_rule_set(unit.tx(), &reference).await?;
    if revision.active {
        return Ok(Outcome::Done(revision));
    }
    repository::activate(unit.tx(), pk, &ctx.actor, ctx.now_us).await?;
    revision.active = true;
    unit.emit(encode::rule_set_activated(&revision));
    unit.commit(revision, |_| Vec::new()).await
}

/// The revision a read names, or the active one.
pub async fn rule_set(
    store: &Store,
    reference: Option<&RuleSetRef>,
) -> Result<RuleSetRevision, ServiceError> {
    Ok(match reference {
        Some(reference) => {
            repository::find_rule_set(store.connection(), reference)
                .await?
                .1
        }
        None => repository::active_rule_set(store.connection()).await?,
    })
}

/// ListInvestmentPace: one page of projects with a plan for `month`'s year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceQuery {
    pub month: YearMonth,
    pub rule_set: Option<RuleSetRef>,
    pub after_project_id: Option<String>,
    pub limit: u64,
}

/// The pace page: each project's inputs with the light of `month`, the rule set used, and
/// whether more follow.
pub struct PacePage {
    pub entries: Vec<(PaceSubject, MonthPace)>,
    pub rule_set: RuleSetRevision,
    pub more: bool,
}

pub async fn pace(store: &Store, query: &PaceQuery) -> Result<PacePage, ServiceError> {
    let rule_set = rule_set(store, query.rule_set.as_ref()).await?;
    let through = query.month.month();
    let mut subjects = store
        .pace_subjects(
            query.month.year(),
            through,
            query.after_project_id.as_deref(),
            query.limit,
        )
        .await?;
    let more = subjects.len() as u64 > query.limit;
    subjects.truncate(query.limit as usize);
    let label = rule_set.label();
    let entries = subjects
        .into_iter()
        .map(|subject| {
            let reported = subject.reports.map(|r| r.map(|(amount, _)| amount));
            let months = assess_year(
                &subject.plan,
                &reported,
                &[false; 12],
                &rule_set.rules,
                &label,
                through,
            );
            let month = months
                .into_iter()
                .last()
                .ok_or_else(|| ServiceError::internal("no pace for a month of the year"))?;
            Ok((subject, month))
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(PacePage {
        entries,
        rule_set,
        more,
    })
}
