//! Test harness: starts the real server on 127.0.0.1:0 over a fresh database, once per backend,
//! and hands out generated clients.
//!
//! PostgreSQL tests need `PIPELINE_TEST_DATABASE_URL`, naming an existing database on a server
//! where the user may create databases: the harness connects to it only to create and drop a
//! database of its own per test. Without the URL at build time the PostgreSQL variants are
//! compiled as ignored (build.rs), so `cargo test` lists them as ignored with the reason; under
//! `CI=true` they are always compiled in, and a missing URL fails them.

#![allow(dead_code)]

use std::time::Duration;

use pipeline::api::Services;
use pipeline::app::RunOptions;
use pipeline::domain::access::{Principal, Role};
use pipeline::domain::clock::Clock;
use pipeline::domain::milestone::Policy;
use pipeline::events::stream::StreamSettings;
use pipeline::proto::v1::event_service_client::EventServiceClient;
use pipeline::proto::v1::funding_service_client::FundingServiceClient;
use pipeline::proto::v1::milestone_service_client::MilestoneServiceClient;
use pipeline::proto::v1::project_service_client::ProjectServiceClient;
use pipeline::store::Store;
use sea_orm::{ConnectionTrait, Database};
use tokio::sync::oneshot;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_types::StatusExt;

pub const PG_URL_ENV: &str = "PIPELINE_TEST_DATABASE_URL";

/// A channel whose calls carry a bearer token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Wraps `channel` so that its calls carry `token`.
pub fn authed(channel: Channel, token: &str) -> Authed {
    let value = format!("Bearer {token}").parse().expect("a token is ASCII");
    InterceptedService::new(channel, Bearer(value))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub url: String,
    pub today: chrono::NaiveDate,
    pub store: Store,
    pub backend: Backend,
    /// An ADMIN token, made when the server first started.
    pub admin_token: String,
    /// The county's units the server checks responsible units against (`serve --units-file`);
    /// None by default. Kept across restarts; `restart_with_units` changes it.
    units: Option<std::sync::Arc<pipeline::domain::problem::CountyUnits>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _data_dir: Option<tempfile::TempDir>,
    pg_database: Option<(String, String)>,
}

/// The `PIPELINE_TEST_DATABASE_URL` a PostgreSQL test connects to. Panics when it is missing:
/// a PostgreSQL test that runs (under `CI=true`, or in a build made with the variable set) has
/// to run on the database.
pub fn postgres_admin_url() -> String {
    std::env::var(PG_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "{PG_URL_ENV} is not set: the PostgreSQL tests cannot be skipped (under CI=true, or in a \
                 build made with the variable set); set it to postgres://user@host:port/database"
            )
        })
}

/// A fixed "today" so tests do not depend on the calendar.
pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 9, 15).unwrap()
}

impl TestServer {
    /// Starts a server on a fresh database of `backend`.
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_on(backend, today()).await
    }

    /// Starts a server whose clock reads `today`. For PostgreSQL, panics when
    /// `PIPELINE_TEST_DATABASE_URL` is missing: a test that runs has to run on the database.
    pub async fn start_on(backend: Backend, today: chrono::NaiveDate) -> TestServer {
        let (url, data_dir, pg_database) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (Store::sqlite_url(dir.path()), Some(dir), None)
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("pipeline_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot connect to {PG_URL_ENV}={admin_url}: {e} (the database it names must exist, \
                         e.g. `createdb -h 127.0.0.1 -U postgres test`)"
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("{PG_URL_ENV} must end with /database"),
                };
                (url, None, Some((admin_url, name)))
            }
        };
        let (addr, store, shutdown, task) = Self::launch(&url, today, None, |_| {}).await;
        let admin_token = store
            .create_token(&Principal::system("test-admin"), 0)
            .await
            .expect("create the admin token");
        TestServer {
            addr,
            url,
            today,
            store,
            backend,
            admin_token,
            units: None,
            shutdown: Some(shutdown),
            task: Some(task),
            _data_dir: data_dir,
            pg_database,
        }
    }

    async fn launch(
        url: &str,
        today: chrono::NaiveDate,
        units: Option<std::sync::Arc<pipeline::domain::problem::CountyUnits>>,
        configure: impl FnOnce(&mut RunOptions),
    ) -> (
        std::net::SocketAddr,
        Store,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let store = Store::connect(url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let services = Services {
            store: store.clone(),
            clock: Clock::new(chrono_tz::Asia::Shanghai, Some(today)),
            policy: Policy::default(),
            units,
            max_message_bytes: pipeline::api::DEFAULT_MAX_MESSAGE_BYTES,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let mut options = RunOptions {
            shutdown_grace: Duration::from_secs(5),
            scan_interval: Duration::from_secs(3600),
            streams: StreamSettings {
                heartbeat: Duration::from_millis(300),
                stall_limit: Duration::from_secs(2),
                batch_events: 64,
                max_streams_per_token: 1000,
                ..StreamSettings::default()
            },
            ..RunOptions::default()
        };
        configure(&mut options);
        let task = tokio::spawn(pipeline::app::run(
            listener,
            services,
            async move {
                rx.await.ok();
            },
            options,
        ));
        wait_until_serving(addr).await;
        (addr, store, tx, task)
    }

    /// Stops the server and starts a new one on the same database with the clock at `today`,
    /// as an operator restarting with `serve --today` would.
    pub async fn restart(&mut self, today: chrono::NaiveDate) {
        self.restart_with(today, |_| {}).await;
    }

    /// Restarts on the same database with changed transport, limits or timings.
    pub async fn restart_with(
        &mut self,
        today: chrono::NaiveDate,
        configure: impl FnOnce(&mut RunOptions),
    ) {
        self.stop().await;
        let (addr, store, shutdown, task) =
            Self::launch(&self.url, today, self.units.clone(), configure).await;
        self.addr = addr;
        self.store = store;
        self.today = today;
        self.shutdown = Some(shutdown);
        self.task = Some(task);
    }

    /// Restarts on the same database and day with the county's `units` (None: any unit), as
    /// an operator restarting with or without `serve --units-file` would.
    pub async fn restart_with_units(
        &mut self,
        units: Option<pipeline::domain::problem::CountyUnits>,
    ) {
        self.units = units.map(std::sync::Arc::new);
        self.restart(self.today).await;
    }

    pub async fn events(&self) -> EventServiceClient<Authed> {
        self.events_as(&self.admin_token).await
    }

    pub async fn funding(&self) -> FundingServiceClient<Authed> {
        self.funding_as(&self.admin_token).await
    }

    pub async fn milestones(&self) -> MilestoneServiceClient<Authed> {
        self.milestones_as(&self.admin_token).await
    }

    pub async fn projects(&self) -> ProjectServiceClient<Authed> {
        self.projects_as(&self.admin_token).await
    }

    pub async fn events_as(&self, token: &str) -> EventServiceClient<Authed> {
        EventServiceClient::new(self.authed(token).await)
    }

    pub async fn funding_as(&self, token: &str) -> FundingServiceClient<Authed> {
        FundingServiceClient::new(self.authed(token).await)
    }

    pub async fn milestones_as(&self, token: &str) -> MilestoneServiceClient<Authed> {
        MilestoneServiceClient::new(self.authed(token).await)
    }

    pub async fn projects_as(&self, token: &str) -> ProjectServiceClient<Authed> {
        ProjectServiceClient::new(self.authed(token).await)
    }

    /// A channel that sends `token` with every call.
    pub async fn authed(&self, token: &str) -> Authed {
        authed(self.channel().await, token)
    }

    /// A channel without a token (health, reflection, and refusals).
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the test server")
    }

    /// Creates a token in the server's database and returns its secret.
    pub async fn token(
        &self,
        name: &str,
        role: Role,
        departments: &[&str],
        townships: &[&str],
    ) -> String {
        let principal = Principal {
            name: name.to_string(),
            role,
            departments: departments.iter().map(|s| s.to_string()).collect(),
            townships: townships.iter().map(|s| s.to_string()).collect(),
        };
        self.store
            .create_token(&principal, 0)
            .await
            .expect("create a token")
    }

    /// Stops the server and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some((admin_url, name)) = self.pg_database.take() {
            // Drop runs outside async context; a small runtime on its own thread does the
            // cleanup so no test database is left behind.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok();
                        admin.close().await.ok();
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

/// Runs each named test function once per backend: `mod sqlite` and `mod postgres`. The
/// PostgreSQL variants are ignored, with the reason shown by `cargo test`, when the build was
/// made without `PIPELINE_TEST_DATABASE_URL` (see build.rs).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::common::TestServer::start($crate::common::Backend::Sqlite).await;
                    super::$name(server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(pipeline_postgres_tests),
                    ignore = "PostgreSQL variant: set PIPELINE_TEST_DATABASE_URL to run it"
                )]
                async fn $name() {
                    let server = $crate::common::TestServer::start($crate::common::Backend::Postgres).await;
                    super::$name(server).await;
                }
            )*
        }
    };
}

/// Waits until the server answers health checks, which it does only after its start-up scan.
async fn wait_until_serving(addr: std::net::SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = async {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .ok()?
                .connect()
                .await
                .ok()?;
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            health
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
            "the test server did not start serving"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ErrorInfo reason of an error.
pub fn reason_of(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

/// The subjects of an error's PreconditionFailure.
pub fn subjects(status: &tonic::Status) -> std::collections::BTreeSet<String> {
    status
        .get_error_details()
        .precondition_failure()
        .map(|p| p.violations.iter().map(|v| v.subject.clone()).collect())
        .unwrap_or_default()
}

/// The fields an error's BadRequest names.
pub fn bad_fields(status: &tonic::Status) -> std::collections::BTreeSet<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}
