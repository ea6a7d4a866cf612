//! Funding applications, their disbursements, the coverage sheet (应报尽报) and the scanner's
//! funding alerts. Every write locks the project row first, so the writes of one project's
//! applications (and a forced project delete) never interleave.

use std::collections::HashMap;

use chrono::NaiveDate;
use prost::Message;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::entities::{funding_application, funding_disbursement, funding_window, prerequisite};
use super::funding::to_domain as window_to_domain;
use super::idempotency::RequestKey;
use super::projects::{check_etag, finish, load_for_update};
use super::sql::{Sql, exact_sum, insert_once, read_exact_sum};
use super::{Cursor, Outcome, Page, SortKey, Store, WriteContext, db_error, unique_violation};
use crate::domain::funding::{
    ApplicationAction, ApplicationPatch, ApplicationState, ApplicationTransition, Disbursement,
    Eligibility, FundingApplication, FundingChannel, FundingWindow, MAX_DISBURSEMENTS, WindowState,
};
use crate::domain::names;
use crate::domain::prerequisite::PrerequisiteKind;
use crate::domain::project::Project;
use crate::domain::values::{day_number, from_day_number, reported_count};
use crate::events::outbox::{self as events, EventDraft};
use crate::proto::v1;
use crate::service::ServiceError;

/// At most this many projects are listed in each part of a coverage sheet; the counts are
/// always complete.
pub const COVERAGE_LIST_LIMIT: usize = 1000;

/// At most this many undeclared projects are named in a funding window alert.
pub const ALERT_PROJECTS: usize = 100;

/// Filters of ListFundingApplications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationFilter {
    pub project_id: Option<String>,
    pub window_id: Option<String>,
    pub channel: Option<FundingChannel>,
    pub state: Option<ApplicationState>,
    pub township: Option<String>,
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationQuery {
    pub filter: ApplicationFilter,
    pub after: Option<Cursor>,
    pub limit: u64,
}

/// Sums over a filtered set of applications, exact (see `exact_sum`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub application_count: i64,
    pub requested_amount_yuan: i128,
    pub approved_amount_yuan: i128,
    pub disbursed_amount_yuan: i128,
}

/// A project line of a coverage sheet.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct CoverageEntry {
    pub project_id: String,
    pub display_name: String,
    pub township: String,
    pub department: String,
    pub total_investment_yuan: i64,
    pub application_id: Option<String>,
}

/// The 应报尽报 sheet of one window on one date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub window: FundingWindow,
    pub status_date: NaiveDate,
    pub eligible_count: i64,
    pub undeclared_count: i64,
    pub undeclared: Vec<CoverageEntry>,
    pub draft_count: i64,
    pub drafts: Vec<CoverageEntry>,
    pub submitted_count: i64,
    pub approved_count: i64,
    pub rejected_count: i64,
    /// Exact sums, in 128 bits.
    pub declared_amount_yuan: i128,
    pub approved_amount_yuan: i128,
    pub disbursed_amount_yuan: i128,
}

impl Coverage {
    pub fn declared_count(&self) -> i64 {
        self.submitted_count + self.approved_count + self.rejected_count
    }

    pub fn days_to_close(&self) -> i32 {
        (self.window.fields.close_date - self.status_date).num_days() as i32
    }
}

/// An application row with its project's id and its window's id and channel.
#[derive(Debug, FromQueryResult)]
struct ApplicationRow {
    id: i64,
    application_id: String,
    uid: String,
    state: String,
    requested_amount_yuan: i64,
    approved_amount_yuan: i64,
    disbursed_amount_yuan: i64,
    description: String,
    state_reason: String,
    state_actor: String,
    state_changed_at_us: i64,
    created_at_us: i64,
    updated_at_us: i64,
    version: i64,
    project_ref: String,
    window_ref: String,
    channel: String,
}

const SELECT_APPLICATIONS: &str = "SELECT a.id, a.application_id, a.uid, a.state, \
     a.requested_amount_yuan, a.approved_amount_yuan, a.disbursed_amount_yuan, a.description, \
     a.state_reason, a.state_actor, a.state_changed_at_us, a.created_at_us, a.updated_at_us, \
     a.version, p.project_id AS project_ref, w.window_id AS window_ref, w.channel AS channel \
     FROM funding_applications a JOIN projects p ON p.id = a.project_pk \
     JOIN funding_windows w ON w.id = a.window_pk";

fn to_domain(row: ApplicationRow) -> Result<(i64, FundingApplication), ServiceError> {
    let state = ApplicationState::parse(&row.state).ok_or_else(|| {
        ServiceError::internal(format!("stored state {:?} is unknown", row.state))
    })?;
    let channel = FundingChannel::parse(&row.channel).ok_or_else(|| {
        ServiceError::internal(format!("stored channel {:?} is unknown", row.channel))
    })?;
    Ok((
        row.id,
        FundingApplication {
            id: row.application_id,
            uid: row.uid,
            project_id: row.project_ref,
            window_id: row.window_ref,
            channel,
            state,
            requested_amount_yuan: row.requested_amount_yuan,
            approved_amount_yuan: row.approved_amount_yuan,
            disbursed_amount_yuan: row.disbursed_amount_yuan,
            description: row.description,
            state_reason: row.state_reason,
            state_actor: row.state_actor,
            state_changed_at_us: row.state_changed_at_us,
            disbursements: Vec::new(),
            created_at_us: row.created_at_us,
            updated_at_us: row.updated_at_us,
            version: row.version,
        },
    ))
}

/// One application by its project and id, with its primary key.
async fn find(
    conn: &impl ConnectionTrait,
    project_id: &str,
    application_id: &str,
) -> Result<(i64, FundingApplication), ServiceError> {
    let mut sql = Sql::new(conn.get_database_backend(), SELECT_APPLICATIONS);
    sql.push(" WHERE p.project_id = ")
        .bind(project_id)
        .push(" AND a.application_id = ")
        .bind(application_id);
    let row = ApplicationRow::find_by_statement(sql.build())
        .one(conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            ServiceError::not_found(names::funding_application_name(project_id, application_id))
        })?;
    to_domain(row)
}

/// The disbursements of the given applications, oldest first.
async fn disbursements(
    conn: &impl ConnectionTrait,
    pks: &[i64],
) -> Result<HashMap<i64, Vec<Disbursement>>, ServiceError> {
    let mut out: HashMap<i64, Vec<Disbursement>> = HashMap::new();
    if pks.is_empty() {
        return Ok(out);
    }
    let rows = funding_disbursement::Entity::find()
        .filter(funding_disbursement::Column::ApplicationPk.is_in(pks.iter().copied()))
        .order_by_asc(funding_disbursement::Column::Id)
        .all(conn)
        .await
        .map_err(db_error)?;
    for row in rows {
        out.entry(row.application_pk)
            .or_default()
            .push(Disbursement {
                amount_yuan: row.amount_yuan,
                date: from_day_number(row.disbursement_date),
                note: row.note,
                actor: row.actor,
                created_at_us: row.created_at_us,
            });
    }
    Ok(out)
}

async fn with_disbursements(
    conn: &impl ConnectionTrait,
    (pk, mut application): (i64, FundingApplication),
) -> Result<FundingApplication, ServiceError> {
    application.disbursements = disbursements(conn, &[pk])
        .await?
        .remove(&pk)
        .unwrap_or_default();
    Ok(application)
}

async fn window_row(
    conn: &impl ConnectionTrait,
    window_id: &str,
) -> Result<funding_window::Model, ServiceError> {
    funding_window::Entity::find()
        .filter(funding_window::Column::WindowId.eq(window_id))
        .one(conn)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ServiceError::not_found(format!("fundingWindows/{window_id}")))
}

/// The kinds of a project's prerequisites that are DONE or WAIVED.
async fn cleared_prerequisites(
    conn: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<Vec<PrerequisiteKind>, ServiceError> {
    let rows = prerequisite::Entity::find()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .filter(prerequisite::Column::State.is_in(["DONE", "WAIVED"]))
        .all(conn)
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .filter_map(|row| PrerequisiteKind::parse(&row.kind))
        .collect())
}

fn application_event(
    kind: v1::EventKind,
    project: &Project,
    application: &FundingApplication,
    from: ApplicationState,
    reason: String,
    disbursement: Option<&Disbursement>,
    changed: Vec<&'static str>,
) -> EventDraft {
    let mut after = v1::FundingApplication::from(application);
    after.disbursements.clear();
    EventDraft::about(
        kind,
        project,
        application.name(),
        Some(v1::event::Detail::FundingApplicationChange(
            v1::FundingApplicationChange {
                funding_application_after: Some(after),
                from_state: v1::FundingApplicationState::from(from) as i32,
                to_state: v1::FundingApplicationState::from(application.state) as i32,
                reason,
                disbursement: disbursement.map(v1::FundingDisbursement::from),
            },
        )),
        changed,
    )
}

/// Appends `sql` with the conditions of `filter` (`a`, `p`, `w` as in SELECT_APPLICATIONS).
fn push_filter(sql: &mut Sql, filter: &ApplicationFilter) {
    for (column, value) in [
        ("p.project_id", &filter.project_id),
        ("w.window_id", &filter.window_id),
        ("p.township", &filter.township),
        ("p.department", &filter.department),
    ] {
        if let Some(value) = value {
            sql.push(&format!(" AND {column} = ")).bind(value.clone());
        }
    }
    if let Some(channel) = filter.channel {
        sql.push(" AND w.channel = ").bind(channel.as_str());
    }
    if let Some(state) = filter.state {
        sql.push(" AND a.state = ").bind(state.as_str());
    }
}

/// Appends the eligibility rules of a window as conditions on the project `p` (the SQL form of
/// `Eligibility::unmet` being empty).
pub(crate) fn push_eligibility(sql: &mut Sql, e: &Eligibility) {
    fn list<T: Copy>(sql: &mut Sql, column: &str, items: &[T], name: impl Fn(T) -> &'static str) {
        sql.push(&format!(" AND {column} IN ("));
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(name(*item));
        }
        sql.push(")");
    }
    list(sql, "p.stage", &e.stages, |s| s.as_str());
    if !e.categories.is_empty() {
        list(sql, "p.category", &e.categories, |c| c.as_str());
    }
    if let Some(t) = e.investment_type {
        sql.push(" AND p.investment_type = ").bind(t.as_str());
    }
    sql.push(" AND p.total_investment_yuan >= ")
        .bind(e.min_total_investment_yuan);
    for kind in &e.required_prerequisites {
        sql.push(
            " AND EXISTS (SELECT 1 FROM prerequisites q WHERE q.project_pk = p.id AND q.kind = ",
        )
        .bind(kind.as_str())
        .push(" AND q.state IN ('DONE', 'WAIVED'))");
    }
}

async fn count(conn: &impl ConnectionTrait, sql: Sql) -> Result<i64, ServiceError> {
    let row = conn
        .query_one_raw(sql.build())
        .await
        .map_err(db_error)?
        .ok_or_else(|| ServiceError::internal("a count returned no row"))?;
    row.try_get_by_index::<i64>(0).map_err(db_error)
}

/// The coverage sheet of a window, read through `conn` (inside a transaction for alerts).
async fn coverage_on(
    conn: &impl ConnectionTrait,
    window_pk: i64,
    window: FundingWindow,
    status_date: NaiveDate,
    list_limit: usize,
) -> Result<Coverage, ServiceError> {
    let backend = conn.get_database_backend();
    let e = &window.fields.eligibility;
    // Eligible projects with no application but withdrawn ones.
    let undeclared_where = |sql: &mut Sql| {
        sql.push(" WHERE 1 = 1");
        push_eligibility(sql, e);
        sql.push(
            " AND NOT EXISTS (SELECT 1 FROM funding_applications a WHERE a.project_pk = p.id \
             AND a.window_pk = ",
        )
        .bind(window_pk)
        .push(" AND a.state <> 'WITHDRAWN')");
    };
    let mut eligible = Sql::new(backend, "SELECT COUNT(*) FROM projects p WHERE 1 = 1");
    push_eligibility(&mut eligible, e);
    let eligible_count = count(conn, eligible).await?;
    let mut undeclared_count = Sql::new(backend, "SELECT COUNT(*) FROM projects p");
    undeclared_where(&mut undeclared_count);
    let undeclared_count = count(conn, undeclared_count).await?;
    let mut undeclared = Sql::new(
        backend,
        "SELECT p.project_id, p.display_name, p.township, p.department, \
         p.total_investment_yuan, CAST(NULL AS TEXT) AS application_id FROM projects p",
    );
    undeclared_where(&mut undeclared);
    undeclared.push(&format!(" ORDER BY p.project_id LIMIT {list_limit}"));
    let undeclared = CoverageEntry::find_by_statement(undeclared.build())
        .all(conn)
        .await
        .map_err(db_error)?;
    let mut drafts = Sql::new(
        backend,
        "SELECT p.project_id, p.display_name, p.township, p.department, \
         p.total_investment_yuan, a.application_id FROM funding_applications a \
         JOIN projects p ON p.id = a.project_pk WHERE a.state = 'DRAFT' AND a.window_pk = ",
    );
    drafts
        .bind(window_pk)
        .push(&format!(" ORDER BY p.project_id LIMIT {list_limit}"));
    let drafts = CoverageEntry::find_by_statement(drafts.build())
        .all(conn)
        .await
        .map_err(db_error)?;
    let mut by_state = Sql::new(
        backend,
        format!(
            "SELECT a.state, COUNT(*), {}, {}, {} FROM funding_applications a WHERE a.window_pk = ",
            exact_sum("a.requested_amount_yuan"),
            exact_sum("a.approved_amount_yuan"),
            exact_sum("a.disbursed_amount_yuan"),
        ),
    );
    by_state.bind(window_pk).push(" GROUP BY a.state");
    let rows = conn
        .query_all_raw(by_state.build())
        .await
        .map_err(db_error)?;
    let mut coverage = Coverage {
        window,
        status_date,
        eligible_count,
        undeclared_count,
        undeclared,
        draft_count: 0,
        drafts,
        submitted_count: 0,
        approved_count: 0,
        rejected_count: 0,
        declared_amount_yuan: 0,
        approved_amount_yuan: 0,
        disbursed_amount_yuan: 0,
    };
    for row in rows {
        let state: String = row.try_get_by_index(0).map_err(db_error)?;
        let application_count: i64 = row.try_get_by_index(1).map_err(db_error)?;
        let declared = match ApplicationState::parse(&state) {
            Some(ApplicationState::Draft) => {
                coverage.draft_count = application_count;
                false
            }
            Some(ApplicationState::Submitted) => {
                coverage.submitted_count = application_count;
                true
            }
            Some(ApplicationState::Approved) => {
                coverage.approved_count = application_count;
                true
            }
            Some(ApplicationState::Rejected) => {
                coverage.rejected_count = application_count;
                true
            }
            _ => false,
        };
        if declared {
            coverage.declared_amount_yuan += read_exact_sum(&row, 2)?;
        }
        coverage.approved_amount_yuan += read_exact_sum(&row, 4)?;
        coverage.disbursed_amount_yuan += read_exact_sum(&row, 6)?;
    }
    Ok(coverage)
}

fn illegal(application: &FundingApplication, message: String) -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "ILLEGAL_APPLICATION_TRANSITION",
        message: format!("{message} (current state: {})", application.state.as_str()),
        violations: vec![(
            application.name(),
            format!("current state is {}", application.state.as_str()),
        )],
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn create_funding_application(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        application_id: Option<String>,
        window_id: &str,
        requested_amount_yuan: i64,
        description: String,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<FundingApplication>, ServiceError> {
        let (tx, (project_pk, project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let window_row = window_row(&tx, window_id).await?;
        let window_pk = window_row.id;
        let window = window_to_domain(window_row)?;
        if window.fields.state_on(ctx.today) == WindowState::Closed {
            return Err(ServiceError::FailedPrecondition {
                reason: "WINDOW_CLOSED",
                message: format!(
                    "{} closed on {}; no new applications",
                    window.name(),
                    window.fields.close_date
                ),
                violations: vec![(
                    window.name(),
                    format!("closed on {}", window.fields.close_date),
                )],
            });
        }
        let mut live = Sql::new(self.backend(), SELECT_APPLICATIONS);
        live.push(" WHERE a.project_pk = ")
            .bind(project_pk)
            .push(" AND a.window_pk = ")
            .bind(window_pk)
            .push(" AND a.state IN ('DRAFT', 'SUBMITTED', 'APPROVED')");
        if let Some(existing) = ApplicationRow::find_by_statement(live.build())
            .one(&tx)
            .await
            .map_err(db_error)?
        {
            return Err(ServiceError::AlreadyExists {
                resource: format!(
                    "{} (a live application of {} to {})",
                    names::funding_application_name(project_id, &existing.application_id),
                    project.name(),
                    window.name()
                ),
                field: "funding_application.funding_window".into(),
            });
        }
        let id = application_id.unwrap_or_else(names::generate_id);
        let row = funding_application::ActiveModel {
            application_id: Set(id.clone()),
            uid: Set(uuid::Uuid::new_v4().to_string()),
            project_pk: Set(project_pk),
            window_pk: Set(window_pk),
            state: Set(ApplicationState::Draft.as_str().to_string()),
            requested_amount_yuan: Set(requested_amount_yuan),
            approved_amount_yuan: Set(0),
            disbursed_amount_yuan: Set(0),
            description: Set(description),
            state_reason: Set(String::new()),
            state_actor: Set(ctx.actor.clone()),
            state_changed_at_us: Set(ctx.now_us),
            created_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(1),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(|err| match unique_violation(&err) {
            Some(message) if message.contains("application_id") => ServiceError::AlreadyExists {
                resource: names::funding_application_name(project_id, &id),
                field: "funding_application_id".into(),
            },
            Some(_) => ServiceError::AlreadyExists {
                resource: format!(
                    "a live application of {} to {}",
                    project.name(),
                    window.name()
                ),
                field: "funding_application.funding_window".into(),
            },
            None => db_error(err),
        })?;
        let application = FundingApplication {
            id,
            uid: row.uid,
            project_id: project.id.clone(),
            window_id: window.id.clone(),
            channel: window.fields.channel,
            state: ApplicationState::Draft,
            requested_amount_yuan,
            approved_amount_yuan: 0,
            disbursed_amount_yuan: 0,
            description: row.description,
            state_reason: String::new(),
            state_actor: ctx.actor.clone(),
            state_changed_at_us: ctx.now_us,
            disbursements: Vec::new(),
            created_at_us: ctx.now_us,
            updated_at_us: ctx.now_us,
            version: 1,
        };
        let message = v1::FundingApplication::from(&application);
        let draft = application_event(
            v1::EventKind::FundingApplicationCreated,
            &project,
            &application,
            ApplicationState::Draft,
            String::new(),
            None,
            Vec::new(),
        );
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            application,
        )
        .await
    }

    pub async fn get_funding_application(
        &self,
        project_id: &str,
        application_id: &str,
    ) -> Result<FundingApplication, ServiceError> {
        let conn = self.connection();
        let found = find(conn, project_id, application_id).await?;
        with_disbursements(conn, found).await
    }

    /// One page of applications, oldest first, and the totals of the whole filtered set.
    pub async fn list_funding_applications(
        &self,
        query: &ApplicationQuery,
    ) -> Result<(Page<FundingApplication>, Totals), ServiceError> {
        let conn = self.connection();
        let mut sql = Sql::new(self.backend(), SELECT_APPLICATIONS);
        sql.push(" WHERE 1 = 1");
        push_filter(&mut sql, &query.filter);
        if let Some(Cursor {
            key: SortKey::Int(key),
            id,
        }) = &query.after
        {
            sql.push(" AND (a.created_at_us > ").bind(*key);
            sql.push(" OR (a.created_at_us = ").bind(*key);
            sql.push(" AND a.uid > ").bind(id.clone()).push("))");
        }
        sql.push(&format!(
            " ORDER BY a.created_at_us, a.uid LIMIT {}",
            query.limit + 1
        ));
        let rows = ApplicationRow::find_by_statement(sql.build())
            .all(conn)
            .await
            .map_err(db_error)?;
        let more = rows.len() as u64 > query.limit;
        let found = rows
            .into_iter()
            .take(query.limit as usize)
            .map(to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        let pks: Vec<i64> = found.iter().map(|(pk, _)| *pk).collect();
        let mut paid = disbursements(conn, &pks).await?;
        let items: Vec<FundingApplication> = found
            .into_iter()
            .map(|(pk, mut application)| {
                application.disbursements = paid.remove(&pk).unwrap_or_default();
                application
            })
            .collect();
        let page = Page::new(items, more, |item| Cursor {
            key: SortKey::Int(item.created_at_us),
            id: item.uid.clone(),
        });
        let mut totals = Sql::new(
            self.backend(),
            format!(
                "SELECT COUNT(*), {}, {}, {} \
                 FROM funding_applications a JOIN projects p ON p.id = a.project_pk \
                 JOIN funding_windows w ON w.id = a.window_pk WHERE 1 = 1",
                exact_sum("a.requested_amount_yuan"),
                exact_sum("a.approved_amount_yuan"),
                exact_sum("a.disbursed_amount_yuan"),
            ),
        );
        push_filter(&mut totals, &query.filter);
        let row = conn
            .query_one_raw(totals.build())
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::internal("an aggregate returned no row"))?;
        let totals = Totals {
            application_count: row.try_get_by_index(0).map_err(db_error)?,
            requested_amount_yuan: read_exact_sum(&row, 1)?,
            approved_amount_yuan: read_exact_sum(&row, 3)?,
            disbursed_amount_yuan: read_exact_sum(&row, 5)?,
        };
        Ok((page, totals))
    }

    pub async fn update_funding_application(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        application_id: &str,
        patch: ApplicationPatch,
        etag: Option<&str>,
    ) -> Result<FundingApplication, ServiceError> {
        let tx = self.begin_write().await?;
        let (_, project) = load_for_update(&tx, ctx, project_id).await?;
        let (pk, mut application) = find(&tx, project_id, application_id).await?;
        check_etag(etag, application.name(), application.etag())?;
        let mut changed = Vec::new();
        if let Some(amount) = patch.requested_amount_yuan
            && amount != application.requested_amount_yuan
        {
            if application.state != ApplicationState::Draft {
                return Err(ServiceError::FailedPrecondition {
                    reason: "APPLICATION_NOT_DRAFT",
                    message: format!(
                        "the requested amount of {} can change only while it is a DRAFT (current state: {})",
                        application.name(),
                        application.state.as_str()
                    ),
                    violations: vec![(
                        application.name(),
                        format!("current state is {}", application.state.as_str()),
                    )],
                });
            }
            application.requested_amount_yuan = amount;
            changed.push("requested_amount_yuan");
        }
        if let Some(description) = patch.description
            && description != application.description
        {
            application.description = description;
            changed.push("description");
        }
        if changed.is_empty() {
            return with_disbursements(&tx, (pk, application)).await;
        }
        application.version += 1;
        application.updated_at_us = ctx.now_us;
        funding_application::ActiveModel {
            id: sea_orm::Unchanged(pk),
            requested_amount_yuan: Set(application.requested_amount_yuan),
            description: Set(application.description.clone()),
            updated_at_us: Set(ctx.now_us),
            version: Set(application.version),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(db_error)?;
        let draft = application_event(
            v1::EventKind::FundingApplicationUpdated,
            &project,
            &application,
            application.state,
            String::new(),
            None,
            changed,
        );
        let application = with_disbursements(&tx, (pk, application)).await?;
        events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        self.commit(tx).await?;
        Ok(application)
    }

    /// Submit, approve, reject or withdraw.
    pub async fn transition_funding_application(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        application_id: &str,
        change: ApplicationTransition,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<FundingApplication>, ServiceError> {
        let (tx, (project_pk, project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let (pk, mut application) = find(&tx, project_id, application_id).await?;
        check_etag(
            change.etag.as_deref(),
            application.name(),
            application.etag(),
        )?;
        let from = application.state;
        let to = change
            .action
            .apply(from)
            .map_err(|message| illegal(&application, message))?;
        match change.action {
            ApplicationAction::Submit => {
                self.check_submission(&tx, ctx.today, project_pk, &project, &application)
                    .await?
            }
            ApplicationAction::Approve => {
                let amount = change
                    .approved_amount_yuan
                    .unwrap_or(application.requested_amount_yuan);
                if amount > application.requested_amount_yuan && !change.allow_exceeding_request {
                    return Err(ServiceError::FailedPrecondition {
                        reason: "APPROVAL_EXCEEDS_REQUEST",
                        message: format!(
                            "approving {amount} yuan exceeds the {} yuan requested by {}; set allow_exceeding_request to approve more",
                            application.requested_amount_yuan,
                            application.name()
                        ),
                        violations: vec![(
                            application.name(),
                            format!("requested {} yuan", application.requested_amount_yuan),
                        )],
                    });
                }
                application.approved_amount_yuan = amount;
            }
            ApplicationAction::Reject | ApplicationAction::Withdraw => {}
        }
        application.state = to;
        application.state_reason = change.reason.clone();
        application.state_actor = ctx.actor.clone();
        application.state_changed_at_us = ctx.now_us;
        application.updated_at_us = ctx.now_us;
        application.version += 1;
        funding_application::ActiveModel {
            id: sea_orm::Unchanged(pk),
            state: Set(to.as_str().to_string()),
            approved_amount_yuan: Set(application.approved_amount_yuan),
            state_reason: Set(change.reason.clone()),
            state_actor: Set(ctx.actor.clone()),
            state_changed_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(application.version),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(db_error)?;
        let kind = match change.action {
            ApplicationAction::Submit => v1::EventKind::FundingApplicationSubmitted,
            ApplicationAction::Approve => v1::EventKind::FundingApplicationApproved,
            ApplicationAction::Reject => v1::EventKind::FundingApplicationRejected,
            ApplicationAction::Withdraw => v1::EventKind::FundingApplicationWithdrawn,
        };
        let draft = application_event(
            kind,
            &project,
            &application,
            from,
            change.reason,
            None,
            Vec::new(),
        );
        let application = with_disbursements(&tx, (pk, application)).await?;
        let message = v1::FundingApplication::from(&application);
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            application,
        )
        .await
    }

    /// A submission needs the window open today and the project eligible; every unmet
    /// condition is listed.
    async fn check_submission(
        &self,
        tx: &DatabaseTransaction,
        today: NaiveDate,
        project_pk: i64,
        project: &Project,
        application: &FundingApplication,
    ) -> Result<(), ServiceError> {
        let window = window_to_domain(window_row(tx, &application.window_id).await?)?;
        let mut violations = Vec::new();
        let state = window.fields.state_on(today);
        if state != WindowState::Open {
            violations.push((
                window.name(),
                format!(
                    "is {} on {today}: it takes submissions from {} through {}",
                    state.as_str(),
                    window.fields.open_date,
                    window.fields.close_date
                ),
            ));
        }
        let cleared = cleared_prerequisites(tx, project_pk).await?;
        let unmet = window.fields.eligibility.unmet(project, &cleared);
        let reason = if unmet.is_empty() {
            "WINDOW_NOT_OPEN"
        } else {
            "PROJECT_NOT_ELIGIBLE"
        };
        violations.extend(unmet);
        if violations.is_empty() {
            return Ok(());
        }
        Err(ServiceError::FailedPrecondition {
            reason,
            message: format!(
                "{} cannot be submitted to {}: {}",
                application.name(),
                window.name(),
                violations
                    .iter()
                    .map(|(subject, description)| format!("{subject} {description}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            violations,
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn record_funding_disbursement(
        &self,
        ctx: &WriteContext,
        project_id: &str,
        application_id: &str,
        amount_yuan: i64,
        date: NaiveDate,
        note: String,
        etag: Option<&str>,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<FundingApplication>, ServiceError> {
        let (tx, (_, project)) = match self
            .begin_keyed(ctx, key, async |tx| {
                load_for_update(tx, ctx, project_id).await
            })
            .await?
        {
            Ok(started) => started,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let (pk, mut application) = find(&tx, project_id, application_id).await?;
        check_etag(etag, application.name(), application.etag())?;
        if application.state != ApplicationState::Approved {
            return Err(ServiceError::FailedPrecondition {
                reason: "APPLICATION_NOT_APPROVED",
                message: format!(
                    "money can be disbursed only to an APPROVED application (current state: {})",
                    application.state.as_str()
                ),
                violations: vec![(
                    application.name(),
                    format!("current state is {}", application.state.as_str()),
                )],
            });
        }
        let recorded = funding_disbursement::Entity::find()
            .filter(funding_disbursement::Column::ApplicationPk.eq(pk))
            .count(&tx)
            .await
            .map_err(db_error)?;
        if recorded >= MAX_DISBURSEMENTS as u64 {
            return Err(ServiceError::FailedPrecondition {
                reason: "TOO_MANY_DISBURSEMENTS",
                message: format!(
                    "{} has {recorded} disbursements, the most one application keeps; record \
                     further money as part of a larger disbursement",
                    application.name()
                ),
                violations: vec![(
                    application.name(),
                    format!("{recorded} of {MAX_DISBURSEMENTS} disbursements recorded"),
                )],
            });
        }
        let total = application
            .disbursed_amount_yuan
            .checked_add(amount_yuan)
            .filter(|total| *total <= application.approved_amount_yuan)
            .ok_or_else(|| ServiceError::FailedPrecondition {
                reason: "DISBURSEMENT_EXCEEDS_APPROVAL",
                message: format!(
                    "{amount_yuan} yuan would take the disbursed total of {} past its approved {} yuan ({} yuan remain)",
                    application.name(),
                    application.approved_amount_yuan,
                    application.approved_amount_yuan - application.disbursed_amount_yuan
                ),
                violations: vec![(
                    application.name(),
                    format!(
                        "{} of {} yuan disbursed",
                        application.disbursed_amount_yuan, application.approved_amount_yuan
                    ),
                )],
            })?;
        let disbursement = Disbursement {
            amount_yuan,
            date,
            note,
            actor: ctx.actor.clone(),
            created_at_us: ctx.now_us,
        };
        funding_disbursement::ActiveModel {
            application_pk: Set(pk),
            amount_yuan: Set(amount_yuan),
            disbursement_date: Set(day_number(date)),
            note: Set(disbursement.note.clone()),
            actor: Set(ctx.actor.clone()),
            created_at_us: Set(ctx.now_us),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(db_error)?;
        application.disbursed_amount_yuan = total;
        application.updated_at_us = ctx.now_us;
        application.version += 1;
        funding_application::ActiveModel {
            id: sea_orm::Unchanged(pk),
            disbursed_amount_yuan: Set(total),
            updated_at_us: Set(ctx.now_us),
            version: Set(application.version),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(db_error)?;
        let draft = application_event(
            v1::EventKind::FundingDisbursed,
            &project,
            &application,
            application.state,
            String::new(),
            Some(&disbursement),
            Vec::new(),
        );
        let application = with_disbursements(&tx, (pk, application)).await?;
        let message = v1::FundingApplication::from(&application);
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            application,
        )
        .await
    }

    pub async fn funding_coverage(
        &self,
        window_id: &str,
        status_date: NaiveDate,
    ) -> Result<Coverage, ServiceError> {
        let conn = self.connection();
        let row = window_row(conn, window_id).await?;
        let pk = row.id;
        coverage_on(
            conn,
            pk,
            window_to_domain(row)?,
            status_date,
            COVERAGE_LIST_LIMIT,
        )
        .await
    }

    /// The scanner's funding pass for `ctx.today`: OPENED once per window and open date,
    /// CLOSING at most once per window per day within `horizon_days` of the close date while
    /// something is missing, CLOSED_UNDECLARED once per window and close date. Returns the
    /// number of events emitted.
    pub async fn scan_funding_alerts(
        &self,
        ctx: &WriteContext,
        horizon_days: i32,
    ) -> Result<usize, ServiceError> {
        let today = day_number(ctx.today);
        let candidates = |kind: &str, condition: &str, day: &str| {
            Sql::new(
                self.backend(),
                format!(
                    "SELECT w.id FROM funding_windows w WHERE {condition} AND NOT EXISTS \
                     (SELECT 1 FROM funding_window_alerts l WHERE l.window_pk = w.id \
                     AND l.kind = '{kind}' AND l.day = {day}) ORDER BY w.id"
                ),
            )
        };
        let open = format!("w.open_date <= {today} AND w.close_date >= {today}");
        let passes = [
            ("OPENED", candidates("OPENED", &open, "w.open_date")),
            (
                "CLOSING",
                candidates(
                    "CLOSING",
                    &format!("{open} AND w.close_date <= {}", today + horizon_days),
                    &today.to_string(),
                ),
            ),
            (
                "CLOSED",
                candidates("CLOSED", &format!("w.close_date < {today}"), "w.close_date"),
            ),
        ];
        let mut emitted = 0;
        for (kind, sql) in passes {
            let ids: Vec<i64> = self
                .connection()
                .query_all_raw(sql.build())
                .await
                .map_err(db_error)?
                .iter()
                .map(|row| row.try_get_by_index::<i64>(0))
                .collect::<Result<_, _>>()
                .map_err(db_error)?;
            for window_pk in ids {
                if self.funding_alert(ctx, kind, window_pk).await? {
                    emitted += 1;
                }
            }
        }
        Ok(emitted)
    }

    /// One funding alert in its own transaction; false when nothing was emitted.
    async fn funding_alert(
        &self,
        ctx: &WriteContext,
        kind: &str,
        window_pk: i64,
    ) -> Result<bool, ServiceError> {
        let tx = self.begin_write().await?;
        let row = funding_window::Entity::find_by_id(window_pk)
            .one(&tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::internal("a scanned window vanished"))?;
        let window = window_to_domain(row)?;
        let coverage = coverage_on(&tx, window_pk, window, ctx.today, ALERT_PROJECTS).await?;
        let (day, event_kind, raise) = match kind {
            "OPENED" => (
                coverage.window.fields.open_date,
                v1::EventKind::FundingWindowOpened,
                true,
            ),
            "CLOSING" => (
                ctx.today,
                v1::EventKind::FundingWindowClosing,
                coverage.draft_count > 0 || coverage.undeclared_count > 0,
            ),
            _ => (
                coverage.window.fields.close_date,
                v1::EventKind::FundingWindowClosedUndeclared,
                coverage.undeclared_count > 0,
            ),
        };
        if !raise && kind == "CLOSING" {
            return Ok(false); // Nothing missing today; checked again on the next pass.
        }
        let fresh = insert_once(
            &tx,
            "funding_window_alerts",
            &["window_pk", "kind", "day", "created_at_us"],
            vec![
                window_pk.into(),
                kind.into(),
                day_number(day).into(),
                ctx.now_us.into(),
            ],
        )
        .await?;
        if !fresh {
            return Ok(false); // Another replica, or an earlier pass, raised it already.
        }
        if raise {
            let alert = v1::FundingWindowAlert {
                funding_window: coverage.window.name(),
                title: coverage.window.fields.title.clone(),
                channel: v1::FundingChannel::from(coverage.window.fields.channel) as i32,
                status_date: Some(crate::proto::date(ctx.today)),
                days_to_close: coverage.days_to_close(),
                draft_count: reported_count(coverage.draft_count),
                undeclared_count: reported_count(coverage.undeclared_count),
                undeclared_projects: coverage
                    .undeclared
                    .iter()
                    .map(|entry| names::project_name(&entry.project_id))
                    .collect(),
            };
            let draft = EventDraft::global(
                event_kind,
                coverage.window.name(),
                Some(v1::event::Detail::FundingWindowAlert(alert)),
                Vec::new(),
            );
            events::append(&tx, &ctx.actor, ctx.now_us, vec![draft]).await?;
        }
        self.commit(tx).await?;
        Ok(raise)
    }
}

/// Deletes a project's applications and their disbursements (forced project delete).
pub(crate) async fn delete_for_project(
    tx: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<(), ServiceError> {
    let pks: Vec<i64> = funding_application::Entity::find()
        .filter(funding_application::Column::ProjectPk.eq(project_pk))
        .all(tx)
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.id)
        .collect();
    if pks.is_empty() {
        return Ok(());
    }
    funding_disbursement::Entity::delete_many()
        .filter(funding_disbursement::Column::ApplicationPk.is_in(pks.iter().copied()))
        .exec(tx)
        .await
        .map_err(db_error)?;
    funding_application::Entity::delete_many()
        .filter(funding_application::Column::ProjectPk.eq(project_pk))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}
