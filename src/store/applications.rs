//! The repository of funding applications and their disbursements: rows to
//! `FundingApplication` and back, the listing with its totals, the coverage sheet (应报尽报)
//! and the ledger of the scanner's funding alerts. The rules live in `domain::funding`; the
//! service locks the project row before every write, so the writes of one project's
//! applications (and a forced project delete) never interleave.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, Set,
};

use super::entities::{funding_application, funding_disbursement, prerequisite};
use super::error::{StoreError, conflict_on};
use super::sql::{Sql, exact_sum, insert_once, read_exact_sum};
use super::{Cursor, Page, SortKey, Store};
use crate::domain::funding::{
    AlertDay, AlertScan, ApplicationState, Coverage, CoverageEntry, Disbursement, Eligibility,
    FundingApplication, FundingChannel, FundingWindow, PlaceTaken, Totals,
};
use crate::domain::names;
use crate::domain::prerequisite::PrerequisiteKind;
use crate::domain::values::{day_number, from_day_number};

/// At most this many projects are listed in each part of a coverage sheet; the counts are
/// always complete.
pub const COVERAGE_LIST_LIMIT: usize = 1000;

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

/// A project line of a coverage sheet as read.
#[derive(Debug, FromQueryResult)]
struct CoverageRow {
    project_id: String,
    display_name: String,
    township: String,
    department: String,
    total_investment_yuan: i64,
    application_id: Option<String>,
}

impl From<CoverageRow> for CoverageEntry {
    fn from(row: CoverageRow) -> Self {
        CoverageEntry {
            project_id: row.project_id,
            display_name: row.display_name,
            township: row.township,
            department: row.department,
            total_investment_yuan: row.total_investment_yuan,
            application_id: row.application_id,
        }
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

fn to_domain(row: ApplicationRow) -> Result<(i64, FundingApplication), StoreError> {
    let state = ApplicationState::parse(&row.state)
        .ok_or_else(|| StoreError::corrupt(format!("stored state {:?} is unknown", row.state)))?;
    let channel = FundingChannel::parse(&row.channel).ok_or_else(|| {
        StoreError::corrupt(format!("stored channel {:?} is unknown", row.channel))
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

/// One application by its project and id, with its primary key and its disbursements.
pub async fn find(
    conn: &impl ConnectionTrait,
    project_id: &str,
    application_id: &str,
) -> Result<(i64, FundingApplication), StoreError> {
    let mut sql = Sql::new(conn.get_database_backend(), SELECT_APPLICATIONS);
    sql.push(" WHERE p.project_id = ")
        .bind(project_id)
        .push(" AND a.application_id = ")
        .bind(application_id);
    let row = ApplicationRow::find_by_statement(sql.build())
        .one(conn)
        .await?
        .ok_or_else(|| {
            StoreError::not_found(names::funding_application_name(project_id, application_id))
        })?;
    let (pk, mut application) = to_domain(row)?;
    application.disbursements = disbursements(conn, &[pk])
        .await?
        .remove(&pk)
        .unwrap_or_default();
    Ok((pk, application))
}

/// The disbursements of the given applications, oldest first.
async fn disbursements(
    conn: &impl ConnectionTrait,
    pks: &[i64],
) -> Result<HashMap<i64, Vec<Disbursement>>, StoreError> {
    let mut out: HashMap<i64, Vec<Disbursement>> = HashMap::new();
    if pks.is_empty() {
        return Ok(out);
    }
    let rows = funding_disbursement::Entity::find()
        .filter(funding_disbursement::Column::ApplicationPk.is_in(pks.iter().copied()))
        .order_by_asc(funding_disbursement::Column::Id)
        .all(conn)
        .await?;
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

/// The id of the live application of a project to a window, if there is one.
pub async fn live_application(
    tx: &DatabaseTransaction,
    project_pk: i64,
    window_pk: i64,
) -> Result<Option<String>, StoreError> {
    let mut live = Sql::new(tx.get_database_backend(), SELECT_APPLICATIONS);
    live.push(" WHERE a.project_pk = ")
        .bind(project_pk)
        .push(" AND a.window_pk = ")
        .bind(window_pk)
        .push(" AND a.state IN ('DRAFT', 'SUBMITTED', 'APPROVED')");
    Ok(ApplicationRow::find_by_statement(live.build())
        .one(tx)
        .await?
        .map(|row| row.application_id))
}

/// Sets the columns a change of an application may touch.
fn write(model: &mut funding_application::ActiveModel, a: &FundingApplication) {
    model.state = Set(a.state.as_str().to_string());
    model.requested_amount_yuan = Set(a.requested_amount_yuan);
    model.approved_amount_yuan = Set(a.approved_amount_yuan);
    model.disbursed_amount_yuan = Set(a.disbursed_amount_yuan);
    model.description = Set(a.description.clone());
    model.state_reason = Set(a.state_reason.clone());
    model.state_actor = Set(a.state_actor.clone());
    model.state_changed_at_us = Set(a.state_changed_at_us);
    model.updated_at_us = Set(a.updated_at_us);
    model.version = Set(a.version);
}

/// Inserts a new application. Its id taken is a conflict on `funding_application_id`; any
/// other unique key is the one live application per project and window (a partial index).
pub async fn insert(
    tx: &DatabaseTransaction,
    project_pk: i64,
    window_pk: i64,
    application: &FundingApplication,
) -> Result<(), StoreError> {
    let a = application;
    let mut model = funding_application::ActiveModel {
        application_id: Set(a.id.clone()),
        uid: Set(a.uid.clone()),
        project_pk: Set(project_pk),
        window_pk: Set(window_pk),
        created_at_us: Set(a.created_at_us),
        ..Default::default()
    };
    write(&mut model, a);
    model.insert(tx).await.map_err(|err| {
        conflict_on(
            err,
            &[
                ("application_id", &|| a.name(), "funding_application_id"),
                ("", &|| a.place_taken(None).resource, PlaceTaken::FIELD),
            ],
        )
    })?;
    Ok(())
}

/// Writes a changed application.
pub async fn save(
    tx: &DatabaseTransaction,
    pk: i64,
    application: &FundingApplication,
) -> Result<(), StoreError> {
    let mut model = funding_application::ActiveModel {
        id: sea_orm::Unchanged(pk),
        ..Default::default()
    };
    write(&mut model, application);
    model.update(tx).await?;
    Ok(())
}

/// Adds a disbursement to the application with primary key `pk`.
pub async fn insert_disbursement(
    tx: &DatabaseTransaction,
    pk: i64,
    disbursement: &Disbursement,
) -> Result<(), StoreError> {
    funding_disbursement::ActiveModel {
        application_pk: Set(pk),
        amount_yuan: Set(disbursement.amount_yuan),
        disbursement_date: Set(day_number(disbursement.date)),
        note: Set(disbursement.note.clone()),
        actor: Set(disbursement.actor.clone()),
        created_at_us: Set(disbursement.created_at_us),
        ..Default::default()
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// The kinds of a project's prerequisites that are DONE or WAIVED.
pub async fn cleared_prerequisites(
    conn: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<Vec<PrerequisiteKind>, StoreError> {
    let rows = prerequisite::Entity::find()
        .filter(prerequisite::Column::ProjectPk.eq(project_pk))
        .filter(prerequisite::Column::State.is_in(["DONE", "WAIVED"]))
        .all(conn)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| PrerequisiteKind::parse(&row.kind))
        .collect())
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

async fn count(conn: &impl ConnectionTrait, sql: Sql) -> Result<i64, StoreError> {
    let row = conn
        .query_one_raw(sql.build())
        .await?
        .ok_or_else(|| StoreError::corrupt("a count returned no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// The coverage sheet of a window, read through `conn` (inside a transaction for alerts),
/// listing at most `list_limit` projects in each part.
pub async fn coverage_on(
    conn: &impl ConnectionTrait,
    window_pk: i64,
    window: FundingWindow,
    status_date: NaiveDate,
    list_limit: usize,
) -> Result<Coverage, StoreError> {
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
    let undeclared = CoverageRow::find_by_statement(undeclared.build())
        .all(conn)
        .await?;
    let mut drafts = Sql::new(
        backend,
        "SELECT p.project_id, p.display_name, p.township, p.department, \
         p.total_investment_yuan, a.application_id FROM funding_applications a \
         JOIN projects p ON p.id = a.project_pk WHERE a.state = 'DRAFT' AND a.window_pk = ",
    );
    drafts
        .bind(window_pk)
        .push(&format!(" ORDER BY p.project_id LIMIT {list_limit}"));
    let drafts = CoverageRow::find_by_statement(drafts.build())
        .all(conn)
        .await?;
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
    let rows = conn.query_all_raw(by_state.build()).await?;
    let mut coverage = Coverage::new(
        window,
        status_date,
        (eligible_count, undeclared_count),
        undeclared.into_iter().map(CoverageEntry::from).collect(),
        drafts.into_iter().map(CoverageEntry::from).collect(),
    );
    for row in rows {
        let state: String = row.try_get_by_index(0)?;
        let totals = Totals {
            application_count: row.try_get_by_index(1)?,
            requested_amount_yuan: read_exact_sum(&row, 2)?,
            approved_amount_yuan: read_exact_sum(&row, 4)?,
            disbursed_amount_yuan: read_exact_sum(&row, 6)?,
        };
        coverage.add(ApplicationState::parse(&state), &totals);
    }
    Ok(coverage)
}

/// The candidates of one alert pass: the windows within the scan's date bounds without a
/// ledger entry of its kind for their key day, by primary key.
pub async fn alert_candidates(
    conn: &impl ConnectionTrait,
    scan: &AlertScan,
) -> Result<Vec<i64>, StoreError> {
    let mut conditions = Vec::new();
    for (column, op, day) in [
        ("w.open_date", "<=", scan.opened_by),
        ("w.close_date", ">=", scan.closing_from),
        ("w.close_date", "<=", scan.closing_by),
    ] {
        if let Some(day) = day {
            conditions.push(format!("{column} {op} {}", day_number(day)));
        }
    }
    let day = match scan.keyed_on {
        AlertDay::OpenDate => "w.open_date".to_string(),
        AlertDay::CloseDate => "w.close_date".to_string(),
        AlertDay::On(day) => day_number(day).to_string(),
    };
    let sql = Sql::new(
        conn.get_database_backend(),
        format!(
            "SELECT w.id FROM funding_windows w WHERE {} AND NOT EXISTS \
             (SELECT 1 FROM funding_window_alerts l WHERE l.window_pk = w.id \
             AND l.kind = '{}' AND l.day = {day}) ORDER BY w.id",
            conditions.join(" AND "),
            scan.kind.as_str()
        ),
    );
    let rows = conn.query_all_raw(sql.build()).await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0))
        .collect::<Result<_, _>>()?)
}

/// Records an alert in the ledger; false when it was recorded already (by an earlier pass or
/// another replica).
pub async fn record_alert(
    tx: &DatabaseTransaction,
    window_pk: i64,
    scan: &AlertScan,
    day: NaiveDate,
    now_us: i64,
) -> Result<bool, StoreError> {
    insert_once(
        tx,
        "funding_window_alerts",
        &["window_pk", "kind", "day", "created_at_us"],
        vec![
            window_pk.into(),
            scan.kind.as_str().into(),
            day_number(day).into(),
            now_us.into(),
        ],
    )
    .await
}

impl Store {
    pub async fn get_funding_application(
        &self,
        project_id: &str,
        application_id: &str,
    ) -> Result<FundingApplication, StoreError> {
        Ok(find(self.connection(), project_id, application_id).await?.1)
    }

    /// One page of applications, oldest first, and the totals of the whole filtered set.
    pub async fn list_funding_applications(
        &self,
        query: &ApplicationQuery,
    ) -> Result<(Page<FundingApplication>, Totals), StoreError> {
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
            .await?;
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
            .await?
            .ok_or_else(|| StoreError::corrupt("an aggregate returned no row"))?;
        let totals = Totals {
            application_count: row.try_get_by_index(0)?,
            requested_amount_yuan: read_exact_sum(&row, 1)?,
            approved_amount_yuan: read_exact_sum(&row, 3)?,
            disbursed_amount_yuan: read_exact_sum(&row, 5)?,
        };
        Ok((page, totals))
    }

    pub async fn funding_coverage(
        &self,
        window_id: &str,
        status_date: NaiveDate,
    ) -> Result<Coverage, StoreError> {
        let conn = self.connection();
        let (pk, window) = super::funding::find(conn, window_id).await?;
        coverage_on(conn, pk, window, status_date, COVERAGE_LIST_LIMIT).await
    }
}

/// Deletes a project's applications and their disbursements (forced project delete).
pub(crate) async fn delete_for_project(
    tx: &impl ConnectionTrait,
    project_pk: i64,
) -> Result<(), StoreError> {
    let pks: Vec<i64> = funding_application::Entity::find()
        .filter(funding_application::Column::ProjectPk.eq(project_pk))
        .all(tx)
        .await?
        .iter()
        .map(|row| row.id)
        .collect();
    if pks.is_empty() {
        return Ok(());
    }
    funding_disbursement::Entity::delete_many()
        .filter(funding_disbursement::Column::ApplicationPk.is_in(pks.iter().copied()))
        .exec(tx)
        .await?;
    funding_application::Entity::delete_many()
        .filter(funding_application::Column::ProjectPk.eq(project_pk))
        .exec(tx)
        .await?;
    Ok(())
}
