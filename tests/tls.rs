//! TLS transport: the server serves a self-signed certificate generated with rcgen; a client
//! that trusts it can call the service, while a plaintext client and a client that does not
//! trust the certificate cannot.
//!
//! TLS does not depend on the database backend, so this runs on SQLite only.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use pipeline::api::Services;
use pipeline::app::{RunOptions, TlsIdentity};
use pipeline::domain::access::Principal;
use pipeline::domain::clock::Clock;
use pipeline::domain::milestone::Policy;
use pipeline::proto::v1;
use pipeline::proto::v1::project_service_client::ProjectServiceClient;
use pipeline::store::Store;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// The name the server's certificate is issued for; clients verify it via SNI/domain_name.
const SERVER_NAME: &str = "localhost";

/// Generous bound on any single connection attempt, so a regression fails instead of hanging.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A self-signed certificate and its private key, both PEM.
struct SelfSigned {
    cert_pem: String,
    key_pem: String,
}

fn self_signed() -> SelfSigned {
    let certified =
        rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string(), "127.0.0.1".to_string()])
            .expect("generate a self-signed certificate");
    SelfSigned {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
    }
}

/// An endpoint for `https://127.0.0.1:{port}` that verifies the server as `SERVER_NAME` against
/// `tls` (which decides which certificates it trusts).
fn tls_endpoint(addr: SocketAddr, tls: ClientTlsConfig) -> Endpoint {
    Endpoint::from_shared(format!("https://{addr}"))
        .expect("a valid URI")
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT)
        .tls_config(tls.domain_name(SERVER_NAME))
        .expect("a valid client TLS config")
}

/// A client TLS config that trusts exactly `ca_pem`.
fn trusting(ca_pem: &str) -> ClientTlsConfig {
    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem))
}

/// Waits until the server answers health checks over TLS (it does so only after its start-up
/// scan).
async fn wait_until_serving(endpoint: &Endpoint) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = async {
            let channel = endpoint.connect().await.ok()?;
            tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .ok()
        }
        .await;
        if ready.is_some() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the TLS test server did not start serving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The error and all its sources, joined, for assertions and failure messages.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// Connects with `endpoint` and makes one authenticated GetProject call; returns why it
/// failed, or panics if it succeeded.
async fn expect_refused(endpoint: Endpoint, token: &str, name: &str, what: &str) -> String {
    let attempt = async {
        let channel: Channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(error) => return format!("connect: {}", error_chain(&error)),
        };
        let mut client = ProjectServiceClient::new(common::authed(channel, token));
        match client
            .get_project(v1::GetProjectRequest {
                name: name.to_string(),
            })
            .await
        {
            Ok(response) => panic!(
                "{what}: the call unexpectedly succeeded: {:?}",
                response.into_inner()
            ),
            Err(status) => format!("call: {}", error_chain(&status)),
        }
    };
    let reason = tokio::time::timeout(ATTEMPT_TIMEOUT * 2, attempt)
        .await
        .unwrap_or_else(|_| panic!("{what}: the attempt hung instead of failing"));
    eprintln!("{what} refused as expected: {reason}");
    reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_grpc_over_tls_with_a_self_signed_certificate() {
    let server_cert = self_signed();

    // Server: SQLite in a temporary directory, TLS on 127.0.0.1:0.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&Store::sqlite_url(dir.path()))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let token = store
        .create_token(&Principal::system("tls-admin"), 0)
        .await
        .expect("create the admin token");
    let services = Services {
        store: store.clone(),
        clock: Clock::new(chrono_tz::Asia::Shanghai, Some(common::today())),
        policy: Policy::default(),
        units: None,
        max_message_bytes: pipeline::api::DEFAULT_MAX_MESSAGE_BYTES,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let options = RunOptions {
        tls: Some(TlsIdentity {
            cert_pem: server_cert.cert_pem.clone().into_bytes(),
            key_pem: server_cert.key_pem.clone().into_bytes(),
        }),
        shutdown_grace: Duration::from_secs(5),
        scan_interval: Duration::from_secs(3600),
        ..RunOptions::default()
    };
    let task = tokio::spawn(pipeline::app::run(
        listener,
        services,
        async move {
            stopped.await.ok();
        },
        options,
    ));

    let trusted = tls_endpoint(addr, trusting(&server_cert.cert_pem));
    wait_until_serving(&trusted).await;

    // 1. A client that trusts the certificate creates a project and reads it back.
    let channel = trusted.connect().await.expect("connect over TLS");
    let mut projects = ProjectServiceClient::new(common::authed(channel, &token));
    let created = projects
        .create_project(v1::CreateProjectRequest {
            project_id: "tls-water-1".into(),
            project: Some(v1::Project {
                display_name: "TLS 水网工程".into(),
                category: v1::ProjectCategory::Water as i32,
                investment_type: v1::InvestmentType::Government as i32,
                township: "城关镇".into(),
                department: "县水利局".into(),
                total_investment_yuan: 100_000_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create a project over TLS")
        .into_inner();
    assert_eq!(created.name, "projects/tls-water-1");
    assert_eq!(created.display_name, "TLS 水网工程");
    let fetched = projects
        .get_project(v1::GetProjectRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get the project over TLS")
        .into_inner();
    assert_eq!(fetched, created);

    // 2. A plaintext HTTP/2 client cannot call the TLS port.
    let plaintext = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT);
    expect_refused(plaintext, &token, &created.name, "plaintext client").await;

    // 3. A TLS client that trusts no certificate at all rejects the server's certificate.
    let reason = expect_refused(
        tls_endpoint(addr, ClientTlsConfig::new()),
        &token,
        &created.name,
        "TLS client without a CA",
    )
    .await;
    assert!(
        reason.contains("invalid peer certificate"),
        "expected a certificate verification failure, got: {reason}"
    );

    // 4. A TLS client that trusts a different self-signed certificate rejects it too.
    let other = self_signed();
    let reason = expect_refused(
        tls_endpoint(addr, trusting(&other.cert_pem)),
        &token,
        &created.name,
        "TLS client trusting another certificate",
    )
    .await;
    assert!(
        reason.contains("invalid peer certificate"),
        "expected a certificate verification failure, got: {reason}"
    );

    // 5. A client that trusts the certificate but expects another server name rejects it.
    let wrong_name = Endpoint::from_shared(format!("https://{addr}"))
        .expect("a valid URI")
        .connect_timeout(ATTEMPT_TIMEOUT)
        .timeout(ATTEMPT_TIMEOUT)
        .tls_config(trusting(&server_cert.cert_pem).domain_name("pipeline.example.org"))
        .expect("a valid client TLS config");
    let reason = expect_refused(
        wrong_name,
        &token,
        &created.name,
        "TLS client expecting another name",
    )
    .await;
    assert!(
        reason.contains("invalid peer certificate"),
        "expected a certificate name mismatch, got: {reason}"
    );

    // The refused connections did not disturb the server: a trusted client still gets through.
    let channel = trusted.connect().await.expect("reconnect over TLS");
    let again = ProjectServiceClient::new(common::authed(channel, &token))
        .get_project(v1::GetProjectRequest {
            name: created.name.clone(),
        })
        .await
        .expect("get the project over TLS after the refused attempts")
        .into_inner();
    assert_eq!(again, created);

    // Clean shutdown.
    drop(projects);
    shutdown.send(()).expect("the server is still running");
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the server stopped within the grace period")
        .expect("server task")
        .expect("server result");
}
