//! The justification repository, and the once-only ledger of the monthly cycle's time-driven
//! alerts. The commands that use them are in `service::investment`.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::{investment_alert, justification, project};
use super::error::{StoreError, conflict_on};
use super::sql::Sql;
use super::{Cursor, Page, SortKey, Store};
use crate::domain::justification::{
    Justification, JustificationFields, JustificationReason, JustificationScope, justification_name,
};
use crate::domain::values;

fn to_domain(project_id: &str, row: justification::Model) -> Result<Justification, StoreError> {
    let bad = |what: &str, value: &str| {
        StoreError::corrupt(format!("stored justification {what} {value:?} is unknown"))
    };
    Ok(Justification {
        project_id: project_id.to_string(),
        fields: JustificationFields {
            scope: JustificationScope::parse(&row.scope).ok_or_else(|| bad("scope", &row.scope))?,
            milestone_id: (!row.milestone_id.is_empty()).then_some(row.milestone_id),
            reason: JustificationReason::parse(&row.reason)
                .ok_or_else(|| bad("reason", &row.reason))?,
            evidence_note: row.evidence_note,
            valid_from: values::from_day_number(row.valid_from),
            valid_to: values::from_day_number(row.valid_to),
        },
        id: row.justification_id,
        uid: row.uid,
        approver: row.approver,
        revoke_reason: row.revoke_reason,
        revoked_at_us: row.revoked_at_us,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

/// Inserts justification `id` of the project row `project_pk`, approved by `approver` at
/// `now_us`; a taken id is a conflict on `justification_id`.
pub async fn insert(
    tx: &DatabaseTransaction,
    project_pk: i64,
    project_id: &str,
    id: &str,
    fields: &JustificationFields,
    approver: &str,
    now_us: i64,
) -> Result<Justification, StoreError> {
    let name = || justification_name(project_id, id);
    let row = justification::ActiveModel {
        project_pk: Set(project_pk),
        justification_id: Set(id.to_string()),
        uid: Set(uuid::Uuid::new_v4().to_string()),
        scope: Set(fields.scope.as_str().to_string()),
        milestone_id: Set(fields.milestone_id.clone().unwrap_or_default()),
        reason: Set(fields.reason.as_str().to_string()),
        evidence_note: Set(fields.evidence_note.clone()),
        valid_from: Set(values::day_number(fields.valid_from)),
        valid_to: Set(values::day_number(fields.valid_to)),
        approver: Set(approver.to_string()),
        revoke_reason: Set(String::new()),
        revoked_at_us: Set(None),
        created_at_us: Set(now_us),
        updated_at_us: Set(now_us),
        version: Set(1),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|err| conflict_on(err, &[("", &name, "justification_id")]))?;
    to_domain(project_id, row)
}

/// Justification `id` of the project row `project_pk`, with its primary key.
pub async fn find<C: ConnectionTrait>(
    c: &C,
    project_pk: i64,
    project_id: &str,
    id: &str,
) -> Result<(i64, Justification), StoreError> {
    let row = justification::Entity::find()
        .filter(justification::Column::ProjectPk.eq(project_pk))
        .filter(justification::Column::JustificationId.eq(id))
        .one(c)
        .await?
        .ok_or_else(|| StoreError::not_found(justification_name(project_id, id)))?;
    Ok((row.id, to_domain(project_id, row)?))
}

/// Writes the revocation of the justification row `pk`.
pub async fn save_revoke(
    tx: &DatabaseTransaction,
    pk: i64,
    item: &Justification,
) -> Result<(), StoreError> {
    justification::ActiveModel {
        id: sea_orm::Unchanged(pk),
        revoke_reason: Set(item.revoke_reason.clone()),
        revoked_at_us: Set(item.revoked_at_us),
        updated_at_us: Set(item.updated_at_us),
        version: Set(item.version),
        ..Default::default()
    }
    .update(tx)
    .await?;
    Ok(())
}

/// The justifications not revoked of the project rows `pks` (project ids by row in
/// `project_ids`), by project row, oldest first.
pub async fn unrevoked_for<C: ConnectionTrait>(
    c: &C,
    project_ids: &HashMap<i64, String>,
) -> Result<HashMap<i64, Vec<Justification>>, StoreError> {
    let mut by_project: HashMap<i64, Vec<Justification>> = HashMap::new();
    let pks: Vec<i64> = project_ids.keys().copied().collect();
    for chunk in pks.chunks(500) {
        let rows = justification::Entity::find()
            .filter(justification::Column::ProjectPk.is_in(chunk.iter().copied()))
            .filter(justification::Column::RevokedAtUs.is_null())
            .order_by_asc(justification::Column::Id)
            .all(c)
            .await?;
        for row in rows {
            let pk = row.project_pk;
            let project_id = project_ids
                .get(&pk)
                .ok_or_else(|| StoreError::corrupt("a justification's project is missing"))?;
            by_project
                .entry(pk)
                .or_default()
                .push(to_domain(project_id, row)?);
        }
    }
    Ok(by_project)
}

/// The justifications not revoked of the projects `project_ids`, by project id.
pub async fn unrevoked_by_project_id<C: ConnectionTrait>(
    c: &C,
    project_ids: &[&str],
) -> Result<HashMap<String, Vec<Justification>>, StoreError> {
    let mut ids = HashMap::new();
    for chunk in project_ids.chunks(500) {
        let rows: Vec<(i64, String)> = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .column(project::Column::ProjectId)
            .filter(project::Column::ProjectId.is_in(chunk.iter().map(|s| s.to_string())))
            .into_tuple()
            .all(c)
            .await?;
        ids.extend(rows);
    }
    let by_pk = unrevoked_for(c, &ids).await?;
    Ok(by_pk
        .into_iter()
        .filter_map(|(pk, list)| ids.get(&pk).map(|id| (id.clone(), list)))
        .collect())
}

/// How many justifications hang off the project row `pk`.
pub async fn count_for_project(tx: &DatabaseTransaction, pk: i64) -> Result<u64, StoreError> {
    Ok(justification::Entity::find()
        .filter(justification::Column::ProjectPk.eq(pk))
        .count(tx)
        .await?)
}

/// Deletes the justifications and the alert ledger rows of the project row `pk`.
pub async fn delete_for_project(tx: &DatabaseTransaction, pk: i64) -> Result<(), StoreError> {
    justification::Entity::delete_many()
        .filter(justification::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    investment_alert::Entity::delete_many()
        .filter(investment_alert::Column::ProjectPk.eq(pk))
        .exec(tx)
        .await?;
    Ok(())
}

/// Records alert `kind` of the project row `project_pk` for `period` (a month index, or a
/// justification row) in the once-only ledger; false when it was recorded before (by this
/// server or another replica: the unique key decides, and a concurrent claim waits for the
/// first one's transaction).
pub async fn claim_alert(
    store: &Store,
    tx: &DatabaseTransaction,
    project_pk: i64,
    kind: &str,
    period: i64,
    now_us: i64,
) -> Result<bool, StoreError> {
    let mut sql = Sql::new(
        store.backend(),
        "INSERT INTO investment_alerts (project_pk, kind, period, created_at_us) VALUES (",
    );
    sql.bind(project_pk)
        .push(", ")
        .bind(kind.to_string())
        .push(", ")
        .bind(period)
        .push(", ")
        .bind(now_us)
        .push(") ON CONFLICT DO NOTHING");
    Ok(tx.execute_raw(sql.build()).await?.rows_affected() == 1)
}

/// Which of the project rows `pks` have alert `kind` recorded for `period` already.
pub async fn alerted<C: ConnectionTrait>(
    c: &C,
    pks: &[i64],
    kind: &str,
    period: i64,
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut found = std::collections::HashSet::new();
    for chunk in pks.chunks(500) {
        let rows: Vec<i64> = investment_alert::Entity::find()
            .select_only()
            .column(investment_alert::Column::ProjectPk)
            .filter(investment_alert::Column::Kind.eq(kind))
            .filter(investment_alert::Column::Period.eq(period))
            .filter(investment_alert::Column::ProjectPk.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(c)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Of the next `limit` justifications after the row `after` that are not revoked and whose
/// last day is before `today`, those whose expiry was not alerted yet: (row, project row,
/// justification); and the last row looked at, where the next call continues (None at the
/// end).
pub async fn expired_unalerted(
    store: &Store,
    today: chrono::NaiveDate,
    after: i64,
    limit: u64,
) -> Result<(Vec<(i64, i64, Justification)>, Option<i64>), StoreError> {
    let rows = justification::Entity::find()
        .filter(justification::Column::Id.gt(after))
        .filter(justification::Column::RevokedAtUs.is_null())
        .filter(justification::Column::ValidTo.lt(values::day_number(today)))
        .order_by_asc(justification::Column::Id)
        .limit(limit)
        .all(store.connection())
        .await?;
    let alerted: Vec<i64> = if rows.is_empty() {
        Vec::new()
    } else {
        investment_alert::Entity::find()
            .select_only()
            .column(investment_alert::Column::Period)
            .filter(investment_alert::Column::Kind.eq(EXPIRED_KIND))
            .filter(investment_alert::Column::Period.is_in(rows.iter().map(|r| r.id)))
            .into_tuple()
            .all(store.connection())
            .await?
    };
    let last = rows.last().map(|r| r.id);
    let ids =
        super::projects::ids_by_pk(store.connection(), rows.iter().map(|r| r.project_pk)).await?;
    let fresh = rows
        .into_iter()
        .filter(|row| !alerted.contains(&row.id))
        .map(|row| {
            let project_id = ids
                .get(&row.project_pk)
                .ok_or_else(|| StoreError::corrupt("a justification's project is missing"))?;
            Ok((row.id, row.project_pk, to_domain(project_id, row)?))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((fresh, last))
}

/// The ledger kind of a justification's expiry.
pub const EXPIRED_KIND: &str = "JUSTIFICATION_EXPIRED";

impl Store {
    /// One page of justifications of one project or of all, newest first.
    pub async fn list_justifications(
        &self,
        project_id: Option<&str>,
        after: Option<&Cursor>,
        limit: u64,
    ) -> Result<Page<Justification>, StoreError> {
        use justification::Column as C;
        let mut condition = Condition::all();
        if let Some(project_id) = project_id {
            let pk = super::milestones::project_pk(self.connection(), project_id).await?;
            condition = condition.add(C::ProjectPk.eq(pk));
        }
        self.newest_first::<justification::Entity, _>(
            condition,
            (C::CreatedAtUs, C::Uid),
            (after, limit),
            |row| row.project_pk,
            to_domain,
            |j| Cursor {
                key: SortKey::Int(j.created_at_us),
                id: j.uid.clone(),
            },
        )
        .await
    }
}

/// The (project row, kind, period) entries of the alert ledger for the project rows `pks` and
/// the alert `kinds`, whatever their period.
pub async fn alerted_any<C: ConnectionTrait>(
    c: &C,
    pks: &[i64],
    kinds: &[&str],
) -> Result<std::collections::HashSet<(i64, String, i64)>, StoreError> {
    let mut found = std::collections::HashSet::new();
    for chunk in pks.chunks(500) {
        let rows: Vec<(i64, String, i64)> = investment_alert::Entity::find()
            .select_only()
            .column(investment_alert::Column::ProjectPk)
            .column(investment_alert::Column::Kind)
            .column(investment_alert::Column::Period)
            .filter(investment_alert::Column::Kind.is_in(kinds.iter().copied()))
            .filter(investment_alert::Column::ProjectPk.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(c)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}
