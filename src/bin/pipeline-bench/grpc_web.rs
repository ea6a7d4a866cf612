//! GetProject over gRPC-Web against native gRPC, on the same server in the same run.
//!
//! One `pipeline serve` on SQLite with the `get-project` data set; the same number of calls in
//! flight on each target: native gRPC through tonic's client (HTTP/2, `TASKS_PER_CONNECTION`
//! calls per connection), gRPC-Web over HTTP/1.1 (one connection per call in flight, kept
//! alive, as a browser holds them: HTTP/1.1 carries one call at a time), and gRPC-Web over
//! HTTP/2 (hyper's client, the same calls per connection as native). Short rounds alternate
//! native / HTTP/1.1 / HTTP/2, and each ratio is the median of the per-round ratios to the
//! native round just before it. Every answer is checked: a data frame with the project, then a
//! trailer frame with `grpc-status:0`.

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pipeline::proto::v1;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{Database, histogram, median, ms, now_us, start_server};
use crate::get_project::{
    Round, TASKS_PER_CONNECTION, Totals, connect_all, load_projects, pin_self, project_id, round,
};

pub struct Options {
    pub projects: usize,
    pub seconds_per_round: f64,
    pub rounds: usize,
    pub concurrency: usize,
    pub server_cpus: Option<String>,
    pub client_cpus: Option<String>,
}

/// A way to send one gRPC-Web request.
#[derive(Clone)]
enum Sender {
    Http1(std::sync::Arc<tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

async fn http1_connection(addr: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(Sender::Http1(std::sync::Arc::new(tokio::sync::Mutex::new(
        sender,
    ))))
}

async fn http2_connection(addr: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(Sender::Http2(sender))
}

/// One GetProject over gRPC-Web; Err when the answer is not a project and `grpc-status:0`.
async fn call(sender: &Sender, authority: &str, bearer: &str, name: String) -> anyhow::Result<()> {
    let payload = v1::GetProjectRequest { name }.encode_to_vec();
    let mut framed = Vec::with_capacity(5 + payload.len());
    framed.push(0);
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(&payload);
    let request = http::Request::post(format!(
        "http://{authority}/pipeline.v1.ProjectService/GetProject"
    ))
    .header("host", authority)
    .header("content-type", "application/grpc-web+proto")
    .header("x-grpc-web", "1")
    .header("authorization", bearer)
    .body(Full::new(Bytes::from(framed)))?;
    let response = match sender {
        Sender::Http1(sender) => {
            let mut sender = sender.lock().await;
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            // The connection is free again once the body has been read.
            let (head, body) = response.into_parts();
            (head, body.collect().await?.to_bytes())
        }
        Sender::Http2(sender) => {
            let mut sender = sender.clone();
            sender.ready().await?;
            let (head, body) = sender.send_request(request).await?.into_parts();
            (head, body.collect().await?.to_bytes())
        }
    };
    let (head, mut body) = response;
    anyhow::ensure!(head.status == http::StatusCode::OK, "HTTP {}", head.status);
    if let Some(status) = head.headers.get("grpc-status") {
        anyhow::bail!("grpc-status {status:?} in the head");
    }
    let mut project = false;
    let mut ok = false;
    while body.remaining() >= 5 {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        anyhow::ensure!(body.remaining() >= len, "a cut frame");
        let frame = body.split_to(len);
        if flag & 0x80 == 0 {
            project = v1::Project::decode(frame).is_ok();
        } else {
            ok = frame
                .split(|b| *b == b'\n')
                .any(|line| line.trim_ascii() == b"grpc-status:0");
        }
    }
    anyhow::ensure!(project && ok, "no project or no grpc-status:0");
    Ok(())
}

/// `senders.len()` tasks (HTTP/1.1: one per connection) or `concurrency` tasks over the
/// senders (HTTP/2) call GetProject until `duration` has passed.
async fn web_round(
    senders: &[Sender],
    tasks_count: usize,
    authority: &str,
    bearer: &str,
    projects: usize,
    duration: Duration,
) -> anyhow::Result<Round> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(tasks_count);
    for t in 0..tasks_count {
        let sender = senders[t % senders.len()].clone();
        let authority = authority.to_string();
        let bearer = bearer.to_string();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(now_us() as u64 ^ (t as u64) << 32);
            let mut latencies = histogram();
            let (mut calls, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let name = format!("projects/{}", project_id(rng.random_range(0..projects)));
                let at = Instant::now();
                match call(&sender, &authority, &bearer, name).await {
                    Ok(()) => {
                        calls += 1;
                        latencies.record((at.elapsed().as_micros() as u64).max(1))?;
                    }
                    Err(err) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("gRPC-Web GetProject failed: {err}");
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((calls, errors, latencies))
        }));
    }
    let mut total = Round {
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: histogram(),
    };
    for task in tasks {
        let (calls, errors, latencies) = task.await??;
        total.calls += calls;
        total.errors += errors;
        total.latencies.add(&latencies)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let Options {
        projects,
        seconds_per_round,
        rounds,
        concurrency,
        server_cpus,
        client_cpus,
    } = options;
    anyhow::ensure!(projects > 0 && rounds > 0 && concurrency > 0);
    pin_self(client_cpus.as_deref())?;
    let dir = std::env::temp_dir().join(format!(
        "pipeline-bench-grpc-web-{}-{}",
        std::process::id(),
        now_us()
    ));
    std::fs::create_dir_all(&dir)?;
    let result = measure(
        &dir,
        projects,
        seconds_per_round,
        rounds,
        concurrency,
        server_cpus.as_deref(),
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn measure(
    dir: &std::path::Path,
    projects: usize,
    seconds_per_round: f64,
    rounds: usize,
    concurrency: usize,
    server_cpus: Option<&str>,
) -> anyhow::Result<()> {
    let store = pipeline::store::Store::connect(&pipeline::store::Store::sqlite_url(dir)).await?;
    store.migrate().await?;
    load_projects(&store, projects, 8).await?;
    store.close().await?;

    let server = start_server(Database::Dir(dir.to_path_buf()), server_cpus, &[]).await?;
    let bearer_value = server.bearer()?;
    let bearer = bearer_value.to_str()?.to_string();
    let authority = server
        .addr
        .strip_prefix("http://")
        .unwrap_or(&server.addr)
        .to_string();
    let connections = concurrency.div_ceil(TASKS_PER_CONNECTION);
    let native = connect_all(&server.addr, connections).await?;
    let mut web1 = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        web1.push(http1_connection(&authority).await?);
    }
    let mut web2 = Vec::with_capacity(connections);
    for _ in 0..connections {
        web2.push(http2_connection(&authority).await?);
    }

    let warm = Duration::from_secs_f64((seconds_per_round / 3.0).clamp(0.2, 1.0));
    round(&native, Some(&bearer_value), projects, concurrency, warm).await?;
    web_round(&web1, concurrency, &authority, &bearer, projects, warm).await?;
    web_round(&web2, concurrency, &authority, &bearer, projects, warm).await?;

    let duration = Duration::from_secs_f64(seconds_per_round);
    let (mut native_totals, mut web1_totals, mut web2_totals) =
        (Totals::new(), Totals::new(), Totals::new());
    let (mut ratios1, mut ratios2) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let n = round(
            &native,
            Some(&bearer_value),
            projects,
            concurrency,
            duration,
        )
        .await?;
        let w1 = web_round(&web1, concurrency, &authority, &bearer, projects, duration).await?;
        let w2 = web_round(&web2, concurrency, &authority, &bearer, projects, duration).await?;
        eprintln!(
            "round {}: native {:.0} calls/s (p99 {:.2} ms), gRPC-Web HTTP/1.1 {:.0} (p99 {:.2} ms), gRPC-Web HTTP/2 {:.0} (p99 {:.2} ms)",
            r + 1,
            n.rate(),
            ms(&n.latencies, 0.99),
            w1.rate(),
            ms(&w1.latencies, 0.99),
            w2.rate(),
            ms(&w2.latencies, 0.99),
        );
        ratios1.push(w1.rate() / n.rate());
        ratios2.push(w2.rate() / n.rate());
        native_totals.add(&n)?;
        web1_totals.add(&w1)?;
        web2_totals.add(&w2)?;
    }
    let (ratio1, ratio2) = (median(ratios1), median(ratios2));
    let pinned = server_cpus.unwrap_or("unpinned");
    println!(
        "GetProject over gRPC-Web vs native gRPC, the same `pipeline serve` (SQLite, {projects} projects), \
         {concurrency} calls in flight, server on CPU {pinned}, {rounds} alternating rounds of {seconds_per_round} s"
    );
    println!(
        "| target | connections | calls/s | p50 / p99 ms | throughput / native (median of rounds) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let line = |name: &str, conns: usize, t: &Totals, ratio: Option<f64>| {
        println!(
            "| {name} | {conns} | {:.0} | {:.2} / {:.2} | {} |",
            median(t.rates.clone()),
            ms(&t.latencies, 0.50),
            ms(&t.latencies, 0.99),
            ratio.map_or("1".to_string(), |r| format!("{r:.3}")),
        )
    };
    line(
        "native gRPC (HTTP/2, tonic client)",
        connections,
        &native_totals,
        None,
    );
    line(
        "gRPC-Web, HTTP/1.1",
        concurrency,
        &web1_totals,
        Some(ratio1),
    );
    line("gRPC-Web, HTTP/2", connections, &web2_totals, Some(ratio2));
    println!(
        "{{\"bench\":\"grpc_web\",\"database\":\"sqlite\",\"projects\":{projects},\"concurrency\":{concurrency},\
         \"rounds\":{rounds},\"seconds_per_round\":{seconds_per_round},\"server_cpus\":\"{pinned}\",\
         \"native\":{},\"web_http1\":{},\"web_http2\":{},\"web_http1_ratio\":{ratio1:.4},\"web_http2_ratio\":{ratio2:.4}}}",
        native_totals.json(),
        web1_totals.json(),
        web2_totals.json(),
    );
    let errors = native_totals.errors + web1_totals.errors + web2_totals.errors;
    if errors > 0 {
        println!(
            "(errors: native {}, gRPC-Web HTTP/1.1 {}, HTTP/2 {})",
            native_totals.errors, web1_totals.errors, web2_totals.errors
        );
    }
    server.stop();
    Ok(())
}
