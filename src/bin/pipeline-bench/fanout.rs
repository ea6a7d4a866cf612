//! Event stream fan-out: open many WatchEvents streams, write at a fixed rate, and measure the
//! delivery latency from commit to client, deliveries per second and memory per stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use pipeline::proto::v1;
use prost::Message;
use tonic::transport::Channel;
use v1::project_service_client::ProjectServiceClient;

use crate::common::{Database, cpu_ms, histogram, now_us, rss_kib, start_server};

/// Streams that never read, opened beside the readers.
#[derive(Clone, Copy, Debug)]
pub struct Stalled {
    /// How many.
    pub count: usize,
    /// The HTTP/2 stream window their connections advertise, in bytes.
    pub window: u32,
    /// Whether their connections also stop reading the socket once the streams are open (a
    /// client that hangs), instead of only leaving the streams unread (h2 then keeps reading
    /// into its own buffers up to the window).
    pub frozen: bool,
}

pub async fn fanout(
    subscribers: usize,
    rate: u32,
    seconds: u64,
    per_connection: usize,
    server_cpus: Option<&str>,
    tonic_readers: bool,
    stalled: Stalled,
) -> anyhow::Result<()> {
    let server = start_server(
        Database::Scratch,
        server_cpus,
        &["--heartbeat-interval", "5s"],
    )
    .await?;
    let pid = server.pid();
    let bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
        format!("Bearer {}", server.token).parse()?;
    let header = bearer.clone();
    let mut projects = ProjectServiceClient::with_interceptor(
        Channel::from_shared(server.addr.clone())?.connect().await?,
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
            Ok(request)
        },
    );
    // Warm up the write path and the server's allocations before measuring memory.
    for i in 0..50 {
        projects
            .create_project(request(&format!("warm-{i}")))
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid);

    // The readers speak HTTP/2 directly (see `RawStream`): with tonic's client each delivery
    // cost the load generator more CPU than it cost the server, so the latency measured was
    // the load generator's own queue.
    let mut connections = Vec::new();
    for _ in 0..subscribers.div_ceil(per_connection) {
        connections.push(if tonic_readers {
            Connection::Tonic(Channel::from_shared(server.addr.clone())?.connect().await?)
        } else {
            Connection::H2(h2_connect(&server.addr).await?)
        });
    }
    let authority = server.addr.trim_start_matches("http://").to_string();
    let bearer_text = format!("Bearer {}", server.token);
    let expected = rate as u64 * seconds;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    let mut readers = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let connection = connections[i / per_connection].clone();
        let ready = ready_tx.clone();
        let bearer = bearer_text.clone();
        let authority = authority.clone();
        readers.push(tokio::spawn(async move {
            let mut stream = Reader::watch(connection, &authority, &bearer)
                .await
                .expect("watch");
            let mut latencies: Vec<u32> = Vec::with_capacity(expected as usize);
            while let Some(message) = stream.message().await.expect("stream") {
                if message.caught_up.is_some() {
                    ready.send(()).await.ok();
                }
                if let Some(batch) = message.batch {
                    let now = now_us();
                    for event in &batch.events {
                        let created = event
                            .create_time
                            .as_ref()
                            .map_or(now, |t| t.seconds * 1_000_000 + t.nanos as i64 / 1000);
                        latencies.push((now - created).max(0) as u32);
                    }
                    if latencies.len() as u64 >= expected {
                        break;
                    }
                }
            }
            latencies
        }));
    }
    drop(ready_tx);
    for _ in 0..subscribers {
        ready_rx.recv().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_streams = rss_kib(pid);

    // Readers that never read, on connections of their own (as separate stalled clients would
    // be). With small stream windows HTTP/2 flow control stops the server after a few events
    // each; with large windows and a frozen socket only the server's own limits do. Either
    // way the server must hold little for them beyond their position.
    let mut stalled_streams = Vec::with_capacity(stalled.count);
    let mut stalled_connections = Vec::new();
    let freeze = Arc::new(AtomicBool::new(false));
    let connection_window = (stalled.window as u64 * per_connection as u64)
        .clamp(5 * 1024 * 1024, (1u64 << 31) - 1) as u32;
    for _ in 0..stalled.count.div_ceil(per_connection) {
        stalled_connections.push(
            h2_connect_frozen(
                &server.addr,
                stalled.window,
                connection_window,
                freeze.clone(),
            )
            .await?,
        );
    }
    for i in 0..stalled.count {
        let connection = stalled_connections[i / per_connection].clone();
        stalled_streams.push(RawStream::watch(connection, &authority, &bearer_text).await?);
    }
    if stalled.frozen {
        freeze.store(true, Ordering::Release);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_stalled_open = rss_kib(pid);

    let cpu_before = cpu_ms(pid);
    let load_cpu_before = cpu_ms(std::process::id());
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut next = tokio::time::Instant::now();
    let mut writes = histogram();
    for i in 0..expected {
        next += interval;
        tokio::time::sleep_until(next).await;
        let call = Instant::now();
        projects.create_project(request(&format!("p-{i}"))).await?;
        writes.record((call.elapsed().as_micros() as u64).max(1))?;
    }
    let write_time = started.elapsed();
    let mut histogram = histogram();
    let mut delivered = 0u64;
    for reader in readers {
        let latencies = tokio::time::timeout(Duration::from_secs(120), reader).await??;
        delivered += latencies.len() as u64;
        for l in latencies {
            histogram.record(l.max(1) as u64)?;
        }
    }
    let total_time = started.elapsed();
    let cpu_us_per_delivery =
        cpu_ms(pid).saturating_sub(cpu_before) as f64 * 1000.0 / delivered.max(1) as f64;
    let load_us_per_delivery = cpu_ms(std::process::id()).saturating_sub(load_cpu_before) as f64
        * 1000.0
        / delivered.max(1) as f64;
    let rss_peak = rss_kib(pid);
    let per_subscriber = (rss_streams.saturating_sub(rss_before)) as f64 / subscribers as f64;
    // What the stalled streams cost once events had piled up for them: the growth from just
    // before they opened (the readers' own share is in `rss_streams`).
    let per_stalled = if stalled.count == 0 {
        "-".to_string()
    } else {
        format!(
            "{:.1} ({:.1} at open)",
            rss_peak.saturating_sub(rss_streams) as f64 / stalled.count as f64,
            rss_stalled_open.saturating_sub(rss_streams) as f64 / stalled.count as f64
        )
    };
    drop(stalled_streams);
    let stalled_kind = if stalled.count == 0 {
        "0".to_string()
    } else {
        format!(
            "{} ({} KiB windows{})",
            stalled.count,
            stalled.window / 1024,
            if stalled.frozen { ", frozen" } else { "" }
        )
    };
    println!(
        "| {subscribers} | {stalled_kind} | {rate}/s | {:.2} / {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1} | {per_stalled} | {} | {} |",
        writes.value_at_quantile(0.50) as f64 / 1000.0,
        writes.value_at_quantile(0.99) as f64 / 1000.0,
        delivered,
        histogram.value_at_quantile(0.50) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
        delivered as f64 / total_time.as_secs_f64(),
        cpu_us_per_delivery,
        load_us_per_delivery,
        per_subscriber,
        rss_before,
        rss_peak,
    );
    if write_time > Duration::from_secs(seconds) + Duration::from_secs(2) {
        println!("(the writer fell behind its rate: {write_time:?} for {seconds}s of writes)");
    }
    Ok(())
}

/// The parts of a WatchEventsResponse the benchmark reads; decoding skips everything else, so
/// the load generator spends its CPU on receiving rather than on building full messages.
#[derive(Clone, PartialEq, prost::Message)]
struct LightResponse {
    #[prost(message, optional, tag = "1")]
    batch: Option<LightBatch>,
    #[prost(message, optional, tag = "3")]
    caught_up: Option<LightCursor>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LightBatch {
    #[prost(message, repeated, tag = "1")]
    events: Vec<LightEvent>,
    #[prost(string, tag = "2")]
    cursor: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LightEvent {
    #[prost(message, optional, tag = "3")]
    create_time: Option<prost_types::Timestamp>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LightCursor {
    #[prost(string, tag = "1")]
    cursor: String,
}

/// A connection readers share: the h2 crate's, or a tonic channel (`--tonic-readers`).
#[derive(Clone)]
enum Connection {
    H2(h2::client::SendRequest<Bytes>),
    Tonic(Channel),
}

/// One reader's stream.
enum Reader {
    H2(RawStream),
    Tonic(tonic::Streaming<LightResponse>),
}

impl Reader {
    async fn watch(connection: Connection, authority: &str, bearer: &str) -> anyhow::Result<Self> {
        Ok(match connection {
            Connection::H2(send) => Reader::H2(RawStream::watch(send, authority, bearer).await?),
            Connection::Tonic(channel) => {
                Reader::Tonic(watch_light(channel, bearer.parse()?).await?)
            }
        })
    }

    async fn message(&mut self) -> anyhow::Result<Option<LightResponse>> {
        match self {
            Reader::H2(stream) => stream.message().await,
            Reader::Tonic(stream) => Ok(stream.message().await?),
        }
    }
}

async fn watch_light(
    channel: Channel,
    bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
) -> Result<tonic::Streaming<LightResponse>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<v1::WatchEventsRequest, LightResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/pipeline.v1.EventService/WatchEvents",
    );
    let mut request = tonic::Request::new(v1::WatchEventsRequest::default());
    request.metadata_mut().insert("authorization", bearer);
    let response = grpc.server_streaming(request, path, codec).await?;
    Ok(response.into_inner())
}

/// Opens an HTTP/2 connection to the server for readers to share, with hyper's client windows
/// (tonic's defaults): h2's own 64 KiB connection window would also shrink its budget for small
/// DATA frames below what 500 streams' first messages take.
async fn h2_connect(addr: &str) -> anyhow::Result<h2::client::SendRequest<Bytes>> {
    h2_connect_windows(addr, 2 * 1024 * 1024, 5 * 1024 * 1024).await
}

async fn h2_connect_windows(
    addr: &str,
    stream_window: u32,
    connection_window: u32,
) -> anyhow::Result<h2::client::SendRequest<Bytes>> {
    h2_connect_frozen(
        addr,
        stream_window,
        connection_window,
        Arc::new(AtomicBool::new(false)),
    )
    .await
}

/// A socket that stops reading for good once `frozen` is set, as a client that hangs: the
/// server's writes then pile up in the kernel's buffers and, past them, in the server.
struct Freezable {
    tcp: tokio::net::TcpStream,
    frozen: Arc<AtomicBool>,
}

impl tokio::io::AsyncRead for Freezable {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.frozen.load(Ordering::Acquire) {
            // Never woken again: the connection's reads stop here.
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Freezable {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.tcp).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

async fn h2_connect_frozen(
    addr: &str,
    stream_window: u32,
    connection_window: u32,
    frozen: Arc<AtomicBool>,
) -> anyhow::Result<h2::client::SendRequest<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr.trim_start_matches("http://")).await?;
    tcp.set_nodelay(true)?;
    let tcp = Freezable { tcp, frozen };
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(stream_window)
        .initial_connection_window_size(connection_window)
        .handshake(tcp)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(send)
}

/// A WatchEvents call made with the h2 crate: the request is one empty message, the response
/// is read as gRPC frames and decoded as `LightResponse`. Nothing else happens per message.
struct RawStream {
    body: h2::RecvStream,
    buffer: BytesMut,
}

impl RawStream {
    async fn watch(
        connection: h2::client::SendRequest<Bytes>,
        authority: &str,
        bearer: &str,
    ) -> anyhow::Result<RawStream> {
        let mut connection = connection.ready().await?;
        let request = http::Request::post(format!(
            "http://{authority}/pipeline.v1.EventService/WatchEvents"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", bearer)
        .body(())?;
        let (response, mut send) = connection.send_request(request, false)?;
        // One message: not compressed, zero bytes long (an empty WatchEventsRequest).
        send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
        let response = response.await?;
        if let Some(status) = response.headers().get("grpc-status") {
            anyhow::bail!("WatchEvents refused: grpc-status {status:?}");
        }
        Ok(RawStream {
            body: response.into_body(),
            buffer: BytesMut::new(),
        })
    }

    /// The next message, or None at the end of the stream.
    async fn message(&mut self) -> anyhow::Result<Option<LightResponse>> {
        loop {
            if self.buffer.len() >= 5 {
                let len = u32::from_be_bytes(self.buffer[1..5].try_into()?) as usize;
                if self.buffer.len() >= 5 + len {
                    let frame = self.buffer.split_to(5 + len);
                    return Ok(Some(LightResponse::decode(&frame[5..])?));
                }
            }
            let Some(chunk) = self.body.data().await else {
                return Ok(None);
            };
            let chunk = chunk?;
            self.body.flow_control().release_capacity(chunk.len())?;
            self.buffer.extend_from_slice(&chunk);
        }
    }
}

fn request(id: &str) -> v1::CreateProjectRequest {
    v1::CreateProjectRequest {
        project_id: id.to_string(),
        project: Some(v1::Project {
            display_name: format!("基准项目 {id}"),
            category: v1::ProjectCategory::Industry as i32,
            investment_type: v1::InvestmentType::Enterprise as i32,
            township: "工业园区".into(),
            department: "县经信局".into(),
            total_investment_yuan: 100_000_000,
            ..Default::default()
        }),
        ..Default::default()
    }
}
