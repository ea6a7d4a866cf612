//! The commands of the problem ledger (问题清单, issue 20): CreateProblem, UpdateProblem and the
//! transitions (Start, Resolve, Reopen, Close, ExtendDeadline). Each is one unit of work that
//! saves the problem, records its revision and appends its PROBLEM_* event together; the rules
//! are `domain::problem`'s.

use chrono::NaiveDate;
use prost::Message;
use sea_orm::DatabaseTransaction;

use super::ServiceError;
use super::projects::begun;
use super::scope::out_of_scope;
use super::unit::{Begun, Unit, check_etag};
use crate::domain::names;
use crate::domain::problem::{Problem, ProblemChange, ProblemFields, ProblemPatch, problem_name};
use crate::domain::project::Project;
use crate::domain::values::{Id, Note, Reason};
use crate::events::encode::problems as encode;
use crate::proto;
use crate::store::error::StoreError;
use crate::store::idempotency::RequestKey;
use crate::store::problems as repository;
use crate::store::{Outcome, Store, WriteContext};

/// A problem loaded for a change, with its project (both rows locked by the project's lock).
struct Loaded {
    project_pk: i64,
    project: Project,
    problem_pk: i64,
    problem: Problem,
}

/// The error for a problem the caller may act on through neither scope.
fn outside_both_scopes(ctx: &WriteContext, name: &str) -> ServiceError {
    ServiceError::permission_denied(format!(
        "token {:?} ({}) may not change {name}; editors change problems of projects of their departments or townships, or problems whose responsible unit is one of them",
        ctx.principal.name,
        ctx.principal.role.as_str()
    ))
}

/// Locks the project, loads the problem and checks that the caller may act on it
/// (`Problem::may_act`). A caller who may not learns nothing of whether it exists.
async fn load_for_change(
    tx: &DatabaseTransaction,
    ctx: &WriteContext,
    project_id: &str,
    problem_id: &str,
) -> Result<Loaded, ServiceError> {
    let name = problem_name(project_id, problem_id);
    let Some((project_pk, project)) = crate::store::projects::lock(tx, project_id).await? else {
        return Err(if ctx.principal.is_admin() {
            ServiceError::not_found(name)
        } else {
            outside_both_scopes(ctx, &name)
        });
    };
    let (department, township) = (&project.fields.department, &project.fields.township);
    match repository::find(tx, project_pk, project_id, problem_id).await {
        Ok((problem_pk, problem)) if problem.may_act(&ctx.principal, department, township) => {
            Ok(Loaded {
                project_pk,
                project,
                problem_pk,
                problem,
            })
        }
        Ok(_) => Err(outside_both_scopes(ctx, &name)),
        Err(StoreError::NotFound { .. }) if ctx.principal.may_change(department, township) => {
            Err(ServiceError::not_found(name))
        }
        Err(StoreError::NotFound { .. }) => Err(outside_both_scopes(ctx, &name)),
        Err(other) => Err(other.into()),
    }
}

/// Refuses a blocked milestone that is not a milestone of the project.
async fn check_milestone(
    tx: &DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    milestone_id: Option<&str>,
    field: &str,
) -> Result<(), ServiceError> {
    let Some(milestone_id) = milestone_id else {
        return Ok(());
    };
    match crate::store::milestones::find(tx, project_pk, project_id, milestone_id, false).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(ServiceError::invalid(
            field,
            format!(
                "{} does not exist",
                names::milestone_name(project_id, milestone_id)
            ),
        )),
        Err(other) => Err(other.into()),
    }
}

/// Saves `loaded.problem` after `change`, records the revision, emits the event and commits.
async fn finish(
    mut unit: Unit<'_>,
    loaded: Loaded,
    change: ProblemChange,
) -> Result<Outcome<Problem>, ServiceError> {
    let Loaded {
        project,
        problem_pk,
        problem,
        ..
    } = loaded;
    let ctx = unit.ctx();
    repository::save(unit.tx(), problem_pk, &problem).await?;
    repository::add_revision(
        unit.tx(),
        problem_pk,
        problem.version,
        &change,
        &ctx.actor,
        ctx.now_us,
    )
    .await?;
    let message = proto::problems::problem(&problem);
    unit.emit(encode::changed(
        &project,
        &problem,
        change.action,
        change.changed_fields.clone(),
        message.clone(),
    ));
    unit.commit(problem, |_| message.encode_to_vec()).await
}

/// CreateProblem: a new OPEN problem raised by the caller; the caller's scope must cover the
/// project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProblem {
    pub project_id: String,
    /// The caller's id for it; None lets the server choose.
    pub problem_id: Option<Id>,
    pub fields: ProblemFields,
}

pub async fn create(
    store: &Store,
    ctx: &WriteContext,
    cmd: CreateProblem,
    key: Option<&RequestKey>,
) -> Result<Outcome<Problem>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(super::projects::begin_on_project(
        store,
        ctx,
        key,
        &cmd.project_id
    ));
    check_milestone(
        unit.tx(),
        pk,
        &cmd.project_id,
        cmd.fields.milestone_id.as_deref(),
        "problem.blocked_milestone",
    )
    .await?;
    let id = cmd
        .problem_id
        .map_or_else(names::generate_id, Id::into_string);
    let (problem_pk, created) = repository::insert(
        unit.tx(),
        pk,
        &cmd.project_id,
        &id,
        &cmd.fields,
        &ctx.actor,
        ctx.now_us,
    )
    .await?;
    let change = created.created("");
    repository::add_revision(unit.tx(), problem_pk, 1, &change, &ctx.actor, ctx.now_us).await?;
    let message = proto::problems::problem(&created);
    unit.emit(encode::changed(
        &project,
        &created,
        change.action,
        Vec::new(),
        message.clone(),
    ));
    unit.commit(created, |_| message.encode_to_vec()).await
}

/// UpdateProblem: new descriptive values. The caller must be able to act on the problem before
/// and after the change (an editor acting through the responsible unit cannot hand it to a
/// unit outside their scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProblem {
    pub project_id: String,
    pub problem_id: String,
    pub patch: ProblemPatch,
    pub reason: Reason,
    pub etag: Option<String>,
}

pub async fn update(
    store: &Store,
    ctx: &WriteContext,
    cmd: UpdateProblem,
) -> Result<Outcome<Problem>, ServiceError> {
    let (unit, mut loaded) = begun!(Unit::begin(store, ctx, None, async |tx| {
        load_for_change(tx, ctx, &cmd.project_id, &cmd.problem_id).await
    }));
    let name = loaded.problem.name();
    check_etag(cmd.etag.as_deref(), name.clone(), loaded.problem.etag())?;
    if let Some(milestone) = &cmd.patch.milestone_id {
        check_milestone(
            unit.tx(),
            loaded.project_pk,
            &cmd.project_id,
            milestone.as_deref(),
            "problem.blocked_milestone",
        )
        .await?;
    }
    let change = loaded.problem.update(cmd.patch, cmd.reason, ctx.now_us)?;
    if change.changed_fields.is_empty() {
        return Ok(Outcome::Done(loaded.problem));
    }
    let fields = &loaded.project.fields;
    if !loaded
        .problem
        .may_act(&ctx.principal, &fields.department, &fields.township)
    {
        return Err(out_of_scope(
            ctx,
            &format!(
                "{name} with responsible unit {:?}",
                loaded.problem.fields.responsible_unit
            ),
        ));
    }
    finish(unit, loaded, change).await
}

/// A transition of a problem's state, or its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// OPEN → IN_PROGRESS, with an optional note.
    Start(Reason),
    /// IN_PROGRESS → RESOLVED, with the resolution note.
    Resolve(Note),
    /// RESOLVED → IN_PROGRESS, with the reason.
    Reopen(Reason),
    /// RESOLVED → CLOSED, by the raiser or an ADMIN, with an optional note.
    Close(Reason),
    /// A later deadline, with the reason.
    ExtendDeadline { deadline: NaiveDate, reason: Reason },
}

/// StartProblem, ResolveProblem, ReopenProblem, CloseProblem or ExtendProblemDeadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionProblem {
    pub project_id: String,
    pub problem_id: String,
    pub transition: Transition,
    pub etag: Option<String>,
}

pub async fn transition(
    store: &Store,
    ctx: &WriteContext,
    cmd: TransitionProblem,
    key: Option<&RequestKey>,
) -> Result<Outcome<Problem>, ServiceError> {
    let (unit, mut loaded) = match Unit::begin(store, ctx, key, async |tx| {
        load_for_change(tx, ctx, &cmd.project_id, &cmd.problem_id).await
    })
    .await?
    {
        Begun::Fresh(unit, loaded) => (unit, loaded),
        Begun::Replayed(response) => return Ok(Outcome::Replayed(response)),
    };
    check_etag(
        cmd.etag.as_deref(),
        loaded.problem.name(),
        loaded.problem.etag(),
    )?;
    let now = ctx.now_us;
    let problem = &mut loaded.problem;
    let change = match cmd.transition {
        Transition::Start(note) => problem.start(note, now)?,
        Transition::Resolve(note) => problem.resolve(note, now, ctx.today)?,
        Transition::Reopen(reason) => problem.reopen(reason, now)?,
        Transition::Close(note) => problem.close(&ctx.principal, note, now)?,
        Transition::ExtendDeadline { deadline, reason } => {
            problem.extend_deadline(deadline, reason, now)?
        }
    };
    finish(unit, loaded, change).await
}

/// GetProblem: any reader.
pub async fn get(
    store: &Store,
    project_id: &str,
    problem_id: &str,
) -> Result<Problem, ServiceError> {
    Ok(repository::get(store.connection(), project_id, problem_id)
        .await?
        .1)
}

/// ListProblemRevisions: one page, oldest first, after revision number `after`.
pub async fn revisions(
    store: &Store,
    project_id: &str,
    problem_id: &str,
    after: Option<i64>,
    limit: u64,
) -> Result<crate::store::Page<repository::RevisionRecord>, ServiceError> {
    let (pk, _) = repository::get(store.connection(), project_id, problem_id).await?;
    Ok(repository::revisions(store.connection(), pk, after, limit).await?)
}

/// How many overdue problems one scan reads at a time.
const SCAN_PAGE: u64 = 500;

/// The scanner's pass over the ledger: for every OPEN or IN_PROGRESS problem whose deadline
/// has passed, each rung of `ladder` (the active light rule set's) it has reached and not been alerted for (at this
/// deadline) raises PROBLEM_OVERDUE (rung 0) or PROBLEM_ESCALATED, once per problem, rung and
/// deadline by the alert ledger's unique key, claimed in the transaction of its event. An
/// extension is a new deadline, so it re-arms every rung. Returns the number of events.
pub async fn scan_alerts(
    store: &Store,
    ctx: &WriteContext,
    ladder: &crate::domain::problem::EscalationLadder,
) -> Result<usize, ServiceError> {
    let mut emitted = 0;
    let mut after = 0;
    let mut projects: std::collections::HashMap<String, Project> = Default::default();
    loop {
        let (overdue, last) = repository::overdue_after(store, ctx.today, after, SCAN_PAGE).await?;
        let Some(last) = last else {
            break;
        };
        after = last;
        // Alerts raised before (the common case on every pass after the first) are skipped
        // without a write; the ledger's unique key still decides the rest.
        let pks: Vec<i64> = overdue.iter().map(|(pk, _, _)| *pk).collect();
        let before = repository::alerted(store.connection(), &pks).await?;
        for (problem_pk, _, problem) in &overdue {
            let deadline = crate::domain::values::day_number(problem.fields.deadline);
            for rung in ladder.reached(problem.fields.deadline, ctx.today) {
                if before.contains(&(*problem_pk, rung.level, deadline)) {
                    continue;
                }
                if !projects.contains_key(&problem.project_id) {
                    let project = store.get_project(&problem.project_id).await?;
                    projects.insert(problem.project_id.clone(), project);
                }
                let project = &projects[&problem.project_id];
                // One alert per transaction: a problem at its bounds takes a good part of
                // what one transaction's events may (`proto::budget`).
                let mut unit = match Unit::begin(store, ctx, None, async |_| Ok(())).await? {
                    Begun::Fresh(unit, ()) => unit,
                    Begun::Replayed(_) => {
                        return Err(ServiceError::internal("a replay without a request id"));
                    }
                };
                if repository::claim_alert(
                    store,
                    unit.tx(),
                    *problem_pk,
                    rung.level,
                    problem.fields.deadline,
                    ctx.now_us,
                )
                .await?
                {
                    let message = proto::problems::problem(problem);
                    unit.emit(encode::alert(project, problem, &rung, ctx.today, message));
                    unit.commit((), |_| Vec::new()).await?;
                    emitted += 1;
                }
            }
        }
    }
    Ok(emitted)
}
