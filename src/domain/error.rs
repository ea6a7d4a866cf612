//! The errors of the domain: a malformed value (`Invalid`, every bad field named) and a rule
//! that refuses a change (`Refused`). The service layer composes them into `ServiceError`.

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

/// A request, or a value in it, that is malformed: every bad field is listed. Parsing at the
/// API edge and the domain's own value checks return it; it becomes INVALID_ARGUMENT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {}", describe(.0))]
pub struct Invalid(pub Vec<FieldViolation>);

impl Invalid {
    /// One bad field.
    pub fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Invalid(vec![FieldViolation::new(field, description)])
    }
}

/// A rule of the domain refuses the change in the current state of the resource: it becomes
/// FAILED_PRECONDITION with `reason` as the ErrorInfo reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    /// UPPER_SNAKE_CASE reason for ErrorInfo.
    pub reason: &'static str,
    pub message: String,
    /// (subject, description) pairs for PreconditionFailure details.
    pub violations: Vec<(String, String)>,
}

impl Refused {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            violations: Vec::new(),
        }
    }

    /// Adds a (subject, description) pair for the PreconditionFailure details.
    pub fn on(mut self, subject: impl Into<String>, description: impl Into<String>) -> Self {
        self.violations.push((subject.into(), description.into()));
        self
    }
}

pub(crate) fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
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

    /// Records every violation of a value checked elsewhere (a domain constructor that names
    /// its own fields) and returns the value, if any.
    pub fn absorb<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(Invalid(bad)) => {
                self.0.extend(bad);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value built from the parsed fields when nothing was recorded, otherwise one
    /// `Invalid` with every violation. `build` reads each parsed field with `?`: a field whose
    /// parse recorded a violation is None, so `build` is only trusted when none was recorded,
    /// and a None without a violation (a parser that forgot to record one) is named as such.
    pub fn build<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, Invalid> {
        self.finish()?;
        build().ok_or_else(|| Invalid::field("", "a field was refused without a reason"))
    }

    /// Ok when nothing was recorded, otherwise one `Invalid` with every violation.
    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Invalid(self.0))
        }
    }
}
