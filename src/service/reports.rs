//! Reports: the one write (publishing a bulletin, a snapshot of the county summary and every
//! ranking) and the ranking query it shares with ListRankings.

use std::collections::HashMap;

use chrono::NaiveDate;
use prost::Message;
use sea_orm::ConnectionTrait;

use super::ServiceError;
use super::unit::{Begun, Unit};
use crate::domain::milestone::Policy;
use crate::domain::names;
use crate::domain::report::{Bulletin, Dimension, Ranking, ReportFilter};
use crate::domain::values::{Id, Title};
use crate::events::encode;
use crate::proto::{reports as encoded, v1};
use crate::store::idempotency::RequestKey;
use crate::store::reports;
use crate::store::{Outcome, Store, WriteContext};

/// PublishBulletin, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishBulletin {
    /// None: the server picks an id.
    pub bulletin_id: Option<Id>,
    pub title: Title,
    pub status_date: NaiveDate,
}

/// The full ranking of `dimension` on `status_date` (with `extra_units` ranked even when they
/// have no project), compared with the latest bulletin published for an earlier status date.
pub async fn ranking(
    conn: &impl ConnectionTrait,
    policy: &Policy,
    dimension: Dimension,
    status_date: NaiveDate,
    extra_units: &[String],
) -> Result<Ranking, ServiceError> {
    let units = reports::unit_counts(
        conn,
        dimension,
        status_date,
        policy,
        &pace_basis(conn, status_date).await?,
        extra_units,
    )
    .await?;
    let (previous, before) = match reports::previous_bulletin(conn, status_date).await? {
        Some(stored) => {
            let bulletin =
                encoded::decode_bulletin(&stored.payload).map_err(ServiceError::internal)?;
            let before = encoded::ranks(&bulletin, dimension);
            (Some(bulletin.name), before)
        }
        None => (None, HashMap::new()),
    };
    Ok(Ranking::new(
        status_date,
        dimension,
        units,
        previous,
        &before,
    ))
}

/// The month the investment indicators judge on `status_date`, under the active light rule
/// set's due day (`domain::pace::judged_month`).
pub async fn pace_basis(
    conn: &impl ConnectionTrait,
    status_date: NaiveDate,
) -> Result<reports::PaceBasis, ServiceError> {
    let rule_set = crate::store::investment::active_rule_set(conn).await?;
    let due_day = rule_set.rules.report_due_day;
    Ok(reports::PaceBasis {
        month: crate::domain::pace::judged_month(status_date, due_day),
        due_day: due_day.clamp(1, 28) as u32,
        light_rule_set: rule_set.name(),
    })
}

/// Computes and stores a bulletin in one unit of work, so its figures are one consistent
/// snapshot, together with its BULLETIN_PUBLISHED event. It is stored whole, every ranking row
/// included; `response` encodes what a request id's retry is answered with.
pub async fn publish_bulletin(
    store: &Store,
    policy: &Policy,
    ctx: &WriteContext,
    key: Option<&RequestKey>,
    cmd: PublishBulletin,
    response: impl FnOnce(&Bulletin) -> Vec<u8>,
) -> Result<Outcome<Bulletin>, ServiceError> {
    // Only admins get here (the auth layer's role check); a bulletin has no scope.
    let mut unit = match Unit::begin(store, ctx, key, async |_| Ok(())).await? {
        Begun::Fresh(unit, ()) => unit,
        Begun::Replayed(first) => return Ok(Outcome::Replayed(first)),
    };
    let id = cmd
        .bulletin_id
        .map(Id::into_string)
        .unwrap_or_else(names::generate_id);
    let tx = unit.tx();
    let summary = reports::pipeline_summary(
        tx,
        &ReportFilter::default(),
        cmd.status_date,
        policy,
        &pace_basis(tx, cmd.status_date).await?,
    )
    .await?;
    let mut rankings = Vec::new();
    for dimension in Dimension::ALL {
        rankings.push(ranking(tx, policy, dimension, cmd.status_date, &[]).await?);
    }
    let bulletin = Bulletin {
        id,
        uid: uuid::Uuid::new_v4().to_string(),
        title: cmd.title.into_string(),
        status_date: cmd.status_date,
        summary,
        rankings,
        publisher: ctx.actor.clone(),
        created_at_us: ctx.now_us,
        light_rule_set: crate::store::investment::active_rule_set(tx).await?.name(),
    };
    let payload = v1::Bulletin::from(&bulletin).encode_to_vec();
    reports::insert_bulletin(tx, &bulletin, payload).await?;
    unit.emit(encode::reports::published(&bulletin));
    unit.commit(bulletin, response).await
}
