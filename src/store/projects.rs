//! The project repository: project rows to domain projects and back, the listing query, the
//! stage history and the cascade of a delete. The commands that use it are in
//! `service::projects`.

use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{funding_application, milestone, prerequisite, project, stage_change};
use super::error::{StoreError, conflict_on};
use super::{Cursor, Page, SortKey, Store};
use crate::domain::names;
use crate::domain::project::{
    Category, Children, InvestmentType, Project, ProjectFields, Stage, StageTransition,
};
use crate::domain::values;

/// Filters of ListProjects; every Some condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFilter {
    pub stage: Option<Stage>,
    pub category: Option<Category>,
    pub investment_type: Option<InvestmentType>,
    pub township: Option<String>,
    pub department: Option<String>,
    pub leader: Option<String>,
    pub project_code: Option<String>,
    pub display_name_contains: Option<String>,
}

/// Orderings of ListProjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProjectOrder {
    #[default]
    CreateTime,
    DisplayName,
    TotalInvestment,
}

#[derive(Debug, Clone, Default)]
pub struct ProjectQuery {
    pub filter: ProjectFilter,
    pub order: ProjectOrder,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u64,
}

impl ProjectOrder {
    fn column(self) -> project::Column {
        match self {
            ProjectOrder::CreateTime => project::Column::CreatedAtUs,
            ProjectOrder::DisplayName => project::Column::DisplayName,
            ProjectOrder::TotalInvestment => project::Column::TotalInvestmentYuan,
        }
    }

    fn key_of(self, project: &Project) -> SortKey {
        match self {
            ProjectOrder::CreateTime => SortKey::Int(project.created_at_us),
            ProjectOrder::DisplayName => SortKey::Text(project.fields.display_name.clone()),
            ProjectOrder::TotalInvestment => SortKey::Int(project.fields.total_investment_yuan),
        }
    }
}

/// Every column of `projects`, in the order `project_from_row` reads them (a macro, so that
/// fixed statements can be built with `concat!`).
macro_rules! project_columns {
    () => {
        "id, project_id, uid, display_name, description, project_code, category, \
         investment_type, township, department, owner, leader, total_investment_yuan, \
         annual_planned_investment_yuan, completed_investment_yuan, stage, \
         suspended_from_stage, stage_changed_at_us, created_at_us, updated_at_us, version, \
         reported_investment_yuan, statistics_enrolment_date"
    };
}
pub(crate) use project_columns;

/// A `projects` row read by the calling-thread reader (`store::inline`), selected with
/// `project_columns!()`.
pub(crate) fn project_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<project::Model> {
    Ok(project::Model {
        id: r.get(0)?,
        project_id: r.get(1)?,
        uid: r.get(2)?,
        display_name: r.get(3)?,
        description: r.get(4)?,
        project_code: r.get(5)?,
        category: r.get(6)?,
        investment_type: r.get(7)?,
        township: r.get(8)?,
        department: r.get(9)?,
        owner: r.get(10)?,
        leader: r.get(11)?,
        total_investment_yuan: r.get(12)?,
        annual_planned_investment_yuan: r.get(13)?,
        completed_investment_yuan: r.get(14)?,
        stage: r.get(15)?,
        suspended_from_stage: r.get(16)?,
        stage_changed_at_us: r.get(17)?,
        created_at_us: r.get(18)?,
        updated_at_us: r.get(19)?,
        version: r.get(20)?,
        reported_investment_yuan: r.get(21)?,
        statistics_enrolment_date: r.get(22)?,
    })
}

pub(crate) fn to_domain(row: project::Model) -> Result<Project, StoreError> {
    let bad = |what: &str, value: &str| {
        StoreError::corrupt(format!("stored {what} {value:?} is unknown"))
    };
    let stage = Stage::parse(&row.stage).ok_or_else(|| bad("stage", &row.stage))?;
    let suspended_from_stage = match &row.suspended_from_stage {
        Some(s) => Some(Stage::parse(s).ok_or_else(|| bad("stage", s))?),
        None => None,
    };
    Ok(Project {
        fields: ProjectFields {
            category: Category::parse(&row.category)
                .ok_or_else(|| bad("category", &row.category))?,
            investment_type: InvestmentType::parse(&row.investment_type)
                .ok_or_else(|| bad("investment type", &row.investment_type))?,
            display_name: row.display_name,
            description: row.description,
            project_code: row.project_code,
            township: row.township,
            department: row.department,
            owner: row.owner,
            leader: row.leader,
            total_investment_yuan: row.total_investment_yuan,
            annual_planned_investment_yuan: row.annual_planned_investment_yuan,
            completed_investment_yuan: row.completed_investment_yuan,
            statistics_enrolment_date: row.statistics_enrolment_date.map(values::from_day_number),
        },
        id: row.project_id,
        uid: row.uid,
        stage,
        suspended_from_stage,
        stage_changed_at_us: row.stage_changed_at_us,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
        reported_investment_yuan: row.reported_investment_yuan,
    })
}

fn write_fields(model: &mut project::ActiveModel, f: &ProjectFields) {
    model.display_name = Set(f.display_name.clone());
    model.description = Set(f.description.clone());
    model.project_code = Set(f.project_code.clone());
    model.category = Set(f.category.as_str().to_string());
    model.investment_type = Set(f.investment_type.as_str().to_string());
    model.township = Set(f.township.clone());
    model.department = Set(f.department.clone());
    model.owner = Set(f.owner.clone());
    model.leader = Set(f.leader.clone());
    model.total_investment_yuan = Set(f.total_investment_yuan);
    model.annual_planned_investment_yuan = Set(f.annual_planned_investment_yuan);
    model.completed_investment_yuan = Set(f.completed_investment_yuan);
    model.statistics_enrolment_date = Set(f.statistics_enrolment_date.map(values::day_number));
}

/// Maps a unique violation on the projects table to the field that clashed.
fn project_unique_error(err: sea_orm::DbErr, id: &str, fields: &ProjectFields) -> StoreError {
    let code = || {
        format!(
            "a project with project_code {:?}",
            fields.project_code.as_deref().unwrap_or_default()
        )
    };
    let name = || names::project_name(id);
    conflict_on(
        err,
        &[
            ("project_code", &code, "project.project_code"),
            ("project_id", &name, "project_id"),
        ],
    )
}

/// The project row `project_id` locked against concurrent writers until the transaction ends,
/// with its primary key; None when there is none.
pub async fn lock(
    tx: &DatabaseTransaction,
    project_id: &str,
) -> Result<Option<(i64, Project)>, StoreError> {
    let row = project::Entity::find()
        .filter(project::Column::ProjectId.eq(project_id))
        .lock_exclusive()
        .one(tx)
        .await?;
    row.map(|row| Ok((row.id, to_domain(row)?))).transpose()
}

/// Inserts a new project `id` in `stage`, created at `now_us`; a taken id or project code is
/// a conflict on its field.
pub async fn insert(
    tx: &DatabaseTransaction,
    id: &str,
    fields: &ProjectFields,
    stage: Stage,
    now_us: i64,
) -> Result<Project, StoreError> {
    let mut model = project::ActiveModel {
        project_id: Set(id.to_string()),
        uid: Set(uuid::Uuid::new_v4().to_string()),
        stage: Set(stage.as_str().to_string()),
        suspended_from_stage: Set(None),
        stage_changed_at_us: Set(now_us),
        created_at_us: Set(now_us),
        updated_at_us: Set(now_us),
        version: Set(1),
        ..Default::default()
    };
    write_fields(&mut model, fields);
    let row = model
        .insert(tx)
        .await
        .map_err(|err| project_unique_error(err, id, fields))?;
    to_domain(row)
}

/// Writes the fields, version and update time of the project row `pk`. With
/// `township_changed`, the copies of the township that its milestones carry for the list query
/// (migration 8) follow.
pub async fn update(
    tx: &DatabaseTransaction,
    pk: i64,
    project: &Project,
    township_changed: bool,
) -> Result<(), StoreError> {
    let mut model = project::ActiveModel {
        id: sea_orm::Unchanged(pk),
        version: Set(project.version),
        updated_at_us: Set(project.updated_at_us),
        ..Default::default()
    };
    write_fields(&mut model, &project.fields);
    if township_changed {
        milestone::Entity::update_many()
            .col_expr(
                milestone::Column::Township,
                Expr::value(project.fields.township.clone()),
            )
            .filter(milestone::Column::ProjectPk.eq(pk))
            .exec(tx)
            .await?;
    }
    model
        .update(tx)
        .await
        .map_err(|err| project_unique_error(err, &project.id, &project.fields))?;
    Ok(())
}

/// One stage change as recorded in the project's history.
#[derive(Debug, Clone)]
pub struct StageRecord<'a> {
    pub step: StageTransition,
    pub reason: &'a str,
    pub actor: &'a str,
    pub effective_date: chrono::NaiveDate,
}

/// Writes the stage of the project row `pk` (after `Project::take_step`) and adds the change
/// to its history.
pub async fn save_stage(
    tx: &DatabaseTransaction,
    pk: i64,
    project: &Project,
    record: &StageRecord<'_>,
) -> Result<(), StoreError> {
    project::ActiveModel {
        id: sea_orm::Unchanged(pk),
        stage: Set(project.stage.as_str().to_string()),
        suspended_from_stage: Set(project.suspended_from_stage.map(|s| s.as_str().to_string())),
        stage_changed_at_us: Set(project.stage_changed_at_us),
        updated_at_us: Set(project.updated_at_us),
        version: Set(project.version),
        ..Default::default()
    }
    .update(tx)
    .await?;
    stage_change::ActiveModel {
        project_pk: Set(pk),
        from_stage: Set(record.step.from.as_str().to_string()),
        to_stage: Set(record.step.to.as_str().to_string()),
        reason: Set(record.reason.to_string()),
        actor: Set(record.actor.to_string()),
        effective_date: Set(values::day_number(record.effective_date)),
        created_at_us: Set(project.stage_changed_at_us),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// How many prerequisites, milestones and funding applications hang off the project row `pk`.
pub async fn count_children(tx: &DatabaseTransaction, pk: i64) -> Result<Children, StoreError> {
    let (investment_plans, investment_reports) =
        super::investment::count_for_project(tx, pk).await?;
    Ok(Children {
        investment_plans,
        investment_reports,
        justifications: super::justifications::count_for_project(tx, pk).await?,
        problems: super::problems::count_for_project(tx, pk).await?,
        prerequisites: prerequisite::Entity::find()
            .filter(prerequisite::Column::ProjectPk.eq(pk))
            .count(tx)
            .await?,
        milestones: milestone::Entity::find()
            .filter(milestone::Column::ProjectPk.eq(pk))
            .count(tx)
            .await?,
        applications: funding_application::Entity::find()
            .filter(funding_application::Column::ProjectPk.eq(pk))
            .count(tx)
            .await?,
    })
}

/// Deletes the project row `pk` with its prerequisites and stage history. Its milestones and
/// funding applications are deleted first, through their repositories
/// (`service::projects::delete`).
pub async fn delete(tx: &DatabaseTransaction, pk: i64) -> Result<(), StoreError> {
    prerequisite::Entity::delete_many()
        .filter(prerequisite::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    stage_change::Entity::delete_many()
        .filter(stage_change::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    project::Entity::delete_by_id(pk).exec(tx).await?;
    Ok(())
}

impl Store {
    /// One project by id. On a SQLite file this is the calling-thread read (`store::inline`),
    /// the hottest single-row read of the API.
    pub async fn get_project(&self, project_id: &str) -> Result<Project, StoreError> {
        let not_found = || StoreError::not_found(names::project_name(project_id));
        if let Some(reader) = self.inline_reader() {
            let row = reader.read("reading the project", |c| {
                use rusqlite::OptionalExtension;
                c.prepare_cached(concat!(
                    "SELECT ",
                    project_columns!(),
                    " FROM projects WHERE project_id = ?1"
                ))?
                .query_row([project_id], project_from_row)
                .optional()
            })?;
            return to_domain(row.ok_or_else(not_found)?);
        }
        let row = project::Entity::find()
            .filter(project::Column::ProjectId.eq(project_id))
            .one(self.connection())
            .await?
            .ok_or_else(not_found)?;
        to_domain(row)
    }

    /// One page of projects and, when more may follow, the cursor after its last row.
    pub async fn list_projects(&self, query: &ProjectQuery) -> Result<Page<Project>, StoreError> {
        let f = &query.filter;
        let mut condition = Condition::all();
        if let Some(stage) = f.stage {
            condition = condition.add(project::Column::Stage.eq(stage.as_str()));
        }
        if let Some(category) = f.category {
            condition = condition.add(project::Column::Category.eq(category.as_str()));
        }
        if let Some(kind) = f.investment_type {
            condition = condition.add(project::Column::InvestmentType.eq(kind.as_str()));
        }
        for (column, value) in [
            (project::Column::Township, &f.township),
            (project::Column::Department, &f.department),
            (project::Column::Leader, &f.leader),
        ] {
            if let Some(value) = value {
                condition = condition.add(column.eq(value.as_str()));
            }
        }
        for (column, value) in [(project::Column::ProjectCode, &f.project_code)] {
            if let Some(value) = value {
                condition = condition.add(column.eq(value.as_str()));
            }
        }
        if let Some(part) = &f.display_name_contains {
            let escaped = part
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            condition = condition.add(
                Expr::col(project::Column::DisplayName)
                    .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
            );
        }
        let column = query.order.column();
        if let Some(after) = &query.after {
            condition =
                condition.add(after.after(column, project::Column::ProjectId, query.descending));
        }
        let order = if query.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let rows = project::Entity::find()
            .filter(condition)
            .order_by(column, order.clone())
            .order_by(project::Column::ProjectId, order)
            .limit(query.limit + 1)
            .all(self.connection())
            .await?;
        super::page(rows, query.limit, to_domain, |last| Cursor {
            key: query.order.key_of(last),
            id: last.id.clone(),
        })
    }
}

/// Writes the completed and reported investment, update time and version of the project row
/// `pk` (after `domain::investment::add_reported`).
pub async fn save_investment(
    tx: &DatabaseTransaction,
    pk: i64,
    project: &Project,
) -> Result<(), StoreError> {
    project::ActiveModel {
        id: sea_orm::Unchanged(pk),
        completed_investment_yuan: Set(project.fields.completed_investment_yuan),
        reported_investment_yuan: Set(project.reported_investment_yuan),
        updated_at_us: Set(project.updated_at_us),
        version: Set(project.version),
        ..Default::default()
    }
    .update(tx)
    .await?;
    Ok(())
}

/// The project ids of the project rows `pks`, by row (rows that are gone are left out).
pub(crate) async fn ids_by_pk<C: sea_orm::ConnectionTrait>(
    c: &C,
    pks: impl Iterator<Item = i64>,
) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    let mut pks: Vec<i64> = pks.collect();
    pks.sort_unstable();
    pks.dedup();
    let mut ids = std::collections::HashMap::new();
    for chunk in pks.chunks(500) {
        let rows: Vec<(i64, String)> = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .column(project::Column::ProjectId)
            .filter(project::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(c)
            .await?;
        ids.extend(rows);
    }
    Ok(ids)
}
