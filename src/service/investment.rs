//! The commands of the monthly investment cycle (DESIGN §11): SetInvestmentPlan,
//! CreateInvestmentReport, CorrectInvestmentReport, CreateLightRuleSet and
//! ActivateLightRuleSet, each one unit of work with its events; and the pace read. The rules
//! are `domain::investment`'s and `domain::pace`'s.

use prost::Message;

use super::ServiceError;
use super::projects::{begin_on_project, begun};
use super::unit::{Unit, check_etag};
use crate::domain::enrolment;
use crate::domain::investment::{
    self as rules, Correction, InvestmentReport, NewReport, PlanRecord, RuleSetRef, RuleSetRevision,
};
use crate::domain::justification::pace_exemptions;
use crate::domain::justification::{Justification, JustificationFields};
use crate::domain::milestone::Light;
use crate::domain::names;
use crate::domain::pace::{
    InvestmentPlan, LightRules, MonthPace, YearMonth, assess_year, judged_month,
};
use crate::domain::problem::EscalationLadder;
use crate::domain::values::{self, Id, Note, Reason, Title};
use crate::events::encode::investment as encode;
use crate::events::encode::projects as project_events;
use crate::events::outbox::EventDraft;
use crate::proto::{self, v1};
use crate::store::error::StoreError;
use crate::store::idempotency::RequestKey;
use crate::store::investment::{self as repository, NewRuleSet, PaceSubject};
use crate::store::justifications;
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

/// One project's pace: its inputs, the light of the month, and the justification that exempts
/// the month, if one does.
pub struct PaceEntry {
    pub subject: PaceSubject,
    pub month: MonthPace,
    pub justification: Option<String>,
}

/// The pace page: its entries, the rule set used, and whether more follow.
pub struct PacePage {
    pub entries: Vec<PaceEntry>,
    pub rule_set: RuleSetRevision,
    pub more: bool,
}

pub async fn pace(store: &Store, query: &PaceQuery) -> Result<PacePage, ServiceError> {
    let rule_set = rule_set(store, query.rule_set.as_ref()).await?;
    let mut subjects = store
        .pace_subjects(
            query.month.year(),
            query.month.month(),
            query.after_project_id.as_deref(),
            query.limit,
        )
        .await?;
    let more = subjects.len() as u64 > query.limit;
    subjects.truncate(query.limit as usize);
    let entries = assess(store, subjects, query.month, &rule_set)
        .await?
        .into_iter()
        .map(|(subject, mut months, justification)| {
            let month = months
                .pop()
                .ok_or_else(|| ServiceError::internal("no pace for a month of the year"))?;
            Ok(PaceEntry {
                subject,
                month,
                justification,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(PacePage {
        entries,
        rule_set,
        more,
    })
}

/// The lights of January to `through` for each subject under `rule_set`, with the months a
/// justification exempts, and the name of the one that exempts `through`.
async fn assess(
    store: &Store,
    subjects: Vec<PaceSubject>,
    through: YearMonth,
    rule_set: &RuleSetRevision,
) -> Result<Vec<(PaceSubject, Vec<MonthPace>, Option<String>)>, ServiceError> {
    let ids = subjects
        .iter()
        .map(|s| (s.project_pk, s.project_id.clone()))
        .collect();
    let justifications = justifications::unrevoked_for(store.connection(), &ids).await?;
    let label = rule_set.label();
    Ok(subjects
        .into_iter()
        .map(|subject| {
            let granted = justifications
                .get(&subject.project_pk)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let exemptions = pace_exemptions(granted, through.year());
            let reported = subject.reports.map(|r| r.map(|(amount, _)| amount));
            let months = assess_year(
                &subject.plan,
                &reported,
                &exemptions.map(|e| e.is_some()),
                &rule_set.rules,
                &label,
                through.month(),
            );
            let justification = exemptions[through.month() as usize - 1].map(|i| granted[i].name());
            (subject, months, justification)
        })
        .collect())
}

/// CreateJustification (ADMIN, checked by the auth layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateJustification {
    pub project_id: String,
    /// The caller's id for it; None lets the server choose.
    pub justification_id: Option<Id>,
    pub fields: JustificationFields,
}

pub async fn create_justification(
    store: &Store,
    ctx: &WriteContext,
    cmd: CreateJustification,
    key: Option<&RequestKey>,
) -> Result<Outcome<Justification>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, key, &cmd.project_id));
    if let Some(milestone_id) = &cmd.fields.milestone_id {
        crate::store::milestones::find(unit.tx(), pk, &cmd.project_id, milestone_id, false)
            .await
            .map_err(|err| match err {
                StoreError::NotFound { .. } => ServiceError::invalid(
                    "justification.milestone",
                    format!(
                        "{} does not exist",
                        names::milestone_name(&cmd.project_id, milestone_id)
                    ),
                ),
                other => other.into(),
            })?;
    }
    let id = cmd
        .justification_id
        .map_or_else(names::generate_id, Id::into_string);
    let created = justifications::insert(
        unit.tx(),
        pk,
        &cmd.project_id,
        &id,
        &cmd.fields,
        &ctx.actor,
        ctx.now_us,
    )
    .await?;
    let message = proto::investment::justification(&created, ctx.today);
    unit.emit(encode::justification_created(
        &project,
        &created,
        message.clone(),
    ));
    unit.commit(created, |_| message.encode_to_vec()).await
}

/// RevokeJustification (ADMIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeJustification {
    pub project_id: String,
    pub justification_id: String,
    pub reason: Reason,
    pub etag: Option<String>,
}

pub async fn revoke_justification(
    store: &Store,
    ctx: &WriteContext,
    cmd: RevokeJustification,
) -> Result<Outcome<Justification>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, None, &cmd.project_id));
    let (row_pk, mut item) =
        justifications::find(unit.tx(), pk, &cmd.project_id, &cmd.justification_id).await?;
    check_etag(cmd.etag.as_deref(), item.name(), item.etag())?;
    item.revoke(cmd.reason, ctx.now_us)?;
    justifications::save_revoke(unit.tx(), row_pk, &item).await?;
    let message = proto::investment::justification(&item, ctx.today);
    unit.emit(encode::justification_revoked(&project, &item, message));
    unit.commit(item, |_| Vec::new()).await
}

/// Marks the milestones a justification exempts on `status_date` (scope MILESTONE naming it,
/// or PROJECT): `exempt` and the justification's name. One query for the whole page.
pub async fn mark_exempt_milestones(
    store: &Store,
    milestones: &mut [v1::Milestone],
    status_date: chrono::NaiveDate,
) -> Result<(), ServiceError> {
    let mut project_ids: Vec<&str> = milestones
        .iter()
        .filter_map(|m| names::parse_milestone_name(&m.name).ok().map(|(p, _)| p))
        .collect();
    project_ids.sort_unstable();
    project_ids.dedup();
    if project_ids.is_empty() {
        return Ok(());
    }
    let granted = justifications::unrevoked_by_project_id(store.connection(), &project_ids).await?;
    if granted.is_empty() {
        return Ok(());
    }
    for m in milestones.iter_mut() {
        let Ok((project_id, milestone_id)) = names::parse_milestone_name(&m.name) else {
            continue;
        };
        if let Some(j) = granted.get(project_id).and_then(|list| {
            list.iter()
                .find(|j| j.covers_milestone(milestone_id, status_date))
        }) {
            m.exempt = true;
            m.justification = j.name();
        }
    }
    Ok(())
}

/// Subjects a scanner pass reads per page.
const SCAN_PAGE: u64 = 200;

/// The ledger kinds of the scanner's investment alerts.
const REPORT_MISSING: &str = "REPORT_MISSING";
const PACE_CHANGED: &str = "PACE_CHANGED";
/// The enrolment alerts' kinds, by light; their period is the construction start's day number,
/// so that a corrected start date is judged afresh.
const ENROLMENT_YELLOW: &str = "ENROLMENT_YELLOW";
const ENROLMENT_RED: &str = "ENROLMENT_RED";

/// The scanner's pass over the monthly cycle, under the active rule set: for the month judged
/// today (`judged_month`), INVESTMENT_REPORT_MISSING for each project with a plan for its year
/// and no report, and INVESTMENT_PACE_CHANGED where the month's light differs from the month
/// before (GREEN before January); then STATISTICS_ENROLMENT_LAGGING for each started project
/// not enrolled whose enrolment light is YELLOW or RED today (`domain::enrolment`), once per
/// project, light and construction start; then JUSTIFICATION_EXPIRED for each justification
/// whose last day has passed. Each once per project and month (or justification, or light and
/// start), by the alert ledger's unique key, in the transaction of its event. Returns the
/// number of events.
pub async fn scan_alerts(store: &Store, ctx: &WriteContext) -> Result<usize, ServiceError> {
    let rule_set = repository::active_rule_set(store.connection()).await?;
    let month = judged_month(ctx.today, rule_set.rules.report_due_day);
    let due_date = month.due_date(rule_set.rules.report_due_day.clamp(1, 28) as u32);
    let period = i64::from(month.index());
    let mut emitted = 0;
    let mut after: Option<String> = None;
    loop {
        let mut subjects = store
            .pace_subjects(month.year(), month.month(), after.as_deref(), SCAN_PAGE)
            .await?;
        let more = subjects.len() as u64 > SCAN_PAGE;
        subjects.truncate(SCAN_PAGE as usize);
        after = subjects.last().map(|s| s.project_id.clone());
        // Alerts raised before (the common case on every pass after the first) are skipped
        // without a write; the ledger's unique key still decides the rest.
        let pks: Vec<i64> = subjects.iter().map(|s| s.project_pk).collect();
        let missing_before =
            justifications::alerted(store.connection(), &pks, REPORT_MISSING, period).await?;
        let changed_before =
            justifications::alerted(store.connection(), &pks, PACE_CHANGED, period).await?;
        let mut drafts = Vec::new();
        for (subject, months, justification) in assess(store, subjects, month, &rule_set).await? {
            let m = month.month() as usize;
            if subject.reports[m - 1].is_none() && !missing_before.contains(&subject.project_pk) {
                drafts.push((
                    (subject.project_pk, period),
                    REPORT_MISSING,
                    encode::report_missing(&subject, month, due_date),
                ));
            }
            let light = months[m - 1].light;
            let previous = if m > 1 {
                months[m - 2].light
            } else {
                crate::domain::milestone::Light::Green
            };
            if light != previous && !changed_before.contains(&subject.project_pk) {
                let pace = proto::investment::pace(
                    &subject,
                    &months[m - 1],
                    justification.as_deref(),
                    &rule_set,
                    ctx.today,
                );
                drafts.push((
                    (subject.project_pk, period),
                    PACE_CHANGED,
                    encode::pace_changed(&subject, month, due_date, light, previous, pace),
                ));
            }
        }
        emitted += raise(store, ctx, drafts).await?;
        if !more {
            break;
        }
    }
    emitted += scan_enrolment(store, ctx, &rule_set).await?;
    let mut after = 0;
    loop {
        let (expired, last) =
            justifications::expired_unalerted(store, ctx.today, after, SCAN_PAGE).await?;
        let Some(last) = last else {
            break;
        };
        after = last;
        let mut drafts = Vec::with_capacity(expired.len());
        for (row, project_pk, item) in &expired {
            // Expiries are rare; the project is read for the event's filter fields.
            let project = store.get_project(&item.project_id).await?;
            let message = proto::investment::justification(item, ctx.today);
            drafts.push((
                (*project_pk, *row),
                justifications::EXPIRED_KIND,
                encode::justification_expired(&project, item, message),
            ));
        }
        emitted += raise(store, ctx, drafts).await?;
    }
    Ok(emitted)
}

/// The enrolment pass of `scan_alerts`.
async fn scan_enrolment(
    store: &Store,
    ctx: &WriteContext,
    rule_set: &RuleSetRevision,
) -> Result<usize, ServiceError> {
    let rules = &rule_set.rules;
    let label = rule_set.label();
    // n months after a start are at least 28·n days: every start that can have reached the
    // YELLOW months by today is on or before this day; `enrolment::assess` decides exactly.
    let yellow_days = 28 * i64::from(rules.enrolment_yellow_after_months.max(0));
    let started_by = ctx.today - chrono::Duration::days(yellow_days);
    let mut emitted = 0;
    let mut after: Option<String> = None;
    loop {
        let mut subjects = store
            .unenrolled_starts(started_by, ctx.today, after.as_deref(), SCAN_PAGE)
            .await?;
        let more = subjects.len() as u64 > SCAN_PAGE;
        subjects.truncate(SCAN_PAGE as usize);
        after = subjects.last().map(|s| s.project_id.clone());
        let pks: Vec<i64> = subjects.iter().map(|s| s.project_pk).collect();
        let before = justifications::alerted_any(
            store.connection(),
            &pks,
            &[ENROLMENT_YELLOW, ENROLMENT_RED],
        )
        .await?;
        let mut drafts = Vec::new();
        for subject in &subjects {
            let judged = enrolment::assess(
                subject.construction_start,
                subject.statistics_enrolment_date,
                ctx.today,
                rules,
                &label,
            );
            let kind = match judged.light {
                Light::Green => continue,
                Light::Yellow => ENROLMENT_YELLOW,
                Light::Red => ENROLMENT_RED,
            };
            let period = i64::from(values::day_number(subject.construction_start));
            if before.contains(&(subject.project_pk, kind.to_string(), period)) {
                continue;
            }
            drafts.push((
                (subject.project_pk, period),
                kind,
                encode::enrolment_lagging(
                    subject,
                    judged.light,
                    proto::investment::statistics_enrolment(&judged, rule_set),
                ),
            ));
        }
        emitted += raise(store, ctx, drafts).await?;
        if !more {
            break;
        }
    }
    Ok(emitted)
}

/// Emits `drafts` ((project row, ledger period), ledger kind, event), each only when its
/// ledger row is new, in transactions whose events stay within a stream message.
async fn raise(
    store: &Store,
    ctx: &WriteContext,
    drafts: Vec<((i64, i64), &'static str, EventDraft)>,
) -> Result<usize, ServiceError> {
    let mut emitted = 0;
    let mut drafts = drafts.into_iter().peekable();
    while drafts.peek().is_some() {
        let mut unit = match Unit::begin(store, ctx, None, async |_| Ok(())).await? {
            super::unit::Begun::Fresh(unit, ()) => unit,
            super::unit::Begun::Replayed(_) => {
                return Err(ServiceError::internal("a replay without a request id"));
            }
        };
        let mut bytes = 0;
        let mut in_unit = 0;
        while let Some(((project_pk, period), _, draft)) = drafts.peek() {
            let len = draft.batch_len(&ctx.actor);
            if in_unit > 0 && bytes + len > crate::proto::budget::MAX_RESOURCE_BYTES {
                break;
            }
            let (project_pk, period) = (*project_pk, *period);
            let Some((_, kind, draft)) = drafts.next() else {
                break;
            };
            if justifications::claim_alert(store, unit.tx(), project_pk, kind, period, ctx.now_us)
                .await?
            {
                bytes += len;
                in_unit += 1;
                unit.emit(draft);
            }
        }
        unit.commit((), |_| Vec::new()).await?;
        emitted += in_unit;
    }
    Ok(emitted)
}

/// The light rule flags of `serve`, each None when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleFlags {
    /// `--tolerance-days`, days.
    pub tolerance_days: Option<i32>,
    /// `--warning-horizon-days`, days.
    pub warning_horizon_days: Option<i32>,
    /// `--problem-escalation-days`.
    pub problem_escalation: Option<EscalationLadder>,
}

/// Applies the light rule flags given (`--tolerance-days`, `--warning-horizon-days`,
/// `--problem-escalation-days`): when they differ from the active light rule set, the next
/// revision of that set, with them, is published and activated (events included, actor
/// `startup`; its description names the thresholds and the ladder). Returns its name when it
/// did. Replicas started with the same flags publish once; with different ones, the last to
/// start wins, and the events say so.
pub async fn apply_rule_flags(
    store: &Store,
    clock: &crate::domain::clock::Clock,
    flags: RuleFlags,
) -> Result<Option<String>, ServiceError> {
    if flags == RuleFlags::default() {
        return Ok(None);
    }
    let active = repository::active_rule_set(store.connection()).await?;
    let mut rules = active.rules;
    rules.milestone_tolerance_days = flags
        .tolerance_days
        .unwrap_or(rules.milestone_tolerance_days);
    rules.warning_horizon_days = flags
        .warning_horizon_days
        .unwrap_or(rules.warning_horizon_days);
    rules.problem_escalation = flags.problem_escalation.unwrap_or(rules.problem_escalation);
    if rules == active.rules {
        return Ok(None);
    }
    let rules = rules.check()?;
    const ACTOR: &str = "startup";
    let ctx = WriteContext {
        actor: ACTOR.to_string(),
        principal: crate::domain::access::Principal::system(ACTOR),
        now_us: clock.now_micros(),
        today: clock.today(),
    };
    let published = publish_rule_set(
        store,
        &ctx,
        PublishRuleSet {
            id: Id::parse(&active.id).map_err(ServiceError::internal)?,
            display_name: Title::parse(&active.display_name)
                .map_err(ServiceError::internal)?,
            description: Note::parse(&format!(
                "{} revision {} with the thresholds of the server's flags: tolerance {} days, warning horizon {} days, problem escalation ladder {} days",
                active.id,
                active.revision,
                rules.milestone_tolerance_days,
                rules.warning_horizon_days,
                rules.problem_escalation
            ))
            .map_err(ServiceError::internal)?,
            rules,
        },
        None,
    )
    .await?;
    let Outcome::Done(published) = published else {
        return Err(ServiceError::internal("a replay without a request id"));
    };
    let reference = RuleSetRef::Revision(published.id.clone(), published.revision);
    activate_rule_set(store, &ctx, reference).await?;
    Ok(Some(published.name()))
}
