//! The milestone repository: rows of `milestones` and `milestone_revisions` to domain types and
//! back, the supervisor's list query, and the scanner's alert ledger (claims and the rows an
//! alert needs). The rules live in `domain::milestone`; the commands in `service::milestones`.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{
    milestone, milestone_alert, milestone_revision, prerequisite, problem, project,
};
use super::error::{StoreError, conflict_on};
use super::projects::to_domain as project_to_domain;
use super::sql::Sql;
use super::{Cursor, Page, SortKey, Store};
use crate::domain::milestone::{
    Alert, AssessedMilestone, Blockers, Light, Milestone, MilestoneDates, MilestoneKind,
    MilestoneStatus, Policy, Revision, RevisionField, SlipTotals,
};
use crate::domain::names;
use crate::domain::project::Project;
use crate::domain::values::{day_number, from_day_number};

/// Named here by callers that have not moved to `domain::milestone` yet (the demo).
pub use crate::domain::milestone::{DateChange, NewMilestone};

/// Filters of ListMilestones; each Some condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MilestoneFilter {
    pub project_id: Option<String>,
    pub kind: Option<MilestoneKind>,
    pub status: Option<MilestoneStatus>,
    pub light: Option<Light>,
    pub township: Option<String>,
    pub department: Option<String>,
    pub leader: Option<String>,
    pub baseline_from: Option<NaiveDate>,
    pub baseline_to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MilestoneOrder {
    #[default]
    BaselineDate,
    Variance,
}

#[derive(Debug, Clone)]
pub struct MilestoneQuery {
    pub filter: MilestoneFilter,
    pub order: MilestoneOrder,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u64,
    pub status_date: NaiveDate,
}

/// Every column of `milestones`, in the order `milestone_from_row` reads them.
macro_rules! milestone_columns {
    () => {
        "id, project_pk, milestone_id, uid, kind, title, description, baseline_date, \
         forecast_date, actual_date, slip_count, days_slipped, revision_count, created_at_us, \
         updated_at_us, version, township"
    };
}

/// A `milestones` row read by the calling-thread reader (`store::inline`), selected with
/// `milestone_columns!()`.
fn milestone_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<milestone::Model> {
    Ok(milestone::Model {
        id: r.get(0)?,
        project_pk: r.get(1)?,
        milestone_id: r.get(2)?,
        uid: r.get(3)?,
        kind: r.get(4)?,
        title: r.get(5)?,
        description: r.get(6)?,
        baseline_date: r.get(7)?,
        forecast_date: r.get(8)?,
        actual_date: r.get(9)?,
        slip_count: r.get(10)?,
        days_slipped: r.get(11)?,
        revision_count: r.get(12)?,
        created_at_us: r.get(13)?,
        updated_at_us: r.get(14)?,
        version: r.get(15)?,
        township: r.get(16)?,
    })
}

/// A value read back that the domain cannot hold (an unknown enum name): the row is corrupt.
fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(err.to_string())
}

fn to_domain(project_id: &str, row: milestone::Model) -> Result<Milestone, StoreError> {
    let kind = MilestoneKind::parse(&row.kind)
        .ok_or_else(|| corrupt(format!("stored milestone kind {:?} is unknown", row.kind)))?;
    Ok(Milestone {
        project_id: project_id.to_string(),
        id: row.milestone_id,
        uid: row.uid,
        kind,
        title: row.title,
        description: row.description,
        dates: MilestoneDates {
            baseline: from_day_number(row.baseline_date),
            forecast: from_day_number(row.forecast_date),
            actual: row.actual_date.map(from_day_number),
        },
        totals: SlipTotals {
            slip_count: row.slip_count,
            days_slipped: row.days_slipped,
        },
        revision_count: row.revision_count,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

fn revision_to_domain(row: milestone_revision::Model) -> Result<Revision, StoreError> {
    Ok(Revision {
        number: row.number,
        field: RevisionField::parse(&row.field)
            .ok_or_else(|| corrupt(format!("stored revision field {:?} is unknown", row.field)))?,
        old_date: row.old_date.map(from_day_number),
        new_date: from_day_number(row.new_date),
        reason: row.reason,
        actor: row.actor,
        created_at_us: row.created_at_us,
        recorded_on: from_day_number(row.recorded_on),
    })
}

/// What blocks milestone `milestone_id` of the project with key `project_pk` now: whether
/// some prerequisite of the project is neither DONE nor WAIVED, and its open linked problem
/// with the earliest deadline.
pub async fn blockers(
    conn: &impl ConnectionTrait,
    project_pk: i64,
    milestone_id: &str,
) -> Result<Blockers, StoreError> {
    let open = prerequisite::Entity::find()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .filter(prerequisite::Column::State.is_not_in(["DONE", "WAIVED"]))
        .count(conn)
        .await?;
    let open_problem = problem::Entity::find()
        .select_only()
        .column(problem::Column::ProblemId)
        .filter(problem::Column::ProjectPk.eq(project_pk))
        .filter(problem::Column::MilestoneId.eq(milestone_id))
        .filter(problem::Column::State.is_in(OPEN_PROBLEM_STATES))
        .order_by_asc(problem::Column::Deadline)
        .order_by_asc(problem::Column::ProblemId)
        .into_tuple::<String>()
        .one(conn)
        .await?;
    Ok(Blockers {
        open_prerequisites: open > 0,
        open_problem,
    })
}

/// The states of a problem that still blocks its milestone.
const OPEN_PROBLEM_STATES: [&str; 2] = ["OPEN", "IN_PROGRESS"];

/// The key of project `project_id`.
pub async fn project_pk(conn: &impl ConnectionTrait, project_id: &str) -> Result<i64, StoreError> {
    project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::ProjectId.eq(project_id))
        .into_tuple()
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found(names::project_name(project_id)))
}

/// Milestone `milestone_id` of the project with key `project_pk`, with its own key; with
/// `lock`, locked against concurrent writers until the transaction ends.
pub async fn find(
    conn: &impl ConnectionTrait,
    project_pk: i64,
    project_id: &str,
    milestone_id: &str,
    lock: bool,
) -> Result<(i64, Milestone), StoreError> {
    let mut query = milestone::Entity::find()
        .filter(milestone::Column::ProjectPk.eq(project_pk))
        .filter(milestone::Column::MilestoneId.eq(milestone_id));
    if lock {
        query = query.lock_exclusive();
    }
    let row = query
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::not_found(names::milestone_name(project_id, milestone_id)))?;
    Ok((row.id, to_domain(project_id, row)?))
}

/// The columns a milestone's changes write: descriptive fields, dates, slip totals, revision
/// count, version and update time.
fn changing_columns(m: &Milestone) -> milestone::ActiveModel {
    milestone::ActiveModel {
        title: Set(m.title.clone()),
        description: Set(m.description.clone()),
        baseline_date: Set(day_number(m.dates.baseline)),
        forecast_date: Set(day_number(m.dates.forecast)),
        actual_date: Set(m.dates.actual.map(day_number)),
        slip_count: Set(m.totals.slip_count),
        days_slipped: Set(m.totals.days_slipped),
        revision_count: Set(m.revision_count),
        version: Set(m.version),
        updated_at_us: Set(m.updated_at_us),
        ..Default::default()
    }
}

/// Inserts a new milestone of the project with key `project_pk` (in `township`, copied for the
/// list's index); returns its key. A taken id is a conflict on `milestone_id`.
pub async fn insert(
    tx: &DatabaseTransaction,
    project_pk: i64,
    township: &str,
    m: &Milestone,
) -> Result<i64, StoreError> {
    let row = milestone::ActiveModel {
        project_pk: Set(project_pk),
        milestone_id: Set(m.id.clone()),
        uid: Set(m.uid.clone()),
        kind: Set(m.kind.as_str().to_string()),
        created_at_us: Set(m.created_at_us),
        township: Set(township.to_string()),
        ..changing_columns(m)
    }
    .insert(tx)
    .await
    .map_err(|err| {
        let name = || m.name();
        conflict_on(err, &[("milestone_id", &name, "milestone_id")])
    })?;
    Ok(row.id)
}

/// Records a revision of the milestone with key `milestone_pk`.
pub async fn insert_revision(
    tx: &DatabaseTransaction,
    milestone_pk: i64,
    revision: &Revision,
) -> Result<(), StoreError> {
    milestone_revision::ActiveModel {
        milestone_pk: Set(milestone_pk),
        number: Set(revision.number),
        field: Set(revision.field.as_str().to_string()),
        old_date: Set(revision.old_date.map(day_number)),
        new_date: Set(day_number(revision.new_date)),
        reason: Set(revision.reason.clone()),
        actor: Set(revision.actor.clone()),
        recorded_on: Set(day_number(revision.recorded_on)),
        created_at_us: Set(revision.created_at_us),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// Saves what changes of a milestone (`changing_columns`).
pub async fn save(
    tx: &DatabaseTransaction,
    milestone_pk: i64,
    m: &Milestone,
) -> Result<(), StoreError> {
    milestone::ActiveModel {
        id: sea_orm::Unchanged(milestone_pk),
        ..changing_columns(m)
    }
    .update(tx)
    .await?;
    Ok(())
}

/// Deletes the milestones of a project with their revisions and alerts.
pub(crate) async fn delete_for_project(
    tx: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<(), StoreError> {
    let ids: Vec<i64> = milestone::Entity::find()
        .select_only()
        .column(milestone::Column::Id)
        .filter(milestone::Column::ProjectPk.eq(project_pk))
        .into_tuple()
        .all(tx)
        .await?;
    for chunk in ids.chunks(500) {
        delete(tx, chunk).await?;
    }
    Ok(())
}

/// Deletes the milestones with keys `ids`, with their revisions and alerts.
pub async fn delete(tx: &impl ConnectionTrait, ids: &[i64]) -> Result<(), StoreError> {
    milestone_revision::Entity::delete_many()
        .filter(milestone_revision::Column::MilestonePk.is_in(ids.iter().copied()))
        .exec(tx)
        .await?;
    milestone_alert::Entity::delete_many()
        .filter(milestone_alert::Column::MilestonePk.is_in(ids.iter().copied()))
        .exec(tx)
        .await?;
    milestone::Entity::delete_many()
        .filter(milestone::Column::Id.is_in(ids.iter().copied()))
        .exec(tx)
        .await?;
    Ok(())
}

/// Revisions of the milestone with key `milestone_pk` after number `after_number`, oldest
/// first; all of them without a limit.
pub async fn revisions(
    conn: &impl ConnectionTrait,
    milestone_pk: i64,
    after_number: i32,
    limit: Option<u64>,
) -> Result<Vec<Revision>, StoreError> {
    let mut query = milestone_revision::Entity::find()
        .filter(milestone_revision::Column::MilestonePk.eq(milestone_pk))
        .filter(milestone_revision::Column::Number.gt(after_number))
        .order_by_asc(milestone_revision::Column::Number);
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(revision_to_domain)
        .collect()
}

/// A milestone the scanner claimed an alert for, with the keys of its row and its project.
pub struct AlertCandidate {
    pub milestone_pk: i64,
    pub project_pk: i64,
    pub milestone: Milestone,
}

/// What the scanner needs to build the alerts of claimed milestones: the milestones (by key),
/// their projects, and which of those projects have open prerequisites.
pub struct AlertInputs {
    pub candidates: Vec<AlertCandidate>,
    pub projects: HashMap<i64, Project>,
    pub open: HashSet<i64>,
    /// By milestone key: the open linked problem with the earliest deadline.
    pub open_problems: HashMap<i64, String>,
}

/// Claims the ledger rows of up to `limit` milestones after key `after` (by key) that meet
/// `condition` (a `RuleSql` fragment) and have no `alert` for their current baseline, in one
/// INSERT … SELECT (ON CONFLICT DO NOTHING, so a replica racing on the same rows skips them).
/// Returns the claimed (milestone key, baseline day) pairs.
pub async fn claim_alerts(
    store: &Store,
    tx: &DatabaseTransaction,
    alert: Alert,
    condition: &str,
    after: i64,
    limit: usize,
    now_us: i64,
) -> Result<Vec<(i64, i32)>, StoreError> {
    let alert = alert.as_str();
    let claim = Sql::new(
        store.backend(),
        format!(
            "INSERT INTO milestone_alerts (milestone_pk, kind, baseline_date, created_at_us) \
             SELECT c.id, '{alert}', c.baseline_date, {now_us} FROM (SELECT m.id, m.baseline_date \
             FROM milestones m WHERE m.id > {after} AND {condition} AND NOT EXISTS (SELECT 1 FROM milestone_alerts a \
             WHERE a.milestone_pk = m.id AND a.kind = '{alert}' AND a.baseline_date = m.baseline_date) \
             ORDER BY m.id LIMIT {limit}) c WHERE 1 = 1 \
             ON CONFLICT DO NOTHING RETURNING milestone_pk, baseline_date"
        ),
    );
    Ok(tx
        .query_all_raw(claim.build())
        .await?
        .iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect::<Result<_, DbErr>>()?)
}

/// Gives back claims of `alert` (milestone key, baseline day), for a later batch to take.
pub async fn release_alerts(
    tx: &DatabaseTransaction,
    alert: Alert,
    claims: &[(i64, i32)],
) -> Result<(), StoreError> {
    let released: Vec<String> = claims
        .iter()
        .map(|(id, baseline)| format!("(milestone_pk = {id} AND baseline_date = {baseline})"))
        .collect();
    tx.execute_unprepared(&format!(
        "DELETE FROM milestone_alerts WHERE kind = '{}' AND ({})",
        alert.as_str(),
        released.join(" OR ")
    ))
    .await?;
    Ok(())
}

/// On PostgreSQL, refreshes the planner's statistics of the alert ledger. A large backlog fills
/// it faster than autovacuum refreshes them; planned as empty, the claim's NOT EXISTS becomes a
/// merge anti join that sorts every alert so far, once per batch.
pub async fn refresh_alert_statistics(store: &Store) -> Result<(), StoreError> {
    if store.backend() == sea_orm::DbBackend::Postgres {
        store
            .connection()
            .execute_unprepared("ANALYZE milestone_alerts")
            .await?;
    }
    Ok(())
}

/// Reads the `AlertInputs` of the milestones `ids` inside the scanner's transaction.
///
/// On a SQLite file the rows are read by the calling-thread reader on a blocking thread
/// instead: decoding a thousand rows through sqlx and sea-orm was half of a scanner batch.
/// That reads outside the transaction, and sees the same rows: the transaction holds
/// SQLite's write lock (`BEGIN IMMEDIATE`), so nothing else commits meanwhile, and it has
/// only added alert rows, which these reads do not look at.
pub async fn alert_inputs(
    store: &Store,
    tx: &DatabaseTransaction,
    ids: Vec<i64>,
) -> Result<AlertInputs, StoreError> {
    let (milestones, project_rows, open) = if let Some(reader) = store.inline_reader() {
        reader
            .read_blocking("reading the milestones to alert", move |c| {
                let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                let milestones = c
                    .prepare(&format!(
                        concat!(
                            "SELECT ",
                            milestone_columns!(),
                            " FROM milestones WHERE id IN ({}) ORDER BY id"
                        ),
                        list
                    ))?
                    .query_map([], milestone_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let pks: BTreeSet<i64> = milestones.iter().map(|m| m.project_pk).collect();
                let list = pks.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                let projects = c
                    .prepare(&format!(
                        concat!(
                            "SELECT ",
                            super::projects::project_columns!(),
                            " FROM projects WHERE id IN ({})"
                        ),
                        list
                    ))?
                    .query_map([], super::projects::project_from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let open = c
                    .prepare(&format!(
                        "SELECT DISTINCT project_pk FROM prerequisites WHERE project_pk IN ({list}) \
                         AND state NOT IN ('DONE', 'WAIVED')"
                    ))?
                    .query_map([], |r| r.get::<_, i64>(0))?
                    .collect::<rusqlite::Result<HashSet<i64>>>()?;
                Ok((milestones, projects, open))
            })
            .await?
    } else {
        let milestones = milestone::Entity::find()
            .filter(milestone::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(milestone::Column::Id)
            .all(tx)
            .await?;
        let project_pks: BTreeSet<i64> = milestones.iter().map(|r| r.project_pk).collect();
        let projects = project::Entity::find()
            .filter(project::Column::Id.is_in(project_pks.iter().copied()))
            .all(tx)
            .await?;
        let open = prerequisite::Entity::find()
            .select_only()
            .column(prerequisite::Column::ProjectPk)
            .filter(prerequisite::Column::ProjectPk.is_in(project_pks.iter().copied()))
            .filter(prerequisite::Column::State.is_not_in(["DONE", "WAIVED"]))
            .distinct()
            .into_tuple::<i64>()
            .all(tx)
            .await?
            .into_iter()
            .collect();
        (milestones, projects, open)
    };
    let mut projects = HashMap::with_capacity(project_rows.len());
    for row in project_rows {
        projects.insert(row.id, project_to_domain(row)?);
    }
    let list = milestones
        .iter()
        .map(|m| m.id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut open_problems = HashMap::new();
    if !list.is_empty() {
        let sql = format!(
            "SELECT m.id, {} FROM milestones m WHERE m.id IN ({list})",
            RuleSql::OPEN_PROBLEM_ID
        );
        for row in tx
            .query_all_raw(sea_orm::Statement::from_string(store.backend(), sql))
            .await?
        {
            if let Some(id) = row.try_get_by_index::<Option<String>>(1)? {
                open_problems.insert(row.try_get_by_index::<i64>(0)?, id);
            }
        }
    }
    let candidates = milestones
        .into_iter()
        .map(|row| {
            let project = projects
                .get(&row.project_pk)
                .ok_or_else(|| corrupt("milestone without its project"))?;
            Ok(AlertCandidate {
                milestone_pk: row.id,
                project_pk: row.project_pk,
                milestone: to_domain(&project.id, row)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(AlertInputs {
        candidates,
        projects,
        open,
        open_problems,
    })
}

/// The rows of the list query: a milestone, its project's id, whether the project has open
/// prerequisites, and the milestone's open linked problem.
#[derive(Debug, FromQueryResult)]
struct ListedRow {
    id: i64,
    project_pk: i64,
    milestone_id: String,
    uid: String,
    kind: String,
    title: String,
    description: String,
    baseline_date: i32,
    forecast_date: i32,
    actual_date: Option<i32>,
    slip_count: i32,
    days_slipped: i32,
    revision_count: i32,
    created_at_us: i64,
    updated_at_us: i64,
    version: i64,
    township: String,
    project_ref: String,
    open_prerequisites: i32,
    open_problem: Option<String>,
}

/// SQL fragments of the slippage rules over the alias `m` for one status date, for the list's
/// and the reports' filters and the scanner's claims. They mirror `domain::milestone::assess`,
/// which decides the rules (a change there is a change here), and take their thresholds from
/// its `Policy`; the integration tests (`supervisor_list_agrees_with_the_rules`) check that
/// both agree.
pub(crate) struct RuleSql {
    status_day: i32,
    horizon_day: i32,
    tolerance: i32,
}

impl RuleSql {
    /// The same as a 0/1 column. A scalar subquery with LIMIT, not EXISTS: PostgreSQL may
    /// answer an EXISTS in the select list with a hash of every open prerequisite (a scan of
    /// the table per query), where this form probes the index once per listed row.
    pub(crate) const OPEN_PREREQUISITES_FLAG: &'static str = "COALESCE((SELECT 1 FROM prerequisites q WHERE q.project_pk = m.project_pk AND q.state NOT IN ('DONE', 'WAIVED') LIMIT 1), 0)";

    pub(crate) const OPEN_PREREQUISITES: &'static str = "EXISTS (SELECT 1 FROM prerequisites q WHERE q.project_pk = m.project_pk AND q.state NOT IN ('DONE', 'WAIVED'))";

    /// Some OPEN or IN_PROGRESS problem is linked to the milestone (`Blockers::open_problem`),
    /// probed through the index on (project, milestone, state) of migration 15.
    pub(crate) const OPEN_PROBLEM: &'static str = "EXISTS (SELECT 1 FROM problems pr WHERE pr.project_pk = m.project_pk AND pr.milestone_id = m.milestone_id AND pr.state IN ('OPEN', 'IN_PROGRESS'))";

    /// The id of that problem with the earliest deadline (ties by id), or NULL.
    pub(crate) const OPEN_PROBLEM_ID: &'static str = "(SELECT pr.problem_id FROM problems pr WHERE pr.project_pk = m.project_pk AND pr.milestone_id = m.milestone_id AND pr.state IN ('OPEN', 'IN_PROGRESS') ORDER BY pr.deadline, pr.problem_id LIMIT 1)";

    pub(crate) fn new(status_date: NaiveDate, policy: &Policy) -> Self {
        let status_day = day_number(status_date);
        Self {
            status_day,
            horizon_day: status_day + policy.warning_horizon_days,
            tolerance: policy.tolerance_days,
        }
    }

    pub(crate) fn variance(&self) -> String {
        let s = self.status_day;
        format!(
            "((CASE WHEN m.actual_date IS NOT NULL THEN m.actual_date WHEN m.forecast_date > {s} THEN m.forecast_date ELSE {s} END) - m.baseline_date)"
        )
    }

    pub(crate) fn overdue(&self) -> String {
        format!(
            "(m.actual_date IS NULL AND m.baseline_date < {})",
            self.status_day
        )
    }

    fn not_late(&self) -> String {
        format!(
            "m.actual_date IS NULL AND m.baseline_date >= {} AND m.forecast_date <= m.baseline_date",
            self.status_day
        )
    }

    /// `Blockers::block` inside the horizon.
    fn at_risk(&self) -> String {
        format!(
            "({} AND m.baseline_date <= {} AND ((m.kind = '{}' AND {}) OR {}))",
            self.not_late(),
            self.horizon_day,
            MilestoneKind::ConstructionStart.as_str(),
            Self::OPEN_PREREQUISITES,
            Self::OPEN_PROBLEM
        )
    }

    /// The milestones the scanner raises `alert` for.
    pub(crate) fn alert(&self, alert: Alert) -> String {
        match alert {
            Alert::Overdue => self.overdue(),
            Alert::AtRisk => self.at_risk(),
        }
    }

    pub(crate) fn status(&self, status: MilestoneStatus) -> String {
        match status {
            MilestoneStatus::Achieved => "(m.actual_date IS NOT NULL)".into(),
            MilestoneStatus::Overdue => self.overdue(),
            MilestoneStatus::Slipped => format!(
                "(m.actual_date IS NULL AND m.baseline_date >= {} AND m.forecast_date > m.baseline_date)",
                self.status_day
            ),
            MilestoneStatus::AtRisk => self.at_risk(),
            MilestoneStatus::OnTrack => format!("({} AND NOT {})", self.not_late(), self.at_risk()),
        }
    }

    fn red(&self) -> String {
        format!(
            "({} OR {} > {})",
            self.overdue(),
            self.variance(),
            self.tolerance
        )
    }

    pub(crate) fn light(&self, light: Light) -> String {
        match light {
            Light::Red => self.red(),
            Light::Yellow => format!(
                "(NOT {} AND ({} OR {} >= 1))",
                self.red(),
                self.at_risk(),
                self.variance()
            ),
            Light::Green => format!(
                "(NOT {} AND NOT {} AND {} <= 0)",
                self.red(),
                self.at_risk(),
                self.variance()
            ),
        }
    }
}

impl Store {
    /// One page of milestones with their derived fields as of the query's status date.
    pub async fn list_milestones(
        &self,
        policy: &Policy,
        query: &MilestoneQuery,
    ) -> Result<Page<AssessedMilestone>, StoreError> {
        let rules = RuleSql::new(query.status_date, policy);
        let variance = rules.variance();
        let mut sql = Sql::new(
            self.backend(),
            format!(
                "SELECT m.id, m.project_pk, m.milestone_id, m.uid, m.kind, m.title, m.description, \
                 m.baseline_date, m.forecast_date, m.actual_date, m.slip_count, m.days_slipped, \
                 m.revision_count, m.created_at_us, m.updated_at_us, m.version, m.township, \
                 p.project_id AS project_ref, \
                 {} AS open_prerequisites, {} AS open_problem \
                 FROM milestones m JOIN projects p ON p.id = m.project_pk WHERE 1 = 1",
                RuleSql::OPEN_PREREQUISITES_FLAG,
                RuleSql::OPEN_PROBLEM_ID
            ),
        );
        let f = &query.filter;
        for (column, value) in [
            ("p.project_id", &f.project_id),
            ("m.township", &f.township),
            ("p.department", &f.department),
            ("p.leader", &f.leader),
        ] {
            if let Some(value) = value {
                sql.push(&format!(" AND {column} = ")).bind(value.clone());
            }
        }
        if let Some(kind) = f.kind {
            sql.push(" AND m.kind = ").bind(kind.as_str());
        }
        if let Some(status) = f.status {
            sql.push(" AND ").push(&rules.status(status));
        }
        if let Some(light) = f.light {
            sql.push(" AND ").push(&rules.light(light));
        }
        if let Some(from) = f.baseline_from {
            sql.push(" AND m.baseline_date >= ").bind(day_number(from));
        }
        if let Some(to) = f.baseline_to {
            sql.push(" AND m.baseline_date <= ").bind(day_number(to));
        }
        let key_sql = match query.order {
            MilestoneOrder::BaselineDate => "m.baseline_date".to_string(),
            MilestoneOrder::Variance => variance.clone(),
        };
        let (cmp, direction) = if query.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(Cursor {
            key: SortKey::Int(key),
            id,
        }) = &query.after
        {
            let key = *key as i32;
            sql.push(&format!(" AND ({key_sql} {cmp} ")).bind(key);
            sql.push(&format!(" OR ({key_sql} = ")).bind(key);
            sql.push(&format!(" AND m.uid {cmp} ")).bind(id.clone());
            sql.push("))");
        }
        sql.push(&format!(
            " ORDER BY {key_sql} {direction}, m.uid {direction} LIMIT {}",
            query.limit + 1
        ));
        let rows = ListedRow::find_by_statement(sql.build())
            .all(self.connection())
            .await?;
        let more = rows.len() as u64 > query.limit;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows.into_iter().take(query.limit as usize) {
            let blockers = Blockers {
                open_prerequisites: row.open_prerequisites != 0,
                open_problem: row.open_problem,
            };
            let project_ref = row.project_ref.clone();
            let model = milestone::Model {
                id: row.id,
                project_pk: row.project_pk,
                milestone_id: row.milestone_id,
                uid: row.uid,
                kind: row.kind,
                title: row.title,
                description: row.description,
                baseline_date: row.baseline_date,
                forecast_date: row.forecast_date,
                actual_date: row.actual_date,
                slip_count: row.slip_count,
                days_slipped: row.days_slipped,
                revision_count: row.revision_count,
                created_at_us: row.created_at_us,
                updated_at_us: row.updated_at_us,
                version: row.version,
                township: row.township,
            };
            items.push(to_domain(&project_ref, model)?.assessed(
                blockers,
                query.status_date,
                policy,
            ));
        }
        Ok(Page::new(items, more, |item| Cursor {
            key: SortKey::Int(match query.order {
                MilestoneOrder::BaselineDate => day_number(item.milestone.dates.baseline) as i64,
                MilestoneOrder::Variance => item.assessment.variance_days as i64,
            }),
            id: item.milestone.uid.clone(),
        }))
    }

    /// One page of a milestone's revisions after revision number `after`, oldest first, and
    /// whether more follow.
    pub async fn list_milestone_revisions(
        &self,
        project_id: &str,
        milestone_id: &str,
        after: i32,
        limit: u64,
    ) -> Result<(Vec<Revision>, bool), StoreError> {
        let conn = self.connection();
        let project_pk = project_pk(conn, project_id).await?;
        let (milestone_pk, _) = find(conn, project_pk, project_id, milestone_id, false).await?;
        let mut revisions = revisions(conn, milestone_pk, after, Some(limit + 1)).await?;
        let more = revisions.len() as u64 > limit;
        revisions.truncate(limit as usize);
        Ok((revisions, more))
    }
}
