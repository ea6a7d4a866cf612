//! Benchmarks of the running service. Each prints a table of numbers; none asserts a timing.
//!
//! `pipeline-bench fanout --subscribers 1000 --rate 100 --seconds 10` starts `pipeline serve`
//! (the binary next to this one, on a fresh SQLite directory), opens that many WatchEvents
//! streams, writes `rate` changes per second, and reports the delivery latency from commit to
//! client (p50, p99, max), deliveries per second, and the server's resident memory per open
//! stream.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use pipeline::proto::v1;
use tonic::transport::Channel;
use v1::project_service_client::ProjectServiceClient;

#[derive(Parser)]
#[command(about = "Benchmarks of the pipeline service")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Event stream fan-out: latency, throughput and memory per subscriber.
    Fanout {
        /// Open streams; repeat the flag for several rounds.
        #[arg(long, default_values_t = [1000])]
        subscribers: Vec<usize>,
        /// Changes written per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// How long to write, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Streams per HTTP/2 connection.
        #[arg(long, default_value_t = 500)]
        streams_per_connection: usize,
        /// Pin the server to these CPUs (a `taskset -c` list, e.g. `0`); run the benchmark
        /// itself under `taskset -c 1` to keep the load off the server's core.
        #[arg(long)]
        server_cpus: Option<String>,
    },
}

struct Server {
    child: Child,
    addr: String,
    /// The admin token the server made on first start.
    token: String,
    _dir: tempdir::Dir,
}

mod tempdir {
    /// A scratch directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn start_server(server_cpus: Option<&str>) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?;
    let server_bin = exe.with_file_name("pipeline");
    let dir = std::env::temp_dir().join(format!("pipeline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = match server_cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(&server_bin);
            c
        }
        None => Command::new(&server_bin),
    };
    let child = command
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--heartbeat-interval",
            "5s",
            "--max-streams-per-token",
            "1000000",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", server_bin.display()))?;
    let addr = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(channel) = Channel::from_shared(addr.clone())?.connect().await {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
            {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = std::fs::read_to_string(dir.join(pipeline::app::ADMIN_TOKEN_FILE))?
        .trim()
        .to_string();
    Ok(Server {
        child,
        addr,
        token,
        _dir: tempdir::Dir(dir),
    })
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

async fn fanout(
    subscribers: usize,
    rate: u32,
    seconds: u64,
    per_connection: usize,
    server_cpus: Option<&str>,
) -> anyhow::Result<()> {
    let server = start_server(server_cpus).await?;
    let pid = server.child.id();
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

    let mut channels = Vec::new();
    for _ in 0..subscribers.div_ceil(per_connection) {
        channels.push(Channel::from_shared(server.addr.clone())?.connect().await?);
    }
    let expected = rate as u64 * seconds;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    let mut readers = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let channel = channels[i / per_connection].clone();
        let ready = ready_tx.clone();
        let bearer = bearer.clone();
        readers.push(tokio::spawn(async move {
            let mut stream = watch_light(channel, bearer).await.expect("watch");
            let mut latencies: Vec<u32> = Vec::with_capacity(expected as usize);
            while let Ok(Some(message)) = stream.message().await {
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

    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut next = tokio::time::Instant::now();
    let mut writes = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for i in 0..expected {
        next += interval;
        tokio::time::sleep_until(next).await;
        let call = Instant::now();
        projects.create_project(request(&format!("p-{i}"))).await?;
        writes.record((call.elapsed().as_micros() as u64).max(1))?;
    }
    let write_time = started.elapsed();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut delivered = 0u64;
    for reader in readers {
        let latencies = tokio::time::timeout(Duration::from_secs(120), reader).await??;
        delivered += latencies.len() as u64;
        for l in latencies {
            histogram.record(l.max(1) as u64)?;
        }
    }
    let total_time = started.elapsed();
    let rss_peak = rss_kib(pid);
    let per_subscriber = (rss_streams.saturating_sub(rss_before)) as f64 / subscribers as f64;
    println!(
        "| {subscribers} | {rate}/s | {:.2} / {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} | {} | {} |",
        writes.value_at_quantile(0.50) as f64 / 1000.0,
        writes.value_at_quantile(0.99) as f64 / 1000.0,
        delivered,
        histogram.value_at_quantile(0.50) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
        delivered as f64 / total_time.as_secs_f64(),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().bench {
        Bench::Fanout {
            subscribers,
            rate,
            seconds,
            streams_per_connection,
            server_cpus,
        } => {
            println!(
                "fan-out: one change per write, SQLite, server and load on the same 2-core machine"
            );
            println!(
                "| subscribers | writes | write call p50 / p99 ms | deliveries | p50 ms | p99 ms | max ms | deliveries/s | server KiB per stream | server RSS before KiB | server RSS after KiB |"
            );
            println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            for n in subscribers {
                fanout(
                    n,
                    rate,
                    seconds,
                    streams_per_connection,
                    server_cpus.as_deref(),
                )
                .await?;
            }
        }
    }
    Ok(())
}
