//! The commands of milestones: schedule, update, delete, the three date changes and the
//! scanner's alerts, each in one unit of work (`Unit`): authorize, load, the domain's
//! transition (`domain::milestone`), save, events (`events::encode::milestones`), commit. The
//! API, the scanner and the demo call these.
//!
//! A write builds the milestone's message once: the event carries it, the request id keeps
//! its encoding, and the caller answers with it.

use chrono::NaiveDate;
use prost::Message;
use sea_orm::ConnectionTrait;

use super::ServiceError;
use super::scope::load_for_update;
use super::unit::{Begun, Unit, check_etag};
use crate::domain::milestone::{
    Alert, AssessedMilestone, Blockers, DateChange, Milestone, MilestoneError, MilestonePatch,
    NewMilestone, Policy, StageAdvance, Stamp, schedule,
};
use crate::domain::names;
use crate::domain::project::Project;
use crate::domain::values::{Id, Reason};
use crate::events::encode::milestones as encode;
use crate::events::outbox::EventDraft;
use crate::proto::{budget, v1};
use crate::store::idempotency::RequestKey;
use crate::store::milestones::{self as repo, AlertCandidate, AlertInputs, RuleSql};
use crate::store::{Outcome, Store, WriteContext};

impl From<MilestoneError> for ServiceError {
    fn from(err: MilestoneError) -> Self {
        match err {
            MilestoneError::Invalid(invalid) => invalid.into(),
            MilestoneError::Refused(refused) => refused.into(),
        }
    }
}

/// CreateMilestone.
#[derive(Debug, Clone)]
pub struct CreateMilestone {
    pub project_id: String,
    /// The server picks one when None.
    pub milestone_id: Option<Id>,
    pub new: NewMilestone,
    pub key: Option<RequestKey>,
}

/// UpdateMilestone.
#[derive(Debug, Clone)]
pub struct UpdateMilestone {
    pub project_id: String,
    pub milestone_id: String,
    pub patch: MilestonePatch,
    pub etag: Option<String>,
}

/// DeleteMilestone.
#[derive(Debug, Clone)]
pub struct DeleteMilestone {
    pub project_id: String,
    pub milestone_id: String,
    pub etag: Option<String>,
}

/// ForecastMilestone, AchieveMilestone or RebaselineMilestone.
#[derive(Debug, Clone)]
pub struct ChangeDate {
    pub project_id: String,
    pub milestone_id: String,
    pub change: DateChange,
    pub date: NaiveDate,
    pub reason: Reason,
    pub etag: Option<String>,
    pub key: Option<RequestKey>,
}

/// GetMilestone.
#[derive(Debug, Clone)]
pub struct GetMilestone {
    pub project_id: String,
    pub milestone_id: String,
    pub status_date: NaiveDate,
}

fn stamp(ctx: &WriteContext) -> Stamp<'_> {
    Stamp {
        actor: &ctx.actor,
        now_us: ctx.now_us,
        today: ctx.today,
    }
}

/// The unit of work of a write to a milestone of `project_id`, with the project locked and the
/// caller's scope on it checked; Err holds the kept response of an earlier call with the
/// same request id.
async fn begin<'a>(
    store: &'a Store,
    ctx: &'a WriteContext,
    key: Option<&'a RequestKey>,
    project_id: &str,
) -> Result<Result<(Unit<'a>, i64, Project), Vec<u8>>, ServiceError> {
    Ok(
        match Unit::begin(store, ctx, key, async |tx| {
            load_for_update(tx, ctx, project_id).await
        })
        .await?
        {
            Begun::Fresh(unit, (project_pk, project)) => Ok((unit, project_pk, project)),
            Begun::Replayed(first) => Err(first),
        },
    )
}

/// A write to one milestone under way: its unit of work, its project (locked, the caller's
/// scope on it checked) and the milestone (locked, the caller's etag checked), with their keys.
struct Opened<'a> {
    unit: Unit<'a>,
    project_pk: i64,
    project: Project,
    milestone_pk: i64,
    milestone: Milestone,
}

/// Opens a write to milestone `milestone_id` of `project_id`, in the order its answers are
/// checked: the caller's scope, the request id, the milestone's existence, the etag. Err holds
/// the kept response of an earlier call with the same request id.
async fn open<'a>(
    store: &'a Store,
    ctx: &'a WriteContext,
    key: Option<&'a RequestKey>,
    (project_id, milestone_id): (&str, &str),
    etag: Option<&str>,
) -> Result<Result<Opened<'a>, Vec<u8>>, ServiceError> {
    let (unit, project_pk, project) = match begin(store, ctx, key, project_id).await? {
        Ok(begun) => begun,
        Err(first) => return Ok(Err(first)),
    };
    let (milestone_pk, milestone) =
        repo::find(unit.tx(), project_pk, project_id, milestone_id, true).await?;
    check_etag(etag, milestone.name(), milestone.etag())?;
    Ok(Ok(Opened {
        unit,
        project_pk,
        project,
        milestone_pk,
        milestone,
    }))
}

/// The milestone with its derived view as of the writer's today.
async fn assess_now(
    conn: &impl ConnectionTrait,
    project_pk: i64,
    milestone: Milestone,
    ctx: &WriteContext,
    policy: &Policy,
) -> Result<AssessedMilestone, ServiceError> {
    let blockers = repo::blockers(conn, project_pk, &milestone.id).await?;
    Ok(milestone.assessed(blockers, ctx.today, policy))
}

/// The answer of a write that changed nothing: the transaction is given up first (nothing is
/// recorded, not even under a request id), then the milestone is assessed.
async fn unchanged(
    store: &Store,
    unit: Unit<'_>,
    project_pk: i64,
    milestone: Milestone,
    policy: &Policy,
    rule_set: &str,
) -> Result<Outcome<v1::Milestone>, ServiceError> {
    let ctx = unit.ctx();
    drop(unit);
    let assessed = assess_now(store.connection(), project_pk, milestone, ctx, policy).await?;
    Ok(Outcome::Done(message(&assessed, policy, rule_set)))
}

/// The milestone's message as answers and events carry it: with its light's rule set revision
/// (`rule_set`, `lightRuleSets/{id}@{revision}`, the one `policy` comes from) and reason.
fn message(assessed: &AssessedMilestone, policy: &Policy, rule_set: &str) -> v1::Milestone {
    crate::proto::annotated_milestone(v1::Milestone::from(assessed), policy, rule_set)
}

pub async fn create(
    store: &Store,
    policy: &Policy,
    rule_set: &str,
    ctx: &WriteContext,
    cmd: CreateMilestone,
) -> Result<Outcome<v1::Milestone>, ServiceError> {
    let CreateMilestone {
        project_id,
        milestone_id,
        new,
        key,
    } = cmd;
    let (mut unit, project_pk, project) = match begin(store, ctx, key.as_ref(), &project_id).await?
    {
        Ok(begun) => begun,
        Err(first) => return Ok(Outcome::Replayed(first)),
    };
    let id = milestone_id.map_or_else(names::generate_id, Id::into_string);
    let uid = uuid::Uuid::new_v4().to_string();
    let scheduled = schedule(&project, id, uid, new, stamp(ctx))?;
    let township = &project.fields.township;
    let milestone_pk = repo::insert(unit.tx(), project_pk, township, &scheduled.milestone).await?;
    for revision in &scheduled.revisions {
        repo::insert_revision(unit.tx(), milestone_pk, revision).await?;
    }
    let assessed = assess_now(unit.tx(), project_pk, scheduled.milestone, ctx, policy).await?;
    let message = message(&assessed, policy, rule_set);
    unit.emit(encode::scheduled(&project, &assessed, message.clone()));
    unit.commit(message, Message::encode_to_vec).await
}

pub async fn update(
    store: &Store,
    policy: &Policy,
    rule_set: &str,
    ctx: &WriteContext,
    cmd: UpdateMilestone,
) -> Result<Outcome<v1::Milestone>, ServiceError> {
    let ids = (cmd.project_id.as_str(), cmd.milestone_id.as_str());
    let mut w = match open(store, ctx, None, ids, cmd.etag.as_deref()).await? {
        Ok(opened) => opened,
        Err(first) => return Ok(Outcome::Replayed(first)),
    };
    let Some(updated) = w.milestone.update(cmd.patch, ctx.now_us)? else {
        return unchanged(store, w.unit, w.project_pk, w.milestone, policy, rule_set).await;
    };
    repo::save(w.unit.tx(), w.milestone_pk, &updated.milestone).await?;
    let assessed = assess_now(w.unit.tx(), w.project_pk, updated.milestone, ctx, policy).await?;
    let message = message(&assessed, policy, rule_set);
    let draft = encode::updated(&w.project, &assessed, message.clone(), &updated.changed);
    w.unit.emit(draft);
    w.unit.commit(message, Message::encode_to_vec).await
}

pub async fn delete(
    store: &Store,
    ctx: &WriteContext,
    cmd: DeleteMilestone,
) -> Result<Outcome<()>, ServiceError> {
    let ids = (cmd.project_id.as_str(), cmd.milestone_id.as_str());
    let mut w = match open(store, ctx, None, ids, cmd.etag.as_deref()).await? {
        Ok(opened) => opened,
        Err(first) => return Ok(Outcome::Replayed(first)),
    };
    repo::delete(w.unit.tx(), &[w.milestone_pk]).await?;
    w.unit.emit(encode::deleted(&w.project, &w.milestone));
    w.unit.commit((), |()| Vec::new()).await
}

/// ForecastMilestone, AchieveMilestone and RebaselineMilestone: one date changes, with a
/// revision and an event; achieving may move the project's stage forward.
pub async fn change_date(
    store: &Store,
    policy: &Policy,
    rule_set: &str,
    ctx: &WriteContext,
    cmd: ChangeDate,
) -> Result<Outcome<v1::Milestone>, ServiceError> {
    let ids = (cmd.project_id.as_str(), cmd.milestone_id.as_str());
    let mut w = match open(store, ctx, cmd.key.as_ref(), ids, cmd.etag.as_deref()).await? {
        Ok(opened) => opened,
        Err(first) => return Ok(Outcome::Replayed(first)),
    };
    let changed =
        w.milestone
            .change_date(cmd.change, cmd.date, &cmd.reason, &w.project, stamp(ctx))?;
    let Some((milestone, changed)) = changed else {
        return unchanged(store, w.unit, w.project_pk, w.milestone, policy, rule_set).await;
    };
    repo::save(w.unit.tx(), w.milestone_pk, &milestone).await?;
    repo::insert_revision(w.unit.tx(), w.milestone_pk, &changed.revision).await?;
    let assessed = assess_now(w.unit.tx(), w.project_pk, milestone, ctx, policy).await?;
    let message = message(&assessed, policy, rule_set);
    let draft = encode::date_changed(&w.project, &assessed, message.clone(), &changed);
    w.unit.emit(draft);
    if let Some(advance) = changed.stage {
        let draft = advance_stage(&w.unit, ctx, w.project_pk, &mut w.project, advance).await?;
        w.unit.emit(draft);
    }
    w.unit.commit(message, Message::encode_to_vec).await
}

/// The project's stage moving forward with an achievement: the one place milestones change a
/// project.
async fn advance_stage(
    unit: &Unit<'_>,
    ctx: &WriteContext,
    project_pk: i64,
    project: &mut Project,
    advance: StageAdvance,
) -> Result<EventDraft, ServiceError> {
    super::projects::apply_stage_change(
        unit.tx(),
        ctx,
        project_pk,
        project,
        advance.step,
        advance.reason,
        advance.effective_date,
    )
    .await
}

/// GetMilestone: the milestone as of the status date; for a day before `today` its dates are
/// rebuilt from the revisions recorded up to that day.
pub async fn get(
    store: &Store,
    policy: &Policy,
    query: GetMilestone,
    today: NaiveDate,
) -> Result<AssessedMilestone, ServiceError> {
    let conn = store.connection();
    let project_pk = repo::project_pk(conn, &query.project_id).await?;
    let (milestone_pk, mut milestone) = repo::find(
        conn,
        project_pk,
        &query.project_id,
        &query.milestone_id,
        false,
    )
    .await?;
    if query.status_date < today {
        let revisions = repo::revisions(conn, milestone_pk, 0, None).await?;
        milestone = milestone.as_of(&revisions, query.status_date)?;
    }
    let blockers = repo::blockers(conn, project_pk, &milestone.id).await?;
    Ok(milestone.assessed(blockers, query.status_date, policy))
}

/// Alerts claimed per scanner transaction. A stream delivers all events of a transaction in
/// one message, so a batch also stops before its events would pass
/// `budget::MAX_RESOURCE_BYTES` and gives back the claims left over; a hundred typical alert
/// events take about 45 KiB, so that rarely happens. Measured on the bench's data set (20,000
/// projects, 17,616 alerts, SQLite, release build): a first pass of 0.51 s, against 0.30 s
/// with unbounded batches of 1,000 and 1.2 s with batches of 1,000 cut to fit (the claims
/// given back cost more than the transactions saved).
const ALERT_BATCH: usize = 100;

/// What one scanner transaction did.
struct AlertBatch {
    /// Alerts raised (events appended).
    raised: usize,
    /// The last milestone key alerted; the next batch looks after it.
    last: i64,
    /// No candidate is left after `last`.
    done: bool,
}

/// The scanner's pass for one day: every milestone that is overdue, or at risk, on `today`
/// and has not been alerted for its current baseline gets one alert row and one event.
/// The alert row's unique key makes this once-only across restarts and replicas. Returns
/// the number of events emitted.
pub async fn scan_alerts(
    store: &Store,
    policy: &Policy,
    rule_set: &str,
    ctx: &WriteContext,
) -> Result<usize, ServiceError> {
    let rules = RuleSql::new(ctx.today, policy);
    let mut emitted = 0;
    for alert in Alert::ALL {
        let condition = rules.alert(alert);
        // Batches continue after the last milestone claimed, so the pass reads the table
        // once instead of from the start for every batch.
        let mut after = 0;
        loop {
            let batch =
                raise_alerts(store, policy, rule_set, ctx, alert, &condition, after).await?;
            emitted += batch.raised;
            if batch.done {
                break;
            }
            if after == 0 {
                repo::refresh_alert_statistics(store).await?;
            }
            after = batch.last;
        }
    }
    Ok(emitted)
}

/// Raises one batch of alerts in one transaction: claims the ledger rows of milestones after
/// `after` (by key), reads them with their projects and open prerequisites, and appends their
/// events together.
async fn raise_alerts(
    store: &Store,
    policy: &Policy,
    rule_set: &str,
    ctx: &WriteContext,
    alert: Alert,
    condition: &str,
    after: i64,
) -> Result<AlertBatch, ServiceError> {
    let mut unit = match Unit::begin(store, ctx, None, async |_| Ok(())).await? {
        Begun::Fresh(unit, ()) => unit,
        Begun::Replayed(_) => return Err(ServiceError::internal("a replay without a request id")),
    };
    let claims = repo::claim_alerts(
        store,
        unit.tx(),
        alert,
        condition,
        after,
        ALERT_BATCH,
        ctx.now_us,
    )
    .await?;
    let Some(last) = claims.iter().map(|(id, _)| *id).max() else {
        return Ok(AlertBatch {
            raised: 0,
            last: after,
            done: true,
        });
    };
    let ids = claims.iter().map(|(id, _)| *id).collect();
    let AlertInputs {
        candidates,
        projects,
        open,
        open_problems,
    } = repo::alert_inputs(store, unit.tx(), ids).await?;
    let mut alerted = Vec::with_capacity(candidates.len());
    let mut bytes = 0;
    for AlertCandidate {
        milestone_pk,
        project_pk,
        milestone,
    } in candidates
    {
        let project = projects
            .get(&project_pk)
            .ok_or_else(|| ServiceError::internal("milestone without its project"))?;
        let blockers = Blockers {
            open_prerequisites: open.contains(&project_pk),
            open_problem: open_problems.get(&milestone_pk).cloned(),
        };
        let assessed = milestone.assessed(blockers, ctx.today, policy);
        let draft = encode::alert(
            project,
            &assessed,
            message(&assessed, policy, rule_set),
            alert,
        );
        bytes += draft.batch_len(&ctx.actor);
        if bytes > budget::MAX_RESOURCE_BYTES && !alerted.is_empty() {
            break;
        }
        unit.emit(draft);
        alerted.push(milestone_pk);
    }
    // Claims past the last milestone alerted go back, for the next batch to take.
    let cut = alerted.last().copied().filter(|kept| *kept < last);
    if let Some(kept) = cut {
        let released: Vec<(i64, i32)> = claims
            .iter()
            .filter(|(id, _)| *id > kept)
            .copied()
            .collect();
        repo::release_alerts(unit.tx(), alert, &released).await?;
    }
    let raised = alerted.len();
    unit.commit((), |()| Vec::new()).await?;
    Ok(AlertBatch {
        raised,
        last: cut.unwrap_or(last),
        done: cut.is_none() && claims.len() < ALERT_BATCH,
    })
}
