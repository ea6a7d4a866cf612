//! Request ids (AIP-155): the first response of a call is kept with its request id, in the
//! same transaction as the change, and returned again to a retry of the same caller.
//!
//! A stored response is keyed by (caller, method, request_id): it is the answer one caller
//! earned, so another caller who happens to send the same id is a new call, decided on its own
//! authority. `Store::begin_keyed` runs the steps in order: authorize, claim, look up, act (`service::unit`).

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, Set, Statement, Value};

use super::entities::request_id;
use super::error::{StoreError, unique_violation};

/// A request id with the method it was sent to and a fingerprint of the rest of the request.
/// The caller is not part of it: the store takes it from the write's principal, so the key
/// is always that of the caller whose authority was checked.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub method: &'static str,
    pub request_id: String,
    pub fingerprint: String,
}

impl RequestKey {
    /// `request_bytes` is the encoded request with its request_id cleared.
    pub fn new(method: &'static str, request_id: String, request_bytes: &[u8]) -> Self {
        Self {
            method,
            request_id,
            fingerprint: format!("{:016x}", fnv1a(request_bytes)),
        }
    }

    /// A 64-bit name of (caller, method, request_id) for PostgreSQL's advisory locks. Each
    /// part is length-prefixed so that no two different triples run together into the same
    /// bytes; a hash collision only makes two unrelated calls wait for each other.
    fn lock_id(&self, caller: &str) -> i64 {
        let mut bytes = Vec::new();
        for part in [caller, self.method, self.request_id.as_str()] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part.as_bytes());
        }
        fnv1a(&bytes) as i64
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Makes concurrent calls with the same caller, method and request id take turns from here to
/// the end of their transactions, so that the second looks the key up only after the first
/// has committed its response (or rolled back, leaving the key free to act on).
///
/// On PostgreSQL this is a transaction-scoped advisory lock. Without it every call of a burst
/// of retries looked the key up at the start of its READ COMMITTED transaction, all missed,
/// and then they queued on the resource's row lock: the first acted and the rest saw the
/// changed state (a stage change already made, an id already taken) and failed. The lock is
/// taken after the authorization step, so that only a caller allowed to act waits on it, and
/// it is released by commit or rollback alike. (Inserting the key row first would also
/// serialize the calls, but would need a placeholder response and an update at commit.)
///
/// SQLite needs nothing: write transactions start with `BEGIN IMMEDIATE` on the one writer
/// connection, so they already run one after another.
pub async fn claim(
    conn: &impl ConnectionTrait,
    caller: &str,
    key: &RequestKey,
) -> Result<(), StoreError> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [Value::from(key.lock_id(caller))],
    ))
    .await?;
    Ok(())
}

/// What is kept under a caller's request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Nothing: the request was not seen before.
    Nothing,
    /// The encoded first response to the same request.
    Response(Vec<u8>),
    /// The id was used before for a different request (another fingerprint).
    OtherRequest,
}

/// What `caller` has kept for `key`.
pub async fn lookup(
    conn: &impl ConnectionTrait,
    caller: &str,
    key: &RequestKey,
) -> Result<Kept, StoreError> {
    let found = request_id::Entity::find_by_id((
        caller.to_string(),
        key.method.to_string(),
        key.request_id.clone(),
    ))
    .one(conn)
    .await?;
    Ok(match found {
        None => Kept::Nothing,
        Some(row) if row.fingerprint == key.fingerprint => Kept::Response(row.response),
        Some(_) => Kept::OtherRequest,
    })
}

/// Keeps the response `caller` got for `key`. `Ok(false)` means a concurrent call with the
/// same key committed first; the caller should roll back and look the response up.
pub async fn record(
    conn: &impl ConnectionTrait,
    caller: &str,
    key: &RequestKey,
    response: Vec<u8>,
    now_us: i64,
) -> Result<bool, StoreError> {
    let row = request_id::ActiveModel {
        caller: Set(caller.to_string()),
        method: Set(key.method.to_string()),
        request_id: Set(key.request_id.clone()),
        fingerprint: Set(key.fingerprint.clone()),
        response: Set(response),
        created_at_us: Set(now_us),
    };
    match row.insert(conn).await {
        Ok(_) => Ok(true),
        Err(err) if unique_violation(&err).is_some() => Ok(false),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_separate_callers_and_parts() {
        let key = RequestKey::new("CreateProject", "K-0001".into(), b"");
        assert_eq!(key.lock_id("admin"), key.lock_id("admin"));
        assert_ne!(key.lock_id("admin"), key.lock_id("editor"));
        let a = RequestKey::new("M", "bc".into(), b"");
        let b = RequestKey::new("M", "c".into(), b"");
        assert_ne!(a.lock_id("a"), b.lock_id("ab"), "parts do not run together");
    }
}
