//! The event log as streams read it: each stored event with its kind as the `EventKind`
//! number filters compare, and its encoded message shared by every stream as it is.

use std::sync::Arc;

use prost::Message;

use crate::proto::v1;
use crate::service::ServiceError;
use crate::store::Store;
use crate::store::log::LogRow;

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

    fn from_row(row: LogRow) -> Result<Self, ServiceError> {
        let kind =
            v1::EventKind::from_str_name(&format!("EVENT_KIND_{}", row.kind)).ok_or_else(|| {
                ServiceError::internal(format!("stored event kind {:?} is unknown", row.kind))
            })?;
        Ok(LogEvent {
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
        })
    }
}

/// Events after `after`, oldest first: about `limit` of them, extended to the end of the last
/// transaction so that a transaction is never split across reads (`Store::read_log`).
pub async fn read(
    store: &Store,
    after: i64,
    limit: u64,
) -> Result<Vec<Arc<LogEvent>>, ServiceError> {
    store
        .read_log(after, limit)
        .await?
        .into_iter()
        .map(|row| LogEvent::from_row(row).map(Arc::new))
        .collect()
}
