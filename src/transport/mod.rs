//! What the server does in place of tonic's and hyper's own behaviour, where a measurement or a
//! fault showed the library's way to be the problem. Each piece says why in its module.
//!
//! - `connection`: the accepted socket: frames of many streams coalesced into one write, and
//!   the backpressure that keeps event streams from queueing behind a socket that takes nothing.

pub mod connection;
