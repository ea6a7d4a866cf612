//! What the server does in place of tonic's, hyper's and prost's own behaviour, where a
//! measurement or a fault showed the library's way to be the problem. Each module says why, with
//! the figure or the fault that justified it (DESIGN §10: one home for these pieces).
//!
//! - `connection`: the accepted socket: frames of many streams coalesced into one write, and
//!   the backpressure that keeps event streams from queueing behind a socket that takes nothing.
//! - `event_routes`: the two stream RPCs answered with messages encoded once and shared, in
//!   front of the generated EventService server.
//! - `wire`: `EventBatch` written by hand so that a batch carries events already encoded.
//! - `codec`: prost with a small first encode buffer (the generated code names it).
//! - `call_log`: one log line per call without wrapping response bodies.
//! - `refusals`: the statuses tonic answers by itself brought under the API's error contract.

pub mod call_log;
pub mod codec;
pub mod connection;
pub mod event_routes;
pub mod refusals;
pub mod wire;
