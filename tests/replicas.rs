//! Two `pipeline serve` processes on one PostgreSQL database: changes made on A reach
//! subscribers on B; A dies by SIGKILL in the middle of the workload and its subscribers resume
//! on B from their cursors; losing B's LISTEN connection only delays delivery until B polls.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::events::cursor;
use pipeline::proto::v1;
use tonic::transport::Channel;
use v1::event_service_client::EventServiceClient;
use v1::project_service_client::ProjectServiceClient;
use v1::watch_events_response::Response as Message;

use common::{Authed, Backend, TestServer, authed};

/// A server process, killed when dropped.
struct Replica {
    child: Child,
    addr: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// The child is moved into a `Replica` right away, whose Drop kills and reaps it; the lint
// cannot see through the guard.
#[allow(clippy::zombie_processes)]
async fn spawn_replica(url: &str) -> Replica {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "serve",
            "--database-url",
            url,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--poll-interval",
            "1s",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pipeline serve");
    let addr = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(endpoint) = Channel::from_shared(addr.clone())
            && let Ok(channel) = endpoint.connect().await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
            {
                return Replica { child, addr };
            }
        }
        assert!(Instant::now() < deadline, "replica did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(addr: &str, token: &str) -> Authed {
    authed(
        Channel::from_shared(addr.to_string())
            .unwrap()
            .connect()
            .await
            .unwrap(),
        token,
    )
}

fn project(i: usize) -> v1::CreateProjectRequest {
    v1::CreateProjectRequest {
        project_id: format!("p{i}"),
        project: Some(v1::Project {
            display_name: format!("项目{i}"),
            category: v1::ProjectCategory::Transport as i32,
            investment_type: v1::InvestmentType::Government as i32,
            township: "城关镇".into(),
            department: "县交通运输局".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Follows a stream, switching to `fallback` with the last cursor when the first server dies.
/// Returns the delivered sequence numbers once `until` is reached.
async fn follow(
    token: String,
    first: String,
    fallback: String,
    epoch: String,
    start: String,
    until: tokio::sync::watch::Receiver<Option<i64>>,
) -> (Vec<i64>, usize) {
    let mut delivered = Vec::new();
    let mut cursor_text = start;
    let mut addr = first;
    let mut switches = 0;
    loop {
        let mut client = EventServiceClient::new(
            match Channel::from_shared(addr.clone()).unwrap().connect().await {
                Ok(c) => authed(c, &token),
                Err(_) => {
                    addr = fallback.clone();
                    switches += 1;
                    continue;
                }
            },
        );
        let mut stream = match client
            .watch_events(v1::WatchEventsRequest {
                cursor: cursor_text.clone(),
                filter: None,
            })
            .await
        {
            Ok(s) => s.into_inner(),
            Err(_) => {
                addr = fallback.clone();
                switches += 1;
                continue;
            }
        };
        loop {
            if let Some(end) = *until.borrow()
                && cursor::decode(&cursor_text, &epoch).unwrap() >= end
            {
                return (delivered, switches);
            }
            match tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
                Ok(Ok(Some(m))) => match m.response.unwrap() {
                    Message::Batch(b) => {
                        delivered.extend(b.events.iter().map(|e| e.sequence));
                        cursor_text = b.cursor;
                    }
                    Message::Progress(p) => cursor_text = p.cursor,
                    Message::CaughtUp(c) => cursor_text = c.cursor,
                },
                Ok(Ok(None)) | Ok(Err(_)) => {
                    addr = fallback.clone();
                    switches += 1;
                    break;
                }
                Err(_) => {} // quiet; check `until` again
            }
        }
    }
}

async fn two_processes_lose_nothing(mut server: TestServer) {
    server.stop().await;
    let url = server.url.clone();
    // The stopped server closed its pool; the test reads the log through its own.
    let store = pipeline::store::Store::connect(&url).await.unwrap();
    let a = spawn_replica(&url).await;
    let b = spawn_replica(&url).await;
    let epoch = store.log_epoch().await.unwrap();
    let start = cursor::encode(&epoch, store.log_head().await.unwrap());
    let (until_tx, until_rx) = tokio::sync::watch::channel(None);
    let on_b = tokio::spawn(follow(
        server.admin_token.clone(),
        b.addr.clone(),
        b.addr.clone(),
        epoch.clone(),
        start.clone(),
        until_rx.clone(),
    ));
    let on_a = tokio::spawn(follow(
        server.admin_token.clone(),
        a.addr.clone(),
        b.addr.clone(),
        epoch.clone(),
        start.clone(),
        until_rx.clone(),
    ));

    // B's LISTEN connection is cut: delivery of a change made on A falls back to polling.
    let mut on_a_projects = ProjectServiceClient::new(connect(&a.addr, &server.admin_token).await);
    on_a_projects.create_project(project(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let terminated = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        ))
        .await
        .unwrap()
        .len();
    assert!(
        terminated >= 2,
        "both replicas listen ({terminated} listeners found)"
    );
    let mut probe = EventServiceClient::new(connect(&b.addr, &server.admin_token).await)
        .watch_events(v1::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let written = Instant::now();
    on_a_projects.create_project(project(1)).await.unwrap();
    let latency = loop {
        match tokio::time::timeout(Duration::from_secs(10), probe.message())
            .await
            .expect("delivered")
            .unwrap()
            .unwrap()
            .response
            .unwrap()
        {
            Message::Batch(_) => break written.elapsed(),
            _ => continue,
        }
    };
    eprintln!("delivery on B after its LISTEN connection was terminated: {latency:?}");
    assert!(
        latency < Duration::from_secs(3),
        "polling bounds the delay (took {latency:?})"
    );
    drop(probe);

    // A workload on A; A is killed with SIGKILL in the middle; writing goes on through B.
    let mut a = a;
    let mut on_b_projects = ProjectServiceClient::new(connect(&b.addr, &server.admin_token).await);
    for i in 2..60 {
        if i == 30 {
            a.child.kill().unwrap();
            a.child.wait().unwrap();
        }
        if i < 30 {
            on_a_projects.create_project(project(i)).await.unwrap();
        } else {
            on_b_projects.create_project(project(i)).await.unwrap();
        }
    }
    let head = store.log_head().await.unwrap();
    until_tx.send(Some(head)).unwrap();
    let log = store
        .read_log(cursor::decode(&start, &epoch).unwrap(), 100_000)
        .await
        .unwrap();
    let expected: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(expected.len(), 60);
    let (seen_b, _) = on_b.await.unwrap();
    assert_eq!(
        seen_b, expected,
        "the subscriber on B saw every change once, in order"
    );
    let (seen_a, switches) = on_a.await.unwrap();
    assert!(switches >= 1, "the subscriber on A had to move");
    assert_eq!(
        seen_a, expected,
        "the subscriber that was on A resumed on B without loss or repeats"
    );
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(pipeline_postgres_tests),
    ignore = "PostgreSQL only: set PIPELINE_TEST_DATABASE_URL to run it"
)]
async fn postgres_two_processes_lose_nothing() {
    two_processes_lose_nothing(TestServer::start(Backend::Postgres).await).await;
}
