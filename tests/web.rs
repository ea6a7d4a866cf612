//! What browsers get on the gRPC port, spoken as raw HTTP: gRPC-Web calls over HTTP/1.1 (unary
//! and an event stream), the same UNAUTHENTICATED as native gRPC for a missing or bad token,
//! CORS for allowed origins only, and the dashboard's files with nothing else reachable.

mod common;

use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use pipeline::proto::v1;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::TestServer;

const GRPC_WEB: &str = "application/grpc-web+proto";
const ALLOWED_ORIGIN: &str = "https://dashboard.example.gov.cn";

/// An HTTP/1.1 connection to the server.
async fn http1(server: &TestServer) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

/// Sends `request` once the connection is free (HTTP/1.1: after the previous answer).
async fn send(
    http: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> http::Response<hyper::body::Incoming> {
    http.ready().await.expect("the connection stays open");
    http.send_request(request).await.expect("an answer")
}

/// A gRPC-Web request for `method` with one message.
fn grpc_web<M: Message>(
    server: &TestServer,
    method: &str,
    message: &M,
    token: Option<&str>,
    origin: Option<&str>,
) -> Request<Full<Bytes>> {
    let payload = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(&payload);
    let mut request = Request::post(format!("http://{}{method}", server.addr))
        .header("host", server.addr.to_string())
        .header("content-type", GRPC_WEB)
        .header("x-grpc-web", "1");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.body(Full::new(Bytes::from(framed))).unwrap()
}

/// A gRPC-Web response body: its messages and its trailers (`name: value` lines).
#[derive(Debug, Default)]
struct WebFrames {
    messages: Vec<Bytes>,
    trailers: String,
}

fn parse_frames(mut body: Bytes) -> WebFrames {
    let mut frames = WebFrames::default();
    while body.remaining() >= 5 {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let data = body.split_to(len);
        if flag & 0x80 != 0 {
            frames
                .trailers
                .push_str(std::str::from_utf8(&data).unwrap());
        } else {
            frames.messages.push(data);
        }
    }
    assert!(body.is_empty(), "a partial gRPC-Web frame");
    frames
}

/// The grpc-status of a gRPC-Web response: from the head (trailers-only) or the trailer frame.
fn grpc_status(head: &http::HeaderMap, frames: &WebFrames) -> Option<String> {
    if let Some(status) = head.get("grpc-status") {
        return Some(status.to_str().unwrap().to_string());
    }
    frames.trailers.lines().find_map(|line| {
        line.strip_prefix("grpc-status:")
            .map(|v| v.trim().to_string())
    })
}

async fn create_project(server: &TestServer, id: &str) {
    server
        .projects()
        .await
        .create_project(v1::CreateProjectRequest {
            project_id: id.into(),
            project: Some(v1::Project {
                display_name: "县城公交枢纽站".into(),
                category: v1::ProjectCategory::Transport as i32,
                investment_type: v1::InvestmentType::Government as i32,
                township: "城关镇".into(),
                department: "县交通运输局".into(),
                leader: "张副县长".into(),
                total_investment_yuan: 380_000_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create the project");
}

async fn grpc_web_unary_over_http1(server: TestServer) {
    create_project(&server, "bus-terminal").await;
    let mut http = http1(&server).await;
    let request = grpc_web(
        &server,
        "/pipeline.v1.ProjectService/GetProject",
        &v1::GetProjectRequest {
            name: "projects/bus-terminal".into(),
        },
        Some(&server.admin_token),
        None,
    );
    let response = send(&mut http, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.headers()["content-type"], GRPC_WEB);
    let head = response.headers().clone();
    let frames = parse_frames(response.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(grpc_status(&head, &frames).as_deref(), Some("0"));
    assert_eq!(frames.messages.len(), 1);
    let project = v1::Project::decode(frames.messages[0].clone()).unwrap();
    assert_eq!(project.name, "projects/bus-terminal");
    assert_eq!(project.display_name, "县城公交枢纽站");

    // A bad argument is answered as native gRPC answers it (INVALID_ARGUMENT, with details).
    let request = grpc_web(
        &server,
        "/pipeline.v1.ProjectService/GetProject",
        &v1::GetProjectRequest {
            name: "bus-terminal".into(),
        },
        Some(&server.admin_token),
        None,
    );
    let response = send(&mut http, request).await;
    let head = response.headers().clone();
    let frames = parse_frames(response.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(grpc_status(&head, &frames).as_deref(), Some("3"));
    assert!(
        head.contains_key("grpc-status-details-bin")
            || frames.trailers.contains("grpc-status-details-bin")
    );
}

async fn grpc_web_refuses_missing_and_bad_tokens(server: TestServer) {
    create_project(&server, "bus-terminal").await;
    let get = v1::GetProjectRequest {
        name: "projects/bus-terminal".into(),
    };
    for token in [None, Some("pl_not-a-token"), Some("")] {
        let mut http = http1(&server).await;
        let request = grpc_web(
            &server,
            "/pipeline.v1.ProjectService/GetProject",
            &get,
            token,
            None,
        );
        let response = send(&mut http, request).await;
        assert_eq!(response.status(), StatusCode::OK);
        let head = response.headers().clone();
        let frames = parse_frames(response.into_body().collect().await.unwrap().to_bytes());
        assert_eq!(
            grpc_status(&head, &frames).as_deref(),
            Some("16"),
            "token {token:?}"
        );
        assert!(frames.messages.is_empty(), "token {token:?}: {frames:?}");
    }
}

async fn grpc_web_event_stream_delivers_live_events(server: TestServer) {
    let mut http = http1(&server).await;
    let request = grpc_web(
        &server,
        "/pipeline.v1.EventService/WatchEvents",
        &v1::WatchEventsRequest::default(),
        Some(&server.admin_token),
        None,
    );
    let response = send(&mut http, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    create_project(&server, "bus-terminal").await;
    // Frames arrive as the server sends them; read until a batch names the project.
    let mut buffer = bytes::BytesMut::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = body.frame().await.expect("the stream ended").unwrap();
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while buffer.len() >= 5 {
                let len = u32::from_be_bytes(buffer[1..5].try_into().unwrap()) as usize;
                if buffer.len() < 5 + len {
                    break;
                }
                let frame = buffer.split_to(5 + len);
                let message = v1::WatchEventsResponse::decode(&frame[5..]).unwrap();
                if let Some(v1::watch_events_response::Response::Batch(batch)) = message.response
                    && batch
                        .events
                        .iter()
                        .any(|e| e.project == "projects/bus-terminal")
                {
                    assert!(!batch.cursor.is_empty());
                    return;
                }
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no event for the new project within 10 s");
}

async fn preflight(server: &TestServer, origin: &str) -> http::Response<hyper::body::Incoming> {
    let mut http = http1(server).await;
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri(format!(
            "http://{}/pipeline.v1.ProjectService/GetProject",
            server.addr
        ))
        .header("host", server.addr.to_string())
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-grpc-web",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&mut http, request).await
}

async fn cors_only_for_allowed_origins(mut server: TestServer) {
    create_project(&server, "bus-terminal").await;
    let get = v1::GetProjectRequest {
        name: "projects/bus-terminal".into(),
    };
    let method = "/pipeline.v1.ProjectService/GetProject";

    // By default no other origin is allowed: no allowance in the preflight, the call refused.
    let refused = preflight(&server, ALLOWED_ORIGIN).await;
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    let token = server.admin_token.clone();
    let mut http = http1(&server).await;
    let response = send(
        &mut http,
        grpc_web(&server, method, &get, Some(&token), Some(ALLOWED_ORIGIN)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The server's own origin (the dashboard's) needs no flag.
    let own = format!("http://{}", server.addr);
    let response = send(
        &mut http,
        grpc_web(&server, method, &get, Some(&token), Some(&own)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let head = response.headers().clone();
    let frames = parse_frames(response.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(grpc_status(&head, &frames).as_deref(), Some("0"));

    let today = server.today;
    server
        .restart_with(today, |options| {
            options.cors_allowed_origins = vec![ALLOWED_ORIGIN.to_string()];
        })
        .await;
    let allowed = preflight(&server, ALLOWED_ORIGIN).await;
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        ALLOWED_ORIGIN
    );
    let allowed_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let other = preflight(&server, "https://elsewhere.example.com").await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let mut http = http1(&server).await;
    let response = send(
        &mut http,
        grpc_web(&server, method, &get, Some(&token), Some(ALLOWED_ORIGIN)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        ALLOWED_ORIGIN
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(exposed.contains("grpc-status"), "{exposed}");
    let head = response.headers().clone();
    let frames = parse_frames(response.into_body().collect().await.unwrap().to_bytes());
    assert_eq!(grpc_status(&head, &frames).as_deref(), Some("0"));
    let response = send(
        &mut http,
        grpc_web(
            &server,
            method,
            &get,
            Some(&token),
            Some("https://elsewhere.example.com"),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// Sends `GET {path}` byte for byte as written (no client normalises it) and returns the status
/// code and the body.
async fn raw_get(server: &TestServer, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .ok();
    let answer = String::from_utf8_lossy(&answer).to_string();
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

async fn dashboard_files_and_nothing_else(server: TestServer) {
    // `/` is the dashboard, over HTTP/1.1 …
    let (code, body) = raw_get(&server, "/").await;
    assert_eq!(code, 200);
    assert!(body.contains("<html"), "{body}");
    let index = body;
    // … and over HTTP/2, beside gRPC.
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut h2, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let response = h2
        .send_request(
            Request::get(format!("http://{}/", server.addr))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, index.as_bytes());

    // The script index.html loads is served; nothing outside web/dist is.
    let script = index
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("index.html loads a script");
    let (code, _) = raw_get(&server, &format!("/{}", script.trim_start_matches('/'))).await;
    assert_eq!(code, 200, "{script}");
    for path in [
        "/nope.html",
        "/Cargo.toml",
        "/../Cargo.toml",
        "/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E/%2E%2E/Cargo.toml",
        "/..%2fCargo.toml",
        "/..%2FCargo.toml",
        "/..%5cCargo.toml",
        "/%2e%2e%5cCargo.toml",
        "/assets/",
        "/assets",
        "/src/main.rs",
        "/web/dist/index.html",
        "/./index.html/..",
    ] {
        let (code, body) = raw_get(&server, path).await;
        assert!(code == 404 || code == 400, "{path}: {code}");
        assert!(
            !body.contains("[package]") && !body.contains("<html"),
            "{path}: {body}"
        );
    }
    // A literal backslash or a bare `..` never reaches a file either.
    for path in ["/..\\Cargo.toml", ".."] {
        let (code, body) = raw_get(&server, path).await;
        assert!(code == 404 || code == 400, "{path}: {code}");
        assert!(!body.contains("[package]"), "{path}: {body}");
    }
}

both_backends!(
    grpc_web_unary_over_http1,
    grpc_web_refuses_missing_and_bad_tokens,
    grpc_web_event_stream_delivers_live_events,
    cors_only_for_allowed_origins,
    dashboard_files_and_nothing_else,
);
