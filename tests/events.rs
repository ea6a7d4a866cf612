//! EventService end to end on SQLite and PostgreSQL: a history checker over a random workload
//! with reconnecting readers, durable subscriptions, cursors and retention, stalled readers and
//! shutdown.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use pipeline::events::cursor;
use pipeline::events::log::LogEvent;
use pipeline::proto::v1;
use pipeline::store::Store;
use rand::Rng;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use common::{Authed, TestServer};
use v1::event_service_client::EventServiceClient;
use v1::project_service_client::ProjectServiceClient;
use v1::watch_events_response::Response as Message;

fn project(township: &str, name: &str) -> v1::Project {
    v1::Project {
        display_name: name.into(),
        category: v1::ProjectCategory::Water as i32,
        investment_type: v1::InvestmentType::Government as i32,
        township: township.into(),
        department: "县水利局".into(),
        ..Default::default()
    }
}

async fn whole_log(store: &Store) -> Vec<std::sync::Arc<LogEvent>> {
    pipeline::events::log::read(store, 0, 1_000_000)
        .await
        .unwrap()
}

fn info_metadata(status: &Status, key: &str) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get(key).cloned())
}

/// What one reader saw, for the checker.
#[derive(Default, Debug)]
struct Observed {
    /// Sequence numbers of delivered events, in delivery order.
    delivered: Vec<i64>,
    /// (cursor seq, number of events delivered when it arrived) for every heartbeat and
    /// caught-up marker.
    heartbeats: Vec<(i64, usize)>,
    /// Every batch's events belong to whole transactions: (batch cursor, event tx ends).
    batches: Vec<(i64, Vec<i64>)>,
    reconnects: usize,
}

/// Reads with `filter` from `start` until it has seen `until`, dropping the stream at random
/// and resuming from the last cursor it got.
async fn reader(
    client: EventServiceClient<Authed>,
    epoch: String,
    filter: v1::EventFilter,
    start: String,
    until: tokio::sync::watch::Receiver<Option<i64>>,
    seed: u64,
) -> Observed {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut observed = Observed::default();
    let mut cursor_text = start;
    'connect: loop {
        let mut client = client.clone();
        let mut stream = client
            .watch_events(v1::WatchEventsRequest {
                cursor: cursor_text.clone(),
                filter: Some(filter.clone()),
            })
            .await
            .expect("watch")
            .into_inner();
        loop {
            let pos = cursor::decode(&cursor_text, &epoch).unwrap();
            if let Some(end) = *until.borrow()
                && pos >= end
            {
                return observed;
            }
            let message =
                match tokio::time::timeout(Duration::from_secs(20), stream.message()).await {
                    Ok(Ok(Some(m))) => m,
                    other => panic!("stream broke: {other:?}"),
                };
            match message.response.expect("a response") {
                Message::Batch(batch) => {
                    let seq = cursor::decode(&batch.cursor, &epoch).unwrap();
                    observed
                        .delivered
                        .extend(batch.events.iter().map(|e| e.sequence));
                    observed.batches.push((
                        seq,
                        batch
                            .events
                            .iter()
                            .map(|e| e.transaction_end_sequence)
                            .collect(),
                    ));
                    cursor_text = batch.cursor;
                }
                Message::Progress(p) => {
                    observed.heartbeats.push((
                        cursor::decode(&p.cursor, &epoch).unwrap(),
                        observed.delivered.len(),
                    ));
                    cursor_text = p.cursor;
                }
                Message::CaughtUp(c) => {
                    observed.heartbeats.push((
                        cursor::decode(&c.cursor, &epoch).unwrap(),
                        observed.delivered.len(),
                    ));
                    cursor_text = c.cursor;
                }
            }
            if rng.random_bool(0.15) {
                observed.reconnects += 1;
                continue 'connect;
            }
        }
    }
}

/// Every committed matching event after `start` is delivered once, in order; nothing else is;
/// batches hold whole transactions; heartbeats never run ahead of undelivered events.
fn check(
    name: &str,
    log: &[std::sync::Arc<LogEvent>],
    start: i64,
    observed: &Observed,
    matches: impl Fn(&LogEvent) -> bool,
) {
    let expected: Vec<i64> = log
        .iter()
        .filter(|e| e.seq > start && matches(e))
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        observed.delivered, expected,
        "{name}: delivered events differ from the committed matching ones"
    );
    for (cursor, delivered_then) in &observed.heartbeats {
        let due = expected.iter().filter(|s| *s <= cursor).count();
        assert!(
            due <= *delivered_then,
            "{name}: a heartbeat at {cursor} ran ahead of undelivered events"
        );
    }
    let tx_end: HashMap<i64, i64> = log.iter().map(|e| (e.seq, e.transaction_end_seq)).collect();
    for (cursor, ends) in &observed.batches {
        for end in ends {
            assert!(
                end <= cursor,
                "{name}: a batch cursor {cursor} splits transaction ending at {end}"
            );
        }
    }
    let _ = tx_end;
}

async fn history_checker(server: TestServer) {
    let epoch = server.store.log_epoch().await.unwrap();
    let start_seq = server.store.log_head().await.unwrap();
    let start = cursor::encode(&epoch, start_seq);
    let events_client = server.events().await;
    let (until_tx, until_rx) = tokio::sync::watch::channel(None);
    let filters = [
        ("all", v1::EventFilter::default()),
        (
            "township A",
            v1::EventFilter {
                townships: vec!["甲镇".into()],
                ..Default::default()
            },
        ),
        (
            "updates",
            v1::EventFilter {
                kinds: vec![v1::EventKind::ProjectUpdated as i32],
                ..Default::default()
            },
        ),
    ];
    let mut readers = Vec::new();
    for (i, (_, filter)) in filters.iter().enumerate() {
        readers.push(tokio::spawn(reader(
            events_client.clone(),
            epoch.clone(),
            filter.clone(),
            start.clone(),
            until_rx.clone(),
            i as u64 + 7,
        )));
    }
    let projects = server.projects().await;
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c: ProjectServiceClient<Authed> = projects.clone();
        writers.push(tokio::spawn(async move {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(w);
            let mut mine = Vec::new();
            for i in 0..30 {
                let township = if rng.random_bool(0.5) {
                    "甲镇"
                } else {
                    "乙镇"
                };
                match rng.random_range(0..4) {
                    0 | 1 => {
                        let id = format!("w{w}-{i}");
                        c.create_project(v1::CreateProjectRequest {
                            project: Some(project(township, &id)),
                            project_id: id.clone(),
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                        mine.push(id);
                    }
                    2 if !mine.is_empty() => {
                        let id = &mine[rng.random_range(0..mine.len())];
                        c.update_project(v1::UpdateProjectRequest {
                            project: Some(v1::Project {
                                name: format!("projects/{id}"),
                                completed_investment_yuan: rng.random_range(1..1_000_000),
                                ..Default::default()
                            }),
                            update_mask: None,
                        })
                        .await
                        .unwrap();
                    }
                    _ if !mine.is_empty() => {
                        // Rolled back: a duplicate id writes nothing and emits nothing.
                        let err = c
                            .create_project(v1::CreateProjectRequest {
                                project: Some(project(township, "dup")),
                                project_id: mine[0].clone(),
                                ..Default::default()
                            })
                            .await
                            .unwrap_err();
                        assert_eq!(err.code(), Code::AlreadyExists);
                    }
                    _ => {}
                }
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let head = server.store.log_head().await.unwrap();
    until_tx.send(Some(head)).unwrap();
    let log = whole_log(&server.store).await;
    assert!(log.len() > 40, "the workload wrote {} events", log.len());
    let mut reconnects = 0;
    for (reader, (name, _)) in readers.into_iter().zip(filters.iter()) {
        let observed = reader.await.unwrap();
        reconnects += observed.reconnects;
        match *name {
            "all" => check(name, &log, start_seq, &observed, |_| true),
            "township A" => check(name, &log, start_seq, &observed, |e| e.township == "甲镇"),
            _ => check(name, &log, start_seq, &observed, |e| {
                e.kind() == v1::EventKind::ProjectUpdated
            }),
        }
    }
    assert!(reconnects > 5, "readers reconnected {reconnects} times");
}

async fn durable_subscription_catches_up(server: TestServer) {
    let mut events = server.events().await;
    let sub = events
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription_id: "duchashi-bot".into(),
            subscription: Some(v1::Subscription {
                display_name: "县委督查室机器人".into(),
                filter: Some(v1::EventFilter {
                    townships: vec!["甲镇".into()],
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sub.name, "subscriptions/duchashi-bot");
    // 1,000 changes while the subscriber is offline: 400 in 甲镇.
    let projects = server.projects().await;
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = projects.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..250 {
                let township = if i % 5 < 2 { "甲镇" } else { "乙镇" };
                c.create_project(v1::CreateProjectRequest {
                    project: Some(project(township, &format!("p{w}-{i}"))),
                    ..Default::default()
                })
                .await
                .unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut received = Vec::new();
    let mut last_cursor = String::new();
    let mut stream = events
        .stream_subscription(v1::StreamSubscriptionRequest {
            name: sub.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.message().await.unwrap() {
        match message.response.unwrap() {
            Message::Batch(b) => {
                received.extend(b.events);
                last_cursor = b.cursor;
            }
            Message::CaughtUp(c) => {
                last_cursor = c.cursor;
                break;
            }
            Message::Progress(_) => {}
        }
    }
    drop(stream);
    assert_eq!(received.len(), 400);
    assert!(received.iter().all(|e| match &e.detail {
        Some(v1::event::Detail::ProjectAfter(p)) => p.township == "甲镇",
        _ => false,
    }));
    assert!(received.windows(2).all(|w| w[0].sequence < w[1].sequence));

    // Acknowledge; the next connection starts after it. Backwards is ignored, ahead refused.
    let acked = events
        .acknowledge_subscription(v1::AcknowledgeSubscriptionRequest {
            name: sub.name.clone(),
            cursor: last_cursor.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acked.acknowledged_cursor, last_cursor);
    let unchanged = events
        .acknowledge_subscription(v1::AcknowledgeSubscriptionRequest {
            name: sub.name.clone(),
            cursor: sub.acknowledged_cursor.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        unchanged.acknowledged_cursor, last_cursor,
        "acknowledging never moves backwards"
    );
    let epoch = server.store.log_epoch().await.unwrap();
    let head = server.store.log_head().await.unwrap();
    let err = events
        .acknowledge_subscription(v1::AcknowledgeSubscriptionRequest {
            name: sub.name.clone(),
            cursor: cursor::encode(&epoch, head + 10),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut stream = events
        .stream_subscription(v1::StreamSubscriptionRequest {
            name: sub.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    match stream.message().await.unwrap().unwrap().response.unwrap() {
        Message::CaughtUp(c) => assert_eq!(c.cursor, last_cursor),
        other => panic!("expected only the caught-up marker, got {other:?}"),
    }
    drop(stream);

    let listed = events
        .list_subscriptions(v1::ListSubscriptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.subscriptions.len(), 1);
    events
        .delete_subscription(v1::DeleteSubscriptionRequest {
            name: sub.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let err = events
        .get_subscription(v1::GetSubscriptionRequest {
            name: sub.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

async fn cursors_and_retention(server: TestServer) {
    let mut events = server.events().await;
    let mut projects = server.projects().await;
    let epoch = server.store.log_epoch().await.unwrap();
    for i in 0..5 {
        projects
            .create_project(v1::CreateProjectRequest {
                project: Some(project("甲镇", &format!("r{i}"))),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let watcher = events.clone();
    let watch = |cursor: String| {
        let mut c = watcher.clone();
        async move {
            c.watch_events(v1::WatchEventsRequest {
                cursor,
                filter: None,
            })
            .await
        }
    };
    for bad in [
        "garbage",
        &cursor::encode("another-database", 1),
        &cursor::encode(&epoch, 99),
    ] {
        let err = watch(bad.to_string()).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
    }
    let err = events
        .watch_events(v1::WatchEventsRequest {
            cursor: String::new(),
            filter: Some(v1::EventFilter {
                kinds: vec![999],
                projects: vec!["nope".into()],
                min_slip_days: -1,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    let fields: Vec<String> = err
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(
        fields,
        vec![
            "filter.projects[0]",
            "filter.kinds[0]",
            "filter.min_slip_days"
        ]
    );

    // A live subscription holds the log back; once it is gone, retention prunes.
    events
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription_id: "holder".into(),
            start_cursor: cursor::encode(&epoch, 0),
            subscription: Some(v1::Subscription {
                display_name: "holder".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let future = chrono::Utc::now().timestamp_micros() + 1_000_000;
    // Every event is old enough, but the subscription was active within the age limit.
    let deleted = server.store.prune_log(future, 0, 1000).await.unwrap();
    assert_eq!(deleted, 0, "the subscription has acknowledged nothing yet");
    events
        .delete_subscription(v1::DeleteSubscriptionRequest {
            name: "subscriptions/holder".into(),
            etag: String::new(),
        })
        .await
        .unwrap();
    let deleted = pipeline::events::retention::prune_once(&server.store, Duration::ZERO, future)
        .await
        .unwrap();
    assert_eq!(deleted, 5);
    let err = watch(cursor::encode(&epoch, 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let oldest = info_metadata(&err, "oldest_cursor").expect("the oldest usable cursor");
    assert_eq!(cursor::decode(&oldest, &epoch), Ok(5));
    // From the oldest cursor, new events still arrive.
    let mut stream = watch(oldest).await.unwrap().into_inner();
    projects
        .create_project(v1::CreateProjectRequest {
            project: Some(project("甲镇", "after")),
            ..Default::default()
        })
        .await
        .unwrap();
    loop {
        match stream.message().await.unwrap().unwrap().response.unwrap() {
            Message::Batch(b) => {
                assert_eq!(b.events[0].sequence, 6);
                break;
            }
            _ => continue,
        }
    }
}

async fn stalled_reader_and_shutdown(mut server: TestServer) {
    let mut events = server.events().await;
    // A reader that never reads, on its own connection with the smallest HTTP/2 windows, so
    // that flow control pushes back on the server quickly.
    let small_window = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut stalled_client =
        EventServiceClient::new(common::authed(small_window, &server.admin_token));
    let mut stalled = stalled_client
        .watch_events(v1::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut healthy = events
        .watch_events(v1::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let writer = {
        let mut c = server.projects().await;
        tokio::spawn(async move {
            let long = "很长的项目说明".repeat(200);
            for i in 0..200 {
                c.create_project(v1::CreateProjectRequest {
                    project: Some(v1::Project {
                        description: long.clone(),
                        ..project("甲镇", &format!("s{i}"))
                    }),
                    ..Default::default()
                })
                .await
                .unwrap();
            }
        })
    };
    let mut healthy_count = 0;
    while healthy_count < 200 {
        let message = tokio::time::timeout(Duration::from_secs(20), healthy.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(Message::Batch(b)) = message.response {
            healthy_count += b.events.len();
        }
    }
    writer.await.unwrap();
    // Past the stall limit the stalled stream is cut off with its last cursor.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut stalled_count = 0;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), stalled.message())
            .await
            .expect("the stalled stream ends")
        {
            Ok(Some(m)) => {
                if let Some(Message::Batch(b)) = m.response {
                    stalled_count += b.events.len();
                }
            }
            Ok(None) => panic!("the stalled stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        stalled_count < 200,
        "the stalled reader was cut off before the end"
    );
    let resume = info_metadata(&status, "cursor").expect("the cursor to resume from");
    let mut resumed = stalled_client
        .watch_events(v1::WatchEventsRequest {
            cursor: resume,
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        match resumed.message().await.unwrap().unwrap().response.unwrap() {
            Message::Batch(b) => stalled_count += b.events.len(),
            Message::CaughtUp(_) => break,
            Message::Progress(_) => {}
        }
    }
    assert_eq!(
        stalled_count, 200,
        "resuming from the cursor delivered the rest, once"
    );

    // Heartbeats arrive on a quiet stream.
    match tokio::time::timeout(Duration::from_secs(5), healthy.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .response
        .unwrap()
    {
        Message::Progress(_) | Message::CaughtUp(_) => {}
        other => panic!("expected a heartbeat, got {other:?}"),
    }
    // Shutdown ends streams with UNAVAILABLE and a cursor.
    let stop = tokio::spawn(async move {
        server.stop().await;
        server
    });
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), healthy.message())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable);
    assert!(info_metadata(&status, "cursor").is_some());
    stop.await.unwrap();
}

/// Sends one WatchEvents request over HTTP/2 with the given extra header and body, and returns
/// the response head and, for a stream that opened, its first message.
async fn raw_watch(
    server: &TestServer,
    token: Option<&str>,
    header: Option<(&str, &str)>,
    body: &'static [u8],
) -> (http::response::Parts, Option<bytes::Bytes>) {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let mut request = http::Request::post(format!(
        "http://{}/pipeline.v1.EventService/WatchEvents",
        server.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let (response, mut stream) = send.send_request(request.body(()).unwrap(), false).unwrap();
    // The server may answer a request it refuses from its headers alone (no token, say) and
    // close the stream before the body is queued: the answer is what the test reads.
    stream.send_data(bytes::Bytes::from_static(body), true).ok();
    let (parts, mut body) = response.await.unwrap().into_parts();
    let first = if parts.headers.contains_key("grpc-status") {
        None
    } else {
        Some(body.data().await.unwrap().unwrap())
    };
    (parts, first)
}

/// A socket whose reads can be stopped and resumed, as a client that hangs and comes back.
struct Freezable {
    tcp: tokio::net::TcpStream,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thawed: std::sync::Arc<tokio::sync::Notify>,
}

impl tokio::io::AsyncRead for Freezable {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        if self.frozen.load(std::sync::atomic::Ordering::Acquire) {
            let thawed = self.thawed.clone();
            let mut wait = std::pin::pin!(thawed.notified());
            if wait.as_mut().poll(cx).is_pending()
                && self.frozen.load(std::sync::atomic::Ordering::Acquire)
            {
                // Wake the connection again later to look at the flag.
                let waker = cx.waker().clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    waker.wake();
                });
                return std::task::Poll::Pending;
            }
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

/// Issue 15, case 6: a client that advertises 16 MiB HTTP/2 windows and then stops reading its
/// socket. The server holds its stream back once the socket is full (instead of queueing what
/// the window allows) and, when the client reads again after more than the stall limit, ends
/// the stream with RESOURCE_EXHAUSTED / STREAM_STALLED and the cursor to resume from; resuming
/// delivers the rest exactly once. (What the server holds meanwhile is measured by
/// `pipeline-bench fanout --stalled-frozen`, see BENCHMARKS.md.)
async fn a_hung_client_with_huge_windows_is_held_back_and_cut_off(server: TestServer) {
    use prost::Message as _;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr).await.unwrap();
    let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let thawed = std::sync::Arc::new(tokio::sync::Notify::new());
    let io = Freezable {
        tcp,
        frozen: frozen.clone(),
        thawed: thawed.clone(),
    };
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(16 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, bytes::Bytes>(io)
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let request = http::Request::post(format!(
        "http://{}/pipeline.v1.EventService/WatchEvents",
        server.addr
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {}", server.admin_token))
    .body(())
    .unwrap();
    let (response, mut stream) = send.send_request(request, false).unwrap();
    stream
        .send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
        .unwrap();
    let mut body = response.await.unwrap().into_body();
    frozen.store(true, std::sync::atomic::Ordering::Release);

    // 600 writes of about 12 KB each: 7 MB, more than the kernel's socket buffers hold (Linux
    // lets a send buffer grow to 4 MiB), so the rest has to wait in the server.
    const WRITES: usize = 600;
    let mut projects = server.projects().await;
    let long = "项".repeat(4000);
    for i in 0..WRITES {
        projects
            .create_project(v1::CreateProjectRequest {
                project: Some(v1::Project {
                    description: long.clone(),
                    ..project("乙镇", &format!("hung {i}"))
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // Past the stall limit (2 s in tests), the client reads again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    frozen.store(false, std::sync::atomic::Ordering::Release);
    thawed.notify_waiters();
    let mut buffer = bytes::BytesMut::new();
    let mut delivered = 0;
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), body.data())
        .await
        .expect("the stream neither sent nor ended")
    {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        buffer.extend_from_slice(&chunk);
        while buffer.len() >= 5 {
            let len = u32::from_be_bytes(buffer[1..5].try_into().unwrap()) as usize;
            if buffer.len() < 5 + len {
                break;
            }
            let frame = buffer.split_to(5 + len);
            let message = v1::WatchEventsResponse::decode(&frame[5..]).unwrap();
            if let Some(Message::Batch(batch)) = message.response {
                delivered += batch.events.len();
            }
        }
        assert!(delivered < WRITES, "the hung client was not cut off");
    }
    let trailers = tokio::time::timeout(Duration::from_secs(20), body.trailers())
        .await
        .expect("no trailers")
        .unwrap()
        .expect("the stream's status");
    let status = Status::from_header_map(&trailers).unwrap();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "STREAM_STALLED"
    );
    assert!(
        delivered < WRITES,
        "the hung client was cut off before the end"
    );
    let resume = info_metadata(&status, "cursor").expect("the cursor to resume from");
    let mut resumed = server
        .events()
        .await
        .watch_events(v1::WatchEventsRequest {
            cursor: resume,
            filter: None,
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        match resumed.message().await.unwrap().unwrap().response.unwrap() {
            Message::Batch(b) => delivered += b.events.len(),
            Message::CaughtUp(_) => break,
            Message::Progress(_) => {}
        }
    }
    assert_eq!(delivered, WRITES, "resuming delivered the rest, once");
}

/// The ErrorInfo reason of a trailers-only response.
fn head_reason(parts: &http::response::Parts) -> String {
    let status = Status::from_header_map(&parts.headers).expect("a status in the head");
    let details = status.get_error_details();
    let info = details.error_info().expect("every error carries ErrorInfo");
    assert_eq!(info.domain, "pipeline.v1");
    info.reason.clone()
}

fn grpc_status(parts: &http::response::Parts) -> Option<i32> {
    parts
        .headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

/// The stream RPCs are answered outside tonic's generated handler; their requests must still be
/// read as tonic reads them, and their responses framed as tonic frames them.
async fn stream_requests_read_as_tonic_reads_them(server: TestServer) {
    let admin = Some(server.admin_token.as_str());
    // An empty WatchEventsRequest opens a stream whose first message is the caught-up marker.
    let (parts, first) = raw_watch(&server, admin, None, &[0, 0, 0, 0, 0]).await;
    assert_eq!(parts.status, http::StatusCode::OK);
    assert_eq!(parts.headers["content-type"], "application/grpc");
    assert_eq!(grpc_status(&parts), None);
    let first = first.unwrap();
    assert_eq!(first[0], 0, "not compressed");
    let len = u32::from_be_bytes(first[1..5].try_into().unwrap()) as usize;
    assert_eq!(first.len(), 5 + len);
    let message = <v1::WatchEventsResponse as prost::Message>::decode(&first[5..]).unwrap();
    assert!(matches!(message.response, Some(Message::CaughtUp(_))));

    // Compression is not enabled on this server.
    let (parts, _) = raw_watch(
        &server,
        admin,
        Some(("grpc-encoding", "gzip")),
        &[0, 0, 0, 0, 0],
    )
    .await;
    assert_eq!(grpc_status(&parts), Some(Code::Unimplemented as i32));
    assert_eq!(parts.headers["grpc-accept-encoding"], "identity");
    // A body that is not a WatchEventsRequest, and no message at all: the client's fault.
    let (parts, _) = raw_watch(&server, admin, None, &[0, 0, 0, 0, 2, 0xff, 0xff]).await;
    assert_eq!(grpc_status(&parts), Some(Code::InvalidArgument as i32));
    assert_eq!(head_reason(&parts), "MALFORMED_REQUEST");
    let (parts, _) = raw_watch(&server, admin, None, &[]).await;
    assert_eq!(grpc_status(&parts), Some(Code::InvalidArgument as i32));
    assert_eq!(head_reason(&parts), "MALFORMED_REQUEST");
    // A message over --max-message-bytes (4 MiB by default): gRPC's RESOURCE_EXHAUSTED.
    let (parts, _) = raw_watch(&server, admin, None, &[0, 0x7f, 0, 0, 0]).await;
    assert_eq!(grpc_status(&parts), Some(Code::ResourceExhausted as i32));
    assert_eq!(head_reason(&parts), "MESSAGE_TOO_LARGE");
    // Without a token: refused before the stream opens.
    let (parts, _) = raw_watch(&server, None, None, &[0, 0, 0, 0, 0]).await;
    assert_eq!(grpc_status(&parts), Some(Code::Unauthenticated as i32));

    // And through tonic's client, a subscription's stream works the same way.
    let mut events = server.events().await;
    let sub = events
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription_id: "raw".into(),
            subscription: Some(v1::Subscription {
                display_name: "raw".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut stream = events
        .stream_subscription(v1::StreamSubscriptionRequest { name: sub.name })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(matches!(first.response, Some(Message::CaughtUp(_))));
    let missing = events
        .stream_subscription(v1::StreamSubscriptionRequest {
            name: "subscriptions/none".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

/// The log's head as a cursor: the caught-up marker a stream from now starts with.
async fn head_cursor(events: &mut EventServiceClient<Authed>) -> String {
    let first = events
        .watch_events(v1::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(Message::CaughtUp(v1::CaughtUp { cursor })) = first.response else {
        panic!("expected the caught-up marker first");
    };
    cursor
}

/// A WatchEvents stream from `cursor`, with no filter.
async fn watch_from(
    events: &mut EventServiceClient<Authed>,
    cursor: &str,
) -> tonic::Streaming<v1::WatchEventsResponse> {
    events
        .watch_events(v1::WatchEventsRequest {
            cursor: cursor.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Reads a stream until the caught-up marker: the events of every batch, and the batches' encoded
/// sizes (each must be under `limit`).
async fn read_until_caught_up(
    stream: &mut tonic::Streaming<v1::WatchEventsResponse>,
    limit: usize,
) -> (Vec<v1::Event>, usize) {
    use prost::Message as _;
    let mut events = Vec::new();
    let mut batches = 0;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the stream went quiet before catching up")
            .unwrap_or_else(|status| panic!("the stream ended: {status:?}"))
            .expect("the stream closed");
        assert!(message.encoded_len() <= limit, "a message over the limit");
        match message.response {
            Some(Message::Batch(batch)) => {
                batches += 1;
                events.extend(batch.events);
            }
            Some(Message::CaughtUp(_)) => return (events, batches),
            Some(Message::Progress(_)) => {}
            None => panic!("an empty response"),
        }
    }
}

/// Issue 15, case 1: a reader that fell behind a backlog larger than the message limit catches
/// up in as many batches as the limit needs, from the shared window and from the database, on
/// WatchEvents and on a subscription's stream, with the server's byte budget per batch and
/// with only the message limit bounding a batch.
async fn a_reader_behind_catches_up_under_the_message_limit(mut server: TestServer) {
    let today = server.today;
    const LIMIT: usize = 65_536;
    for batch_bytes in [usize::MAX, 16 * 1024] {
        server
            .restart_with(today, |o| {
                o.max_message_bytes = LIMIT;
                o.streams.batch_bytes = batch_bytes;
            })
            .await;
        let mut events = server.events().await;
        let mut projects = server.projects().await;
        let before = head_cursor(&mut events).await;
        let sub = events
            .create_subscription(v1::CreateSubscriptionRequest {
                subscription: Some(v1::Subscription {
                    display_name: format!("behind {batch_bytes}"),
                    ..Default::default()
                }),
                start_cursor: before.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        // 20 projects of about 9 KB each (3,000 CJK characters): 180 KB, three limits' worth.
        let mut created = Vec::new();
        for i in 0..20 {
            let project = projects
                .create_project(v1::CreateProjectRequest {
                    project: Some(v1::Project {
                        description: "项".repeat(3000),
                        ..project("甲镇", &format!("积压 {batch_bytes} {i}"))
                    }),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            created.push(project.name);
        }
        let check = |(got, batches): (Vec<v1::Event>, usize), path: &str| {
            let names: Vec<String> = got.iter().map(|e| e.project.clone()).collect();
            assert_eq!(names, created, "{path}: every event once, in order");
            assert!(
                batches >= 3,
                "{path}: {batches} batches for 180 KB under 64 KiB"
            );
        };
        // The tailer may not have read all 20 yet: wait for it through a live stream.
        let mut live = watch_from(&mut events, &before).await;
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let message = tokio::time::timeout(Duration::from_secs(10), live.message())
                .await
                .expect("the live stream went quiet")
                .unwrap()
                .unwrap();
            if let Some(Message::Batch(batch)) = message.response {
                seen.extend(batch.events);
            }
        }
        drop(live);
        // From the shared window.
        let mut stream = watch_from(&mut events, &before).await;
        check(read_until_caught_up(&mut stream, LIMIT).await, "window");
        let mut stream = events
            .stream_subscription(v1::StreamSubscriptionRequest {
                name: sub.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        check(
            read_until_caught_up(&mut stream, LIMIT).await,
            "subscription",
        );
        // From the database: after a restart the window starts at the head.
        server
            .restart_with(today, |o| {
                o.max_message_bytes = LIMIT;
                o.streams.batch_bytes = batch_bytes;
            })
            .await;
        let mut events = server.events().await;
        for attempt in 0..2 {
            let mut stream = watch_from(&mut events, &before).await;
            check(
                read_until_caught_up(&mut stream, LIMIT).await,
                &format!("database, reconnect {attempt}"),
            );
        }
        let mut stream = events
            .stream_subscription(v1::StreamSubscriptionRequest { name: sub.name })
            .await
            .unwrap()
            .into_inner();
        check(
            read_until_caught_up(&mut stream, LIMIT).await,
            "subscription from the database",
        );
    }
}

/// Writes that each fit the message limit reach a reader that was behind in separate batches;
/// only a single transaction larger than the limit ends the stream: RESOURCE_EXHAUSTED (gRPC's
/// code for a message over a limit) with reason MESSAGE_TOO_LARGE and the cursor before that
/// transaction, so resuming (with a larger limit) skips nothing.
async fn oversized_batch_keeps_its_cursor(mut server: TestServer) {
    let today = server.today;
    server
        .restart_with(today, |o| o.max_message_bytes = 2048)
        .await;
    let mut projects = server.projects().await;
    let mut events = server.events().await;
    let before = head_cursor(&mut events).await;
    // Three writes, each well under the limit but over it together.
    for i in 0..3 {
        projects
            .create_project(v1::CreateProjectRequest {
                project_id: format!("long-{i}"),
                project: Some(v1::Project {
                    description: "说明".repeat(150),
                    ..project("甲镇", &format!("说明很长的项目 {i}"))
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // The writes are committed, but this process's log tailer may not have read all three
    // yet: read until all three arrived.
    let mut stream = watch_from(&mut events, &before).await;
    let mut got = Vec::new();
    let mut after_three = None;
    while got.len() < 3 {
        let message = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the three events never arrived")
            .unwrap_or_else(|status| panic!("the stream ended: {status:?}"))
            .unwrap();
        if let Some(Message::Batch(batch)) = message.response {
            assert_eq!(
                batch.events.len(),
                1,
                "each write alone fits, two together do not"
            );
            got.extend(batch.events);
            after_three = Some(batch.cursor);
        }
    }
    let names: Vec<&str> = got.iter().map(|e| e.project.as_str()).collect();
    assert_eq!(
        names,
        ["projects/long-0", "projects/long-1", "projects/long-2"]
    );
    let after_three = after_three.unwrap();
    drop(stream);
    // One write larger than the limit on its own: made while the limit is larger (the request
    // alone would be over 2 KiB), then read with the 2 KiB limit again.
    server
        .restart_with(today, |o| o.max_message_bytes = 8192)
        .await;
    server
        .projects()
        .await
        .create_project(v1::CreateProjectRequest {
            project_id: "huge".into(),
            project: Some(v1::Project {
                description: "说明".repeat(600),
                ..project("甲镇", "说明超长的项目")
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    server
        .restart_with(today, |o| o.max_message_bytes = 2048)
        .await;
    let mut events = server.events().await;
    let mut stream = watch_from(&mut events, &after_three).await;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the stream neither sent nor ended")
        {
            Ok(Some(message)) => match message.response {
                Some(Message::Batch(batch)) => panic!("the oversized batch was sent: {batch:?}"),
                _ => continue,
            },
            Ok(None) => panic!("the stream closed without a status"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(info_metadata(&status, "cursor"), Some(after_three.clone()));
    assert!(
        status.message().contains(&after_three),
        "{}",
        status.message()
    );
    // A reader resuming from the start gets the three small writes, then the same ending.
    let mut stream = watch_from(&mut events, &before).await;
    let mut batches = 0;
    let status = loop {
        match stream.message().await {
            Ok(Some(v1::WatchEventsResponse {
                response: Some(Message::Batch(batch)),
            })) => {
                assert_eq!(batch.events.len(), 1);
                batches += 1;
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(status) => break status,
        }
    };
    assert_eq!(batches, 3);
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(info_metadata(&status, "cursor"), Some(after_three));
}

/// A subscription is refused at creation when its start is older than the retained log (it
/// could never stream); a stale subscription cannot be acknowledged to a pruned position, but
/// can to the oldest retained one, from which it streams again.
async fn expired_cursors_make_no_subscription(server: TestServer) {
    let mut events = server.events().await;
    let mut projects = server.projects().await;
    let epoch = server.store.log_epoch().await.unwrap();
    let create = |i: usize| v1::CreateProjectRequest {
        project: Some(project("甲镇", &format!("e{i}"))),
        ..Default::default()
    };
    for i in 0..5 {
        projects.create_project(create(i)).await.unwrap();
    }
    let future = chrono::Utc::now().timestamp_micros() + 1_000_000;
    let deleted = pipeline::events::retention::prune_once(&server.store, Duration::ZERO, future)
        .await
        .unwrap();
    assert_eq!(deleted, 5);
    let subscribe = |id: &str, start: String| v1::CreateSubscriptionRequest {
        subscription_id: id.into(),
        start_cursor: start,
        subscription: Some(v1::Subscription {
            display_name: id.into(),
            ..Default::default()
        }),
        request_id: format!("create-{id}"),
    };
    let err = events
        .create_subscription(subscribe("too-old", cursor::encode(&epoch, 1)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(common::reason_of(&err), "CURSOR_EXPIRED");
    let oldest = info_metadata(&err, "oldest_cursor").expect("the oldest usable cursor");
    assert_eq!(cursor::decode(&oldest, &epoch), Ok(5));
    let listed = events
        .list_subscriptions(v1::ListSubscriptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.subscriptions.is_empty(), "nothing was created");

    // From the oldest cursor it is created and streams.
    let sub = events
        .create_subscription(subscribe("stale", oldest.clone()))
        .await
        .unwrap()
        .into_inner();
    let client = events.clone();
    let first_message = |name: String| {
        let mut c = client.clone();
        async move {
            let mut stream = c
                .stream_subscription(v1::StreamSubscriptionRequest { name })
                .await?
                .into_inner();
            Ok::<_, Status>(stream.message().await?.unwrap().response.unwrap())
        }
    };
    match first_message(sub.name.clone()).await.unwrap() {
        Message::CaughtUp(c) => assert_eq!(c.cursor, oldest),
        other => panic!("expected the caught-up marker, got {other:?}"),
    }

    // Three more events; the subscription goes quiet and retention prunes past it.
    for i in 5..8 {
        projects.create_project(create(i)).await.unwrap();
    }
    let future = chrono::Utc::now().timestamp_micros() + 1_000_000;
    let deleted = server.store.prune_log(future, future, 1000).await.unwrap();
    assert_eq!(deleted, 3, "a quiet subscription holds nothing back");
    let err = first_message(sub.name.clone()).await.unwrap_err();
    assert_eq!(common::reason_of(&err), "CURSOR_EXPIRED");
    let acknowledge = |cursor: String| {
        let mut c = client.clone();
        let name = sub.name.clone();
        async move {
            c.acknowledge_subscription(v1::AcknowledgeSubscriptionRequest { name, cursor })
                .await
                .map(|r| r.into_inner())
        }
    };
    // Acknowledging a position that is still pruned would leave it unable to stream.
    let err = acknowledge(cursor::encode(&epoch, 6)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(common::reason_of(&err), "CURSOR_EXPIRED");
    let oldest = info_metadata(&err, "oldest_cursor").expect("the oldest usable cursor");
    assert_eq!(cursor::decode(&oldest, &epoch), Ok(8));
    let unchanged = events
        .get_subscription(v1::GetSubscriptionRequest {
            name: sub.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        unchanged.etag, sub.etag,
        "the refused acknowledgment changed nothing"
    );
    // Acknowledged to the oldest retained position it streams again; an older cursor after
    // that is accepted and changes nothing.
    let acked = acknowledge(oldest.clone()).await.unwrap();
    assert_eq!(acked.acknowledged_cursor, oldest);
    match first_message(sub.name.clone()).await.unwrap() {
        Message::CaughtUp(c) => assert_eq!(c.cursor, oldest),
        other => panic!("expected the caught-up marker, got {other:?}"),
    }
    let older = acknowledge(cursor::encode(&epoch, 6)).await.unwrap();
    assert_eq!(older.acknowledged_cursor, oldest);
}

/// An event filter lists at most 100 projects, 50 townships, 50 departments and each event
/// kind once, every entry once: a subscription keeps its filter and must fit in a response.
async fn filter_lists_are_bounded(server: TestServer) {
    let mut events = server.events().await;
    let project = |i: usize| format!("projects/p{i}");
    let cases: Vec<(v1::EventFilter, &str)> = vec![
        (
            v1::EventFilter {
                projects: (0..101).map(project).collect(),
                ..Default::default()
            },
            "projects",
        ),
        (
            v1::EventFilter {
                townships: (0..100_000).map(|i| format!("镇{i}")).collect(),
                ..Default::default()
            },
            "townships",
        ),
        (
            v1::EventFilter {
                departments: (0..51).map(|i| format!("局{i}")).collect(),
                ..Default::default()
            },
            "departments",
        ),
        (
            v1::EventFilter {
                // One entry more than there are kinds.
                kinds: vec![
                    v1::EventKind::ProjectCreated as i32;
                    (1..=255)
                        .filter(|n| v1::EventKind::try_from(*n).is_ok())
                        .count()
                        + 1
                ],
                ..Default::default()
            },
            "kinds",
        ),
        (
            v1::EventFilter {
                townships: vec!["甲镇".into(), "乙镇".into(), "甲镇".into()],
                ..Default::default()
            },
            "townships[2]",
        ),
        (
            v1::EventFilter {
                kinds: vec![
                    v1::EventKind::MilestoneSlipped as i32,
                    v1::EventKind::MilestoneSlipped as i32,
                ],
                ..Default::default()
            },
            "kinds[1]",
        ),
    ];
    for (filter, field) in cases {
        let err = events
            .create_subscription(v1::CreateSubscriptionRequest {
                subscription: Some(v1::Subscription {
                    display_name: "督查".into(),
                    filter: Some(filter.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(
            common::bad_fields(&err),
            [format!("subscription.filter.{field}")].into(),
            "{field}"
        );
        let err = events
            .watch_events(v1::WatchEventsRequest {
                filter: Some(filter),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            common::bad_fields(&err),
            [format!("filter.{field}")].into(),
            "{field}"
        );
    }
    let listed = events
        .list_subscriptions(v1::ListSubscriptionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.subscriptions.is_empty(), "nothing was written");
    // At the bounds it is accepted and reads back whole.
    let full = v1::EventFilter {
        projects: (0..100).map(project).collect(),
        townships: (0..50).map(|i| format!("{i}{}", "镇".repeat(98))).collect(),
        departments: (0..50).map(|i| format!("{i}{}", "局".repeat(98))).collect(),
        leader: "县".repeat(100),
        kinds: (1..=29).collect(),
        min_light: v1::AlertLight::Yellow as i32,
        min_slip_days: 7,
    };
    let created = events
        .create_subscription(v1::CreateSubscriptionRequest {
            subscription: Some(v1::Subscription {
                display_name: "督".repeat(200),
                filter: Some(full.clone()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.filter, Some(full));
    events
        .get_subscription(v1::GetSubscriptionRequest { name: created.name })
        .await
        .unwrap();
}

/// A transaction whose events could not travel in one stream message is refused, not
/// committed as a batch that would stop every stream reaching it; one that fits is appended.
async fn oversized_transactions_are_refused(server: TestServer) {
    use pipeline::events::outbox::{EventDraft, append};
    use sea_orm::TransactionTrait;
    let window = |i: usize| {
        EventDraft::global(
            v1::EventKind::FundingWindowUpdated,
            format!("fundingWindows/w{i}"),
            Some(v1::event::Detail::FundingWindowAfter(v1::FundingWindow {
                name: format!("fundingWindows/w{i}"),
                description: "\u{20000}".repeat(4000),
                ..Default::default()
            })),
            Vec::new(),
        )
    };
    let tx = server.store.connection().begin().await.unwrap();
    let err = append(&tx, "test", 0, (0..4).map(window).collect())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bytes"), "{err}");
    drop(tx);
    assert!(whole_log(&server.store).await.is_empty());
    let tx = server.store.connection().begin().await.unwrap();
    append(&tx, "test", 0, (0..3).map(window).collect())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(whole_log(&server.store).await.len(), 3);
}

both_backends!(
    history_checker,
    durable_subscription_catches_up,
    cursors_and_retention,
    stalled_reader_and_shutdown,
    stream_requests_read_as_tonic_reads_them,
    oversized_batch_keeps_its_cursor,
    a_reader_behind_catches_up_under_the_message_limit,
    expired_cursors_make_no_subscription,
    a_hung_client_with_huge_windows_is_held_back_and_cut_off,
    filter_lists_are_bounded,
    oversized_transactions_are_refused,
);
