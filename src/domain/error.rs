//! The one error type of the domain and store layers. `api::error` turns it into a gRPC status.

use std::fmt;

/// One bad field of a request: the proto field path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// What went wrong, in the words of the domain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; every bad field is listed.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The named resource does not exist.
    #[error("{resource} not found")]
    NotFound { resource: String },
    /// A resource with that identity exists already.
    #[error("{resource} already exists")]
    AlreadyExists { resource: String, field: String },
    /// The caller's etag is stale.
    #[error("etag mismatch on {resource}: the resource was changed by someone else")]
    EtagMismatch {
        resource: String,
        current_etag: String,
    },
    /// The system is not in a state that allows the operation.
    #[error("{message}")]
    FailedPrecondition {
        /// UPPER_SNAKE_CASE reason for ErrorInfo.
        reason: &'static str,
        message: String,
        /// (subject, description) pairs for PreconditionFailure details.
        violations: Vec<(String, String)>,
    },
    /// No valid token came with the request.
    #[error("{message}")]
    Unauthenticated { message: String },
    /// The caller's role or scope does not allow the operation.
    #[error("{message}")]
    PermissionDenied { message: String },
    /// A limit was reached (streams per token).
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
    },
    /// A stream cursor points before the oldest event still retained.
    #[error("the cursor is older than the retained event log; resume from {oldest_cursor}")]
    CursorExpired { oldest_cursor: String },
    /// A stream ended early: the reader stalled, or the server is shutting down.
    #[error("the stream ended; resume from cursor {cursor}")]
    StreamEnded { stalled: bool, cursor: String },
    /// A stream's next message is larger than the server's message limit.
    #[error(
        "the next message is {size} bytes, over the limit of {limit}; resume from cursor {cursor}"
    )]
    MessageTooLarge {
        size: usize,
        limit: usize,
        cursor: String,
    },
    /// A failure inside the service or its database; never shown to clients in detail.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(resource: impl Into<String>) -> Self {
        Error::NotFound {
            resource: resource.into(),
        }
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Error::PermissionDenied {
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(err.into())
    }
}

/// Collects field violations while a request is parsed, so that one error names every bad
/// field instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl fmt::Display) {
        self.0
            .push(FieldViolation::new(field, description.to_string()));
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when nothing was recorded, otherwise one InvalidArgument with every violation.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(self.0))
        }
    }
}
