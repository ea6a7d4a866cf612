//! Prerequisites of a project, each write in one transaction with its event.

use prost::Message;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};

use super::entities::{prerequisite, project};
use super::idempotency::RequestKey;
use super::projects::{check_etag, finish, load_for_update};
use super::{Cursor, Outcome, Page, SortKey, Store, WriteContext, db_error, unique_violation};
use crate::domain::names;
use crate::domain::prerequisite::{
    Prerequisite, PrerequisiteFields, PrerequisiteKind, PrerequisitePatch, PrerequisiteState,
};
use crate::domain::values;
use crate::events::outbox::{self as events, EventDraft};
use crate::proto::v1;
use crate::service::ServiceError;

/// Filters of ListPrerequisites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrerequisiteFilter {
    pub kind: Option<PrerequisiteKind>,
    pub state: Option<PrerequisiteState>,
}

fn to_domain(project_id: &str, row: prerequisite::Model) -> Result<Prerequisite, ServiceError> {
    let kind = PrerequisiteKind::parse(&row.kind).ok_or_else(|| {
        ServiceError::internal(format!(
            "stored prerequisite kind {:?} is unknown",
            row.kind
        ))
    })?;
    let state = PrerequisiteState::parse(&row.state).ok_or_else(|| {
        ServiceError::internal(format!(
            "stored prerequisite state {:?} is unknown",
            row.state
        ))
    })?;
    Ok(Prerequisite {
        project_id: project_id.to_string(),
        id: row.prerequisite_id,
        uid: row.uid,
        fields: PrerequisiteFields {
            kind,
            title: row.title,
            state,
            due_date: row.due_date.map(values::from_day_number),
            note: row.note,
        },
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

fn write_fields(model: &mut prerequisite::ActiveModel, f: &PrerequisiteFields) {
    model.kind = Set(f.kind.as_str().to_string());
    model.title = Set(f.title.clone());
    model.state = Set(f.state.as_str().to_string());
    model.due_date = Set(f.due_date.map(values::day_number));
    model.note = Set(f.note.clone());
}

async fn project_pk(store: &Store, project_id: &str) -> Result<i64, ServiceError> {
    project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::ProjectId.eq(project_id))
        .into_tuple::<i64>()
        .one(store.connection())
        .await
        .map_err(db_error)?
        .ok_or_else(|| ServiceError::not_found(names::project_name(project_id)))
}

impl Store {
    pub async fn create_prerequisite(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        prerequisite_id: Option<String>,
        fields: PrerequisiteFields,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<Prerequisite>, ServiceError> {
        // Locking the parent keeps a concurrent DeleteProject from orphaning the new row.
        let (tx, (pk, project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let id = prerequisite_id.unwrap_or_else(names::generate_id);
        let mut model = prerequisite::ActiveModel {
            project_pk: Set(pk),
            prerequisite_id: Set(id.clone()),
            uid: Set(uuid::Uuid::new_v4().to_string()),
            created_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(1),
            ..Default::default()
        };
        write_fields(&mut model, &fields);
        let row = model.insert(&tx).await.map_err(|err| {
            if unique_violation(&err).is_some() {
                ServiceError::AlreadyExists {
                    resource: names::prerequisite_name(project_id, &id),
                    field: "prerequisite_id".into(),
                }
            } else {
                db_error(err)
            }
        })?;
        let created = to_domain(project_id, row)?;
        let message = v1::Prerequisite::from(&created);
        let draft = EventDraft::about(
            v1::EventKind::PrerequisiteCreated,
            &project,
            created.name(),
            Some(v1::event::Detail::PrerequisiteAfter(message.clone())),
            Vec::new(),
        );
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            created,
        )
        .await
    }

    /// One page of a project's prerequisites, oldest first.
    pub async fn list_prerequisites(
        &self,
        project_id: &str,
        filter: &PrerequisiteFilter,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<Prerequisite>, ServiceError> {
        let pk = project_pk(self, project_id).await?;
        let mut condition = Condition::all().add(prerequisite::Column::ProjectPk.eq(pk));
        if let Some(kind) = filter.kind {
            condition = condition.add(prerequisite::Column::Kind.eq(kind.as_str()));
        }
        if let Some(state) = filter.state {
            condition = condition.add(prerequisite::Column::State.eq(state.as_str()));
        }
        if let Some(after) = after {
            condition = condition.add(after.after(
                prerequisite::Column::CreatedAtUs,
                prerequisite::Column::PrerequisiteId,
                false,
            ));
        }
        let rows = prerequisite::Entity::find()
            .filter(condition)
            .order_by_asc(prerequisite::Column::CreatedAtUs)
            .order_by_asc(prerequisite::Column::PrerequisiteId)
            .limit(limit + 1)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        super::page(
            rows,
            limit,
            |row| to_domain(project_id, row),
            |item| Cursor {
                key: SortKey::Int(item.created_at_us),
                id: item.id.clone(),
            },
        )
    }

    pub async fn update_prerequisite(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        prerequisite_id: &str,
        patch: PrerequisitePatch,
        etag: Option<&str>,
    ) -> Result<Prerequisite, ServiceError> {
        let tx = self.begin_write().await?;
        let (pk, project) = load_for_update(&tx, ctx, project_id).await?;
        let row = find_row(&tx, pk, project_id, prerequisite_id).await?;
        let row_pk = row.id;
        let mut item = to_domain(project_id, row)?;
        check_etag(etag, item.name(), item.etag())?;
        let changed = patch.apply(&mut item.fields);
        if let Err((field, problem)) = item.fields.check() {
            return Err(ServiceError::invalid(
                format!("prerequisite.{field}"),
                problem,
            ));
        }
        if changed.is_empty() {
            return Ok(item);
        }
        item.version += 1;
        item.updated_at_us = ctx.now_us;
        let mut model = prerequisite::ActiveModel {
            id: sea_orm::Unchanged(row_pk),
            version: Set(item.version),
            updated_at_us: Set(ctx.now_us),
            ..Default::default()
        };
        write_fields(&mut model, &item.fields);
        model.update(&tx).await.map_err(db_error)?;
        let draft = EventDraft::about(
            v1::EventKind::PrerequisiteUpdated,
            &project,
            item.name(),
            Some(v1::event::Detail::PrerequisiteAfter(
                v1::Prerequisite::from(&item),
            )),
            changed,
        );
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await?;
        Ok(item)
    }

    pub async fn delete_prerequisite(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        prerequisite_id: &str,
        etag: Option<&str>,
    ) -> Result<(), ServiceError> {
        let tx = self.begin_write().await?;
        let (pk, project) = load_for_update(&tx, ctx, project_id).await?;
        let row = find_row(&tx, pk, project_id, prerequisite_id).await?;
        let row_pk = row.id;
        let item = to_domain(project_id, row)?;
        check_etag(etag, item.name(), item.etag())?;
        prerequisite::Entity::delete_by_id(row_pk)
            .exec(&tx)
            .await
            .map_err(db_error)?;
        let draft = EventDraft::about(
            v1::EventKind::PrerequisiteDeleted,
            &project,
            item.name(),
            None,
            Vec::new(),
        );
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await
    }
}

async fn find_row(
    tx: &sea_orm::DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    prerequisite_id: &str,
) -> Result<prerequisite::Model, ServiceError> {
    prerequisite::Entity::find()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .filter(prerequisite::Column::PrerequisiteId.eq(prerequisite_id))
        .one(tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            ServiceError::not_found(names::prerequisite_name(project_id, prerequisite_id))
        })
}
