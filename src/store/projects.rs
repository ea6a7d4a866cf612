//! Projects: create, read, list, update, delete and stage changes, each write in one
//! transaction with its events.

use prost::Message;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{funding_application, milestone, prerequisite, project, stage_change};
use super::error::{StoreError, conflict_on};
use super::idempotency::RequestKey;
use super::{Cursor, Outcome, Page, SortKey, Store, WriteContext, db_error};
use crate::domain::names;
use crate::domain::project::{
    Category, InvestmentType, Project, ProjectFields, ProjectPatch, Stage, StageChangeRequest,
    StageTransition, transition,
};
use crate::domain::values;
use crate::events::outbox::{self as events, EventDraft};
use crate::proto::v1;
use crate::service::ServiceError;

/// Filters of ListProjects; every Some condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFilter {
    pub stage: Option<Stage>,
    pub category: Option<Category>,
    pub investment_type: Option<InvestmentType>,
    pub township: Option<String>,
    pub department: Option<String>,
    pub leader: Option<String>,
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
         suspended_from_stage, stage_changed_at_us, created_at_us, updated_at_us, version"
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
    })
}

pub(crate) fn to_domain(row: project::Model) -> Result<Project, ServiceError> {
    let bad = |what: &str, value: &str| {
        ServiceError::internal(format!("stored {what} {value:?} is unknown"))
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
        },
        id: row.project_id,
        uid: row.uid,
        stage,
        suspended_from_stage,
        stage_changed_at_us: row.stage_changed_at_us,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
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

pub(crate) use crate::service::scope::{check_scope, load_for_update};

/// The project row `project_id` locked against concurrent writers until the transaction ends,
/// with its primary key; None when there is none.
pub async fn lock(
    tx: &DatabaseTransaction,
    project_id: &str,
) -> Result<Option<(i64, Project)>, ServiceError> {
    let row = project::Entity::find()
        .filter(project::Column::ProjectId.eq(project_id))
        .lock_exclusive()
        .one(tx)
        .await
        .map_err(db_error)?;
    row.map(|row| Ok((row.id, to_domain(row)?))).transpose()
}

pub(crate) use crate::service::unit::check_etag;

/// The end of a write: appends the transaction's events, keeps the response of a request id
/// (when there is one) and commits (`service::unit::Unit::commit`, for the writers that have
/// not moved to it yet).
pub(crate) async fn finish<T>(
    store: &Store,
    tx: DatabaseTransaction,
    ctx: &WriteContext,
    drafts: Vec<EventDraft>,
    key: Option<&RequestKey>,
    response: impl FnOnce() -> Vec<u8>,
    value: T,
) -> Result<Outcome<T>, ServiceError> {
    let mut unit = crate::service::unit::Unit::resume(store, ctx, key, tx);
    for draft in drafts {
        unit.emit(draft);
    }
    unit.commit(value, |_| response()).await
}

impl Store {
    pub async fn create_project(
        &self,
        ctx: &WriteContext,
        project_id: Option<String>,
        fields: ProjectFields,
        initial_stage: Stage,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<Project>, ServiceError> {
        let id = project_id.unwrap_or_else(names::generate_id);
        let tx = match self
            .begin_keyed(ctx, key, async |_| {
                check_scope(ctx, &fields, &names::project_name(&id))
            })
            .await?
        {
            Ok((tx, ())) => tx,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let mut model = project::ActiveModel {
            project_id: Set(id.clone()),
            uid: Set(uuid::Uuid::new_v4().to_string()),
            stage: Set(initial_stage.as_str().to_string()),
            suspended_from_stage: Set(None),
            stage_changed_at_us: Set(ctx.now_us),
            created_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(1),
            ..Default::default()
        };
        write_fields(&mut model, &fields);
        let row = model
            .insert(&tx)
            .await
            .map_err(|err| project_unique_error(err, &id, &fields))?;
        let project = to_domain(row)?;
        let message = v1::Project::from(&project);
        let draft = EventDraft::about(
            v1::EventKind::ProjectCreated,
            &project,
            project.name(),
            Some(v1::event::Detail::ProjectAfter(message.clone())),
            Vec::new(),
        );
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            project,
        )
        .await
    }

    /// One project by id. On a SQLite file this is the calling-thread read (`store::inline`),
    /// the hottest single-row read of the API.
    pub async fn get_project(&self, project_id: &str) -> Result<Project, ServiceError> {
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
            let row =
                row.ok_or_else(|| ServiceError::not_found(names::project_name(project_id)))?;
            return to_domain(row);
        }
        let row = project::Entity::find()
            .filter(project::Column::ProjectId.eq(project_id))
            .one(self.connection())
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(names::project_name(project_id)))?;
        to_domain(row)
    }

    /// One page of projects and, when more may follow, the cursor after its last row.
    pub async fn list_projects(&self, query: &ProjectQuery) -> Result<Page<Project>, ServiceError> {
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
            .await
            .map_err(db_error)?;
        super::page(rows, query.limit, to_domain, |last| Cursor {
            key: query.order.key_of(last),
            id: last.id.clone(),
        })
    }

    pub async fn update_project(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        patch: ProjectPatch,
        etag: Option<&str>,
    ) -> Result<Project, ServiceError> {
        let tx = self.begin_write().await?;
        let (pk, mut project) = load_for_update(&tx, ctx, project_id).await?;
        check_etag(etag, project.name(), project.etag())?;
        let changed = patch.apply(&mut project.fields);
        if changed.is_empty() {
            return Ok(project);
        }
        check_scope(ctx, &project.fields, &project.name())?;
        project.version += 1;
        project.updated_at_us = ctx.now_us;
        let mut model = project::ActiveModel {
            id: sea_orm::Unchanged(pk),
            version: Set(project.version),
            updated_at_us: Set(ctx.now_us),
            ..Default::default()
        };
        write_fields(&mut model, &project.fields);
        if changed.contains(&"township") {
            // Milestones carry a copy of the township for the list query (migration 8).
            milestone::Entity::update_many()
                .col_expr(
                    milestone::Column::Township,
                    sea_orm::sea_query::Expr::value(project.fields.township.clone()),
                )
                .filter(milestone::Column::ProjectPk.eq(pk))
                .exec(&tx)
                .await
                .map_err(db_error)?;
        }
        model
            .update(&tx)
            .await
            .map_err(|err| project_unique_error(err, project_id, &project.fields))?;
        let draft = EventDraft::about(
            v1::EventKind::ProjectUpdated,
            &project,
            project.name(),
            Some(v1::event::Detail::ProjectAfter(v1::Project::from(&project))),
            changed,
        );
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await?;
        Ok(project)
    }

    pub async fn delete_project(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        etag: Option<&str>,
        force: bool,
    ) -> Result<(), ServiceError> {
        let tx = self.begin_write().await?;
        let (pk, project) = load_for_update(&tx, ctx, project_id).await?;
        check_etag(etag, project.name(), project.etag())?;
        let prerequisites = prerequisite::Entity::find()
            .filter(prerequisite::Column::ProjectPk.eq(pk))
            .count(&tx)
            .await
            .map_err(db_error)?;
        let milestones = milestone::Entity::find()
            .filter(milestone::Column::ProjectPk.eq(pk))
            .count(&tx)
            .await
            .map_err(db_error)?;
        let applications = funding_application::Entity::find()
            .filter(funding_application::Column::ProjectPk.eq(pk))
            .count(&tx)
            .await
            .map_err(db_error)?;
        if prerequisites + milestones + applications > 0 && !force {
            let violations = [
                ("prerequisites", prerequisites),
                ("milestones", milestones),
                ("fundingApplications", applications),
            ]
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(collection, count)| {
                (
                    format!("{}/{collection}", project.name()),
                    format!("{count} {collection}"),
                )
            })
            .collect();
            return Err(ServiceError::FailedPrecondition {
                reason: "PROJECT_HAS_CHILDREN",
                message: format!(
                    "{} still has {prerequisites} prerequisite(s), {milestones} milestone(s) and {applications} funding application(s); delete them first or set force",
                    project.name()
                ),
                violations,
            });
        }
        delete_children(&tx, pk).await?;
        project::Entity::delete_by_id(pk)
            .exec(&tx)
            .await
            .map_err(db_error)?;
        let draft = EventDraft::about(
            v1::EventKind::ProjectDeleted,
            &project,
            project.name(),
            None,
            Vec::new(),
        );
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await
    }

    pub async fn change_project_stage(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        change: StageChangeRequest,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<Project>, ServiceError> {
        let (tx, (pk, mut project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        check_etag(change.etag.as_deref(), project.name(), project.etag())?;
        let step = transition(project.stage, project.suspended_from_stage, change.target).map_err(
            |err| ServiceError::FailedPrecondition {
                reason: "ILLEGAL_STAGE_TRANSITION",
                message: format!("{err} (current stage: {})", project.stage.as_str()),
                violations: vec![(
                    project.name(),
                    format!(
                        "current stage is {}; cannot change to {}",
                        project.stage.as_str(),
                        change.target.as_str()
                    ),
                )],
            },
        )?;
        let draft = apply_stage_change(
            &tx,
            ctx,
            pk,
            &mut project,
            step,
            change.reason,
            change.effective_date,
        )
        .await?;
        let message = v1::Project::from(&project);
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            project,
        )
        .await
    }
}

/// Writes a legal stage change of a locked project row: the row, the history, and the event
/// (returned for the caller to append with the rest of its transaction's events).
pub(crate) async fn apply_stage_change(
    tx: &DatabaseTransaction,
    ctx: &WriteContext,
    pk: i64,
    project: &mut Project,
    step: StageTransition,
    reason: String,
    effective_date: chrono::NaiveDate,
) -> Result<EventDraft, ServiceError> {
    project.stage = step.to;
    project.suspended_from_stage = step.suspended_from;
    project.stage_changed_at_us = ctx.now_us;
    project.updated_at_us = ctx.now_us;
    project.version += 1;
    project::ActiveModel {
        id: sea_orm::Unchanged(pk),
        stage: Set(step.to.as_str().to_string()),
        suspended_from_stage: Set(step.suspended_from.map(|s| s.as_str().to_string())),
        stage_changed_at_us: Set(ctx.now_us),
        updated_at_us: Set(ctx.now_us),
        version: Set(project.version),
        ..Default::default()
    }
    .update(tx)
    .await
    .map_err(db_error)?;
    stage_change::ActiveModel {
        project_pk: Set(pk),
        from_stage: Set(step.from.as_str().to_string()),
        to_stage: Set(step.to.as_str().to_string()),
        reason: Set(reason.clone()),
        actor: Set(ctx.actor.clone()),
        effective_date: Set(values::day_number(effective_date)),
        created_at_us: Set(ctx.now_us),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(db_error)?;
    Ok(EventDraft::about(
        v1::EventKind::ProjectStageChanged,
        project,
        project.name(),
        Some(v1::event::Detail::StageChange(v1::StageChange {
            from_stage: v1::ProjectStage::from(step.from) as i32,
            to_stage: v1::ProjectStage::from(step.to) as i32,
            reason,
            effective_date: Some(crate::proto::date(effective_date)),
        })),
        Vec::new(),
    ))
}

/// Deletes everything that hangs off a project row.
async fn delete_children(tx: &impl ConnectionTrait, project_pk: i64) -> Result<(), ServiceError> {
    super::applications::delete_for_project(tx, project_pk).await?;
    super::milestones::delete_for_project(tx, project_pk).await?;
    prerequisite::Entity::delete_many()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .exec(tx)
        .await
        .map_err(db_error)?;
    stage_change::Entity::delete_many()
        .filter(stage_change::Column::ProjectPk.eq(project_pk))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}
