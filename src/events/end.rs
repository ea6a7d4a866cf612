//! How an event stream ends, when it ends before the client hangs up. `api::error` turns each
//! ending into the status that closes the stream (through `ServiceError::Stream`).

/// Why a stream stopped, with the cursor to resume from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamEnd {
    /// A stream cursor points before the oldest event still retained.
    #[error("the cursor is older than the retained event log; resume from {oldest_cursor}")]
    CursorExpired { oldest_cursor: String },
    /// The reader stalled (`stalled`), or the server is shutting down.
    #[error("the stream ended; resume from cursor {cursor}")]
    Ended { stalled: bool, cursor: String },
    /// The next message is larger than the server's message limit.
    #[error(
        "the next message is {size} bytes, over the limit of {limit}; resume from cursor {cursor}"
    )]
    MessageTooLarge {
        size: usize,
        limit: usize,
        cursor: String,
    },
}
