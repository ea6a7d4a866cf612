//! The prerequisite repository: prerequisite rows to domain prerequisites and back, and the
//! listing query. The commands that use it are in `service::prerequisites`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::entities::{prerequisite, project};
use super::error::{StoreError, conflict_on};
use super::{Cursor, Page, SortKey, Store};
use crate::domain::names;
use crate::domain::prerequisite::{
    Prerequisite, PrerequisiteFields, PrerequisiteKind, PrerequisiteState,
};
use crate::domain::values;

/// Filters of ListPrerequisites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrerequisiteFilter {
    pub kind: Option<PrerequisiteKind>,
    pub state: Option<PrerequisiteState>,
}

fn to_domain(project_id: &str, row: prerequisite::Model) -> Result<Prerequisite, StoreError> {
    let kind = PrerequisiteKind::parse(&row.kind).ok_or_else(|| {
        StoreError::corrupt(format!(
            "stored prerequisite kind {:?} is unknown",
            row.kind
        ))
    })?;
    let state = PrerequisiteState::parse(&row.state).ok_or_else(|| {
        StoreError::corrupt(format!(
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

/// Inserts prerequisite `id` of the project row `project_pk` (project `project_id`), created
/// at `now_us`; a taken id is a conflict on `prerequisite_id`.
pub async fn insert(
    tx: &DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    id: &str,
    fields: &PrerequisiteFields,
    now_us: i64,
) -> Result<Prerequisite, StoreError> {
    let mut model = prerequisite::ActiveModel {
        project_pk: Set(project_pk),
        prerequisite_id: Set(id.to_string()),
        uid: Set(uuid::Uuid::new_v4().to_string()),
        created_at_us: Set(now_us),
        updated_at_us: Set(now_us),
        version: Set(1),
        ..Default::default()
    };
    write_fields(&mut model, fields);
    let name = || names::prerequisite_name(project_id, id);
    // The table's one unique key a new row can clash on is (project, prerequisite id): any
    // unique violation is that one.
    let row = model
        .insert(tx)
        .await
        .map_err(|err| conflict_on(err, &[("", &name, "prerequisite_id")]))?;
    to_domain(project_id, row)
}

/// Prerequisite `prerequisite_id` of the project row `project_pk` (project `project_id`) with
/// its own primary key.
pub async fn find(
    tx: &DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    prerequisite_id: &str,
) -> Result<(i64, Prerequisite), StoreError> {
    let row = prerequisite::Entity::find()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .filter(prerequisite::Column::PrerequisiteId.eq(prerequisite_id))
        .one(tx)
        .await?
        .ok_or_else(|| {
            StoreError::not_found(names::prerequisite_name(project_id, prerequisite_id))
        })?;
    Ok((row.id, to_domain(project_id, row)?))
}

/// Writes the fields, version and update time of the prerequisite row `pk`.
pub async fn update(
    tx: &DatabaseTransaction,
    pk: i64,
    item: &Prerequisite,
) -> Result<(), StoreError> {
    let mut model = prerequisite::ActiveModel {
        id: sea_orm::Unchanged(pk),
        version: Set(item.version),
        updated_at_us: Set(item.updated_at_us),
        ..Default::default()
    };
    write_fields(&mut model, &item.fields);
    model.update(tx).await?;
    Ok(())
}

/// Deletes the prerequisite row `pk`.
pub async fn delete(tx: &DatabaseTransaction, pk: i64) -> Result<(), StoreError> {
    prerequisite::Entity::delete_by_id(pk).exec(tx).await?;
    Ok(())
}

async fn project_pk(store: &Store, project_id: &str) -> Result<i64, StoreError> {
    project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::ProjectId.eq(project_id))
        .into_tuple::<i64>()
        .one(store.connection())
        .await?
        .ok_or_else(|| StoreError::not_found(names::project_name(project_id)))
}

impl Store {
    /// One page of a project's prerequisites, oldest first.
    pub async fn list_prerequisites(
        &self,
        project_id: &str,
        filter: &PrerequisiteFilter,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<Prerequisite>, StoreError> {
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
            .await?;
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
}
