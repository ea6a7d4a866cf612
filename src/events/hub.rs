//! The log tailer of one process. It wakes on a local commit, on a PostgreSQL NOTIFY from any
//! replica (a hint only), or at the polling interval, reads the new events once, keeps the
//! most recent ones in a shared window, and publishes the new head to every stream.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::filter::CompiledFilter;
use crate::events::log::LogEvent;
use crate::service::ServiceError;
use crate::store::Store;
use crate::store::outbox::LOG_CHANNEL;

/// How many recent events are kept in memory for streams that are caught up.
pub const WINDOW_EVENTS: usize = 20_000;

/// Events read from the database per query.
const READ_BATCH: u64 = 1000;

/// Shared by every stream of the process.
#[derive(Clone, Debug)]
pub struct LogHub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    epoch: String,
    /// The last sequence read; streams read it after registering their waker.
    head: AtomicI64,
    closing: AtomicBool,
    /// Streams waiting for the head to move.
    waiters: Waiters,
    window: RwLock<Window>,
    /// The most recently encoded batches: streams at the same position with filters that
    /// pick the same events send the same bytes, encoded by the first of them.
    frames: Mutex<VecDeque<(BatchKey, bytes::Bytes)>>,
}

/// The wakers of the streams waiting for the next head change. A stream registers once per
/// change (the generation tells it whether it already has), and a change wakes and forgets
/// them all. This is what a watch channel does, but a waiter is one waker in a shared table
/// instead of a node in each stream's own memory, so waking 10,000 streams walks one array. A
/// stream that ends takes its waker out, so a quiet log does not collect the wakers (and with
/// them the tasks) of streams that came and went.
#[derive(Debug, Default)]
struct Waiters {
    generation: AtomicU64,
    wakers: Mutex<Slab<Waker>>,
}

/// Where a stream's waker is registered: the generation and its slot in that generation's table.
#[derive(Clone, Copy, Debug)]
pub struct Registration {
    generation: u64,
    slot: usize,
}

impl Registration {
    /// Not registered yet.
    pub const NONE: Registration = Registration {
        generation: u64::MAX,
        slot: 0,
    };
}

impl Waiters {
    fn register(&self, waker: &Waker, registration: &mut Registration) {
        if registration.generation == self.generation.load(Ordering::Acquire) {
            return;
        }
        let mut wakers = self.wakers.lock().expect("waiters lock");
        // Read under the lock: wake_all moves to the next generation under it too.
        let generation = self.generation.load(Ordering::Acquire);
        if registration.generation != generation {
            *registration = Registration {
                generation,
                slot: wakers.insert(waker.clone()),
            };
        }
    }

    fn unregister(&self, registration: Registration) {
        // A registration from an earlier generation was already woken and dropped.
        if registration.generation != self.generation.load(Ordering::Acquire) {
            return;
        }
        let mut wakers = self.wakers.lock().expect("waiters lock");
        if registration.generation == self.generation.load(Ordering::Acquire) {
            wakers.try_remove(registration.slot);
        }
    }

    fn wake_all(&self) {
        let wakers = {
            let mut wakers = self.wakers.lock().expect("waiters lock");
            self.generation.fetch_add(1, Ordering::AcqRel);
            let capacity = wakers.len();
            std::mem::replace(&mut *wakers, Slab::with_capacity(capacity))
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// What streams see: the last sequence this process has read, and whether it is shutting
/// down (streams then end with UNAVAILABLE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub closing: bool,
}

/// A contiguous run of the latest events: those with `after < seq <= after + len`, each with
/// the time this process published it.
#[derive(Debug, Default)]
struct Window {
    after: i64,
    events: VecDeque<(Arc<LogEvent>, Instant)>,
}

/// The next whole transactions after a stream's position, from the window or the database.
#[derive(Debug)]
pub struct Taken {
    /// The position after them.
    pub pos: i64,
    /// The encoded events that matched the stream's filter.
    pub matching: Vec<bytes::Bytes>,
    /// Which of the first 64 events matched (bit i for the i-th), when there were at most 64:
    /// with the positions before and after, it names the batch exactly, so streams that take
    /// the same batch can share its encoding.
    pub mask: Option<u64>,
}

impl Taken {
    /// Filters `events` (whole transactions, in order), taking whole transactions while the
    /// matching events fit in `budget` bytes of a batch message; None when there are none.
    ///
    /// A reader that fell behind gets the backlog in as many batches as the budget needs. The
    /// first transaction is always taken, so a single transaction over the budget comes alone:
    /// the stream then decides whether it still fits the message limit.
    pub fn of<'a>(
        events: impl Iterator<Item = &'a LogEvent>,
        filter: &CompiledFilter,
        budget: usize,
    ) -> Option<Taken> {
        let mut taken = Taken {
            pos: 0,
            matching: Vec::new(),
            mask: Some(0),
        };
        // The matching bytes of the whole transactions taken so far, and of the one under way.
        let (mut bytes, mut pending) = (0usize, 0usize);
        // Where the transaction under way starts: its first event's index and its first match.
        let (mut first_event, mut first_match) = (0usize, 0usize);
        let (mut count, mut last_end) = (0, 0);
        for (i, event) in events.enumerate() {
            count = i + 1;
            let matched = filter.matches(event);
            if matched {
                pending += batch_entry_len(event.payload.len());
                taken.matching.push(event.payload.clone());
            }
            taken.mask = match taken.mask {
                Some(bits) if i < 64 => Some(bits | (u64::from(matched) << i)),
                _ => None,
            };
            let end = event.transaction_end_seq.max(event.seq);
            last_end = end;
            if event.seq < end {
                continue;
            }
            // A transaction ends here: it goes in this batch if it fits, or if it is the first.
            if first_event > 0 && bytes + pending > budget {
                taken.matching.truncate(first_match);
                let kept = 1u64
                    .checked_shl(first_event as u32)
                    .map_or(u64::MAX, |b| b - 1);
                taken.mask = taken.mask.map(|bits| bits & kept);
                return Some(taken);
            }
            bytes += pending;
            pending = 0;
            taken.pos = end;
            first_event = i + 1;
            first_match = taken.matching.len();
        }
        if count == 0 {
            return None;
        }
        if first_event < count {
            // The events end inside a transaction (the window and the database reads hand
            // out whole ones, so this is a safeguard): leave it for the next batch, or take it
            // as it is when nothing else was taken.
            if first_event > 0 {
                taken.matching.truncate(first_match);
            } else {
                taken.pos = last_end;
            }
        }
        Some(taken)
    }
}

/// The bytes one encoded event adds to a batch message: its field key, its length and itself.
pub fn batch_entry_len(payload_len: usize) -> usize {
    prost::encoding::key_len(1)
        + prost::encoding::encoded_len_varint(payload_len as u64)
        + payload_len
}

/// A batch's identity: the positions before and after it and which events matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BatchKey {
    from: i64,
    to: i64,
    mask: u64,
}

/// How many encoded batches the hub keeps for streams to share.
const SHARED_FRAMES: usize = 16;

impl LogHub {
    /// Reads the head and epoch, then starts the tailer (and, on PostgreSQL, a LISTEN task).
    pub async fn start(
        store: Store,
        poll_interval: Duration,
        stop: CancellationToken,
    ) -> Result<Self, ServiceError> {
        let epoch = store.log_epoch().await?;
        let head = store.log_head().await?;
        let hub = LogHub {
            inner: Arc::new(Inner {
                store: store.clone(),
                epoch,
                head: AtomicI64::new(head),
                closing: AtomicBool::new(false),
                waiters: Waiters::default(),
                frames: Mutex::new(VecDeque::with_capacity(SHARED_FRAMES)),
                window: RwLock::new(Window {
                    after: head,
                    events: VecDeque::new(),
                }),
            }),
        };
        let wake = store.commit_signal();
        if store.backend() == sea_orm::DbBackend::Postgres {
            tokio::spawn(listen(store.url().to_string(), wake.clone(), stop.clone()));
        }
        tokio::spawn(hub.clone().tail(wake, poll_interval, stop.clone()));
        let closing = hub.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            closing.inner.closing.store(true, Ordering::Release);
            closing.inner.waiters.wake_all();
        });
        Ok(hub)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// The last event sequence this process has read.
    pub fn head(&self) -> i64 {
        self.inner.head.load(Ordering::Acquire)
    }

    /// Registers `waker` for the next head change (once per change: `registration` remembers
    /// where it was registered) and returns the head as of now. A change published after this
    /// read wakes the waker.
    pub fn head_after_registering(&self, waker: &Waker, registration: &mut Registration) -> Head {
        self.inner.waiters.register(waker, registration);
        Head {
            seq: self.head(),
            closing: self.inner.closing.load(Ordering::Acquire),
        }
    }

    /// Takes back a registration (a stream that ended).
    pub fn unregister(&self, registration: Registration) {
        self.inner.waiters.unregister(registration);
    }

    /// The next whole transactions after `pos` from memory, about `max` events and at most
    /// `budget` bytes of matching events (see `Taken::of`), filtered; None
    /// when the window does not reach back to `pos` or holds nothing after it (the stream then
    /// reads the database).
    pub fn take_after(
        &self,
        pos: i64,
        max: usize,
        budget: usize,
        filter: &CompiledFilter,
    ) -> Option<Taken> {
        let window = self.inner.window.read().expect("window lock");
        if pos < window.after {
            return None;
        }
        let start = (pos - window.after) as usize;
        // About `max` events, then up to the end of the transaction under way.
        let mut taken = 0;
        let mut end = pos;
        let events = window.events.iter().skip(start).map(|(event, _)| &**event);
        let whole = events.take_while(|event| {
            let keep = taken < max || event.seq <= end;
            if keep {
                taken += 1;
                end = event.transaction_end_seq.max(event.seq);
            }
            keep
        });
        Taken::of(whole, filter, budget)
    }

    /// The encoding of the batch `taken` after `from`: shared with every stream that took the
    /// same batch, or made by `encode` (and kept for the next streams).
    pub fn batch_frame(
        &self,
        from: i64,
        taken: &Taken,
        encode: impl FnOnce() -> bytes::Bytes,
    ) -> bytes::Bytes {
        let Some(mask) = taken.mask else {
            return encode();
        };
        let key = BatchKey {
            from,
            to: taken.pos,
            mask,
        };
        if let Some((_, frame)) = self
            .inner
            .frames
            .lock()
            .expect("frames lock")
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
        {
            return frame.clone();
        }
        let frame = encode();
        let mut frames = self.inner.frames.lock().expect("frames lock");
        if frames.len() == SHARED_FRAMES {
            frames.pop_front();
        }
        frames.push_back((key, frame.clone()));
        frame
    }

    /// When this process published the first event after `pos`, if the window still holds it.
    pub fn published_after(&self, pos: i64) -> Option<Instant> {
        let window = self.inner.window.read().expect("window lock");
        let index = usize::try_from(pos - window.after).ok()?;
        window.events.get(index).map(|(_, at)| *at)
    }

    async fn tail(self, wake: Arc<Notify>, poll_interval: Duration, stop: CancellationToken) {
        loop {
            if let Err(err) = self.catch_up().await {
                warn!(error = %err, "reading the event log failed; retrying");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll_interval) => {}
            }
        }
    }

    /// Reads everything committed after the current head: one query per wake-up in the usual
    /// case, since a short read means the tailer has caught up.
    async fn catch_up(&self) -> Result<(), ServiceError> {
        loop {
            let head = self.head();
            let events = super::log::read(&self.inner.store, head, READ_BATCH).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                // Retention may have pruned past an idle head; the counter tells the truth.
                let counter = self.inner.store.log_head().await?;
                if counter > head && self.inner.store.log_pruned_through().await? >= counter {
                    self.publish(Vec::new(), counter);
                }
                return Ok(());
            };
            let caught_up = (events.len() as u64) < READ_BATCH;
            self.publish(events, last);
            if caught_up {
                return Ok(());
            }
        }
    }

    fn publish(&self, events: Vec<Arc<LogEvent>>, new_head: i64) {
        {
            let mut window = self.inner.window.write().expect("window lock");
            let now = Instant::now();
            if events
                .first()
                .is_none_or(|e| e.seq != window.after + window.events.len() as i64 + 1)
            {
                window.events.clear();
                window.after = events.first().map_or(new_head, |e| e.seq - 1);
            }
            window.events.extend(events.into_iter().map(|e| (e, now)));
            while window.events.len() > WINDOW_EVENTS {
                window.events.pop_front();
                window.after += 1;
            }
        }
        debug!(head = new_head, "log head advanced");
        self.inner.head.store(new_head, Ordering::Release);
        self.inner.waiters.wake_all();
    }
}

/// Forwards PostgreSQL notifications on the log channel to the tailer, reconnecting after
/// failures. Losing it only delays delivery until the next poll.
async fn listen(url: String, wake: Arc<Notify>, stop: CancellationToken) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let attempt = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(LOG_CHANNEL).await?;
            loop {
                listener.recv().await?;
                wake.notify_one();
            }
            #[allow(unreachable_code)]
            Ok::<(), sea_orm::sqlx::Error>(())
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            result = attempt => {
                if let Err(err) = result {
                    debug!(error = %err, "log listener lost its connection; reconnecting");
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Events of transactions (first seq, last seq) with payloads of `size` bytes each.
    fn log(transactions: &[(i64, i64)], size: usize) -> Vec<LogEvent> {
        transactions
            .iter()
            .flat_map(|&(first, last)| {
                (first..=last).map(move |seq| LogEvent {
                    seq,
                    transaction_end_seq: last,
                    kind: 1,
                    project_id: String::new(),
                    township: String::new(),
                    department: String::new(),
                    leader: String::new(),
                    light: None,
                    slip_days: None,
                    payload: bytes::Bytes::from(vec![0u8; size]),
                })
            })
            .collect()
    }

    #[test]
    fn a_batch_holds_whole_transactions_within_its_budget() {
        let events = log(&[(1, 2), (3, 3), (4, 6), (7, 7)], 100);
        let all = CompiledFilter::default();
        let entry = batch_entry_len(100);
        // Room for three events: the first transaction and the second, not the third.
        let taken = Taken::of(events.iter(), &all, 3 * entry).unwrap();
        assert_eq!(taken.pos, 3);
        assert_eq!(taken.matching.len(), 3);
        assert_eq!(taken.mask, Some(0b111));
        // Exactly the whole log.
        let taken = Taken::of(events.iter(), &all, 7 * entry).unwrap();
        assert_eq!((taken.pos, taken.matching.len()), (7, 7));
        // A first transaction over the budget comes alone, for the stream to judge.
        let taken = Taken::of(events.iter(), &all, 1).unwrap();
        assert_eq!((taken.pos, taken.matching.len()), (2, 2));
        assert_eq!(taken.mask, Some(0b11));
        assert!(Taken::of(std::iter::empty(), &all, 1).is_none());
    }

    #[test]
    fn events_a_filter_drops_cost_a_batch_nothing() {
        let events = log(&[(1, 1), (2, 2), (3, 3)], 100);
        let mut violations = crate::domain::error::Violations::default();
        let none = crate::events::filter::compile(
            &crate::proto::v1::EventFilter {
                projects: vec!["projects/nothing-matches".into()],
                ..Default::default()
            },
            "filter",
            &mut violations,
        );
        let taken = Taken::of(events.iter(), &none, 1).unwrap();
        assert_eq!(
            (taken.pos, taken.matching.len(), taken.mask),
            (3, 0, Some(0))
        );
    }

    #[test]
    fn a_waiter_is_woken_once_per_change_however_often_it_registers() {
        let waiters = Waiters::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut registration = Registration::NONE;
        waiters.register(&waker, &mut registration);
        waiters.register(&waker, &mut registration);
        assert_eq!(waiters.wakers.lock().unwrap().len(), 1);
        waiters.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // Not registered again: the next change wakes nobody.
        waiters.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        waiters.register(&waker, &mut registration);
        waiters.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn an_ended_waiter_leaves_nothing_behind() {
        let waiters = Waiters::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut ended = Registration::NONE;
        let mut live = Registration::NONE;
        waiters.register(&waker, &mut ended);
        waiters.register(&waker, &mut live);
        waiters.unregister(ended);
        assert_eq!(waiters.wakers.lock().unwrap().len(), 1);
        // Taking back a registration of an earlier generation does not touch the current table.
        waiters.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let mut again = Registration::NONE;
        waiters.register(&waker, &mut again);
        waiters.unregister(live);
        assert_eq!(waiters.wakers.lock().unwrap().len(), 1);
        // The waker's task is no longer referenced once its stream took it back.
        waiters.unregister(again);
        assert_eq!(waiters.wakers.lock().unwrap().len(), 0);
        assert_eq!(Arc::strong_count(&count), 2);
    }
}
