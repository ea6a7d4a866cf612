//! One stream's delivery loop: replay from its position (from the shared window when it
//! reaches back far enough, from the database otherwise), then follow the head. Responses go
//! through a small bounded channel, so a slow reader holds at most that much memory; one that
//! does not read for the stall limit is ended with RESOURCE_EXHAUSTED and its last cursor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::cursor;
use super::filter::CompiledFilter;
use super::hub::LogHub;
use crate::api::to_status;
use crate::domain::Error;
use crate::proto::v1;
use crate::store::log::LogEvent;

/// Timings and sizes of streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// A heartbeat follows this long without any message.
    pub heartbeat: Duration,
    /// A reader that accepts nothing for this long is cut off.
    pub stall_limit: Duration,
    /// Responses buffered per stream.
    pub buffer: usize,
    /// Events per batch, rounded up to whole transactions.
    pub batch_events: usize,
    /// Event streams one token may hold open at once.
    pub max_streams_per_token: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            stall_limit: Duration::from_secs(60),
            buffer: 16,
            batch_events: 256,
            max_streams_per_token: 100,
        }
    }
}

/// Why a stream ended early.
enum End {
    Stalled,
    ShuttingDown,
    Failed(Error),
}

/// Starts delivering events after `start` that match `filter`.
pub fn open(
    hub: LogHub,
    filter: CompiledFilter,
    start: i64,
    settings: StreamSettings,
    stop: CancellationToken,
) -> EventStream {
    let (tx, rx) = mpsc::channel(settings.buffer);
    let (end_tx, end_rx) = oneshot::channel();
    let epoch = hub.epoch().to_string();
    tokio::spawn(async move {
        let mut delivery = Delivery {
            hub,
            filter,
            settings,
            tx,
            pos: start,
        };
        let end = delivery.run(stop).await;
        end_tx.send(end).ok();
    });
    EventStream {
        rx,
        end: end_rx,
        epoch,
        last_cursor: start,
        done: false,
        permit: None,
    }
}

struct Delivery {
    hub: LogHub,
    filter: CompiledFilter,
    settings: StreamSettings,
    tx: mpsc::Sender<v1::WatchEventsResponse>,
    /// Every matching event up to here has been handed to the channel.
    pos: i64,
}

impl Delivery {
    fn cursor(&self) -> String {
        cursor::encode(self.hub.epoch(), self.pos)
    }

    async fn send(&self, response: v1::watch_events_response::Response) -> Result<(), End> {
        let message = v1::WatchEventsResponse {
            response: Some(response),
        };
        match self
            .tx
            .send_timeout(message, self.settings.stall_limit)
            .await
        {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(End::Stalled),
            // The client went away; nothing left to do.
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(End::ShuttingDown),
        }
    }

    async fn run(&mut self, stop: CancellationToken) -> End {
        let mut head_rx = self.hub.watch_head();
        let mut caught_up = false;
        let mut last_message = Instant::now();
        loop {
            let head = *head_rx.borrow_and_update();
            if self.pos < head {
                let step = tokio::select! {
                    _ = stop.cancelled() => return End::ShuttingDown,
                    step = self.deliver_next() => step,
                };
                match step {
                    Ok(true) => last_message = Instant::now(),
                    Ok(false) => {}
                    Err(end) => return end,
                }
                continue;
            }
            if !caught_up {
                caught_up = true;
                let marker = v1::CaughtUp {
                    cursor: self.cursor(),
                };
                if let Err(end) = self
                    .send(v1::watch_events_response::Response::CaughtUp(marker))
                    .await
                {
                    return end;
                }
                last_message = Instant::now();
            }
            tokio::select! {
                _ = stop.cancelled() => return End::ShuttingDown,
                _ = self.tx.closed() => return End::ShuttingDown,
                changed = head_rx.changed() => {
                    if changed.is_err() {
                        return End::ShuttingDown;
                    }
                }
                _ = tokio::time::sleep_until(last_message + self.settings.heartbeat) => {
                    let progress = v1::Progress { cursor: self.cursor() };
                    if let Err(end) = self.send(v1::watch_events_response::Response::Progress(progress)).await {
                        return end;
                    }
                    last_message = Instant::now();
                }
            }
        }
    }

    /// Delivers the next whole transactions after `pos`. Ok(true) when a batch was sent.
    async fn deliver_next(&mut self) -> Result<bool, End> {
        let events = match self.hub.cached_after(self.pos, self.settings.batch_events) {
            Some(events) if !events.is_empty() => events,
            _ => {
                let pruned = self
                    .hub
                    .store()
                    .log_pruned_through()
                    .await
                    .map_err(End::Failed)?;
                if self.pos < pruned {
                    return Err(End::Failed(Error::CursorExpired {
                        oldest_cursor: cursor::encode(self.hub.epoch(), pruned),
                    }));
                }
                self.hub
                    .store()
                    .read_log(self.pos, self.settings.batch_events as u64)
                    .await
                    .map_err(End::Failed)?
            }
        };
        let Some(last) = events.last() else {
            // The head moved but nothing is readable yet (a replica's view lags); wait a bit.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Ok(false);
        };
        let new_pos = last.transaction_end_seq.max(last.seq);
        let matching: Vec<bytes::Bytes> = events
            .iter()
            .filter(|e| self.filter.matches(e))
            .map(|e: &Arc<LogEvent>| e.payload.clone())
            .collect();
        self.pos = new_pos;
        if matching.is_empty() {
            return Ok(false);
        }
        let batch = v1::EventBatch {
            encoded_events: matching,
            cursor: self.cursor(),
            ..Default::default()
        };
        self.send(v1::watch_events_response::Response::Batch(batch))
            .await?;
        Ok(true)
    }
}

/// The response stream handed to tonic. It remembers the cursor of the last message it
/// yielded, so an early end can tell the client exactly where to resume.
pub struct EventStream {
    rx: mpsc::Receiver<v1::WatchEventsResponse>,
    end: oneshot::Receiver<End>,
    epoch: String,
    last_cursor: i64,
    done: bool,
    /// The token's stream slot, given back when the stream is dropped.
    permit: Option<super::quota::StreamPermit>,
}

fn cursor_of(response: &v1::WatchEventsResponse) -> Option<&str> {
    use v1::watch_events_response::Response;
    match response.response.as_ref()? {
        Response::Batch(b) => Some(&b.cursor),
        Response::Progress(p) => Some(&p.cursor),
        Response::CaughtUp(c) => Some(&c.cursor),
    }
}

impl EventStream {
    /// Ties the stream to its token's stream slot.
    pub fn holding(mut self, permit: super::quota::StreamPermit) -> Self {
        self.permit = Some(permit);
        self
    }

    fn finish(&mut self, end: End) -> Option<Result<v1::WatchEventsResponse, Status>> {
        self.done = true;
        let cursor = cursor::encode(&self.epoch, self.last_cursor);
        let error = match end {
            End::Stalled => Error::StreamEnded {
                stalled: true,
                cursor,
            },
            End::ShuttingDown => Error::StreamEnded {
                stalled: false,
                cursor,
            },
            End::Failed(err) => err,
        };
        Some(Err(to_status(error)))
    }
}

impl Stream for EventStream {
    type Item = Result<v1::WatchEventsResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        // A stall or failure is reported before anything still queued: the queued messages
        // are dropped and the error names the last cursor the client was given.
        if let Poll::Ready(end) = Pin::new(&mut self.end).poll(cx) {
            return match end {
                Ok(end @ (End::Stalled | End::Failed(_))) => Poll::Ready(self.finish(end)),
                Ok(End::ShuttingDown) | Err(_) => match self.rx.poll_recv(cx) {
                    // On shutdown, drain what is queued first.
                    Poll::Ready(Some(message)) => {
                        if let Some(c) =
                            cursor_of(&message).and_then(|c| cursor::decode(c, &self.epoch).ok())
                        {
                            self.last_cursor = c;
                        }
                        // Put the end back for the next poll.
                        let (tx, rx) = oneshot::channel();
                        tx.send(End::ShuttingDown).ok();
                        self.end = rx;
                        Poll::Ready(Some(Ok(message)))
                    }
                    _ => Poll::Ready(self.finish(End::ShuttingDown)),
                },
            };
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(message)) => {
                if let Some(c) =
                    cursor_of(&message).and_then(|c| cursor::decode(c, &self.epoch).ok())
                {
                    self.last_cursor = c;
                }
                Poll::Ready(Some(Ok(message)))
            }
            Poll::Ready(None) => Poll::Pending,
            Poll::Pending => Poll::Pending,
        }
    }
}
