//! The event log (transactional outbox): events are encoded to `v1::Event` here, in one place. Events are appended inside the transaction of the
//! change they describe. Their sequence numbers come from one counter row that is bumped as
//! the last step of the transaction: the row lock serialises writers from that point to
//! commit, so numbers are handed out in commit order and a rolled-back transaction returns
//! its numbers with it. No gaps, on SQLite and PostgreSQL alike.

use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::domain::project::Project;
use crate::proto::{budget, v1};
use crate::service::ServiceError;
use crate::store::outbox::{self, OutboxRow};

/// An event about to be appended; sequence numbers are filled in by `append`.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub event: v1::Event,
    pub project_id: String,
    pub township: String,
    pub department: String,
    pub leader: String,
    /// The milestone light after the change, for milestone events.
    pub light: Option<String>,
    /// Days a forecast moved later, for slip events.
    pub slip_days: Option<i32>,
}

impl EventDraft {
    /// An event about `project` (or one of its children, named by `resource`).
    pub fn about(
        kind: v1::EventKind,
        project: &Project,
        resource: String,
        detail: Option<v1::event::Detail>,
        changed_fields: Vec<&'static str>,
    ) -> Self {
        Self {
            event: v1::Event {
                kind: kind as i32,
                project: project.name(),
                resource,
                changed_fields: changed_fields.into_iter().map(String::from).collect(),
                detail,
                ..Default::default()
            },
            project_id: project.id.clone(),
            township: project.fields.township.clone(),
            department: project.fields.department.clone(),
            leader: project.fields.leader.clone(),
            light: None,
            slip_days: None,
        }
    }
}

impl EventDraft {
    /// An event about a resource outside any project (funding windows).
    pub fn global(
        kind: v1::EventKind,
        resource: String,
        detail: Option<v1::event::Detail>,
        changed_fields: Vec<&'static str>,
    ) -> Self {
        Self {
            event: v1::Event {
                kind: kind as i32,
                resource,
                changed_fields: changed_fields.into_iter().map(String::from).collect(),
                detail,
                ..Default::default()
            },
            project_id: String::new(),
            township: String::new(),
            department: String::new(),
            leader: String::new(),
            light: None,
            slip_days: None,
        }
    }
}

impl EventDraft {
    /// The most bytes this event takes in a stream's batch once `append` has filled in its
    /// sequence numbers (a key and at most ten bytes each), actor and time (a Timestamp of at
    /// most 17 bytes, with its key and length), which drafts leave unset.
    pub fn batch_len(&self, actor: &str) -> usize {
        let filled = 2 * 11 + 1 + prost::length_delimiter_len(actor.len()) + actor.len() + 2 + 17;
        let body = self.event.encoded_len() + filled;
        2 + prost::length_delimiter_len(body) + body
    }
}

/// Appends the events of one transaction. Call it as the last statement before commit.
///
/// Streams deliver all events of a transaction in one message, so together they must fit in
/// `budget::MAX_RESOURCE_BYTES`: a transaction whose events would not is refused (INTERNAL,
/// and it rolls back) rather than committed as a batch no stream could ever deliver. The
/// bounds on every field make one event fit; the scanner, the one writer of many events per
/// transaction, cuts its batches to fit.
pub async fn append(
    tx: &DatabaseTransaction,
    actor: &str,
    now_us: i64,
    drafts: Vec<EventDraft>,
) -> Result<(), ServiceError> {
    if drafts.is_empty() {
        return Ok(());
    }
    let bytes: usize = drafts.iter().map(|d| d.batch_len(actor)).sum();
    if bytes > budget::MAX_RESOURCE_BYTES {
        return Err(ServiceError::internal(format!(
            "the {} events of one transaction would take {bytes} bytes in a stream, over the {} \
             a message may hold",
            drafts.len(),
            budget::MAX_RESOURCE_BYTES
        )));
    }
    let (first, end) = outbox::reserve(tx, drafts.len() as i64).await?;
    let created = crate::proto::timestamp(now_us);
    let rows = drafts
        .into_iter()
        .enumerate()
        .map(|(offset, draft)| {
            let mut event = draft.event;
            event.sequence = first + offset as i64;
            event.transaction_end_sequence = end;
            event.actor = actor.to_string();
            event.create_time = Some(created);
            OutboxRow {
                seq: event.sequence,
                transaction_end_seq: end,
                kind: event_kind_name(event.kind),
                project_id: draft.project_id,
                resource: event.resource.clone(),
                township: draft.township,
                department: draft.department,
                leader: draft.leader,
                actor: actor.to_string(),
                created_at_us: now_us,
                payload: event.encode_to_vec(),
                light: draft.light,
                slip_days: draft.slip_days,
            }
        })
        .collect();
    outbox::insert(tx, end, rows).await?;
    Ok(())
}

/// The storage name of an event kind: the enum value name without its prefix.
fn event_kind_name(kind: i32) -> String {
    v1::EventKind::try_from(kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("EVENT_KIND_")
                .to_string()
        })
        .unwrap_or_else(|_| kind.to_string())
}

/// Reads the log after `after_seq`, oldest first, at most `limit` events. Used by tests and
/// operators; streaming arrives with the event service.
pub async fn read_after(
    conn: &impl ConnectionTrait,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<v1::Event>, ServiceError> {
    outbox::payloads_after(conn, after_seq, limit)
        .await?
        .into_iter()
        .map(|payload| v1::Event::decode(payload.as_slice()).map_err(ServiceError::internal))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::budget::worst;

    #[test]
    fn batch_len_covers_what_append_fills_in() {
        for event in worst::events() {
            let draft = EventDraft::global(
                v1::EventKind::try_from(event.kind).unwrap(),
                event.resource.clone(),
                event.detail.clone(),
                Vec::new(),
            );
            let actor = worst::actor();
            let mut filled = draft.event.clone();
            filled.sequence = i64::MAX;
            filled.transaction_end_sequence = i64::MAX;
            filled.actor = actor.clone();
            filled.create_time = worst::time();
            let exact = budget::entry_len(&filled);
            let counted = draft.batch_len(&actor);
            assert!(
                counted >= exact && counted <= exact + 8,
                "{counted} for {exact}"
            );
        }
    }
}
