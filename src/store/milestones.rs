//! Milestones: scheduling, the three date-changing methods with their revisions, reads with
//! derived status, the supervisor's list query, and the scanner's once-only alerts.

use chrono::{Datelike, NaiveDate};
use prost::Message;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{milestone, milestone_alert, milestone_revision, prerequisite, project};
use super::idempotency::RequestKey;
use super::projects::{
    apply_stage_change, check_etag, finish, load_for_update, to_domain as project_to_domain,
};
use super::sql::Sql;
use super::{Cursor, Outcome, Page, SortKey, Store, WriteContext, db_error, unique_violation};
use crate::domain::milestone::{
    AssessedMilestone, Light, Milestone, MilestoneDates, MilestoneKind, MilestoneStatus, Policy,
    Revision, RevisionField, SlipTotals, assess, check_plausible, dates_as_of,
};
use crate::domain::names;
use crate::domain::project::{Project, Stage, StageTransition};
use crate::domain::values::{day_number, from_day_number};
use crate::events::outbox::{self as events, EventDraft};
use crate::proto::{budget, v1};
use crate::service::ServiceError;

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

/// A milestone to schedule, after validation.
#[derive(Debug, Clone)]
pub struct NewMilestone {
    pub kind: MilestoneKind,
    pub title: String,
    pub description: String,
    pub baseline: NaiveDate,
    pub forecast: Option<NaiveDate>,
}

/// A change of descriptive fields.
#[derive(Debug, Clone, Default)]
pub struct MilestonePatch {
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Which date-changing method is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateChange {
    Forecast,
    Achieve,
    Rebaseline,
}

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

/// What the scanner needs to build the alerts of claimed milestones: their rows (by id),
/// their projects, and which of those projects have open prerequisites.
struct AlertInputs {
    milestones: Vec<milestone::Model>,
    projects: Vec<project::Model>,
    open: std::collections::HashSet<i64>,
}

/// Reads the `AlertInputs` of the milestones `ids` inside the scanner's transaction.
///
/// On a SQLite file the rows are read by the calling-thread reader on a blocking thread
/// instead: decoding a thousand rows through sqlx and sea-orm was half of a scanner batch.
/// That reads outside the transaction, and sees the same rows: the transaction holds
/// SQLite's write lock (`BEGIN IMMEDIATE`), so nothing else commits meanwhile, and it has
/// only added alert rows, which these reads do not look at.
async fn alert_inputs(
    store: &Store,
    tx: &DatabaseTransaction,
    ids: Vec<i64>,
) -> Result<AlertInputs, ServiceError> {
    if let Some(reader) = store.inline_reader() {
        return reader
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
                let pks: std::collections::BTreeSet<i64> =
                    milestones.iter().map(|m| m.project_pk).collect();
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
                    .collect::<rusqlite::Result<_>>()?;
                Ok(AlertInputs {
                    milestones,
                    projects,
                    open,
                })
            })
            .await;
    }
    let milestones = milestone::Entity::find()
        .filter(milestone::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(milestone::Column::Id)
        .all(tx)
        .await
        .map_err(db_error)?;
    let project_pks: std::collections::BTreeSet<i64> =
        milestones.iter().map(|r| r.project_pk).collect();
    let projects = project::Entity::find()
        .filter(project::Column::Id.is_in(project_pks.iter().copied()))
        .all(tx)
        .await
        .map_err(db_error)?;
    let open = prerequisite::Entity::find()
        .select_only()
        .column(prerequisite::Column::ProjectPk)
        .filter(prerequisite::Column::ProjectPk.is_in(project_pks.iter().copied()))
        .filter(prerequisite::Column::State.is_not_in(["DONE", "WAIVED"]))
        .distinct()
        .into_tuple::<i64>()
        .all(tx)
        .await
        .map_err(db_error)?
        .into_iter()
        .collect();
    Ok(AlertInputs {
        milestones,
        projects,
        open,
    })
}

fn to_domain(project_id: &str, row: milestone::Model) -> Result<Milestone, ServiceError> {
    let kind = MilestoneKind::parse(&row.kind).ok_or_else(|| {
        ServiceError::internal(format!("stored milestone kind {:?} is unknown", row.kind))
    })?;
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
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

fn revision_to_domain(row: milestone_revision::Model) -> Result<Revision, ServiceError> {
    Ok(Revision {
        number: row.number,
        field: RevisionField::parse(&row.field).ok_or_else(|| {
            ServiceError::internal(format!("stored revision field {:?} is unknown", row.field))
        })?,
        old_date: row.old_date.map(from_day_number),
        new_date: from_day_number(row.new_date),
        reason: row.reason,
        actor: row.actor,
        created_at_us: row.created_at_us,
        recorded_on: from_day_number(row.recorded_on),
    })
}

/// Whether some prerequisite of the project is neither DONE nor WAIVED.
async fn has_open_prerequisites(
    conn: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<bool, ServiceError> {
    let open = prerequisite::Entity::find()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .filter(prerequisite::Column::State.is_not_in(["DONE", "WAIVED"]))
        .count(conn)
        .await
        .map_err(db_error)?;
    Ok(open > 0)
}

async fn find_milestone_row(
    conn: &impl ConnectionTrait,
    project_pk: i64,
    project_id: &str,
    milestone_id: &str,
    lock: bool,
) -> Result<milestone::Model, ServiceError> {
    let mut query = milestone::Entity::find()
        .filter(milestone::Column::ProjectPk.eq(project_pk))
        .filter(milestone::Column::MilestoneId.eq(milestone_id));
    if lock {
        query = query.lock_exclusive();
    }
    query
        .one(conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ServiceError::not_found(names::milestone_name(project_id, milestone_id)))
}

async fn insert_revision(
    tx: &DatabaseTransaction,
    ctx: &WriteContext,
    milestone_pk: i64,
    revision: &Revision,
) -> Result<(), ServiceError> {
    milestone_revision::ActiveModel {
        milestone_pk: Set(milestone_pk),
        number: Set(revision.number),
        field: Set(revision.field.as_str().to_string()),
        old_date: Set(revision.old_date.map(day_number)),
        new_date: Set(day_number(revision.new_date)),
        reason: Set(revision.reason.clone()),
        actor: Set(ctx.actor.clone()),
        recorded_on: Set(day_number(ctx.today)),
        created_at_us: Set(ctx.now_us),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The event of a milestone change.
fn milestone_event(
    kind: v1::EventKind,
    project: &Project,
    assessed: &AssessedMilestone,
    old_date: Option<NaiveDate>,
    new_date: NaiveDate,
    reason: String,
) -> EventDraft {
    let delta_days = old_date
        .map(|old| (new_date - old).num_days() as i32)
        .unwrap_or(0);
    let a = &assessed.assessment;
    let mut draft = EventDraft::about(
        kind,
        project,
        assessed.milestone.name(),
        Some(v1::event::Detail::MilestoneChange(v1::MilestoneChange {
            milestone_after: Some(v1::Milestone::from(assessed)),
            old_date: old_date.map(crate::proto::date),
            new_date: Some(crate::proto::date(new_date)),
            delta_days,
            variance_days: a.variance_days,
            light: v1::AlertLight::from(a.light) as i32,
            status: v1::MilestoneStatus::from(a.status) as i32,
            reason,
        })),
        Vec::new(),
    );
    draft.light = Some(a.light.as_str().to_string());
    if kind == v1::EventKind::MilestoneSlipped {
        draft.slip_days = Some(delta_days);
    }
    draft
}

fn refuse_cancelled(project: &Project) -> Result<(), ServiceError> {
    if project.stage == Stage::Cancelled {
        return Err(ServiceError::FailedPrecondition {
            reason: "PROJECT_CANCELLED",
            message: format!(
                "{} is CANCELLED; its milestones no longer change",
                project.name()
            ),
            violations: vec![(project.name(), "current stage is CANCELLED".into())],
        });
    }
    Ok(())
}

fn plausible(
    field: &str,
    date: NaiveDate,
    project: &Project,
    today: NaiveDate,
) -> Result<(), ServiceError> {
    let created_year = chrono::DateTime::from_timestamp_micros(project.created_at_us)
        .map(|t| t.year())
        .unwrap_or(today.year());
    check_plausible(date, created_year, today).map_err(|e| ServiceError::invalid(field, e))
}

/// Deletes the milestones of a project with their revisions and alerts.
pub(crate) async fn delete_for_project(
    tx: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<(), ServiceError> {
    let ids: Vec<i64> = milestone::Entity::find()
        .select_only()
        .column(milestone::Column::Id)
        .filter(milestone::Column::ProjectPk.eq(project_pk))
        .into_tuple()
        .all(tx)
        .await
        .map_err(db_error)?;
    for chunk in ids.chunks(500) {
        delete_milestone_rows(tx, chunk).await?;
    }
    Ok(())
}

async fn delete_milestone_rows(tx: &impl ConnectionTrait, ids: &[i64]) -> Result<(), ServiceError> {
    milestone_revision::Entity::delete_many()
        .filter(milestone_revision::Column::MilestonePk.is_in(ids.iter().copied()))
        .exec(tx)
        .await
        .map_err(db_error)?;
    milestone_alert::Entity::delete_many()
        .filter(milestone_alert::Column::MilestonePk.is_in(ids.iter().copied()))
        .exec(tx)
        .await
        .map_err(db_error)?;
    milestone::Entity::delete_many()
        .filter(milestone::Column::Id.is_in(ids.iter().copied()))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The rows of the list query: a milestone, its project's id, and whether the project has
/// open prerequisites.
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
}

/// SQL fragments of the slippage rules over the alias `m` for one status date. They mirror
/// `domain::milestone::assess`; the integration tests check that both agree.
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

    fn at_risk(&self) -> String {
        format!(
            "({} AND m.kind = 'CONSTRUCTION_START' AND m.baseline_date <= {} AND {})",
            self.not_late(),
            self.horizon_day,
            Self::OPEN_PREREQUISITES
        )
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
    /// The write context's view of a milestone: derived fields as of today.
    async fn assessed_now(
        &self,
        conn: &impl ConnectionTrait,
        project_pk: i64,
        milestone: Milestone,
        ctx: &WriteContext,
        policy: &Policy,
    ) -> Result<AssessedMilestone, ServiceError> {
        let open = has_open_prerequisites(conn, project_pk).await?;
        let assessment = assess(milestone.kind, &milestone.dates, open, ctx.today, policy);
        Ok(AssessedMilestone {
            milestone,
            assessment,
        })
    }

    pub async fn create_milestone(
        &self,
        ctx: &WriteContext,
        policy: &Policy,
        project_id: &str,
        milestone_id: Option<String>,
        new: NewMilestone,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<AssessedMilestone>, ServiceError> {
        let (tx, (project_pk, project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        refuse_cancelled(&project)?;
        let forecast = new.forecast.unwrap_or(new.baseline);
        let mut problems = Vec::new();
        for (field, date) in [
            ("milestone.baseline_date", new.baseline),
            ("milestone.forecast_date", forecast),
        ] {
            if let Err(ServiceError::InvalidArgument(mut v)) =
                plausible(field, date, &project, ctx.today)
            {
                problems.append(&mut v);
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::InvalidArgument(problems));
        }
        let id = milestone_id.unwrap_or_else(names::generate_id);
        let revisions = [
            (RevisionField::Baseline, new.baseline),
            (RevisionField::Forecast, forecast),
        ];
        let totals = SlipTotals::default();
        let row = milestone::ActiveModel {
            project_pk: Set(project_pk),
            milestone_id: Set(id.clone()),
            uid: Set(uuid::Uuid::new_v4().to_string()),
            kind: Set(new.kind.as_str().to_string()),
            title: Set(new.title),
            description: Set(new.description),
            baseline_date: Set(day_number(new.baseline)),
            forecast_date: Set(day_number(forecast)),
            actual_date: Set(None),
            slip_count: Set(0),
            days_slipped: Set(0),
            revision_count: Set(revisions.len() as i32),
            created_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(1),
            township: Set(project.fields.township.clone()),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(|err| match unique_violation(&err) {
            Some(_) => ServiceError::AlreadyExists {
                resource: names::milestone_name(project_id, &id),
                field: "milestone_id".into(),
            },
            None => db_error(err),
        })?;
        let milestone_pk = row.id;
        for (number, (field, date)) in revisions.into_iter().enumerate() {
            let revision = Revision {
                number: number as i32 + 1,
                field,
                old_date: None,
                new_date: date,
                reason: "scheduled".into(),
                actor: ctx.actor.clone(),
                created_at_us: ctx.now_us,
                recorded_on: ctx.today,
            };
            insert_revision(&tx, ctx, milestone_pk, &revision).await?;
        }
        let mut created = to_domain(project_id, row)?;
        created.totals = totals;
        let assessed = self
            .assessed_now(&tx, project_pk, created, ctx, policy)
            .await?;
        let draft = milestone_event(
            v1::EventKind::MilestoneScheduled,
            &project,
            &assessed,
            None,
            assessed.milestone.dates.baseline,
            String::new(),
        );
        let message = v1::Milestone::from(&assessed);
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            assessed,
        )
        .await
    }

    /// A milestone as of `status_date`. For a day before today the dates are rebuilt from the
    /// revisions recorded up to that day.
    pub async fn get_milestone(
        &self,
        policy: &Policy,
        project_id: &str,
        milestone_id: &str,
        status_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<AssessedMilestone, ServiceError> {
        let conn = self.connection();
        let project_row = project::Entity::find()
            .filter(project::Column::ProjectId.eq(project_id))
            .one(conn)
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(names::project_name(project_id)))?;
        let project_pk = project_row.id;
        let row = find_milestone_row(conn, project_pk, project_id, milestone_id, false).await?;
        let milestone_pk = row.id;
        let mut milestone = to_domain(project_id, row)?;
        if status_date < today {
            let revisions = self.revisions(milestone_pk, 0, None).await?;
            let (dates, totals) = dates_as_of(&revisions, status_date).ok_or_else(|| {
                ServiceError::FailedPrecondition {
                    reason: "MILESTONE_NOT_YET_SCHEDULED",
                    message: format!(
                        "{} was not scheduled yet on {status_date}",
                        milestone.name()
                    ),
                    violations: vec![(
                        milestone.name(),
                        format!("first scheduled after {status_date}"),
                    )],
                }
            })?;
            milestone.dates = dates;
            milestone.totals = totals;
        }
        let open = has_open_prerequisites(conn, project_pk).await?;
        let assessment = assess(milestone.kind, &milestone.dates, open, status_date, policy);
        Ok(AssessedMilestone {
            milestone,
            assessment,
        })
    }

    /// Revisions after number `after_number`, oldest first; all of them without a limit.
    async fn revisions(
        &self,
        milestone_pk: i64,
        after_number: i32,
        limit: Option<u64>,
    ) -> Result<Vec<Revision>, ServiceError> {
        let mut query = milestone_revision::Entity::find()
            .filter(milestone_revision::Column::MilestonePk.eq(milestone_pk))
            .filter(milestone_revision::Column::Number.gt(after_number))
            .order_by_asc(milestone_revision::Column::Number);
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        query
            .all(self.connection())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(revision_to_domain)
            .collect()
    }

    /// One page of a milestone's revisions after revision number `after`, oldest first.
    pub async fn list_milestone_revisions(
        &self,
        project_id: &str,
        milestone_id: &str,
        after: i32,
        limit: u64,
    ) -> Result<(Vec<Revision>, bool), ServiceError> {
        let conn = self.connection();
        let project_pk: i64 = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .filter(project::Column::ProjectId.eq(project_id))
            .into_tuple()
            .one(conn)
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(names::project_name(project_id)))?;
        let row = find_milestone_row(conn, project_pk, project_id, milestone_id, false).await?;
        let mut revisions = self.revisions(row.id, after, Some(limit + 1)).await?;
        let more = revisions.len() as u64 > limit;
        revisions.truncate(limit as usize);
        Ok((revisions, more))
    }

    /// One page of milestones with their derived fields as of the query's status date.
    pub async fn list_milestones(
        &self,
        policy: &Policy,
        query: &MilestoneQuery,
    ) -> Result<Page<AssessedMilestone>, ServiceError> {
        let rules = RuleSql::new(query.status_date, policy);
        let variance = rules.variance();
        let mut sql = Sql::new(
            self.backend(),
            format!(
                "SELECT m.id, m.project_pk, m.milestone_id, m.uid, m.kind, m.title, m.description, \
                 m.baseline_date, m.forecast_date, m.actual_date, m.slip_count, m.days_slipped, \
                 m.revision_count, m.created_at_us, m.updated_at_us, m.version, m.township, \
                 p.project_id AS project_ref, \
                 {} AS open_prerequisites \
                 FROM milestones m JOIN projects p ON p.id = m.project_pk WHERE 1 = 1",
                RuleSql::OPEN_PREREQUISITES_FLAG
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
            .await
            .map_err(db_error)?;
        let more = rows.len() as u64 > query.limit;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows.into_iter().take(query.limit as usize) {
            let open = row.open_prerequisites != 0;
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
            let milestone = to_domain(&project_ref, model)?;
            let assessment = assess(
                milestone.kind,
                &milestone.dates,
                open,
                query.status_date,
                policy,
            );
            items.push(AssessedMilestone {
                milestone,
                assessment,
            });
        }
        Ok(Page::new(items, more, |item| Cursor {
            key: SortKey::Int(match query.order {
                MilestoneOrder::BaselineDate => day_number(item.milestone.dates.baseline) as i64,
                MilestoneOrder::Variance => item.assessment.variance_days as i64,
            }),
            id: item.milestone.uid.clone(),
        }))
    }

    pub async fn update_milestone(
        &self,
        ctx: &WriteContext,
        policy: &Policy,
        project_id: &str,
        milestone_id: &str,
        patch: MilestonePatch,
        etag: Option<&str>,
    ) -> Result<AssessedMilestone, ServiceError> {
        let tx = self.begin_write().await?;
        let (project_pk, project) = load_for_update(&tx, ctx, project_id).await?;
        let row = find_milestone_row(&tx, project_pk, project_id, milestone_id, true).await?;
        let milestone_pk = row.id;
        let mut milestone = to_domain(project_id, row)?;
        check_etag(etag, milestone.name(), milestone.etag())?;
        let mut changed = Vec::new();
        if let Some(title) = patch.title.filter(|t| *t != milestone.title) {
            milestone.title = title;
            changed.push("title");
        }
        if let Some(description) = patch.description.filter(|d| *d != milestone.description) {
            milestone.description = description;
            changed.push("description");
        }
        if milestone.kind == MilestoneKind::Custom && milestone.title.is_empty() {
            return Err(ServiceError::invalid(
                "milestone.title",
                "is required for CUSTOM milestones",
            ));
        }
        if changed.is_empty() {
            drop(tx);
            return self
                .assessed_now(self.connection(), project_pk, milestone, ctx, policy)
                .await;
        }
        milestone.version += 1;
        milestone.updated_at_us = ctx.now_us;
        milestone::ActiveModel {
            id: sea_orm::Unchanged(milestone_pk),
            title: Set(milestone.title.clone()),
            description: Set(milestone.description.clone()),
            version: Set(milestone.version),
            updated_at_us: Set(ctx.now_us),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(db_error)?;
        let assessed = self
            .assessed_now(&tx, project_pk, milestone, ctx, policy)
            .await?;
        let mut draft = milestone_event(
            v1::EventKind::MilestoneUpdated,
            &project,
            &assessed,
            None,
            assessed.milestone.dates.baseline,
            String::new(),
        );
        draft.event.changed_fields = changed.into_iter().map(String::from).collect();
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await?;
        Ok(assessed)
    }

    pub async fn delete_milestone(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        milestone_id: &str,
        etag: Option<&str>,
    ) -> Result<(), ServiceError> {
        let tx = self.begin_write().await?;
        let (project_pk, project) = load_for_update(&tx, ctx, project_id).await?;
        let row = find_milestone_row(&tx, project_pk, project_id, milestone_id, true).await?;
        let milestone_pk = row.id;
        let milestone = to_domain(project_id, row)?;
        check_etag(etag, milestone.name(), milestone.etag())?;
        delete_milestone_rows(&tx, &[milestone_pk]).await?;
        let draft = EventDraft::about(
            v1::EventKind::MilestoneDeleted,
            &project,
            milestone.name(),
            None,
            Vec::new(),
        );
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await
    }

    /// ForecastMilestone, AchieveMilestone and RebaselineMilestone: one date changes, with a
    /// revision and an event; achieving may move the project's stage forward.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_milestone_date(
        &self,
        ctx: &WriteContext,
        policy: &Policy,
        change: DateChange,
        project_id: &str,
        milestone_id: &str,
        new_date: NaiveDate,
        reason: String,
        etag: Option<&str>,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<AssessedMilestone>, ServiceError> {
        let (tx, (project_pk, mut project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let row = find_milestone_row(&tx, project_pk, project_id, milestone_id, true).await?;
        let milestone_pk = row.id;
        let revision_count = row.revision_count;
        let mut milestone = to_domain(project_id, row)?;
        check_etag(etag, milestone.name(), milestone.etag())?;
        refuse_cancelled(&project)?;
        if let Some(actual) = milestone.dates.actual {
            return Err(ServiceError::FailedPrecondition {
                reason: "MILESTONE_ACHIEVED",
                message: format!("{} was already achieved on {actual}", milestone.name()),
                violations: vec![(milestone.name(), format!("achieved on {actual}"))],
            });
        }
        let (field, date_field, old_date) = match change {
            DateChange::Forecast => (
                RevisionField::Forecast,
                "forecast_date",
                milestone.dates.forecast,
            ),
            DateChange::Rebaseline => (
                RevisionField::Baseline,
                "baseline_date",
                milestone.dates.baseline,
            ),
            DateChange::Achieve => (
                RevisionField::Actual,
                "actual_date",
                milestone.dates.forecast,
            ),
        };
        plausible(date_field, new_date, &project, ctx.today)?;
        if change == DateChange::Forecast && new_date > old_date && reason.is_empty() {
            return Err(ServiceError::invalid(
                "reason",
                "is required when the forecast moves later",
            ));
        }
        if change != DateChange::Achieve && new_date == old_date {
            // Nothing moves: no revision, no event.
            drop(tx);
            let assessed = self
                .assessed_now(self.connection(), project_pk, milestone, ctx, policy)
                .await?;
            return Ok(Outcome::Done(assessed));
        }
        let revision = Revision {
            number: revision_count + 1,
            field,
            old_date: (change != DateChange::Achieve).then_some(old_date),
            new_date,
            reason: reason.clone(),
            actor: ctx.actor.clone(),
            created_at_us: ctx.now_us,
            recorded_on: ctx.today,
        };
        match change {
            DateChange::Forecast => milestone.dates.forecast = new_date,
            DateChange::Rebaseline => milestone.dates.baseline = new_date,
            DateChange::Achieve => milestone.dates.actual = Some(new_date),
        }
        milestone.totals.add(&revision);
        milestone.version += 1;
        milestone.updated_at_us = ctx.now_us;
        milestone::ActiveModel {
            id: sea_orm::Unchanged(milestone_pk),
            baseline_date: Set(day_number(milestone.dates.baseline)),
            forecast_date: Set(day_number(milestone.dates.forecast)),
            actual_date: Set(milestone.dates.actual.map(day_number)),
            slip_count: Set(milestone.totals.slip_count),
            days_slipped: Set(milestone.totals.days_slipped),
            revision_count: Set(revision.number),
            version: Set(milestone.version),
            updated_at_us: Set(ctx.now_us),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(db_error)?;
        insert_revision(&tx, ctx, milestone_pk, &revision).await?;
        let assessed = self
            .assessed_now(&tx, project_pk, milestone, ctx, policy)
            .await?;
        let mut drafts = Vec::new();
        let event_kind = match change {
            DateChange::Forecast if new_date > old_date => v1::EventKind::MilestoneSlipped,
            DateChange::Forecast => v1::EventKind::MilestoneRecovered,
            DateChange::Rebaseline => v1::EventKind::MilestoneRebaselined,
            DateChange::Achieve => v1::EventKind::MilestoneAchieved,
        };
        let old_for_event = match change {
            DateChange::Achieve => Some(assessed.milestone.dates.baseline),
            _ => Some(old_date),
        };
        drafts.push(milestone_event(
            event_kind,
            &project,
            &assessed,
            old_for_event,
            new_date,
            reason,
        ));
        if change == DateChange::Achieve
            && let Some(target) = assessed.milestone.kind.stage_on_achieve()
            && project.stage.is_behind(target)
        {
            let step = StageTransition {
                from: project.stage,
                to: target,
                suspended_from: None,
            };
            let why = format!("{} achieved on {new_date}", assessed.milestone.name());
            drafts.push(
                apply_stage_change(&tx, ctx, project_pk, &mut project, step, why, new_date).await?,
            );
        }
        let message = v1::Milestone::from(&assessed);
        finish(
            self,
            tx,
            ctx,
            drafts,
            key,
            || message.encode_to_vec(),
            assessed,
        )
        .await
    }

    /// The scanner's pass for one day: every milestone that is overdue, or at risk, on `today`
    /// and has not been alerted for its current baseline gets one alert row and one event.
    /// The alert row's unique key makes this once-only across restarts and replicas. Returns
    /// the number of events emitted.
    pub async fn scan_milestone_alerts(
        &self,
        ctx: &WriteContext,
        policy: &Policy,
    ) -> Result<usize, ServiceError> {
        let rules = RuleSql::new(ctx.today, policy);
        let mut emitted = 0;
        for (alert, condition) in [("OVERDUE", rules.overdue()), ("AT_RISK", rules.at_risk())] {
            // Batches continue after the last milestone claimed, so the pass reads the table
            // once instead of from the start for every batch.
            let mut after = 0;
            loop {
                let batch = self
                    .raise_alerts(ctx, policy, alert, &condition, after)
                    .await?;
                emitted += batch.raised;
                if batch.done {
                    break;
                }
                if after == 0 && self.backend() == sea_orm::DbBackend::Postgres {
                    // A large backlog fills the alert ledger faster than autovacuum refreshes
                    // its statistics; planned as empty, the claim's NOT EXISTS becomes a merge
                    // anti join that sorts every alert so far, once per batch.
                    self.connection()
                        .execute_unprepared("ANALYZE milestone_alerts")
                        .await
                        .map_err(db_error)?;
                }
                after = batch.last;
            }
        }
        Ok(emitted)
    }

    /// Raises one batch of alerts in one transaction: a single INSERT … SELECT claims the
    /// ledger rows (ON CONFLICT DO NOTHING, so a replica racing on the same rows skips them),
    /// then the milestones, their projects and open prerequisites are read in three queries
    /// and the events appended together. Only milestones after `after` (by key) are looked at.
    async fn raise_alerts(
        &self,
        ctx: &WriteContext,
        policy: &Policy,
        alert: &str,
        condition: &str,
        after: i64,
    ) -> Result<AlertBatch, ServiceError> {
        let tx = self.begin_write().await?;
        let claim = Sql::new(
            self.backend(),
            format!(
                "INSERT INTO milestone_alerts (milestone_pk, kind, baseline_date, created_at_us) \
                 SELECT c.id, '{alert}', c.baseline_date, {now} FROM (SELECT m.id, m.baseline_date \
                 FROM milestones m WHERE m.id > {after} AND {condition} AND NOT EXISTS (SELECT 1 FROM milestone_alerts a \
                 WHERE a.milestone_pk = m.id AND a.kind = '{alert}' AND a.baseline_date = m.baseline_date) \
                 ORDER BY m.id LIMIT {ALERT_BATCH}) c WHERE 1 = 1 \
                 ON CONFLICT DO NOTHING RETURNING milestone_pk, baseline_date",
                now = ctx.now_us
            ),
        );
        let claims: Vec<(i64, i32)> = tx
            .query_all_raw(claim.build())
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(db_error)?;
        let Some(last) = claims.iter().map(|(id, _)| *id).max() else {
            return Ok(AlertBatch {
                raised: 0,
                last: after,
                done: true,
            });
        };
        let ids = claims.iter().map(|(id, _)| *id).collect();
        let AlertInputs {
            milestones: rows,
            projects: project_rows,
            open,
        } = alert_inputs(self, &tx, ids).await?;
        let mut projects = std::collections::HashMap::new();
        for row in project_rows {
            projects.insert(row.id, project_to_domain(row)?);
        }
        let overdue = alert == "OVERDUE";
        let kind = if overdue {
            v1::EventKind::MilestoneOverdue
        } else {
            v1::EventKind::MilestoneAtRisk
        };
        let mut drafts = Vec::with_capacity(rows.len());
        let mut alerted = Vec::with_capacity(rows.len());
        let mut bytes = 0;
        for row in rows {
            let milestone_pk = row.id;
            let project_pk = row.project_pk;
            let project = projects
                .get(&project_pk)
                .ok_or_else(|| ServiceError::internal("milestone without its project"))?;
            let milestone = to_domain(&project.id, row)?;
            let assessment = assess(
                milestone.kind,
                &milestone.dates,
                open.contains(&project_pk),
                ctx.today,
                policy,
            );
            let assessed = AssessedMilestone {
                milestone,
                assessment,
            };
            let baseline = assessed.milestone.dates.baseline;
            let draft = milestone_event(
                kind,
                project,
                &assessed,
                None,
                baseline,
                if overdue {
                    format!("baseline {baseline} passed without the milestone being achieved")
                } else {
                    format!("construction start due {baseline} with prerequisites still open")
                },
            );
            bytes += draft.batch_len(&ctx.actor);
            if bytes > budget::MAX_RESOURCE_BYTES && !drafts.is_empty() {
                break;
            }
            drafts.push(draft);
            alerted.push(milestone_pk);
        }
        // Claims past the last milestone alerted go back, for the next batch to take.
        let cut = alerted.last().copied().filter(|kept| *kept < last);
        if let Some(kept) = cut {
            let released: Vec<String> = claims
                .iter()
                .filter(|(id, _)| *id > kept)
                .map(|(id, baseline)| {
                    format!("(milestone_pk = {id} AND baseline_date = {baseline})")
                })
                .collect();
            tx.execute_unprepared(&format!(
                "DELETE FROM milestone_alerts WHERE kind = '{alert}' AND ({})",
                released.join(" OR ")
            ))
            .await
            .map_err(db_error)?;
        }
        let raised = drafts.len();
        events::append(&tx, &ctx.actor, ctx.now_us, drafts).await?;
        self.commit(tx).await?;
        Ok(AlertBatch {
            raised,
            last: cut.unwrap_or(last),
            done: cut.is_none() && claims.len() < ALERT_BATCH,
        })
    }
}
