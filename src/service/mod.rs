//! The application layer: each command runs in one unit of work (idempotency, scope check,
//! load, the domain's transition, save, events, commit). The API, the scanner and the demo
//! call the same commands; the rules they apply are decided in `domain/`.

pub mod error;
pub mod funding;
pub mod investment;
pub mod milestones;
pub mod prerequisites;
pub mod problems;
pub mod projects;
pub mod reports;
pub mod scope;
pub mod subscriptions;
pub mod tokens;
pub mod unit;

pub use error::ServiceError;
