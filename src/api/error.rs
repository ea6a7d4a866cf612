//! The only place where a gRPC status code is chosen: one exhaustive match from the domain
//! error. Every status carries ErrorInfo (domain `pipeline.v1`); internal causes are logged
//! and replaced by a generic message.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::Error;

pub const ERROR_DOMAIN: &str = "pipeline.v1";

pub fn to_status(err: Error) -> Status {
    let mut details = ErrorDetails::new();
    let (code, message) = match err {
        Error::InvalidArgument(violations) => {
            let message = Error::InvalidArgument(violations.clone()).to_string();
            details.set_error_info("INVALID_FIELDS", ERROR_DOMAIN, HashMap::new());
            for v in violations {
                details.add_bad_request_violation(v.field, v.description);
            }
            (Code::InvalidArgument, message)
        }
        Error::NotFound { resource } => {
            details.set_error_info(
                "RESOURCE_NOT_FOUND",
                ERROR_DOMAIN,
                HashMap::from([("resource".to_string(), resource.clone())]),
            );
            details.set_resource_info(resource_type(&resource), &resource, "", "does not exist");
            (Code::NotFound, format!("{resource} not found"))
        }
        Error::AlreadyExists { resource, field } => {
            details.set_error_info(
                "RESOURCE_ALREADY_EXISTS",
                ERROR_DOMAIN,
                HashMap::from([
                    ("resource".to_string(), resource.clone()),
                    ("field".to_string(), field.clone()),
                ]),
            );
            details.add_bad_request_violation(field, format!("{resource} already exists"));
            (Code::AlreadyExists, format!("{resource} already exists"))
        }
        Error::EtagMismatch {
            resource,
            current_etag,
        } => {
            details.set_error_info(
                "ETAG_MISMATCH",
                ERROR_DOMAIN,
                HashMap::from([
                    ("resource".to_string(), resource.clone()),
                    ("current_etag".to_string(), current_etag),
                ]),
            );
            (
                Code::Aborted,
                format!("{resource} was changed since the etag was read; read it again and retry"),
            )
        }
        Error::FailedPrecondition {
            reason,
            message,
            violations,
        } => {
            details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
            for (subject, description) in violations {
                details.add_precondition_failure_violation(reason, subject, description);
            }
            (Code::FailedPrecondition, message)
        }
        Error::Unauthenticated { message } => {
            details.set_error_info("UNAUTHENTICATED", ERROR_DOMAIN, HashMap::new());
            (Code::Unauthenticated, message)
        }
        Error::PermissionDenied { message } => {
            details.set_error_info("PERMISSION_DENIED", ERROR_DOMAIN, HashMap::new());
            (Code::PermissionDenied, message)
        }
        Error::ResourceExhausted { reason, message } => {
            details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
            (Code::ResourceExhausted, message)
        }
        Error::CursorExpired { oldest_cursor } => {
            details.set_error_info(
                "CURSOR_EXPIRED",
                ERROR_DOMAIN,
                HashMap::from([("oldest_cursor".to_string(), oldest_cursor.clone())]),
            );
            details.add_precondition_failure_violation(
                "CURSOR_EXPIRED",
                "cursor",
                format!("older than the retained log; the oldest usable cursor is {oldest_cursor}"),
            );
            (
                Code::FailedPrecondition,
                "the cursor is older than the retained event log".to_string(),
            )
        }
        Error::StreamEnded { stalled, cursor } => {
            let (code, reason, message) = if stalled {
                (
                    Code::ResourceExhausted,
                    "STREAM_STALLED",
                    "the client stopped reading for longer than the stall limit",
                )
            } else {
                (
                    Code::Unavailable,
                    "SHUTTING_DOWN",
                    "the server is shutting down",
                )
            };
            details.set_error_info(
                reason,
                ERROR_DOMAIN,
                HashMap::from([("cursor".to_string(), cursor.clone())]),
            );
            (code, format!("{message}; resume from cursor {cursor}"))
        }
        Error::Internal(cause) => {
            tracing::error!(error = %cause, source = ?cause.source(), "internal error");
            details.set_error_info("INTERNAL", ERROR_DOMAIN, HashMap::new());
            (
                Code::Internal,
                "internal error; the server log has the details".to_string(),
            )
        }
    };
    Status::with_error_details(code, message, details)
}

/// The resource type of a name, e.g. `pipeline.v1.Prerequisite`.
fn resource_type(name: &str) -> String {
    let segments: Vec<&str> = name.split('/').collect();
    let collection = if segments.len() >= 2 {
        segments[segments.len() - 2]
    } else {
        ""
    };
    let singular = match collection {
        "projects" => "Project",
        "prerequisites" => "Prerequisite",
        "milestones" => "Milestone",
        "fundingWindows" => "FundingWindow",
        "fundingApplications" => "FundingApplication",
        "subscriptions" => "Subscription",
        "bulletins" => "Bulletin",
        _ => "Resource",
    };
    format!("{ERROR_DOMAIN}.{singular}")
}
