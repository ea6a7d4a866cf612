//! Builds the server from configuration and runs it. `run(listener, services, shutdown)` is
//! the seam the binary and the integration tests share. The token commands live in `admin`,
//! the pieces that replace library behaviour in `transport`.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::Services;
use crate::api::auth::AuthLayer;
use crate::api::events::EventApi;
use crate::api::funding::FundingApi;
use crate::api::investment::InvestmentApi;
use crate::api::milestones::MilestoneApi;
use crate::api::problems::ProblemApi;
use crate::api::projects::ProjectApi;
use crate::api::reports::ReportApi;
use crate::config::{DatabaseConfig, ServeConfig};
use crate::domain::clock::Clock;
use crate::domain::milestone::Policy;
use crate::events::hub::LogHub;
use crate::events::retention;
use crate::events::stream::StreamSettings;
use crate::proto::v1::event_service_server::EventServiceServer;
use crate::proto::v1::funding_service_server::FundingServiceServer;
use crate::proto::v1::investment_service_server::InvestmentServiceServer;
use crate::proto::v1::milestone_service_server::MilestoneServiceServer;
use crate::proto::v1::problem_service_server::ProblemServiceServer;
use crate::proto::v1::project_service_server::ProjectServiceServer;
use crate::proto::v1::report_service_server::ReportServiceServer;
use crate::scanner;
use crate::transport::call_log::CallLogLayer;
use crate::transport::event_routes::EventRoutes;
use crate::web::WebLayer;

/// `pipeline migrate`.
pub async fn migrate(database: &DatabaseConfig) -> anyhow::Result<()> {
    let store = database.open().await?;
    info!(backend = ?store.backend(), "migrations are up to date");
    store.close().await?;
    Ok(())
}

/// `pipeline serve`: binds, serves until SIGINT or SIGTERM, then drains.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // A bad units file stops the start before anything is opened.
    let units = match &config.units_file {
        Some(path) => Some(std::sync::Arc::new(crate::config::load_units(path)?)),
        None => None,
    };
    let store = config.database.open().await?;
    let services = Services {
        store,
        clock: Clock::new(config.time_zone, config.today),
        // Milestone thresholds and the problem escalation ladder come from the active light
        // rule set (`Services::light_policy`).
        policy: Policy {
            funding_horizon_days: config.funding_horizon_days,
            ..Policy::default()
        },
        units,
        max_message_bytes: config.max_message_bytes as usize,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let backend = match &config.database.database_url {
        Some(_) => "postgres".to_string(),
        None => format!("sqlite in {}", config.database.data_dir.display()),
    };
    info!(address = %listener.local_addr()?, database = %backend, today = %services.clock.today(), "pipeline is listening");
    crate::admin::bootstrap_admin(&services.store, &config.database.data_dir).await?;
    if let Some(name) = crate::service::investment::apply_rule_flags(
        &services.store,
        &services.clock,
        crate::service::investment::RuleFlags {
            tolerance_days: config.tolerance_days,
            warning_horizon_days: config.warning_horizon_days,
            problem_escalation: config.problem_escalation_days,
        },
    )
    .await?
    {
        info!(light_rule_set = %name, "light rule thresholds from the flags published and activated");
    }
    if let Some(units) = &services.units {
        info!(
            units = units.len(),
            "responsible units limited to the county's list"
        );
    }
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsIdentity {
            cert_pem: std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?,
            key_pem: std::fs::read(key).with_context(|| format!("reading {}", key.display()))?,
        }),
        _ => None,
    };
    if tls.is_none() && !config.listen.ip().is_loopback() {
        warn!(
            address = %config.listen,
            "serving without TLS on a non-loopback address: tokens and data cross the network in clear text; pass --tls-cert and --tls-key"
        );
    }
    let options = RunOptions {
        tls,
        max_message_bytes: config.max_message_bytes as usize,
        max_streams_per_connection: config.max_streams_per_connection,
        shutdown_grace: config.shutdown_grace,
        scan_interval: config.scan_interval,
        poll_interval: config.poll_interval,
        streams: StreamSettings {
            heartbeat: config.heartbeat_interval,
            stall_limit: config.stall_limit,
            max_streams_per_token: config.max_streams_per_token as usize,
            ..StreamSettings::default()
        },
        event_retention: config.event_retention,
        cors_allowed_origins: config.cors_allowed_origins.clone(),
        retention_interval: Duration::from_secs(3600),
    };
    run(listener, services, shutdown_signal(), options).await
}

/// A PEM certificate chain and private key.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity { .. }")
    }
}

/// Transport, limits and timings of a running server.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Serve TLS with this identity; plain HTTP/2 when None.
    pub tls: Option<TlsIdentity>,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Concurrent HTTP/2 streams (calls, event streams included) per client connection.
    pub max_streams_per_connection: u32,
    /// How long in-flight calls may take to finish after the shutdown signal.
    pub shutdown_grace: Duration,
    /// How often the scanner checks whether the date changed.
    pub scan_interval: Duration,
    /// How often the log tailer polls the database when no wake-up arrives.
    pub poll_interval: Duration,
    /// Heartbeats, stall limit and batch size of event streams.
    pub streams: StreamSettings,
    /// Events older than this are pruned (subject to live subscriptions).
    pub event_retention: Duration,
    /// Origins (`scheme://host[:port]`, as `web::parse_origin` returns them) whose pages may
    /// call the API over gRPC-Web; none by default (the dashboard served here needs none).
    pub cors_allowed_origins: Vec<String>,
    /// How often retention runs.
    pub retention_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            tls: None,
            max_message_bytes: 4 * 1024 * 1024,
            max_streams_per_connection: 1024,
            shutdown_grace: Duration::from_secs(10),
            scan_interval: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            streams: StreamSettings::default(),
            event_retention: Duration::from_secs(90 * 24 * 3600),
            cors_allowed_origins: Vec::new(),
            retention_interval: Duration::from_secs(3600),
        }
    }
}

/// Serves every service on `listener` until `shutdown` completes, then lets in-flight calls
/// finish for at most the grace period. The scanner makes its start-up pass before the first
/// call is served.
pub async fn run(
    listener: TcpListener,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: RunOptions,
) -> anyhow::Result<()> {
    // The API cuts list pages to the limit the transport enforces.
    let services = Services {
        max_message_bytes: options.max_message_bytes,
        ..services
    };
    let grace = options.shutdown_grace;
    let scanned_on = match scanner::scan_once(&services).await {
        Ok(_) => Some(services.clock.today()),
        Err(err) => {
            warn!(error = %err, "the start-up scan failed; the scanner retries shortly");
            None
        }
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ProjectServiceServer<ProjectApi>>()
        .await;
    health
        .set_serving::<MilestoneServiceServer<MilestoneApi>>()
        .await;
    health.set_serving::<EventServiceServer<EventApi>>().await;
    health
        .set_serving::<FundingServiceServer<FundingApi>>()
        .await;
    health.set_serving::<ReportServiceServer<ReportApi>>().await;
    health
        .set_serving::<InvestmentServiceServer<InvestmentApi>>()
        .await;
    health
        .set_serving::<ProblemServiceServer<ProblemApi>>()
        .await;
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let projects = ProjectServiceServer::new(ProjectApi::new(services.clone()))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);

    let milestones = MilestoneServiceServer::new(MilestoneApi::new(services.clone()))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);

    let funding = FundingServiceServer::new(FundingApi::new(services.clone()))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);

    let reports = ReportServiceServer::new(ReportApi::new(services.clone()))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);

    let investment = InvestmentServiceServer::new(InvestmentApi::new(services.clone()))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);

    let problems = ProblemServiceServer::new(ProblemApi::new(services.clone()))
        .max_decoding_message_size(options.max_message_bytes)
        .max_encoding_message_size(options.max_message_bytes);

    let stopping = CancellationToken::new();
    let hub = LogHub::start(
        services.store.clone(),
        options.poll_interval,
        stopping.clone(),
    )
    .await
    .context("starting the event log tailer")?;
    let stream_settings = StreamSettings {
        max_message_bytes: options.max_message_bytes,
        ..options.streams
    };
    let events = EventRoutes::new(
        EventApi::new(services.clone(), hub, stream_settings),
        options.max_message_bytes,
    );
    tokio::spawn(retention::run(
        services.store.clone(),
        options.event_retention,
        options.retention_interval,
        stopping.clone(),
    ));
    let scanner_task = tokio::spawn(scanner::run(
        services.clone(),
        stopping.clone(),
        options.scan_interval,
        scanned_on,
    ));
    let server_stop = stopping.clone();
    let health_on_stop = health.clone();
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: refusing new calls, draining in-flight ones");
        health_on_stop
            .set_not_serving::<ProjectServiceServer<ProjectApi>>()
            .await;
        health_on_stop
            .set_not_serving::<MilestoneServiceServer<MilestoneApi>>()
            .await;
        health_on_stop
            .set_not_serving::<EventServiceServer<EventApi>>()
            .await;
        health_on_stop
            .set_not_serving::<FundingServiceServer<FundingApi>>()
            .await;
        health_on_stop
            .set_not_serving::<ReportServiceServer<ReportApi>>()
            .await;
        health_on_stop
            .set_not_serving::<InvestmentServiceServer<InvestmentApi>>()
            .await;
        health_on_stop
            .set_not_serving::<ProblemServiceServer<ProblemApi>>()
            .await;
        health_on_stop
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        server_stop.cancel();
    });

    let signal = stopping.clone();
    // Long-lived streams: keepalives find dead peers, a bounded connection age makes clients
    // rebalance across replicas, and a stream limit bounds one connection's share.
    // Accepted connections get TCP_NODELAY: tonic applies its own nodelay setting only to
    // listeners it binds itself, and without it small responses wait for the peer's delayed
    // ACK (about 40 ms per call on Linux).
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        accepted.and_then(|stream| {
            stream.set_nodelay(true)?;
            Ok(crate::transport::connection::Connection::new(stream))
        })
    });
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = &options.tls {
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(
                tonic::transport::Identity::from_pem(&identity.cert_pem, &identity.key_pem),
            ))
            .context("configuring TLS")?;
    }
    // HTTP/1.1 is accepted for gRPC-Web and the dashboard's files (`web`); native gRPC stays
    // HTTP/2 only.
    let server = builder
        .accept_http1(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_keepalive(Some(Duration::from_secs(60)))
        .max_concurrent_streams(Some(options.max_streams_per_connection))
        .max_connection_age(Duration::from_secs(30 * 60))
        .max_connection_age_grace(Duration::from_secs(60))
        .layer(WebLayer::new(&options.cors_allowed_origins))
        .layer(CallLogLayer)
        .layer(AuthLayer::new(services.store.clone()))
        .layer(crate::transport::refusals::layer())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(projects)
        .add_service(milestones)
        .add_service(events)
        .add_service(funding)
        .add_service(reports)
        .add_service(investment)
        .add_service(problems)
        .serve_with_incoming_shutdown(incoming, async move { signal.cancelled().await });

    let drain_limit = async {
        stopping.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result.context("serving gRPC")?,
        _ = drain_limit => warn!(?grace, "drain time limit reached; closing remaining calls"),
    }
    stopping.cancel();
    scanner_task.await.ok();
    services.store.close().await.ok();
    info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    interrupt.await.ok();
}
