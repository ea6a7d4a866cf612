//! An accepted TCP connection: a small write buffer that coalesces the frames of many streams
//! into one system call, and a gate that holds event streams back while the socket takes
//! nothing.
//!
//! **Coalescing.** When one event fans out to many streams of a connection, each stream's task
//! hands h2 one DATA frame and wakes the connection's task, which used to write and flush after
//! every few frames: a `writev` per delivery or so. Here a flush first yields once: the
//! connection's task goes to the back of the run queue, the other streams that are ready queue
//! their frames meanwhile, and the next flush writes them together. An idle server loses
//! nothing, since the task runs again at once when nothing else is ready. Vectored writes are
//! declined so that h2 copies small payloads into its own buffer rather than flushing after
//! each one.
//!
//! **Backpressure.** HTTP/2 flow control is the client's to set. A client that advertises very
//! large windows and then stops reading its socket lets h2 queue, for every stream, whatever
//! the window allows up to hyper's send buffer (about 400 KiB a stream, not configurable
//! through tonic): 200 such streams held 1.3 MiB each. The event streams' bodies therefore ask
//! the connection's `Backpressure` before producing a message, and wait while the socket has
//! refused bytes and the buffer has not drained; what a stalled stream holds is then what was
//! queued before the socket filled, at most about one message. Unary responses are not held
//! back (each is one message of bounded size). A client that never reads again stops answering
//! HTTP/2 keepalive pings too, and the connection is closed with everything it held.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The most a connection buffers before writing to the socket. Large enough to gather the
/// frames one event makes for a few hundred streams of a connection; small because a
/// connection whose client stopped reading keeps it full.
pub const CONNECTION_BUFFER: usize = 32 * 1024;

/// Whether a connection's socket is taking bytes, shared by the connection and the event
/// streams it carries.
#[derive(Debug, Default)]
pub struct Backpressure {
    blocked: AtomicBool,
    /// Counts the blocked periods that ended, so that a stream registers once per period.
    generation: AtomicU64,
    waiting: Mutex<Vec<Waker>>,
}

/// Where a stream stands with the gate: the blocked period it registered its waker for.
#[derive(Debug, Clone, Copy)]
pub struct Registration(u64);

impl Registration {
    pub const NONE: Registration = Registration(u64::MAX);
}

impl Backpressure {
    /// Ready while the socket takes bytes; otherwise registers `cx`'s waker (once per blocked
    /// period) to be woken when the buffer drains.
    pub fn poll_open(&self, cx: &mut Context<'_>, registration: &mut Registration) -> Poll<()> {
        if !self.blocked.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut waiting = self.waiting.lock().expect("backpressure lock");
        // Read under the lock: `open` clears the flag before it takes the list.
        if !self.blocked.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let generation = self.generation.load(Ordering::Acquire);
        if registration.0 != generation {
            *registration = Registration(generation);
            waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Whether the socket last refused bytes.
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    fn block(&self) {
        self.blocked.store(true, Ordering::Release);
    }

    fn open(&self) {
        if !self.blocked.swap(false, Ordering::AcqRel) {
            return;
        }
        let waiting = {
            let mut waiting = self.waiting.lock().expect("backpressure lock");
            self.generation.fetch_add(1, Ordering::AcqRel);
            std::mem::take(&mut *waiting)
        };
        for waker in waiting {
            waker.wake();
        }
    }
}

/// What tonic puts in every request's extensions for a connection (`Connected`): the TCP
/// addresses, and the connection's backpressure for the event streams.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub tcp: TcpConnectInfo,
    pub backpressure: Arc<Backpressure>,
}

impl ConnectionInfo {
    /// The connection's info among a request's extensions, plain or under TLS.
    pub fn of(extensions: &http::Extensions) -> Option<&ConnectionInfo> {
        extensions.get::<ConnectionInfo>().or_else(|| {
            extensions
                .get::<tonic::transport::server::TlsConnectInfo<ConnectionInfo>>()
                .map(|tls| tls.get_ref())
        })
    }
}

/// An accepted TCP connection (see the module comment).
pub struct Connection {
    io: tokio::net::TcpStream,
    /// Written by h2, not yet handed to the socket: `buf[sent..]`.
    buf: Vec<u8>,
    sent: usize,
    /// Whether the current flush already yielded once.
    yielded: bool,
    backpressure: Arc<Backpressure>,
}

impl Connection {
    pub fn new(io: tokio::net::TcpStream) -> Self {
        Self {
            io,
            buf: Vec::new(),
            sent: 0,
            yielded: false,
            backpressure: Arc::default(),
        }
    }

    /// Writes the buffer to the socket until it is empty or the socket is full.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.buf[self.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    self.backpressure.block();
                    return Poll::Pending;
                }
            }
        }
        self.buf.clear();
        self.sent = 0;
        self.backpressure.open();
        Poll::Ready(Ok(()))
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo {
            tcp: self.io.connect_info(),
            backpressure: self.backpressure.clone(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() + data.len() > CONNECTION_BUFFER {
            std::task::ready!(this.drain(cx))?;
            if data.len() > CONNECTION_BUFFER {
                return match Pin::new(&mut this.io).poll_write(cx, data) {
                    Poll::Pending => {
                        this.backpressure.block();
                        Poll::Pending
                    }
                    written => written,
                };
            }
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buf.len() > this.sent && !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        std::task::ready!(this.drain(cx))?;
        this.yielded = false;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Small writes wait in the buffer until a flush; a write larger than the buffer goes past
    /// it after what was buffered; the peer reads every byte in order.
    #[tokio::test]
    async fn buffered_writes_arrive_whole_and_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut peer = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut received = Vec::new();
            peer.read_to_end(&mut received).await.unwrap();
            received
        });
        let (socket, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(socket);

        let mut sent = Vec::new();
        for i in 0..500u32 {
            let frame = i.to_be_bytes().repeat(10);
            conn.write_all(&frame).await.unwrap();
            sent.extend_from_slice(&frame);
        }
        assert_eq!(conn.buf.len(), sent.len(), "small writes wait for a flush");
        let large: Vec<u8> = (0..CONNECTION_BUFFER * 3)
            .map(|i| (i % 251) as u8)
            .collect();
        conn.write_all(&large).await.unwrap();
        sent.extend_from_slice(&large);
        conn.write_all(b"tail").await.unwrap();
        sent.extend_from_slice(b"tail");
        conn.flush().await.unwrap();
        assert!(
            conn.buf.is_empty() && !conn.yielded,
            "a flush empties the buffer"
        );
        conn.shutdown().await.unwrap();

        assert_eq!(client.await.unwrap(), sent);
    }

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A peer that reads nothing fills the socket: the connection reports backpressure, a
    /// waiting stream registers once however often it is polled, and it is woken when the
    /// peer reads and the buffer drains.
    #[tokio::test]
    async fn a_full_socket_holds_streams_back_until_it_drains() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(socket);
        let gate = conn.connect_info().backpressure;
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut registration = Registration::NONE;
        assert!(gate.poll_open(&mut cx, &mut registration).is_ready());

        // Write until the socket takes nothing more.
        let chunk = vec![7u8; 16 * 1024];
        let mut written = 0usize;
        loop {
            let write = tokio::time::timeout(std::time::Duration::from_millis(200), async {
                conn.write_all(&chunk).await.unwrap();
                conn.flush().await.unwrap();
            })
            .await;
            if write.is_err() {
                break;
            }
            written += chunk.len();
            assert!(written < 1 << 30, "the socket never filled");
        }
        assert!(gate.is_blocked());
        for _ in 0..3 {
            assert!(gate.poll_open(&mut cx, &mut registration).is_pending());
        }
        assert_eq!(gate.waiting.lock().unwrap().len(), 1, "registered once");
        assert_eq!(count.0.load(Ordering::SeqCst), 0);

        // The peer reads everything; the connection drains and opens the gate.
        let reader = tokio::spawn(async move {
            let mut peer = peer;
            let mut sink = vec![0u8; 1 << 20];
            while peer.read(&mut sink).await.unwrap_or(0) > 0 {}
        });
        conn.flush().await.unwrap();
        assert!(!gate.is_blocked());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "the waiting stream was woken"
        );
        assert!(gate.poll_open(&mut cx, &mut registration).is_ready());
        drop(conn);
        reader.await.unwrap();
    }
}
