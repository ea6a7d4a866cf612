//! Reading the event log for streams: the head, the log's epoch, pages of whole transactions,
//! retention, and durable subscriptions.

use std::sync::Arc;

use prost::Message;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{event, subscription};
use super::idempotency::RequestKey;
use super::projects::{check_etag, commit_with_key};
use super::sql::Sql;
use super::{Outcome, Store, WriteContext, db_error, unique_violation};
use crate::domain::access::Principal;
use crate::proto::v1;
use crate::service::ServiceError;

/// One event as streams see it: its encoded message exactly as stored (shared by every stream,
/// never decoded or encoded again) and the columns filters look at.
#[derive(Debug)]
pub struct LogEvent {
    pub seq: i64,
    pub transaction_end_seq: i64,
    /// `pipeline.v1.EventKind` number.
    pub kind: i32,
    pub project_id: String,
    pub township: String,
    pub department: String,
    pub leader: String,
    pub light: Option<String>,
    pub slip_days: Option<i32>,
    /// The encoded `pipeline.v1.Event`.
    pub payload: bytes::Bytes,
}

impl LogEvent {
    pub fn kind(&self) -> v1::EventKind {
        v1::EventKind::try_from(self.kind).unwrap_or(v1::EventKind::Unspecified)
    }

    /// The decoded message (for tests and tools; streams send `payload` as it is).
    pub fn decode(&self) -> Result<v1::Event, prost::DecodeError> {
        v1::Event::decode(self.payload.clone())
    }
}

/// A durable subscription as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubscription {
    pub id: String,
    pub uid: String,
    pub display_name: String,
    pub filter: v1::EventFilter,
    pub acked_seq: i64,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: Option<String>,
    pub display_name: String,
    pub filter: v1::EventFilter,
    pub start_seq: i64,
}

const EPOCH_KEY: &str = "log_epoch";
const PRUNED_KEY: &str = "log_pruned_through";

fn to_subscription(row: subscription::Model) -> Result<StoredSubscription, ServiceError> {
    Ok(StoredSubscription {
        filter: v1::EventFilter::decode(row.filter.as_slice()).map_err(ServiceError::internal)?,
        id: row.subscription_id,
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
    row: Option<subscription::Model>,
    id: &str,
) -> Result<subscription::Model, ServiceError> {
    match row {
        Some(row) if caller.owns_subscription(&row.owner) => Ok(row),
        None if caller.is_admin() => Err(ServiceError::not_found(format!("subscriptions/{id}"))),
        _ => Err(ServiceError::permission_denied(format!(
            "token {:?} may use only its own subscriptions; subscriptions/{id} is not one of them",
            caller.name
        ))),
    }
}

/// Makes retention and the calls that set a subscription's position take turns, so that a
/// position checked against the pruned mark cannot be pruned before its subscription is seen
/// by retention: a PostgreSQL transaction-scoped advisory lock (in the two-key space, apart
/// from the request ids' one-key locks). SQLite's writers already take turns.
async fn hold_retention(conn: &impl ConnectionTrait) -> Result<(), ServiceError> {
    use sea_orm::{DbBackend, Statement};
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(1886152808, 1)",
    ))
    .await
    .map_err(db_error)?;
    Ok(())
}

impl Store {
    async fn meta(
        &self,
        conn: &impl ConnectionTrait,
        key: &str,
    ) -> Result<Option<String>, ServiceError> {
        let mut sql = Sql::new(
            self.backend(),
            "SELECT value FROM pipeline_meta WHERE key = ",
        );
        sql.bind(key);
        let row = conn.query_one_raw(sql.build()).await.map_err(db_error)?;
        row.map(|r| r.try_get_by_index::<String>(0))
            .transpose()
            .map_err(db_error)
    }

    /// The log's epoch: a random id made once per database, carried in every cursor so that a
    /// cursor from another database is recognised.
    pub async fn log_epoch(&self) -> Result<String, ServiceError> {
        let mut insert = Sql::new(
            self.backend(),
            "INSERT INTO pipeline_meta (key, value) VALUES (",
        );
        insert
            .bind(EPOCH_KEY)
            .push(", ")
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .push(") ON CONFLICT DO NOTHING");
        self.connection()
            .execute_raw(insert.build())
            .await
            .map_err(db_error)?;
        self.meta(self.connection(), EPOCH_KEY)
            .await?
            .ok_or_else(|| ServiceError::internal("the log epoch is missing"))
    }

    /// The sequence number of the last committed event (0 for an empty log).
    pub async fn log_head(&self) -> Result<i64, ServiceError> {
        // Every stream opened without a cursor asks this, so it is a fixed statement through
        // the driver rather than a built query (whose future was about 13 KB per waiting call);
        // on a SQLite file it is read on the calling thread (`store::inline`), so a burst of
        // stream opens does not queue thousands of waiting calls for pooled connections.
        use sea_orm::sqlx;
        const SQL: &str = "SELECT last_seq FROM event_counter WHERE id = 1";
        let head: Option<i64> = if let Some(reader) = self.inline_reader() {
            reader.read("reading the event counter", |c| {
                use rusqlite::OptionalExtension;
                c.prepare_cached(SQL)?
                    .query_row([], |r| r.get(0))
                    .optional()
            })?
        } else {
            match self.backend() {
                sea_orm::DbBackend::Postgres => {
                    sqlx::query_scalar(SQL)
                        .fetch_optional(self.connection().get_postgres_connection_pool())
                        .await
                }
                _ => {
                    sqlx::query_scalar(SQL)
                        .fetch_optional(self.connection().get_sqlite_connection_pool())
                        .await
                }
            }
            .map_err(|e| ServiceError::internal(format!("reading the event counter: {e}")))?
        };
        head.ok_or_else(|| ServiceError::internal("the event counter row is missing"))
    }

    /// Every event up to this sequence number may have been deleted by retention.
    pub async fn log_pruned_through(&self) -> Result<i64, ServiceError> {
        self.pruned_through(self.connection()).await
    }

    async fn pruned_through(&self, conn: &impl ConnectionTrait) -> Result<i64, ServiceError> {
        Ok(self
            .meta(conn, PRUNED_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Events after `after`, oldest first: about `limit` of them, extended to the end of the
    /// last transaction so that a transaction is never split across reads.
    pub async fn read_log(
        &self,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Arc<LogEvent>>, ServiceError> {
        let mut rows = event::Entity::find()
            .filter(event::Column::Seq.gt(after))
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        if let Some(last) = rows.last()
            && last.transaction_end_seq > last.seq
        {
            let (from, to) = (last.seq, last.transaction_end_seq);
            let rest = event::Entity::find()
                .filter(event::Column::Seq.gt(from))
                .filter(event::Column::Seq.lte(to))
                .order_by_asc(event::Column::Seq)
                .all(self.connection())
                .await
                .map_err(db_error)?;
            rows.extend(rest);
        }
        rows.into_iter()
            .map(|row| {
                let kind = v1::EventKind::from_str_name(&format!("EVENT_KIND_{}", row.kind))
                    .ok_or_else(|| {
                        ServiceError::internal(format!(
                            "stored event kind {:?} is unknown",
                            row.kind
                        ))
                    })?;
                Ok(Arc::new(LogEvent {
                    seq: row.seq,
                    transaction_end_seq: row.transaction_end_seq,
                    kind: kind as i32,
                    project_id: row.project_id,
                    township: row.township,
                    department: row.department,
                    leader: row.leader,
                    light: row.light,
                    slip_days: row.slip_days,
                    payload: bytes::Bytes::from(row.payload),
                }))
            })
            .collect()
    }

    /// Deletes up to `batch` events older than `cutoff_us`, but none after the acknowledged
    /// cursor of a subscription active since `live_since_us`. Returns how many were deleted.
    pub async fn prune_log(
        &self,
        cutoff_us: i64,
        live_since_us: i64,
        batch: u64,
    ) -> Result<u64, ServiceError> {
        let tx = self.begin_write().await?;
        hold_retention(&tx).await?;
        let held: Option<i64> = subscription::Entity::find()
            .select_only()
            .column_as(subscription::Column::AckedSeq.min(), "min")
            .filter(subscription::Column::UpdatedAtUs.gte(live_since_us))
            .into_tuple::<Option<i64>>()
            .one(&tx)
            .await
            .map_err(db_error)?
            .flatten();
        let seqs: Vec<i64> = event::Entity::find()
            .select_only()
            .column(event::Column::Seq)
            .filter(event::Column::CreatedAtUs.lt(cutoff_us))
            .filter(event::Column::Seq.lte(held.unwrap_or(i64::MAX)))
            .order_by_asc(event::Column::Seq)
            .limit(batch)
            .into_tuple()
            .all(&tx)
            .await
            .map_err(db_error)?;
        let Some(&last) = seqs.last() else {
            return Ok(0);
        };
        let deleted = event::Entity::delete_many()
            .filter(event::Column::Seq.lte(last))
            .exec(&tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        let mut upsert = Sql::new(
            self.backend(),
            "INSERT INTO pipeline_meta (key, value) VALUES (",
        );
        upsert
            .bind(PRUNED_KEY)
            .push(", ")
            .bind(last.to_string())
            .push(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        tx.execute_raw(upsert.build()).await.map_err(db_error)?;
        self.commit(tx).await?;
        Ok(deleted)
    }

    /// Creates a subscription that starts after `new.start_seq`. A start the retention has
    /// already pruned is refused with `expired(oldest retained position)`: the subscription
    /// could never stream.
    pub async fn create_subscription(
        &self,
        ctx: &WriteContext,
        new: NewSubscription,
        key: Option<&RequestKey>,
        to_message: impl FnOnce(&StoredSubscription) -> Vec<u8>,
        expired: impl FnOnce(i64) -> ServiceError,
    ) -> Result<Outcome<StoredSubscription>, ServiceError> {
        // Every role that gets past the auth layer may subscribe; the new row is its own.
        let tx = match self.begin_keyed(ctx, key, async |_| Ok(())).await? {
            Ok((tx, ())) => tx,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let NewSubscription {
            id,
            display_name,
            filter,
            start_seq,
        } = new;
        hold_retention(&tx).await?;
        let pruned = self.pruned_through(&tx).await?;
        if start_seq < pruned {
            return Err(expired(pruned));
        }
        let id = id.unwrap_or_else(crate::domain::names::generate_id);
        let row = subscription::ActiveModel {
            subscription_id: Set(id.clone()),
            uid: Set(uuid::Uuid::new_v4().to_string()),
            display_name: Set(display_name),
            filter: Set(filter.encode_to_vec()),
            acked_seq: Set(start_seq),
            owner: Set(ctx.principal.name.clone()),
            created_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(1),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .map_err(|err| match unique_violation(&err) {
            Some(_) => ServiceError::AlreadyExists {
                resource: format!("subscriptions/{id}"),
                field: "subscription_id".into(),
            },
            None => db_error(err),
        })?;
        let created = to_subscription(row)?;
        let bytes = to_message(&created);
        commit_with_key(self, tx, ctx, key, || bytes, created).await
    }

    /// A subscription the caller owns (or any, for an admin).
    pub async fn get_subscription(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<StoredSubscription, ServiceError> {
        let row = subscription::Entity::find()
            .filter(subscription::Column::SubscriptionId.eq(id))
            .one(self.connection())
            .await
            .map_err(db_error)?;
        to_subscription(owned(caller, row, id)?)
    }

    /// Subscriptions after the one with id `after`, oldest first, and whether more follow.
    /// Only the caller's own, unless the caller is an admin.
    pub async fn list_subscriptions(
        &self,
        caller: &Principal,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<StoredSubscription>, bool), ServiceError> {
        let mut query =
            subscription::Entity::find().order_by_asc(subscription::Column::SubscriptionId);
        if !caller.is_admin() {
            query = query.filter(subscription::Column::Owner.eq(caller.name.as_str()));
        }
        if let Some(after) = after {
            query = query.filter(subscription::Column::SubscriptionId.gt(after));
        }
        let rows = query
            .limit(limit + 1)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        let more = rows.len() as u64 > limit;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(to_subscription)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((items, more))
    }

    pub async fn delete_subscription(
        &self,
        caller: &Principal,
        id: &str,
        etag: Option<&str>,
    ) -> Result<(), ServiceError> {
        let tx = self.begin_write().await?;
        let row = subscription::Entity::find()
            .filter(subscription::Column::SubscriptionId.eq(id))
            .lock_exclusive()
            .one(&tx)
            .await
            .map_err(db_error)?;
        let row = owned(caller, row, id)?;
        check_etag(
            etag,
            format!("subscriptions/{id}"),
            crate::domain::names::etag(row.version),
        )?;
        subscription::Entity::delete_by_id(row.id)
            .exec(&tx)
            .await
            .map_err(db_error)?;
        self.commit(tx).await
    }

    /// Moves the acknowledged position forward to `seq` (never backwards). An acknowledgment
    /// that would leave the subscription before the oldest retained event (one that went stale
    /// and was pruned past, acknowledged to a pruned position) is refused with
    /// `expired(oldest retained position)`, as it could not stream from there; otherwise a
    /// cursor older than the acknowledged one is accepted and changes nothing.
    pub async fn acknowledge_subscription(
        &self,
        ctx: &WriteContext,
        id: &str,
        seq: i64,
        expired: impl FnOnce(i64) -> ServiceError,
    ) -> Result<StoredSubscription, ServiceError> {
        let tx = self.begin_write().await?;
        let row = subscription::Entity::find()
            .filter(subscription::Column::SubscriptionId.eq(id))
            .lock_exclusive()
            .one(&tx)
            .await
            .map_err(db_error)?;
        let row = owned(&ctx.principal, row, id)?;
        let pk = row.id;
        let mut current = to_subscription(row)?;
        hold_retention(&tx).await?;
        let pruned = self.pruned_through(&tx).await?;
        if current.acked_seq.max(seq) < pruned {
            return Err(expired(pruned));
        }
        // Acknowledging also records that the subscriber is alive, which keeps retention from
        // pruning what it has not read yet.
        current.acked_seq = current.acked_seq.max(seq);
        current.updated_at_us = ctx.now_us;
        current.version += 1;
        subscription::ActiveModel {
            id: sea_orm::Unchanged(pk),
            acked_seq: Set(current.acked_seq),
            updated_at_us: Set(ctx.now_us),
            version: Set(current.version),
            ..Default::default()
        }
        .update(&tx)
        .await
        .map_err(db_error)?;
        self.commit(tx).await?;
        Ok(current)
    }
}
