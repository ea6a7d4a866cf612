//! What every benchmark shares: a `pipeline serve` child process on loopback with a token of
//! its own, the resident memory of a process, percentiles, and a clock in microseconds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use pipeline::domain::access::Principal;
use pipeline::store::Store;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

/// Where a benchmark server keeps its data.
#[derive(Clone)]
pub enum Database {
    /// A fresh SQLite directory, deleted afterwards.
    Scratch,
    /// An existing SQLite directory (a seeded data set), kept.
    Dir(PathBuf),
    /// A database URL (PostgreSQL), kept.
    Url(String),
}

impl Database {
    fn url_and_args(&self, scratch: &std::path::Path) -> (String, Vec<String>) {
        match self {
            Database::Scratch => (
                Store::sqlite_url(scratch),
                vec!["--data-dir".into(), scratch.display().to_string()],
            ),
            Database::Dir(dir) => (
                Store::sqlite_url(dir),
                vec!["--data-dir".into(), dir.display().to_string()],
            ),
            Database::Url(url) => (url.clone(), vec!["--database-url".into(), url.clone()]),
        }
    }
}

/// A running `pipeline serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// An ADMIN token made for this run.
    pub token: String,
    scratch: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        if let Some(dir) = &self.scratch {
            std::fs::remove_dir_all(dir).ok();
        }
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.addr.clone())?.connect().await?)
    }

    /// `authorization: Bearer <token>` for requests.
    pub fn bearer(&self) -> anyhow::Result<MetadataValue<Ascii>> {
        Ok(format!("Bearer {}", self.token).parse()?)
    }

    /// Stops the server with SIGTERM and waits, so it can finish cleanly.
    pub fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .ok();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `pipeline serve` (the binary next to this one) on a free loopback port, optionally
/// pinned to `cpus` (a `taskset -c` list), with `extra` flags; returns once it is serving.
pub async fn start_server(
    database: Database,
    cpus: Option<&str>,
    extra: &[&str],
) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?;
    let server_bin = exe.with_file_name("pipeline");
    let scratch = std::env::temp_dir().join(format!(
        "pipeline-bench-{}-{}",
        std::process::id(),
        now_us()
    ));
    let (url, db_args) = database.url_and_args(&scratch);
    if matches!(database, Database::Scratch) {
        std::fs::create_dir_all(&scratch)?;
    }
    // A token of our own, made before the server starts (migrations run here first).
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let token = store
        .create_token(
            &Principal::system(&format!("bench-{}-{}", std::process::id(), now_us())),
            now_us(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating the bench token: {e}"))?;
    store.close().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(&server_bin);
            c
        }
        None => Command::new(&server_bin),
    };
    let child = command
        .arg("serve")
        .args(&db_args)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--max-streams-per-token", "1000000"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", server_bin.display()))?;
    let server = Server {
        child,
        addr: format!("http://127.0.0.1:{port}"),
        token,
        scratch: matches!(database, Database::Scratch).then_some(scratch),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(channel) = server.channel().await {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok()
            {
                return Ok(server);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Adds the bearer token to every call of a generated client.
#[derive(Clone)]
pub struct Bearer(pub MetadataValue<Ascii>);

impl tonic::service::Interceptor for Bearer {
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

/// A channel whose calls carry the server's token.
pub type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

impl Server {
    pub async fn authed(&self) -> anyhow::Result<Authed> {
        Ok(Authed::new(self.channel().await?, Bearer(self.bearer()?)))
    }
}

/// Resident memory of a process, in KiB (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

/// CPU time a process has used, user and system, all threads, in milliseconds (Linux; the
/// kernel reports it in ticks of 1/100 s).
pub fn cpu_ms(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) * 10)
        })
        .unwrap_or(0)
}

/// Peak resident memory of a process, in KiB (Linux).
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:")
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A latency histogram in microseconds, 1 µs to 10 minutes.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

/// A quantile of a microsecond histogram, in milliseconds.
pub fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    h.value_at_quantile(quantile) as f64 / 1000.0
}

/// The median of some ratios.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A PostgreSQL database made for one benchmark on the server of an admin URL (its database part
/// replaced), dropped with `drop` whatever the benchmark's outcome.
pub struct ScratchPostgres {
    admin: sea_orm::DatabaseConnection,
    name: String,
    /// The URL of the scratch database.
    pub url: String,
}

impl ScratchPostgres {
    /// Creates `{prefix}_{pid}` on the server of `admin_url`.
    pub async fn create(admin_url: &str, prefix: &str) -> anyhow::Result<Self> {
        use sea_orm::ConnectionTrait;
        let name = format!("{prefix}_{}", std::process::id());
        let admin = sea_orm::Database::connect(admin_url).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = with_database(admin_url, &name)?;
        Ok(Self { admin, name, url })
    }

    /// Drops the database (its connections closed by force); a failure is only reported.
    pub async fn drop(self) {
        use sea_orm::ConnectionTrait;
        let dropped = self
            .admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
        self.admin.close().await.ok();
        if let Err(e) = dropped {
            eprintln!("could not drop the scratch database {}: {e}", self.name);
        }
    }
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| anyhow::anyhow!("{url:?} is not a database URL"))?
        + 3;
    let (head, rest) = url.split_at(scheme_end);
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    Ok(format!("{head}{authority}/{database}{query}"))
}
