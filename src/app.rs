//! Builds the server from configuration. `run(listener, services, shutdown)` is the seam the
//! binary and the integration tests share.

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
use crate::api::call_log::CallLogLayer;
use crate::api::event_routes::EventRoutes;
use crate::api::events::EventApi;
use crate::api::funding::FundingApi;
use crate::api::milestones::MilestoneApi;
use crate::api::projects::ProjectApi;
use crate::api::reports::ReportApi;
use crate::config::{DatabaseConfig, RoleArg, ServeConfig, TokenCommand};
use crate::domain::access::{Principal, Role};
use crate::domain::clock::Clock;
use crate::domain::milestone::Policy;
use crate::events::hub::LogHub;
use crate::events::retention;
use crate::events::stream::StreamSettings;
use crate::proto::v1::event_service_server::EventServiceServer;
use crate::proto::v1::funding_service_server::FundingServiceServer;
use crate::proto::v1::milestone_service_server::MilestoneServiceServer;
use crate::proto::v1::project_service_server::ProjectServiceServer;
use crate::proto::v1::report_service_server::ReportServiceServer;
use crate::scanner;
use crate::store::Store;

/// The file in the data directory that holds the first admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Connects to the configured database and brings its schema up to date.
pub async fn open_store(database: &DatabaseConfig) -> anyhow::Result<Store> {
    let url = database.resolve_url().with_context(|| {
        format!(
            "creating the data directory {}",
            database.data_dir.display()
        )
    })?;
    let store = Store::connect(&url)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("running migrations")?;
    Ok(store)
}

/// `pipeline migrate`.
pub async fn migrate(database: &DatabaseConfig) -> anyhow::Result<()> {
    let store = open_store(database).await?;
    info!(backend = ?store.backend(), "migrations are up to date");
    store.close().await?;
    Ok(())
}

/// `pipeline serve`: binds, serves until SIGINT or SIGTERM, then drains.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let store = open_store(&config.database).await?;
    let services = Services {
        store,
        clock: Clock::new(config.time_zone, config.today),
        policy: Policy {
            warning_horizon_days: config.warning_horizon_days,
            tolerance_days: config.tolerance_days,
            funding_horizon_days: config.funding_horizon_days,
        },
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
    bootstrap_admin(&services.store, &config.database.data_dir).await?;
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
    let server = builder
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_keepalive(Some(Duration::from_secs(60)))
        .max_concurrent_streams(Some(options.max_streams_per_connection))
        .max_connection_age(Duration::from_secs(30 * 60))
        .max_connection_age_grace(Duration::from_secs(60))
        .layer(CallLogLayer)
        .layer(AuthLayer::new(services.store.clone()))
        .layer(crate::api::refusals::layer())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(projects)
        .add_service(milestones)
        .add_service(events)
        .add_service(funding)
        .add_service(reports)
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

/// On first start (no token at all), creates the admin token, prints it once and writes it to
/// a file only the owner can read in the data directory, so that the embedded default works
/// with one command.
pub async fn bootstrap_admin(store: &Store, data_dir: &std::path::Path) -> anyhow::Result<()> {
    if store.count_tokens().await.map_err(anyhow::Error::msg)? > 0 {
        return Ok(());
    }
    let admin = Principal::system("admin");
    let secret = match store
        .create_token(&admin, crate::domain::clock::Clock::system_now_micros())
        .await
    {
        Ok(secret) => secret,
        // Another replica starting at the same moment made it.
        Err(crate::domain::Error::AlreadyExists { .. }) => return Ok(()),
        Err(err) => return Err(anyhow::Error::msg(err)),
    };
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let written = std::fs::create_dir_all(data_dir)
        .and_then(|_| write_private(&path, &format!("{secret}\n")));
    match written {
        Ok(()) => {
            println!(
                "created the first admin token (shown once; also in {}, readable only by you):\n{secret}",
                path.display()
            );
            info!(file = %path.display(), "created the first admin token");
        }
        Err(err) => {
            // The token exists either way; an unwritable data directory (a PostgreSQL
            // deployment in a read-only working directory) must not stop the server.
            println!("created the first admin token (shown once; keep it):\n{secret}");
            warn!(file = %path.display(), error = %err, "could not write the admin token file");
        }
    }
    Ok(())
}

/// Writes a file readable and writable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())
}

/// `pipeline token create | list | revoke`.
pub async fn token(command: TokenCommand) -> anyhow::Result<()> {
    let now = crate::domain::clock::Clock::system_now_micros();
    match command {
        TokenCommand::Create(args) => {
            let role = match args.role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Editor => Role::Editor,
                RoleArg::Viewer => Role::Viewer,
                RoleArg::Subscriber => Role::Subscriber,
            };
            let name = args.name.trim().to_string();
            if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
                anyhow::bail!("--name must be 1 to 128 characters without control characters");
            }
            let scoped = !args.departments.is_empty() || !args.townships.is_empty();
            if role == Role::Editor && !scoped {
                anyhow::bail!("an editor needs at least one --department or --township");
            }
            if role != Role::Editor && scoped {
                anyhow::bail!("--department and --township apply to editors only");
            }
            let store = open_store(&args.database).await?;
            let principal = Principal {
                name,
                role,
                departments: args.departments,
                townships: args.townships,
            };
            let secret = store
                .create_token(&principal, now)
                .await
                .map_err(anyhow::Error::msg)?;
            println!("{secret}");
            eprintln!(
                "created token {:?} ({}); the secret above is shown only this once",
                principal.name,
                role.as_str()
            );
        }
        TokenCommand::List(database) => {
            let store = open_store(&database).await?;
            for token in store.list_tokens().await.map_err(anyhow::Error::msg)? {
                let p = &token.principal;
                let scope = [p.departments.join(","), p.townships.join(",")]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let state = if token.revoked_at_us.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{scope}", p.name, p.role.as_str(), state);
            }
        }
        TokenCommand::Revoke(args) => {
            let store = open_store(&args.database).await?;
            store
                .revoke_token(&args.name, now)
                .await
                .map_err(anyhow::Error::msg)?;
            eprintln!("revoked token {:?}", args.name);
        }
    }
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
