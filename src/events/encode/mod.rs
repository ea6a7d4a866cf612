//! Domain changes encoded as `pipeline.v1.Event` drafts, one submodule per aggregate: the one
//! place where an event's payload is built. The service layer emits what these return into its
//! unit of work; `events::outbox` numbers and appends them.

pub mod funding;
pub mod investment;
pub mod milestones;
pub mod problems;
pub mod projects;
pub mod reports;
