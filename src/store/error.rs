//! The error of the store: a row that is not there, a unique key already taken, an etag that
//! no longer matches, or a database failure. It says nothing about gRPC; the service layer
//! composes it into `ServiceError`.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named resource has no row.
    #[error("{resource} not found")]
    NotFound { resource: String },
    /// A unique key is taken: `resource` describes the holder, `field` is the request field
    /// whose value clashed.
    #[error("{resource} already exists")]
    Conflict { resource: String, field: String },
    /// The row changed since the caller read the etag.
    #[error("etag mismatch on {resource}")]
    StaleEtag {
        resource: String,
        current_etag: String,
    },
    /// A stored value the service cannot read back (an unknown enum name, a bad date number).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A read on the calling thread (`store::inline`) failed; says what was read.
    #[error("{0}")]
    Inline(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl StoreError {
    pub fn not_found(resource: impl Into<String>) -> Self {
        StoreError::NotFound {
            resource: resource.into(),
        }
    }

    pub fn corrupt(message: impl Into<String>) -> Self {
        StoreError::Corrupt(message.into())
    }
}

/// The message of a unique violation, if `err` is one.
pub(crate) fn unique_violation(err: &DbErr) -> Option<String> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) => Some(message),
        _ => None,
    }
}

/// Maps a unique violation to the conflict of the first `(constraint text, resource, field)`
/// whose text the database's message contains; any other error stays a database failure.
pub(crate) fn conflict_on(err: DbErr, keys: &[(&str, &dyn Fn() -> String, &str)]) -> StoreError {
    if let Some(message) = unique_violation(&err) {
        for (needle, resource, field) in keys {
            if message.contains(needle) {
                return StoreError::Conflict {
                    resource: resource(),
                    field: field.to_string(),
                };
            }
        }
    }
    StoreError::Db(err)
}
