//! The rows of the event log (the transactional outbox). `events::outbox` encodes the events;
//! this writes them with their sequence numbers, which come from one counter row bumped as the
//! last step of the transaction: the row lock serialises writers from there to commit, so
//! numbers are handed out in commit order and a rolled-back transaction returns its numbers.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use super::entities::event;
use super::error::StoreError;

/// The PostgreSQL LISTEN/NOTIFY channel that announces new events.
pub const LOG_CHANNEL: &str = "pipeline_events";

/// One encoded event with the columns streams filter on.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub seq: i64,
    pub transaction_end_seq: i64,
    /// The event kind's name without its `EVENT_KIND_` prefix.
    pub kind: String,
    pub project_id: String,
    pub resource: String,
    pub township: String,
    pub department: String,
    pub leader: String,
    pub actor: String,
    pub created_at_us: i64,
    /// The encoded `pipeline.v1.Event`.
    pub payload: Vec<u8>,
    pub light: Option<String>,
    pub slip_days: Option<i32>,
}

/// Takes `count` sequence numbers for this transaction: returns the first and the last.
pub async fn reserve(tx: &DatabaseTransaction, count: i64) -> Result<(i64, i64), StoreError> {
    let backend = tx.get_database_backend();
    let row = tx
        .query_one_raw(Statement::from_string(
            backend,
            format!("UPDATE event_counter SET last_seq = last_seq + {count} WHERE id = 1 RETURNING last_seq"),
        ))
        .await?
        .ok_or_else(|| StoreError::corrupt("the event counter row is missing"))?;
    let end: i64 = row.try_get("", "last_seq")?;
    Ok((end - count + 1, end))
}

/// Inserts the rows of one transaction, whose last sequence number is `end`; on PostgreSQL it
/// also queues the wake-up of every replica's log tailer, delivered at commit.
pub async fn insert(
    tx: &DatabaseTransaction,
    end: i64,
    rows: Vec<OutboxRow>,
) -> Result<(), StoreError> {
    if tx.get_database_backend() == sea_orm::DbBackend::Postgres {
        tx.execute_unprepared(&format!("NOTIFY {LOG_CHANNEL}, '{end}'"))
            .await?;
    }
    let mut models: Vec<event::ActiveModel> = rows
        .into_iter()
        .map(|row| event::ActiveModel {
            seq: Set(row.seq),
            transaction_end_seq: Set(row.transaction_end_seq),
            kind: Set(row.kind),
            project_id: Set(row.project_id),
            resource: Set(row.resource),
            township: Set(row.township),
            department: Set(row.department),
            leader: Set(row.leader),
            actor: Set(row.actor),
            created_at_us: Set(row.created_at_us),
            payload: Set(row.payload),
            light: Set(row.light),
            slip_days: Set(row.slip_days),
        })
        .collect();
    if models.len() == 1 {
        models.pop().expect("one row").insert(tx).await?;
    } else if !models.is_empty() {
        event::Entity::insert_many(models).exec(tx).await?;
    }
    Ok(())
}

/// The payloads of the log after `after_seq`, oldest first, at most `limit`.
pub async fn payloads_after(
    conn: &impl ConnectionTrait,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let rows = event::Entity::find()
        .filter(event::Column::Seq.gt(after_seq))
        .order_by_asc(event::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| row.payload).collect())
}
