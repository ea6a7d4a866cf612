//! Streaming the event log: cursors, filters, the per-process log tailer (hub) that reads each
//! new event once and shares it with every stream, the per-stream delivery loop, and retention.

pub mod cursor;
pub mod encode;
pub mod end;
pub mod filter;
pub mod hub;
pub mod log;
pub mod outbox;
pub mod quota;
pub mod retention;
pub mod stream;
