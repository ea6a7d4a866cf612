//! The problem repository (问题清单): problems and their revisions. The commands that use it
//! are in `service::problems`.

use chrono::NaiveDate;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{problem, problem_alert, problem_revision, project};
use super::error::{StoreError, conflict_on};
use super::sql::Sql;
use super::{Cursor, Page, SortKey, Store};
use crate::domain::problem::{
    Problem, ProblemAction, ProblemCategory, ProblemChange, ProblemFields, ProblemState,
    problem_name,
};
use crate::domain::values;

fn to_domain(project_id: &str, row: problem::Model) -> Result<Problem, StoreError> {
    let bad = |what: &str, value: &str| {
        StoreError::corrupt(format!("stored problem {what} {value:?} is unknown"))
    };
    Ok(Problem {
        project_id: project_id.to_string(),
        fields: ProblemFields {
            category: ProblemCategory::parse(&row.category)
                .ok_or_else(|| bad("category", &row.category))?,
            description: row.description,
            raise_date: values::from_day_number(row.raise_date),
            responsible_unit: row.responsible_unit,
            responsible_leader: row.responsible_leader,
            deadline: values::from_day_number(row.deadline),
            milestone_id: (!row.milestone_id.is_empty()).then_some(row.milestone_id),
        },
        state: ProblemState::parse(&row.state).ok_or_else(|| bad("state", &row.state))?,
        id: row.problem_id,
        uid: row.uid,
        raised_by: row.raised_by,
        resolution_note: row.resolution_note,
        extension_count: row.extension_count,
        resolved_at_us: row.resolved_at_us,
        resolved_on: row.resolved_on.map(values::from_day_number),
        closed_at_us: row.closed_at_us,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

/// Inserts problem `id` of the project row `project_pk`, raised by `raised_by` at `now_us`, in
/// state OPEN; a taken id is a conflict on `problem_id`. Returns its row and the problem.
pub async fn insert(
    tx: &DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    id: &str,
    fields: &ProblemFields,
    raised_by: &str,
    now_us: i64,
) -> Result<(i64, Problem), StoreError> {
    let name = || problem_name(project_id, id);
    let row = problem::ActiveModel {
        project_pk: Set(project_pk),
        problem_id: Set(id.to_string()),
        uid: Set(uuid::Uuid::new_v4().to_string()),
        category: Set(fields.category.as_str().to_string()),
        description: Set(fields.description.clone()),
        raised_by: Set(raised_by.to_string()),
        raise_date: Set(values::day_number(fields.raise_date)),
        responsible_unit: Set(fields.responsible_unit.clone()),
        responsible_leader: Set(fields.responsible_leader.clone()),
        deadline: Set(values::day_number(fields.deadline)),
        milestone_id: Set(fields.milestone_id.clone().unwrap_or_default()),
        state: Set(ProblemState::Open.as_str().to_string()),
        resolution_note: Set(String::new()),
        extension_count: Set(0),
        resolved_at_us: Set(None),
        resolved_on: Set(None),
        closed_at_us: Set(None),
        created_at_us: Set(now_us),
        updated_at_us: Set(now_us),
        version: Set(1),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|err| conflict_on(err, &[("", &name, "problem_id")]))?;
    Ok((row.id, to_domain(project_id, row)?))
}

/// Problem `id` of the project row `project_pk`, with its row.
pub async fn find<C: ConnectionTrait>(
    c: &C,
    project_pk: i64,
    project_id: &str,
    id: &str,
) -> Result<(i64, Problem), StoreError> {
    let row = problem::Entity::find()
        .filter(problem::Column::ProjectPk.eq(project_pk))
        .filter(problem::Column::ProblemId.eq(id))
        .one(c)
        .await?
        .ok_or_else(|| StoreError::not_found(problem_name(project_id, id)))?;
    Ok((row.id, to_domain(project_id, row)?))
}

/// Problem `id` of project `project_id`, with its row (for reads).
pub async fn get<C: ConnectionTrait>(
    c: &C,
    project_id: &str,
    id: &str,
) -> Result<(i64, Problem), StoreError> {
    let project_pk: i64 = project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::ProjectId.eq(project_id))
        .into_tuple()
        .one(c)
        .await?
        .ok_or_else(|| StoreError::not_found(problem_name(project_id, id)))?;
    find(c, project_pk, project_id, id).await
}

/// Writes every mutable column of the problem row `pk`.
pub async fn save(tx: &DatabaseTransaction, pk: i64, item: &Problem) -> Result<(), StoreError> {
    let f = &item.fields;
    problem::ActiveModel {
        id: sea_orm::Unchanged(pk),
        category: Set(f.category.as_str().to_string()),
        description: Set(f.description.clone()),
        responsible_unit: Set(f.responsible_unit.clone()),
        responsible_leader: Set(f.responsible_leader.clone()),
        deadline: Set(values::day_number(f.deadline)),
        milestone_id: Set(f.milestone_id.clone().unwrap_or_default()),
        state: Set(item.state.as_str().to_string()),
        resolution_note: Set(item.resolution_note.clone()),
        extension_count: Set(item.extension_count),
        resolved_at_us: Set(item.resolved_at_us),
        resolved_on: Set(item.resolved_on.map(values::day_number)),
        closed_at_us: Set(item.closed_at_us),
        updated_at_us: Set(item.updated_at_us),
        version: Set(item.version),
        ..Default::default()
    }
    .update(tx)
    .await?;
    Ok(())
}

/// One revision of a problem as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRecord {
    pub number: i32,
    pub actor: String,
    pub created_at_us: i64,
    pub change: ProblemChange,
}

/// Records `change` as revision `number` (the problem's version after it) of the problem row
/// `problem_pk`; the unique (problem, number) key refuses a second writer of the same number.
pub async fn add_revision(
    tx: &DatabaseTransaction,
    problem_pk: i64,
    number: i64,
    change: &ProblemChange,
    actor: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    let number = i32::try_from(number)
        .map_err(|_| StoreError::corrupt("a problem has more than 2^31 revisions"))?;
    problem_revision::ActiveModel {
        problem_pk: Set(problem_pk),
        number: Set(number),
        action: Set(change.action.as_str().to_string()),
        actor: Set(actor.to_string()),
        created_at_us: Set(now_us),
        from_state: Set(change
            .from_state
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()),
        to_state: Set(change.to_state.as_str().to_string()),
        changed_fields: Set(change.changed_fields.join(",")),
        reason: Set(change.reason.clone()),
        old_deadline: Set(change.old_deadline.map(values::day_number)),
        new_deadline: Set(Some(values::day_number(change.new_deadline))),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// The revision field names this crate writes, to give `changed_fields` back as `&'static`.
const FIELD_NAMES: [&str; 5] = [
    "category",
    "description",
    "responsible_unit",
    "responsible_leader",
    "blocked_milestone",
];

fn revision_to_domain(row: problem_revision::Model) -> Result<RevisionRecord, StoreError> {
    let bad = |what: &str, value: &str| {
        StoreError::corrupt(format!(
            "stored problem revision {what} {value:?} is unknown"
        ))
    };
    let state = |value: &str| ProblemState::parse(value).ok_or_else(|| bad("state", value));
    let changed_fields = row
        .changed_fields
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| {
            FIELD_NAMES
                .iter()
                .copied()
                .find(|known| *known == f)
                .ok_or_else(|| bad("field", f))
        })
        .collect::<Result<_, _>>()?;
    Ok(RevisionRecord {
        number: row.number,
        actor: row.actor,
        created_at_us: row.created_at_us,
        change: ProblemChange {
            action: ProblemAction::parse(&row.action).ok_or_else(|| bad("action", &row.action))?,
            from_state: if row.from_state.is_empty() {
                None
            } else {
                Some(state(&row.from_state)?)
            },
            to_state: state(&row.to_state)?,
            changed_fields,
            reason: row.reason,
            old_deadline: row.old_deadline.map(values::from_day_number),
            new_deadline: values::from_day_number(
                row.new_deadline
                    .ok_or_else(|| StoreError::corrupt("a problem revision has no deadline"))?,
            ),
        },
    })
}

/// One page of the revisions of the problem row `problem_pk`, oldest first, after revision
/// number `after`.
pub async fn revisions<C: ConnectionTrait>(
    c: &C,
    problem_pk: i64,
    after: Option<i64>,
    limit: u64,
) -> Result<Page<RevisionRecord>, StoreError> {
    use problem_revision::Column as C;
    let mut query = problem_revision::Entity::find().filter(C::ProblemPk.eq(problem_pk));
    if let Some(after) = after {
        query = query.filter(C::Number.gt(after));
    }
    let rows = query
        .order_by_asc(C::Number)
        .limit(limit + 1)
        .all(c)
        .await?;
    super::page(rows, limit, revision_to_domain, |r| Cursor {
        key: SortKey::Int(i64::from(r.number)),
        id: String::new(),
    })
}

/// How many problems hang off the project row `pk`.
pub async fn count_for_project(tx: &DatabaseTransaction, pk: i64) -> Result<u64, StoreError> {
    Ok(problem::Entity::find()
        .filter(problem::Column::ProjectPk.eq(pk))
        .count(tx)
        .await?)
}

/// Deletes the problems of the project row `pk` with their revisions and alert ledger rows.
pub async fn delete_for_project(tx: &DatabaseTransaction, pk: i64) -> Result<(), StoreError> {
    problem_alert::Entity::delete_many()
        .filter(
            problem_alert::Column::ProblemPk.in_subquery(
                Query::select()
                    .column(problem::Column::Id)
                    .from(problem::Entity)
                    .and_where(problem::Column::ProjectPk.eq(pk))
                    .to_owned(),
            ),
        )
        .exec(tx)
        .await?;
    problem_revision::Entity::delete_many()
        .filter(
            problem_revision::Column::ProblemPk.in_subquery(
                Query::select()
                    .column(problem::Column::Id)
                    .from(problem::Entity)
                    .and_where(problem::Column::ProjectPk.eq(pk))
                    .to_owned(),
            ),
        )
        .exec(tx)
        .await?;
    problem::Entity::delete_many()
        .filter(problem::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    Ok(())
}

/// Which problems ListProblems returns: every set condition holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemQuery {
    /// One project, or every project when None.
    pub project_id: Option<String>,
    pub responsible_unit: Option<String>,
    pub state: Option<ProblemState>,
    pub category: Option<ProblemCategory>,
    /// OPEN or IN_PROGRESS with a deadline before this day.
    pub overdue_as_of: Option<NaiveDate>,
    pub responsible_leader: Option<String>,
    /// The project's township.
    pub township: Option<String>,
}

impl Store {
    /// One page of problems matching `query`, newest first.
    pub async fn list_problems(
        &self,
        query: &ProblemQuery,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<Problem>, StoreError> {
        use problem::Column as C;
        let mut condition = Condition::all();
        if let Some(project_id) = &query.project_id {
            let pk = super::milestones::project_pk(self.connection(), project_id).await?;
            condition = condition.add(C::ProjectPk.eq(pk));
        }
        if let Some(unit) = &query.responsible_unit {
            condition = condition.add(C::ResponsibleUnit.eq(unit));
        }
        if let Some(state) = query.state {
            condition = condition.add(C::State.eq(state.as_str()));
        }
        if let Some(category) = query.category {
            condition = condition.add(C::Category.eq(category.as_str()));
        }
        if let Some(date) = query.overdue_as_of {
            condition = condition
                .add(C::State.is_in([
                    ProblemState::Open.as_str(),
                    ProblemState::InProgress.as_str(),
                ]))
                .add(C::Deadline.lt(values::day_number(date)));
        }
        if let Some(leader) = &query.responsible_leader {
            condition = condition.add(C::ResponsibleLeader.eq(leader));
        }
        if let Some(township) = &query.township {
            condition = condition.add(
                C::ProjectPk.in_subquery(
                    Query::select()
                        .column(project::Column::Id)
                        .from(project::Entity)
                        .and_where(project::Column::Township.eq(township))
                        .to_owned(),
                ),
            );
        }
        self.newest_first::<problem::Entity, _>(
            condition,
            (C::CreatedAtUs, C::Uid),
            (after, limit),
            |row| row.project_pk,
            to_domain,
            |p| Cursor {
                key: SortKey::Int(p.created_at_us),
                id: p.uid.clone(),
            },
        )
        .await
    }
}

/// The next `limit` problems after the row `after` that are OPEN or IN_PROGRESS with a
/// deadline before `today`: (row, project row, problem), by row; and the last row returned,
/// where the next call continues (None at the end).
pub async fn overdue_after(
    store: &Store,
    today: NaiveDate,
    after: i64,
    limit: u64,
) -> Result<(Vec<(i64, i64, Problem)>, Option<i64>), StoreError> {
    use problem::Column as C;
    let rows = problem::Entity::find()
        .filter(C::Id.gt(after))
        .filter(C::State.is_in([
            ProblemState::Open.as_str(),
            ProblemState::InProgress.as_str(),
        ]))
        .filter(C::Deadline.lt(values::day_number(today)))
        .order_by_asc(C::Id)
        .limit(limit)
        .all(store.connection())
        .await?;
    let last = rows.last().map(|r| r.id);
    let ids =
        super::projects::ids_by_pk(store.connection(), rows.iter().map(|r| r.project_pk)).await?;
    let found = rows
        .into_iter()
        .map(|row| {
            let project_id = ids
                .get(&row.project_pk)
                .ok_or_else(|| StoreError::corrupt("a problem's project is missing"))?;
            Ok((row.id, row.project_pk, to_domain(project_id, row)?))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((found, last))
}

/// The (problem row, rung, deadline day) entries of the alert ledger for the problem rows
/// `pks`.
pub async fn alerted<C: ConnectionTrait>(
    c: &C,
    pks: &[i64],
) -> Result<std::collections::HashSet<(i64, i32, i32)>, StoreError> {
    let mut found = std::collections::HashSet::new();
    for chunk in pks.chunks(500) {
        let rows: Vec<(i64, i32, i32)> = problem_alert::Entity::find()
            .select_only()
            .column(problem_alert::Column::ProblemPk)
            .column(problem_alert::Column::Level)
            .column(problem_alert::Column::Deadline)
            .filter(problem_alert::Column::ProblemPk.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(c)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Records rung `level` of the problem row `problem_pk` for `deadline` in the once-only
/// ledger; false when it was recorded before (by this server or another replica: the unique
/// key decides, and a concurrent claim waits for the first one's transaction).
pub async fn claim_alert(
    store: &Store,
    tx: &DatabaseTransaction,
    problem_pk: i64,
    level: i32,
    deadline: NaiveDate,
    now_us: i64,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(
        store.backend(),
        "INSERT INTO problem_alerts (problem_pk, level, deadline, created_at_us) VALUES (",
    );
    sql.bind(problem_pk)
        .push(", ")
        .bind(level)
        .push(", ")
        .bind(values::day_number(deadline))
        .push(", ")
        .bind(now_us)
        .push(") ON CONFLICT DO NOTHING");
    Ok(tx.execute_raw(sql.build()).await?.rows_affected() == 1)
}
