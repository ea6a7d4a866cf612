//! One stream's delivery, driven by the HTTP/2 stream that carries it: there is no task or
//! channel per stream. When tonic polls for the next message, the stream takes the next whole
//! transactions after its position from the shared window (or from the database when the window
//! no longer reaches back), filters them, and yields one batch; when it has caught up it
//! registers for the next head change and waits. A stream therefore holds its position and
//! filter and nothing else, however far behind its reader is: flow control stops tonic from
//! polling a reader that does not read, and a reader that let the server wait longer than the
//! stall limit is ended with RESOURCE_EXHAUSTED and its last cursor when it comes back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::time::Instant;

use tokio::time::Sleep;
use tokio_stream::Stream;
use tonic::Status;

use bytes::Bytes;

use super::cursor;
use super::end::StreamEnd;
use super::filter::CompiledFilter;
use super::hub::{Head, LogHub, Registration, Taken};
use crate::events::log::LogEvent;
use crate::proto::v1;
use crate::service::ServiceError;
use crate::transport::wire;

/// Timings and sizes of streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// A heartbeat follows this long without any message.
    pub heartbeat: Duration,
    /// A reader that accepts nothing for this long is cut off.
    pub stall_limit: Duration,
    /// Events per batch, rounded up to whole transactions.
    pub batch_events: usize,
    /// Bytes of events per batch: a batch stops before the transaction that would take it
    /// past this (or past the message limit), unless that transaction is its first.
    pub batch_bytes: usize,
    /// Event streams one token may hold open at once.
    pub max_streams_per_token: usize,
    /// The largest message a stream sends (the server's message limit).
    pub max_message_bytes: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            stall_limit: Duration::from_secs(60),
            batch_events: 256,
            batch_bytes: 64 * 1024,
            max_streams_per_token: 100,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

impl StreamSettings {
    /// The bytes of events one batch may carry: `batch_bytes`, and never more than fits in a
    /// message under the limit.
    fn batch_budget(&self) -> usize {
        self.batch_bytes
            .min(self.max_message_bytes.saturating_sub(BATCH_ENVELOPE_BYTES))
    }
}

/// Why a stream ended early.
enum End {
    Stalled,
    ShuttingDown,
    Failed(ServiceError),
}

/// How long a stream waits before reading again when the head moved but a replica's view of
/// the log does not show the new events yet.
const REPLICA_RETRY: Duration = Duration::from_millis(20);

/// What a batch message holds besides its events, at most: the message's own key and length
/// and the cursor field (cursors are at most 200 bytes, see `cursor::decode`).
const BATCH_ENVELOPE_BYTES: usize = 256;

/// What a stream yields: one whole gRPC message (length prefix included) or the status that
/// ends it.
pub type Item = Result<Bytes, Status>;

type Read = Pin<Box<dyn Future<Output = Result<Vec<Arc<LogEvent>>, ServiceError>> + Send>>;

/// Starts delivering events after `start` that match `filter`.
pub fn open(
    hub: LogHub,
    filter: CompiledFilter,
    start: i64,
    settings: StreamSettings,
) -> EventStream {
    let opened = Instant::now();
    let heartbeat = Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
        opened + settings.heartbeat,
    )));
    EventStream {
        hub,
        filter,
        settings,
        pos: start,
        head: Head {
            seq: start,
            closing: false,
        },
        registered: Registration::NONE,
        reading: None,
        caught_up: false,
        last_message: opened,
        heartbeat,
        heartbeat_due: opened + settings.heartbeat,
        heartbeat_armed: false,
        last_poll: opened,
        now: opened,
        done: false,
        permit: None,
    }
}

/// The response stream handed to tonic.
pub struct EventStream {
    hub: LogHub,
    filter: CompiledFilter,
    settings: StreamSettings,
    /// Every matching event up to here has been yielded; the cursor of the last message.
    pos: i64,
    /// The latest head seen.
    head: Head,
    /// Where this stream's waker is registered with the hub.
    registered: Registration,
    /// A read from the database in progress (the window did not reach back far enough).
    reading: Option<Read>,
    /// Whether the caught-up marker was sent.
    caught_up: bool,
    /// When the last message was yielded; heartbeats count from here.
    last_message: Instant,
    heartbeat: Pin<Box<Sleep>>,
    /// The heartbeat timer's deadline, kept here so that a poll compares two instants instead
    /// of touching the timer.
    heartbeat_due: Instant,
    /// Whether the heartbeat timer holds this stream's waker since its last reset; until its
    /// deadline it is then not polled (a response body is always polled by the same task).
    heartbeat_armed: bool,
    /// When poll_next last returned. Tonic polls until the stream is pending and then polls
    /// again only when HTTP/2 flow control lets it send, so events that were waiting for
    /// longer than the stall limit since both this and their publication mean the reader
    /// stopped reading.
    last_poll: Instant,
    /// The time at the start of the current poll (one clock read per poll).
    now: Instant,
    done: bool,
    /// The token's stream slot, given back when the stream is dropped.
    permit: Option<super::quota::StreamPermit>,
}

impl EventStream {
    /// Ties the stream to its token's stream slot.
    pub fn holding(mut self, permit: super::quota::StreamPermit) -> Self {
        self.permit = Some(permit);
        self
    }

    fn cursor(&self) -> String {
        cursor::encode(self.hub.epoch(), self.pos)
    }

    fn finish(&mut self, end: End) -> Poll<Option<Item>> {
        self.done = true;
        self.reading = None;
        let cursor = self.cursor();
        let error = match end {
            End::Stalled => ServiceError::from(StreamEnd::Ended {
                stalled: true,
                cursor,
            }),
            End::ShuttingDown => ServiceError::from(StreamEnd::Ended {
                stalled: false,
                cursor,
            }),
            End::Failed(err) => err,
        };
        Poll::Ready(Some(Err(Status::from(error))))
    }

    fn message(&mut self, response: v1::watch_events_response::Response) -> Poll<Option<Item>> {
        self.send(wire::grpc_frame(&v1::WatchEventsResponse {
            response: Some(response),
        }))
    }

    fn send(&mut self, frame: Bytes) -> Poll<Option<Item>> {
        if frame.len() - 5 > self.settings.max_message_bytes {
            // What tonic does with any response over the limit, with the cursor to resume.
            let end = End::Failed(ServiceError::from(StreamEnd::MessageTooLarge {
                size: frame.len() - 5,
                limit: self.settings.max_message_bytes,
                cursor: self.cursor(),
            }));
            return self.finish(end);
        }
        self.last_message = self.now;
        Poll::Ready(Some(Ok(frame)))
    }

    /// Starts reading the log after `pos` from the database, refusing a position the
    /// retention already pruned.
    fn start_read(&mut self) {
        let store = self.hub.store().clone();
        let epoch = self.hub.epoch().to_string();
        let pos = self.pos;
        let max = self.settings.batch_events as u64;
        self.reading = Some(Box::pin(async move {
            let pruned = store.log_pruned_through().await?;
            if pos < pruned {
                return Err(ServiceError::from(StreamEnd::CursorExpired {
                    oldest_cursor: cursor::encode(&epoch, pruned),
                }));
            }
            let events = super::log::read(&store, pos, max).await?;
            if events.is_empty() {
                tokio::time::sleep(REPLICA_RETRY).await;
            }
            Ok(events)
        }));
    }

    /// Moves past `taken` and returns its matching events as an encoded batch, if any
    /// matched; streams taking the same batch share one encoding.
    /// A batch over the message limit leaves the position before it, for the error's cursor.
    fn batch(&mut self, taken: Taken) -> Option<Bytes> {
        let from = self.pos;
        if taken.matching.is_empty() {
            self.pos = taken.pos;
            return None;
        }
        let hub = &self.hub;
        let frame = hub.batch_frame(from, &taken, || {
            wire::grpc_frame(&v1::WatchEventsResponse {
                response: Some(v1::watch_events_response::Response::Batch(v1::EventBatch {
                    cursor: cursor::encode(hub.epoch(), taken.pos),
                    encoded_events: taken.matching.clone(),
                    ..Default::default()
                })),
            })
        });
        if frame.len() - 5 <= self.settings.max_message_bytes {
            self.pos = taken.pos;
        }
        Some(frame)
    }

    fn arm_heartbeat(&mut self, due: Instant) {
        self.heartbeat_due = due;
        self.heartbeat
            .as_mut()
            .reset(tokio::time::Instant::from_std(due));
    }

    /// Whether events have been waiting for this reader longer than the stall limit.
    fn stalled(&self) -> bool {
        if self.pos >= self.head.seq {
            return false;
        }
        let waiting_since = match self.hub.published_after(self.pos) {
            Some(published) => published.max(self.last_poll),
            None => self.last_poll,
        };
        self.now.saturating_duration_since(waiting_since) > self.settings.stall_limit
    }

    fn next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut first = true;
        loop {
            // The latest head, registered for the next change.
            self.head = self
                .hub
                .head_after_registering(cx.waker(), &mut self.registered);
            if self.head.closing {
                return self.finish(End::ShuttingDown);
            }
            if std::mem::take(&mut first) && self.stalled() {
                return self.finish(End::Stalled);
            }
            if let Some(read) = self.reading.as_mut() {
                match read.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(err)) => return self.finish(End::Failed(err)),
                    Poll::Ready(Ok(events)) => {
                        self.reading = None;
                        let budget = self.settings.batch_budget();
                        let taken = Taken::of(events.iter().map(|e| &**e), &self.filter, budget);
                        if let Some(batch) = taken.and_then(|t| self.batch(t)) {
                            return self.send(batch);
                        }
                        continue;
                    }
                }
            }
            if self.pos < self.head.seq {
                let taken = self.hub.take_after(
                    self.pos,
                    self.settings.batch_events,
                    self.settings.batch_budget(),
                    &self.filter,
                );
                match taken {
                    Some(taken) => {
                        if let Some(batch) = self.batch(taken) {
                            return self.send(batch);
                        }
                    }
                    None => self.start_read(),
                }
                continue;
            }
            if !self.caught_up {
                self.caught_up = true;
                let marker = v1::CaughtUp {
                    cursor: self.cursor(),
                };
                return self.message(v1::watch_events_response::Response::CaughtUp(marker));
            }
            // Caught up: a heartbeat once the stream has been quiet for the interval. The timer
            // is moved only when it fires early, not on every message.
            if !self.heartbeat_armed {
                if self.heartbeat.as_mut().poll(cx).is_pending() {
                    self.heartbeat_armed = true;
                    return Poll::Pending;
                }
            } else if self.now < self.heartbeat_due {
                return Poll::Pending;
            }
            self.heartbeat_armed = false;
            let due = self.last_message + self.settings.heartbeat;
            let now = self.now;
            if now < due {
                self.arm_heartbeat(due);
                continue;
            }
            self.arm_heartbeat(now + self.settings.heartbeat);
            let progress = v1::Progress {
                cursor: self.cursor(),
            };
            return self.message(v1::watch_events_response::Response::Progress(progress));
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.hub.unregister(self.registered);
    }
}

impl Stream for EventStream {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.now = Instant::now();
        let result = self.next(cx);
        self.last_poll = self.now;
        result
    }
}
