//! EventService end to end on SQLite and PostgreSQL: a history checker over a random workload
//! with reconnecting readers, durable subscriptions, cursors and retention, stalled readers and
//! shutdown.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use pipeline::events::cursor;
use pipeline::proto::v1;
use pipeline::store::Store;
use pipeline::store::log::LogEvent;
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
    store.read_log(0, 1_000_000).await.unwrap()
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
    stream
        .send_data(bytes::Bytes::from_static(body), true)
        .unwrap();
    let (parts, mut body) = response.await.unwrap().into_parts();
    let first = if parts.headers.contains_key("grpc-status") {
        None
    } else {
        Some(body.data().await.unwrap().unwrap())
    };
    (parts, first)
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
    // A body that is not a WatchEventsRequest, and no message at all.
    let (parts, _) = raw_watch(&server, admin, None, &[0, 0, 0, 0, 2, 0xff, 0xff]).await;
    assert_eq!(grpc_status(&parts), Some(Code::Internal as i32));
    let (parts, _) = raw_watch(&server, admin, None, &[]).await;
    assert_eq!(grpc_status(&parts), Some(Code::Internal as i32));
    // A message over --max-message-bytes (4 MiB by default).
    let (parts, _) = raw_watch(&server, admin, None, &[0, 0x7f, 0, 0, 0]).await;
    assert_eq!(grpc_status(&parts), Some(Code::OutOfRange as i32));
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

/// A batch larger than the server's message limit ends the stream with OUT_OF_RANGE and the
/// cursor before that batch, so resuming (with a larger limit, or smaller batches) skips nothing.
async fn oversized_batch_keeps_its_cursor(mut server: TestServer) {
    let today = server.today;
    server
        .restart_with(today, |o| o.max_message_bytes = 2048)
        .await;
    let mut projects = server.projects().await;
    let mut events = server.events().await;
    let start = events
        .watch_events(v1::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(Message::CaughtUp(v1::CaughtUp { cursor: before })) = start.response else {
        panic!("expected the caught-up marker first");
    };
    // Three writes, each well under the limit; a stream from `before` takes them as one batch.
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
    // The writes are committed, but this process's log tailer may not have read all three yet:
    // a stream from `before` then gets the ones it has (under the limit), or is caught up at
    // once. Retry until the tailer has them all.
    let mut ended = None;
    for _ in 0..100 {
        let mut stream = events
            .watch_events(v1::WatchEventsRequest {
                cursor: before.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        match stream.message().await {
            Ok(Some(v1::WatchEventsResponse {
                response: Some(Message::Batch(batch)),
            })) if batch.events.len() < 3 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(Some(v1::WatchEventsResponse {
                response: Some(Message::CaughtUp(_)),
            })) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(other) => panic!("the oversized batch was sent, or the stream ended: {other:?}"),
            Err(status) => {
                ended = Some(status);
                break;
            }
        }
    }
    let status = ended.expect("the tailer never read all three writes");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(info_metadata(&status, "cursor"), Some(before.clone()));
    assert!(status.message().contains(&before), "{}", status.message());
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
                kinds: vec![v1::EventKind::ProjectCreated as i32; 30],
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
    use pipeline::store::events::{EventDraft, append};
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
    filter_lists_are_bounded,
    oversized_transactions_are_refused,
);
