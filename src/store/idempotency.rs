//! Request ids (AIP-155): the first response of a call is kept with its request id, in the
//! same transaction as the change, and returned again to a retry.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::entities::request_id;
use super::{db_error, unique_violation};
use crate::domain::Error;

/// A request id with the method it was sent to and a fingerprint of the rest of the request.
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
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The stored response for `key`, if the request was seen before. The same id with another
/// request is INVALID_ARGUMENT.
pub async fn lookup(
    conn: &impl ConnectionTrait,
    key: &RequestKey,
) -> Result<Option<Vec<u8>>, Error> {
    let found = request_id::Entity::find_by_id((key.method.to_string(), key.request_id.clone()))
        .one(conn)
        .await
        .map_err(db_error)?;
    match found {
        None => Ok(None),
        Some(row) if row.fingerprint == key.fingerprint => Ok(Some(row.response)),
        Some(_) => Err(Error::invalid(
            "request_id",
            "was already used for a different request",
        )),
    }
}

/// Keeps the response of a request id. Err(None) means a concurrent call with the same id
/// committed first; the caller should roll back and look the response up.
pub async fn record(
    conn: &impl ConnectionTrait,
    key: &RequestKey,
    response: Vec<u8>,
    now_us: i64,
) -> Result<(), Option<Error>> {
    let row = request_id::ActiveModel {
        method: Set(key.method.to_string()),
        request_id: Set(key.request_id.clone()),
        fingerprint: Set(key.fingerprint.clone()),
        response: Set(response),
        created_at_us: Set(now_us),
    };
    match row.insert(conn).await {
        Ok(_) => Ok(()),
        Err(err) if unique_violation(&err).is_some() => Err(None),
        Err(err) => Err(Some(db_error(err))),
    }
}
