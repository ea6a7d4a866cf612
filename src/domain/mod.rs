//! The domain: types, lifecycle rules, validation of values and the clock. Nothing here knows
//! about tonic or sea-orm; the API layer parses requests into these types once, at the edge.

pub mod access;
pub mod clock;
pub mod enrolment;
pub mod error;
pub mod funding;
pub mod investment;
pub mod justification;
pub mod milestone;
pub mod names;
pub mod pace;
pub mod prerequisite;
pub mod problem;
pub mod project;
pub mod report;
pub mod values;

pub use error::{FieldViolation, Invalid, Refused};
