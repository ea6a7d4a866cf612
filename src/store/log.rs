//! Reading the event log for streams: the head, the log's epoch, pages of whole transactions,
//! retention, and durable subscriptions.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::Store;
use super::entities::{event, subscription};
use super::error::{StoreError, conflict_on};
use super::sql::Sql;

/// One stored event: its encoded message and the columns streams filter on.
#[derive(Debug)]
pub struct LogRow {
    pub seq: i64,
    pub transaction_end_seq: i64,
    /// The event kind's name without its `EVENT_KIND_` prefix.
    pub kind: String,
    pub project_id: String,
    pub township: String,
    pub department: String,
    pub leader: String,
    pub light: Option<String>,
    pub slip_days: Option<i32>,
    /// The encoded `pipeline.v1.Event`.
    pub payload: Vec<u8>,
}

/// A durable subscription as stored; `filter` is the encoded `pipeline.v1.EventFilter`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub pk: i64,
    pub id: String,
    pub uid: String,
    pub display_name: String,
    pub filter: Vec<u8>,
    pub acked_seq: i64,
    /// The name of the token that created it.
    pub owner: String,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub version: i64,
}

const EPOCH_KEY: &str = "log_epoch";
const PRUNED_KEY: &str = "log_pruned_through";

fn to_row(row: subscription::Model) -> SubscriptionRow {
    SubscriptionRow {
        pk: row.id,
        id: row.subscription_id,
        uid: row.uid,
        display_name: row.display_name,
        filter: row.filter,
        acked_seq: row.acked_seq,
        owner: row.owner,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    }
}

/// Makes retention and the calls that set a subscription's position take turns, so that a
/// position checked against the pruned mark cannot be pruned before its subscription is seen
/// by retention: a PostgreSQL transaction-scoped advisory lock (in the two-key space, apart
/// from the request ids' one-key locks). SQLite's writers already take turns.
pub async fn hold_retention(conn: &impl ConnectionTrait) -> Result<(), StoreError> {
    use sea_orm::{DbBackend, Statement};
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(1886152808, 1)",
    ))
    .await?;
    Ok(())
}

impl Store {
    async fn meta(
        &self,
        conn: &impl ConnectionTrait,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut sql = Sql::new(
            self.backend(),
            "SELECT value FROM pipeline_meta WHERE key = ",
        );
        sql.bind(key);
        let row = conn
            .query_one_raw(sql.build())
            .await
            .map_err(StoreError::from)?;
        row.map(|r| r.try_get_by_index::<String>(0))
            .transpose()
            .map_err(StoreError::from)
    }

    /// The log's epoch: a random id made once per database, carried in every cursor so that a
    /// cursor from another database is recognised.
    pub async fn log_epoch(&self) -> Result<String, StoreError> {
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
            .map_err(StoreError::from)?;
        self.meta(self.connection(), EPOCH_KEY)
            .await?
            .ok_or_else(|| StoreError::corrupt("the log epoch is missing"))
    }

    /// The sequence number of the last committed event (0 for an empty log).
    pub async fn log_head(&self) -> Result<i64, StoreError> {
        // Every stream opened without a cursor asks this, so it is a fixed statement through
        // the driver rather than a built query (whose future was about 13 KB per waiting call);
        // on a SQLite file it is read on the calling thread (`store::inline`), so a burst of
        // stream opens does not queue thousands of waiting calls for pooled connections.
        use sea_orm::sqlx;
        const SQL: &str = "SELECT last_seq FROM event_counter WHERE id = 1";
        let head: Option<i64> = if let Some(reader) = self.inline_reader() {
            reader
                .read("reading the event counter", |c| {
                    use rusqlite::OptionalExtension;
                    c.prepare_cached(SQL)?
                        .query_row([], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| StoreError::Inline(e.to_string()))?
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
            .map_err(|e| StoreError::corrupt(format!("reading the event counter: {e}")))?
        };
        head.ok_or_else(|| StoreError::corrupt("the event counter row is missing"))
    }

    /// Every event up to this sequence number may have been deleted by retention.
    pub async fn log_pruned_through(&self) -> Result<i64, StoreError> {
        self.pruned_through(self.connection()).await
    }

    pub async fn pruned_through(&self, conn: &impl ConnectionTrait) -> Result<i64, StoreError> {
        Ok(self
            .meta(conn, PRUNED_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Events after `after`, oldest first: about `limit` of them, extended to the end of the
    /// last transaction so that a transaction is never split across reads.
    pub async fn read_log(&self, after: i64, limit: u64) -> Result<Vec<LogRow>, StoreError> {
        let mut rows = event::Entity::find()
            .filter(event::Column::Seq.gt(after))
            .order_by_asc(event::Column::Seq)
            .limit(limit)
            .all(self.connection())
            .await?;
        if let Some(last) = rows.last()
            && last.transaction_end_seq > last.seq
        {
            let (from, to) = (last.seq, last.transaction_end_seq);
            let rest = event::Entity::find()
                .filter(event::Column::Seq.gt(from))
                .filter(event::Column::Seq.lte(to))
                .order_by_asc(event::Column::Seq)
                .all(self.connection())
                .await?;
            rows.extend(rest);
        }
        Ok(rows
            .into_iter()
            .map(|row| LogRow {
                seq: row.seq,
                transaction_end_seq: row.transaction_end_seq,
                kind: row.kind,
                project_id: row.project_id,
                township: row.township,
                department: row.department,
                leader: row.leader,
                light: row.light,
                slip_days: row.slip_days,
                payload: row.payload,
            })
            .collect())
    }

    /// Deletes up to `batch` events older than `cutoff_us`, but none after the acknowledged
    /// cursor of a subscription active since `live_since_us`. Returns how many were deleted.
    pub async fn prune_log(
        &self,
        cutoff_us: i64,
        live_since_us: i64,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let tx = self.begin_write().await?;
        hold_retention(&tx).await?;
        let held: Option<i64> = subscription::Entity::find()
            .select_only()
            .column_as(subscription::Column::AckedSeq.min(), "min")
            .filter(subscription::Column::UpdatedAtUs.gte(live_since_us))
            .into_tuple::<Option<i64>>()
            .one(&tx)
            .await
            .map_err(StoreError::from)?
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
            .map_err(StoreError::from)?;
        let Some(&last) = seqs.last() else {
            return Ok(0);
        };
        let deleted = event::Entity::delete_many()
            .filter(event::Column::Seq.lte(last))
            .exec(&tx)
            .await
            .map_err(StoreError::from)?
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
        tx.execute_raw(upsert.build())
            .await
            .map_err(StoreError::from)?;
        self.commit(tx).await?;
        Ok(deleted)
    }

    /// Inserts a subscription; its id taken is a conflict on `subscription_id`.
    pub async fn insert_subscription(
        &self,
        tx: &DatabaseTransaction,
        new: SubscriptionRow,
    ) -> Result<SubscriptionRow, StoreError> {
        let id = new.id.clone();
        let row = subscription::ActiveModel {
            subscription_id: Set(new.id),
            uid: Set(new.uid),
            display_name: Set(new.display_name),
            filter: Set(new.filter),
            acked_seq: Set(new.acked_seq),
            owner: Set(new.owner),
            created_at_us: Set(new.created_at_us),
            updated_at_us: Set(new.updated_at_us),
            version: Set(new.version),
            ..Default::default()
        }
        .insert(tx)
        .await
        .map_err(|err| {
            let resource = || format!("subscriptions/{id}");
            conflict_on(err, &[("", &resource, "subscription_id")])
        })?;
        Ok(to_row(row))
    }

    /// The subscription with id `id`, locked until the transaction ends when `lock`.
    pub async fn find_subscription(
        &self,
        conn: &impl ConnectionTrait,
        id: &str,
        lock: bool,
    ) -> Result<Option<SubscriptionRow>, StoreError> {
        let mut query =
            subscription::Entity::find().filter(subscription::Column::SubscriptionId.eq(id));
        if lock {
            query = query.lock_exclusive();
        }
        Ok(query.one(conn).await?.map(to_row))
    }

    /// Subscriptions after the one with id `after`, by id, and whether more follow; only those
    /// of `owner` when given.
    pub async fn list_subscriptions(
        &self,
        owner: Option<&str>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<SubscriptionRow>, bool), StoreError> {
        let mut query =
            subscription::Entity::find().order_by_asc(subscription::Column::SubscriptionId);
        if let Some(owner) = owner {
            query = query.filter(subscription::Column::Owner.eq(owner));
        }
        if let Some(after) = after {
            query = query.filter(subscription::Column::SubscriptionId.gt(after));
        }
        let rows = query.limit(limit + 1).all(self.connection()).await?;
        let more = rows.len() as u64 > limit;
        let items = rows.into_iter().take(limit as usize).map(to_row).collect();
        Ok((items, more))
    }

    pub async fn delete_subscription(
        &self,
        tx: &DatabaseTransaction,
        pk: i64,
    ) -> Result<(), StoreError> {
        subscription::Entity::delete_by_id(pk).exec(tx).await?;
        Ok(())
    }

    /// Saves a subscription's position, update time and version.
    pub async fn save_subscription_position(
        &self,
        tx: &DatabaseTransaction,
        row: &SubscriptionRow,
    ) -> Result<(), StoreError> {
        subscription::ActiveModel {
            id: sea_orm::Unchanged(row.pk),
            acked_seq: Set(row.acked_seq),
            updated_at_us: Set(row.updated_at_us),
            version: Set(row.version),
            ..Default::default()
        }
        .update(tx)
        .await?;
        Ok(())
    }
}
