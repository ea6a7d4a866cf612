//! The error of the application layer: what a command answers when it does not succeed. It
//! composes the errors of the layers below (a malformed value, a refused rule, a store
//! failure, a stream's end); `api::error` turns it into a gRPC status, in one place.

use crate::domain::error::{FieldViolation, Invalid, Refused, describe};
use crate::events::end::StreamEnd;
use crate::store::error::StoreError;

/// What went wrong, in the words of the service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; every bad field is listed.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The named resource does not exist.
    #[error("{resource} not found")]
    NotFound { resource: String },
    /// A resource with that identity exists already; `field` is the request field that clashed.
    #[error("{resource} already exists")]
    AlreadyExists { resource: String, field: String },
    /// The caller's etag is stale.
    #[error("etag mismatch on {resource}: the resource was changed by someone else")]
    EtagMismatch {
        resource: String,
        current_etag: String,
    },
    /// A rule of the domain refuses the change in the resource's current state.
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
    /// An event stream ended before the client hung up.
    #[error(transparent)]
    Stream(#[from] StreamEnd),
    /// A failure inside the service or its database; never shown to clients in detail.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ServiceError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn not_found(resource: impl Into<String>) -> Self {
        ServiceError::NotFound {
            resource: resource.into(),
        }
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        ServiceError::PermissionDenied {
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ServiceError::Internal(err.into())
    }
}

impl From<Invalid> for ServiceError {
    fn from(Invalid(violations): Invalid) -> Self {
        ServiceError::InvalidArgument(violations)
    }
}

impl From<Refused> for ServiceError {
    fn from(refused: Refused) -> Self {
        ServiceError::FailedPrecondition {
            reason: refused.reason,
            message: refused.message,
            violations: refused.violations,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { resource } => ServiceError::NotFound { resource },
            StoreError::Conflict { resource, field } => {
                ServiceError::AlreadyExists { resource, field }
            }
            StoreError::StaleEtag {
                resource,
                current_etag,
            } => ServiceError::EtagMismatch {
                resource,
                current_etag,
            },
            StoreError::Db(err) => ServiceError::internal(err),
            StoreError::Corrupt(message) | StoreError::Inline(message) => {
                ServiceError::internal(message)
            }
        }
    }
}

impl From<crate::domain::problem::ProblemError> for ServiceError {
    fn from(err: crate::domain::problem::ProblemError) -> Self {
        use crate::domain::problem::ProblemError;
        match err {
            ProblemError::Invalid(invalid) => invalid.into(),
            ProblemError::Refused(refused) => refused.into(),
            ProblemError::NotConfirmer { message } => ServiceError::PermissionDenied { message },
        }
    }
}
