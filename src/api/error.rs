//! The only place where a gRPC status code is chosen: one exhaustive match from the domain
//! error. Every status carries ErrorInfo (domain `pipeline.v1`); internal causes are logged
//! and replaced by a generic message.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::events::end::StreamEnd;
use crate::service::ServiceError;

pub const ERROR_DOMAIN: &str = "pipeline.v1";

/// The longest text, in bytes, an error repeats back. Descriptions and messages quote the
/// caller's input, and a huge input must not become a huge error: gRPC errors travel in
/// response headers, which clients cap at 16 KiB by default.
const MAX_ERROR_BYTES: usize = 256;

/// The most violations one error lists; the rest are summed up in one more entry.
const MAX_VIOLATIONS: usize = 10;

/// `text` cut to at most MAX_ERROR_BYTES bytes (on a character boundary), marked when cut.
fn clip(text: String) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text;
    }
    let mut end = MAX_ERROR_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(cut)", &text[..end])
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Status {
        status_of(err)
    }
}

/// A malformed request, straight from parsing (through `ServiceError`).
impl From<crate::domain::Invalid> for Status {
    fn from(err: crate::domain::Invalid) -> Status {
        status_of(err.into())
    }
}

/// A store failure, straight from a read (through `ServiceError`).
impl From<crate::store::error::StoreError> for Status {
    fn from(err: crate::store::error::StoreError) -> Status {
        status_of(err.into())
    }
}

fn status_of(err: ServiceError) -> Status {
    let mut details = ErrorDetails::new();
    let (code, message) = match err {
        ServiceError::InvalidArgument(violations) => {
            let more = violations.len().saturating_sub(MAX_VIOLATIONS);
            let mut violations: Vec<_> = violations
                .into_iter()
                .take(MAX_VIOLATIONS)
                .map(|v| crate::domain::FieldViolation::new(clip(v.field), clip(v.description)))
                .collect();
            if more > 0 {
                violations.push(crate::domain::FieldViolation::new(
                    "…",
                    format!("and {more} more invalid fields"),
                ));
            }
            let message = ServiceError::InvalidArgument(violations.clone()).to_string();
            details.set_error_info("INVALID_FIELDS", ERROR_DOMAIN, HashMap::new());
            for v in violations {
                details.add_bad_request_violation(v.field, v.description);
            }
            (Code::InvalidArgument, message)
        }
        ServiceError::NotFound { resource } => {
            details.set_error_info(
                "RESOURCE_NOT_FOUND",
                ERROR_DOMAIN,
                HashMap::from([("resource".to_string(), resource.clone())]),
            );
            details.set_resource_info(resource_type(&resource), &resource, "", "does not exist");
            (Code::NotFound, format!("{resource} not found"))
        }
        ServiceError::AlreadyExists { resource, field } => {
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
        ServiceError::EtagMismatch {
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
        ServiceError::FailedPrecondition {
            reason,
            message,
            violations,
        } => {
            details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
            for (subject, description) in violations.into_iter().take(MAX_VIOLATIONS) {
                details.add_precondition_failure_violation(
                    reason,
                    clip(subject),
                    clip(description),
                );
            }
            (Code::FailedPrecondition, clip(message))
        }
        ServiceError::Unauthenticated { message } => {
            details.set_error_info("UNAUTHENTICATED", ERROR_DOMAIN, HashMap::new());
            (Code::Unauthenticated, message)
        }
        ServiceError::PermissionDenied { message } => {
            details.set_error_info("PERMISSION_DENIED", ERROR_DOMAIN, HashMap::new());
            (Code::PermissionDenied, message)
        }
        ServiceError::ResourceExhausted { reason, message } => {
            details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
            (Code::ResourceExhausted, message)
        }
        ServiceError::Stream(StreamEnd::CursorExpired { oldest_cursor }) => {
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
        ServiceError::Stream(StreamEnd::Ended { stalled, cursor }) => {
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
        ServiceError::Stream(StreamEnd::MessageTooLarge {
            size,
            limit,
            cursor,
        }) => {
            details.set_error_info(
                "MESSAGE_TOO_LARGE",
                ERROR_DOMAIN,
                HashMap::from([("cursor".to_string(), cursor.clone())]),
            );
            // gRPC's code for a message over a size limit, in either direction.
            (
                Code::ResourceExhausted,
                format!(
                    "the next message is {size} bytes, over the server's limit of {limit} bytes \
                     (--max-message-bytes); the stream stopped at cursor {cursor}"
                ),
            )
        }
        ServiceError::Internal(cause) => {
            tracing::error!(error = %cause, source = ?cause.source(), "internal error");
            details.set_error_info("INTERNAL", ERROR_DOMAIN, HashMap::new());
            (
                Code::Internal,
                "internal error; the server log has the details".to_string(),
            )
        }
    };
    Status::with_error_details(code, clip(message), details)
}

/// The API's status for a refusal that tonic made by itself (see `transport::refusals`):
/// `status` has no details. A request it could not read is the client's fault: a message over
/// the size limit is `RESOURCE_EXHAUSTED` (reason `MESSAGE_TOO_LARGE`, with the sizes in the
/// metadata), a body that is not a valid message, or no message, is `INVALID_ARGUMENT` (reason
/// `MALFORMED_REQUEST`). Anything else keeps its code and gains an ErrorInfo whose reason is
/// the code's name (an unknown method is `UNIMPLEMENTED`, for instance).
pub fn transport_refusal(status: Status) -> Status {
    // tonic's own messages (tonic 0.14 `codec::decode`, `server::grpc`) and prost's.
    const TOO_LARGE: &str = "decoded message length too large";
    const MALFORMED: [&str; 4] = [
        "failed to decode Protobuf message",
        "Missing request message",
        "Unexpected EOF decoding stream",
        "invalid compression flag",
    ];
    let message = status.message();
    let mut details = ErrorDetails::new();
    if status.code() == Code::OutOfRange && message.contains(TOO_LARGE) {
        // "... found {len} bytes, the limit is: {limit} bytes"
        let numbers: Vec<&str> = message
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .collect();
        let (size, limit) = match numbers.as_slice() {
            [size, limit] => (size.to_string(), limit.to_string()),
            _ => (String::new(), String::new()),
        };
        details.set_error_info(
            "MESSAGE_TOO_LARGE",
            ERROR_DOMAIN,
            HashMap::from([
                ("size".to_string(), size.clone()),
                ("limit".to_string(), limit.clone()),
            ]),
        );
        return Status::with_error_details(
            Code::ResourceExhausted,
            format!(
                "the request message is {size} bytes, over the server's limit of {limit} bytes \
                 (--max-message-bytes)"
            ),
            details,
        );
    }
    if status.code() == Code::Internal && MALFORMED.iter().any(|m| message.contains(m)) {
        details.set_error_info("MALFORMED_REQUEST", ERROR_DOMAIN, HashMap::new());
        return Status::with_error_details(
            Code::InvalidArgument,
            clip(format!(
                "the request body is not a valid message of the method's request type: {message}"
            )),
            details,
        );
    }
    let reason = format!("{:?}", status.code())
        .chars()
        .flat_map(|c| {
            let upper = c.is_ascii_uppercase();
            [(upper).then_some('_'), Some(c.to_ascii_uppercase())]
        })
        .flatten()
        .collect::<String>();
    details.set_error_info(reason.trim_start_matches('_'), ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(status.code(), clip(message.to_string()), details)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_inputs_make_small_errors() {
        let huge = "镇".repeat(100_000);
        let violations = (0..1000)
            .map(|i| crate::domain::FieldViolation::new(format!("f{i}"), huge.clone()))
            .collect();
        let status = Status::from(ServiceError::InvalidArgument(violations));
        assert!(status.message().len() < 400);
        assert!(
            status.details().len() < 8 * 1024,
            "{}",
            status.details().len()
        );
        let bad = status.get_error_details().bad_request().unwrap().clone();
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS + 1);
        assert!(clip("ab".into()) == "ab");
        assert!(clip("镇".repeat(200)).ends_with("…(cut)"));
    }

    #[test]
    fn tonic_refusals_get_the_api_codes_and_error_info() {
        let reason = |s: &Status| s.get_error_details().error_info().unwrap().reason.clone();
        let too_large = transport_refusal(Status::out_of_range(
            "ServiceError, decoded message length too large: found 70000 bytes, the limit is: 65536 bytes",
        ));
        assert_eq!(too_large.code(), Code::ResourceExhausted);
        assert_eq!(reason(&too_large), "MESSAGE_TOO_LARGE");
        let info = too_large.get_error_details().error_info().unwrap().clone();
        assert_eq!(info.metadata["size"], "70000");
        assert_eq!(info.metadata["limit"], "65536");
        let malformed = transport_refusal(Status::internal(
            "failed to decode Protobuf message: buffer underflow",
        ));
        assert_eq!(malformed.code(), Code::InvalidArgument);
        assert_eq!(reason(&malformed), "MALFORMED_REQUEST");
        let unknown = transport_refusal(Status::unimplemented(""));
        assert_eq!(unknown.code(), Code::Unimplemented);
        assert_eq!(reason(&unknown), "UNIMPLEMENTED");
        let other = transport_refusal(Status::deadline_exceeded("late"));
        assert_eq!(reason(&other), "DEADLINE_EXCEEDED");
        assert_eq!(other.message(), "late");
    }
}
