//! Durable subscriptions: each belongs to the token that created it (an admin may use any),
//! and its position never falls behind what retention has already pruned.

use prost::Message;
use sea_orm::ConnectionTrait;

use super::ServiceError;
use super::unit::{Begun, Unit, check_etag};
use crate::domain::access::Principal;
use crate::domain::names;
use crate::proto::v1;
use crate::store::idempotency::RequestKey;
use crate::store::log::{SubscriptionRow, hold_retention};
use crate::store::{Outcome, Store, WriteContext};

/// A durable subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub uid: String,
    pub display_name: String,
    pub filter: v1::EventFilter,
    pub acked_seq: i64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

/// CreateSubscription, parsed.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: Option<String>,
    pub display_name: String,
    pub filter: v1::EventFilter,
    /// The subscription starts after this position.
    pub start_seq: i64,
}

fn from_row(row: SubscriptionRow) -> Result<Subscription, ServiceError> {
    Ok(Subscription {
        filter: v1::EventFilter::decode(row.filter.as_slice()).map_err(ServiceError::internal)?,
        id: row.id,
        uid: row.uid,
        display_name: row.display_name,
        acked_seq: row.acked_seq,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

/// The row if the caller may use it. For a caller who may not, a missing subscription is
/// PERMISSION_DENIED too, so that names cannot be probed.
fn owned(
    caller: &Principal,
    row: Option<SubscriptionRow>,
    id: &str,
) -> Result<SubscriptionRow, ServiceError> {
    match row {
        Some(row) if caller.owns_subscription(&row.owner) => Ok(row),
        None if caller.is_admin() => Err(ServiceError::not_found(format!("subscriptions/{id}"))),
        _ => Err(ServiceError::permission_denied(format!(
            "token {:?} may use only its own subscriptions; subscriptions/{id} is not one of them",
            caller.name
        ))),
    }
}

/// Holds retention off until the transaction ends and refuses a position before the oldest
/// retained event with `expired(oldest retained position)`: a subscription there could never
/// stream.
async fn check_retained(
    store: &Store,
    tx: &impl ConnectionTrait,
    seq: i64,
    expired: impl FnOnce(i64) -> ServiceError,
) -> Result<(), ServiceError> {
    hold_retention(tx).await?;
    let pruned = store.pruned_through(tx).await?;
    if seq < pruned {
        return Err(expired(pruned));
    }
    Ok(())
}

/// Creates a subscription that starts after `new.start_seq`. Every role that gets past the
/// auth layer may subscribe; the new subscription is its own.
pub async fn create(
    store: &Store,
    ctx: &WriteContext,
    new: NewSubscription,
    key: Option<&RequestKey>,
    encode: impl FnOnce(&Subscription) -> Vec<u8>,
    expired: impl FnOnce(i64) -> ServiceError,
) -> Result<Outcome<Subscription>, ServiceError> {
    let unit = match Unit::begin(store, ctx, key, async |_| Ok(())).await? {
        Begun::Fresh(unit, ()) => unit,
        Begun::Replayed(first) => return Ok(Outcome::Replayed(first)),
    };
    check_retained(store, unit.tx(), new.start_seq, expired).await?;
    let row = SubscriptionRow {
        pk: 0,
        id: new.id.unwrap_or_else(names::generate_id),
        uid: uuid::Uuid::new_v4().to_string(),
        display_name: new.display_name,
        filter: new.filter.encode_to_vec(),
        acked_seq: new.start_seq,
        owner: ctx.principal.name.clone(),
        created_at_us: ctx.now_us,
        updated_at_us: ctx.now_us,
        version: 1,
    };
    let created = from_row(store.insert_subscription(unit.tx(), row).await?)?;
    unit.commit(created, encode).await
}

/// A subscription the caller owns (or any, for an admin).
pub async fn get(
    store: &Store,
    caller: &Principal,
    id: &str,
) -> Result<Subscription, ServiceError> {
    let row = store
        .find_subscription(store.connection(), id, false)
        .await?;
    from_row(owned(caller, row, id)?)
}

/// Subscriptions after the one with id `after`, by id, and whether more follow: only the
/// caller's own, unless the caller is an admin.
pub async fn list(
    store: &Store,
    caller: &Principal,
    after: Option<&str>,
    limit: u64,
) -> Result<(Vec<Subscription>, bool), ServiceError> {
    let owner = (!caller.is_admin()).then_some(caller.name.as_str());
    let (rows, more) = store.list_subscriptions(owner, after, limit).await?;
    let items = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
    Ok((items, more))
}

pub async fn delete(
    store: &Store,
    caller: &Principal,
    id: &str,
    etag: Option<&str>,
) -> Result<(), ServiceError> {
    let tx = store.begin_write().await?;
    let row = owned(caller, store.find_subscription(&tx, id, true).await?, id)?;
    check_etag(
        etag,
        format!("subscriptions/{id}"),
        names::etag(row.version),
    )?;
    store.delete_subscription(&tx, row.pk).await?;
    store.commit(tx).await?;
    Ok(())
}

/// Moves the acknowledged position forward to `seq` (never backwards). An acknowledgment
/// that would leave the subscription before the oldest retained event (one that went stale
/// and was pruned past, acknowledged to a pruned position) is refused with
/// `expired(oldest retained position)`, as it could not stream from there; otherwise a
/// cursor older than the acknowledged one is accepted and changes nothing. Acknowledging
/// also records that the subscriber is alive, which keeps retention from pruning what it has
/// not read yet.
pub async fn acknowledge(
    store: &Store,
    ctx: &WriteContext,
    id: &str,
    seq: i64,
    expired: impl FnOnce(i64) -> ServiceError,
) -> Result<Subscription, ServiceError> {
    let tx = store.begin_write().await?;
    let mut row = owned(
        &ctx.principal,
        store.find_subscription(&tx, id, true).await?,
        id,
    )?;
    let acked = row.acked_seq.max(seq);
    check_retained(store, &tx, acked, expired).await?;
    row.acked_seq = acked;
    row.updated_at_us = ctx.now_us;
    row.version += 1;
    store.save_subscription_position(&tx, &row).await?;
    store.commit(tx).await?;
    from_row(row)
}
