//! The commands of the project library: CreateProject, UpdateProject, DeleteProject and
//! ChangeProjectStage. Each runs in one unit of work; the rules are `domain::project`'s.

use chrono::NaiveDate;
use prost::Message;
use sea_orm::DatabaseTransaction;

use super::ServiceError;
use super::scope;
use super::unit::{Begun, Unit, check_etag};
use crate::domain::names;
use crate::domain::project::{
    Project, ProjectFields, ProjectPatch, Stage, StageChangeRequest, StageTransition,
};
use crate::domain::values::Id;
use crate::events::encode::projects as encode;
use crate::events::outbox::EventDraft;
use crate::proto::v1;
use crate::store::idempotency::RequestKey;
use crate::store::projects::{self as repository, StageRecord};
use crate::store::{Outcome, Store, WriteContext};

/// The unit of work of a command, or, when its request id was answered before, that answer.
macro_rules! begun {
    ($begin:expr) => {
        match $begin.await? {
            $crate::service::unit::Begun::Fresh(unit, authorized) => (unit, authorized),
            $crate::service::unit::Begun::Replayed(response) => {
                return Ok($crate::store::Outcome::Replayed(response));
            }
        }
    };
}
pub(crate) use begun;

/// Starts the unit of work of a change to project `project_id` or to something under it: the
/// project row is locked and the caller's scope on it checked (`scope::load_for_update`).
pub(crate) async fn begin_on_project<'a>(
    store: &'a Store,
    ctx: &'a WriteContext,
    key: Option<&'a RequestKey>,
    project_id: &str,
) -> Result<Begun<'a, (i64, Project)>, ServiceError> {
    Unit::begin(store, ctx, key, async |tx| {
        scope::load_for_update(tx, ctx, project_id).await
    })
    .await
}

/// CreateProject: a new project in its initial stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProject {
    /// The caller's id for it; None lets the server choose.
    pub project_id: Option<Id>,
    pub fields: ProjectFields,
    pub initial_stage: Stage,
}

pub async fn create(
    store: &Store,
    ctx: &WriteContext,
    cmd: CreateProject,
    key: Option<&RequestKey>,
) -> Result<Outcome<Project>, ServiceError> {
    let id = cmd
        .project_id
        .map_or_else(names::generate_id, Id::into_string);
    let (mut unit, ()) = begun!(Unit::begin(store, ctx, key, async |_| {
        scope::check_scope(ctx, &cmd.fields, &names::project_name(&id))
    }));
    let project =
        repository::insert(unit.tx(), &id, &cmd.fields, cmd.initial_stage, ctx.now_us).await?;
    let message = v1::Project::from(&project);
    unit.emit(encode::created(&project, message.clone()));
    unit.commit(project, |_| message.encode_to_vec()).await
}

/// UpdateProject: new values for some fields of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProject {
    pub project_id: String,
    pub patch: ProjectPatch,
    pub etag: Option<String>,
}

/// Changes the fields of a project; a patch that changes no value changes nothing. An editor
/// may not move a project out of their scope.
pub async fn update(
    store: &Store,
    ctx: &WriteContext,
    cmd: UpdateProject,
) -> Result<Outcome<Project>, ServiceError> {
    let (mut unit, (pk, mut project)) = begun!(begin_on_project(store, ctx, None, &cmd.project_id));
    check_etag(cmd.etag.as_deref(), project.name(), project.etag())?;
    let changed = project.update(cmd.patch, ctx.now_us)?;
    if changed.is_empty() {
        return Ok(Outcome::Done(project));
    }
    scope::check_scope(ctx, &project.fields, &project.name())?;
    repository::update(unit.tx(), pk, &project, changed.contains(&"township")).await?;
    unit.emit(encode::updated(&project, changed));
    unit.commit(project, |_| Vec::new()).await
}

/// DeleteProject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteProject {
    pub project_id: String,
    pub etag: Option<String>,
    /// Deletes its prerequisites, milestones, funding applications, investment plans and
    /// monthly reports with it.
    pub force: bool,
}

pub async fn delete(
    store: &Store,
    ctx: &WriteContext,
    cmd: DeleteProject,
) -> Result<Outcome<()>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, None, &cmd.project_id));
    check_etag(cmd.etag.as_deref(), project.name(), project.etag())?;
    let children = repository::count_children(unit.tx(), pk).await?;
    project.check_delete(children, cmd.force)?;
    crate::store::applications::delete_for_project(unit.tx(), pk).await?;
    crate::store::problems::delete_for_project(unit.tx(), pk).await?;
    crate::store::milestones::delete_for_project(unit.tx(), pk).await?;
    crate::store::investment::delete_for_project(unit.tx(), pk).await?;
    repository::delete(unit.tx(), pk).await?;
    unit.emit(encode::deleted(&project));
    unit.commit((), |_| Vec::new()).await
}

/// ChangeProjectStage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStage {
    pub project_id: String,
    pub change: StageChangeRequest,
}

pub async fn change_stage(
    store: &Store,
    ctx: &WriteContext,
    cmd: ChangeStage,
    key: Option<&RequestKey>,
) -> Result<Outcome<Project>, ServiceError> {
    let (mut unit, (pk, mut project)) = begun!(begin_on_project(store, ctx, key, &cmd.project_id));
    let change = cmd.change;
    check_etag(change.etag.as_deref(), project.name(), project.etag())?;
    let step = project.transition(change.target)?;
    let draft = apply_stage_change(
        unit.tx(),
        ctx,
        pk,
        &mut project,
        step,
        change.reason,
        change.effective_date,
    )
    .await?;
    unit.emit(draft);
    unit.commit(project, |p| v1::Project::from(p).encode_to_vec())
        .await
}

/// Takes a legal stage step of the locked project row `pk`: the row and its history are
/// written, and the event is returned for the caller to emit with the rest of its change
/// (ChangeProjectStage, and achieving a milestone, which advances the stage).
pub(crate) async fn apply_stage_change(
    tx: &DatabaseTransaction,
    ctx: &WriteContext,
    pk: i64,
    project: &mut Project,
    step: StageTransition,
    reason: String,
    effective_date: NaiveDate,
) -> Result<EventDraft, ServiceError> {
    project.take_step(step, ctx.now_us);
    let record = StageRecord {
        step,
        reason: &reason,
        actor: &ctx.actor,
        effective_date,
    };
    repository::save_stage(tx, pk, project, &record).await?;
    Ok(encode::stage_changed(project, step, reason, effective_date))
}
