//! The commands on the prerequisites of a project: CreatePrerequisite, UpdatePrerequisite and
//! DeletePrerequisite. Each locks its project and checks the caller's scope on it; the rules
//! are `domain::prerequisite`'s.

use prost::Message;

use super::ServiceError;
use super::projects::{begin_on_project, begun};
use super::unit::check_etag;
use crate::domain::names;
use crate::domain::prerequisite::{Prerequisite, PrerequisiteFields, PrerequisitePatch};
use crate::domain::values::Id;
use crate::events::encode::projects as encode;
use crate::proto::v1;
use crate::store::idempotency::RequestKey;
use crate::store::prerequisites as repository;
use crate::store::{Outcome, Store, WriteContext};

/// CreatePrerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePrerequisite {
    pub project_id: String,
    /// The caller's id for it; None lets the server choose.
    pub prerequisite_id: Option<Id>,
    pub fields: PrerequisiteFields,
}

pub async fn create(
    store: &Store,
    ctx: &WriteContext,
    cmd: CreatePrerequisite,
    key: Option<&RequestKey>,
) -> Result<Outcome<Prerequisite>, ServiceError> {
    // Locking the parent keeps a concurrent DeleteProject from orphaning the new row.
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, key, &cmd.project_id));
    let id = cmd
        .prerequisite_id
        .map_or_else(names::generate_id, Id::into_string);
    let created =
        repository::insert(unit.tx(), pk, &cmd.project_id, &id, &cmd.fields, ctx.now_us).await?;
    let message = v1::Prerequisite::from(&created);
    unit.emit(encode::prerequisite_created(
        &project,
        &created,
        message.clone(),
    ));
    unit.commit(created, |_| message.encode_to_vec()).await
}

/// UpdatePrerequisite: new values for some fields of a prerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePrerequisite {
    pub project_id: String,
    pub prerequisite_id: String,
    pub patch: PrerequisitePatch,
    pub etag: Option<String>,
}

pub async fn update(
    store: &Store,
    ctx: &WriteContext,
    cmd: UpdatePrerequisite,
) -> Result<Outcome<Prerequisite>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, None, &cmd.project_id));
    let (row_pk, mut item) =
        repository::find(unit.tx(), pk, &cmd.project_id, &cmd.prerequisite_id).await?;
    check_etag(cmd.etag.as_deref(), item.name(), item.etag())?;
    let changed = item.update(cmd.patch, ctx.now_us)?;
    if changed.is_empty() {
        return Ok(Outcome::Done(item));
    }
    repository::update(unit.tx(), row_pk, &item).await?;
    unit.emit(encode::prerequisite_updated(&project, &item, changed));
    unit.commit(item, |_| Vec::new()).await
}

/// DeletePrerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletePrerequisite {
    pub project_id: String,
    pub prerequisite_id: String,
    pub etag: Option<String>,
}

pub async fn delete(
    store: &Store,
    ctx: &WriteContext,
    cmd: DeletePrerequisite,
) -> Result<Outcome<()>, ServiceError> {
    let (mut unit, (pk, project)) = begun!(begin_on_project(store, ctx, None, &cmd.project_id));
    let (row_pk, item) =
        repository::find(unit.tx(), pk, &cmd.project_id, &cmd.prerequisite_id).await?;
    check_etag(cmd.etag.as_deref(), item.name(), item.etag())?;
    repository::delete(unit.tx(), row_pk).await?;
    unit.emit(encode::prerequisite_deleted(&project, &item));
    unit.commit((), |_| Vec::new()).await
}
