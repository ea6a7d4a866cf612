//! Write throughput: ForecastMilestone (a milestone row update, a revision row and an event in
//! one transaction) with concurrent clients, against a raw single-row INSERT loop at the same
//! concurrency through the same driver and pool settings, on SQLite (WAL) and PostgreSQL.
//!
//! Each client forecasts its own milestone, alternating between two dates so that every call
//! moves the forecast (a slip with a reason, then a recovery). The raw reference is
//! `pipeline-bench raw-insert-worker`: a child process pinned like the server that opens the
//! database with `Store::connect` (the server's pool: 16 connections; on SQLite WAL, NORMAL
//! synchronous, busy timeout) and runs `clients` tasks inserting one row per statement into a
//! scratch table `bench_raw`. Rounds alternate reference / ours, and the ratio reported is the
//! median of the per-pair ratios ours/reference.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use hdrhistogram::Histogram;
use pipeline::proto::v1;
use pipeline::store::Store;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use v1::milestone_service_client::MilestoneServiceClient;
use v1::project_service_client::ProjectServiceClient;

use crate::common::{Database, histogram, median, ms, now_us, start_server};
use crate::get_project::{
    Helper, TASKS_PER_CONNECTION, connect_all, helper_command, pin_self, sample_fields,
};

/// The SQLite target from issue #8, in ForecastMilestone calls per second.
const SQLITE_TARGET: f64 = 5000.0;

/// How long each round warms up before it measures.
const WARM_UP: Duration = Duration::from_millis(300);

pub struct Options {
    pub clients: usize,
    /// Measured seconds per target and database, split into `rounds` rounds.
    pub seconds: f64,
    pub rounds: usize,
    /// An admin URL of a PostgreSQL server; a scratch database is created and dropped there.
    pub postgres_url: Option<String>,
    pub server_cpus: Option<String>,
    pub client_cpus: Option<String>,
}

/// What one round of one target measured.
struct Round {
    calls: u64,
    errors: u64,
    seconds: f64,
    latencies: Histogram<u64>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

/// Runs `clients` tasks calling `op(client)` back to back: `warm` unmeasured, then `duration`
/// measured (calls that start within it count).
async fn drive<F, Fut>(clients: usize, warm: Duration, duration: Duration, op: F) -> Round
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let measure_from = started + warm;
    let end = measure_from + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let (mut calls, mut errors) = (0u64, 0u64);
            loop {
                let call = Instant::now();
                if call >= end {
                    break;
                }
                let result = op(client).await;
                if call < measure_from {
                    continue;
                }
                match result {
                    Ok(()) => {
                        calls += 1;
                        latencies
                            .record((call.elapsed().as_micros() as u64).max(1))
                            .ok();
                    }
                    Err(e) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("write failed: {e:#}");
                        }
                    }
                }
            }
            (calls, errors, latencies)
        }));
    }
    let mut round = Round {
        calls: 0,
        errors: 0,
        seconds: duration.as_secs_f64(),
        latencies: histogram(),
    };
    for task in tasks {
        if let Ok((calls, errors, latencies)) = task.await {
            round.calls += calls;
            round.errors += errors;
            round.latencies.add(&latencies).ok();
        }
    }
    round
}

// ----------------------------------------------------------------------------------------
// The raw INSERT reference

fn insert_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "INSERT INTO bench_raw (client, seq, note, created_at_us) VALUES ($1, $2, $3, $4)"
        }
        _ => "INSERT INTO bench_raw (client, seq, note, created_at_us) VALUES (?, ?, ?, ?)",
    }
}

async fn create_raw_table(url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    let id = match store.backend() {
        DbBackend::Postgres => "id BIGSERIAL PRIMARY KEY",
        _ => "id INTEGER PRIMARY KEY",
    };
    store
        .connection()
        .execute_unprepared(&format!(
            "CREATE TABLE bench_raw ({id}, client INTEGER NOT NULL, seq BIGINT NOT NULL, \
             note TEXT NOT NULL, created_at_us BIGINT NOT NULL)"
        ))
        .await?;
    store.close().await?;
    Ok(())
}

async fn drop_raw_table(url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    store
        .connection()
        .execute_unprepared("DROP TABLE IF EXISTS bench_raw")
        .await?;
    store.close().await?;
    Ok(())
}

/// `pipeline-bench raw-insert-worker`: inserts rows into `bench_raw` from `clients` tasks for
/// `seconds` (after a warm-up) and prints `RESULT calls errors seconds`, then its latency
/// histogram as `LATENCY microseconds count` lines.
pub async fn raw_insert_worker(url: String, clients: usize, seconds: f64) -> anyhow::Result<()> {
    let store = Store::connect(&url).await?;
    let backend = store.backend();
    let db = Arc::new(store.connection().clone());
    let seqs: Arc<Vec<AtomicU64>> = Arc::new((0..clients).map(|_| AtomicU64::new(0)).collect());
    let round = drive(
        clients,
        WARM_UP,
        Duration::from_secs_f64(seconds),
        move |client| {
            let db = db.clone();
            let seq = seqs[client].fetch_add(1, Ordering::Relaxed);
            async move {
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    insert_sql(backend),
                    [
                        (client as i32).into(),
                        (seq as i64).into(),
                        "征地拆迁进度滞后，开工时间相应调整".into(),
                        now_us().into(),
                    ],
                ))
                .await?;
                Ok(())
            }
        },
    )
    .await;
    store.close().await.ok();
    println!("RESULT {} {} {}", round.calls, round.errors, round.seconds);
    for value in round.latencies.iter_recorded() {
        println!(
            "LATENCY {} {}",
            value.value_iterated_to(),
            value.count_at_value()
        );
    }
    Ok(())
}

/// Runs one reference round in a child process pinned to `cpus`.
async fn raw_round(
    url: &str,
    clients: usize,
    duration: Duration,
    cpus: Option<&str>,
) -> anyhow::Result<Round> {
    let child = helper_command(cpus)?
        .args([
            "raw-insert-worker",
            "--url",
            url,
            "--clients",
            &clients.to_string(),
            "--seconds",
            &duration.as_secs_f64().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut helper = Helper { child };
    let mut stdout = helper.child.stdout.take().expect("piped stdout");
    let output = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    })
    .await??;
    let status = helper.child.wait()?;
    anyhow::ensure!(status.success(), "raw-insert-worker failed: {status}");
    let mut result = None;
    let mut latencies = histogram();
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["RESULT", calls, errors, seconds] => {
                result = Some((
                    calls.parse::<u64>()?,
                    errors.parse::<u64>()?,
                    seconds.parse::<f64>()?,
                ));
            }
            ["LATENCY", value, count] => {
                latencies.record_n(value.parse::<u64>()?.max(1), count.parse()?)?;
            }
            _ => {}
        }
    }
    let (calls, errors, seconds) =
        result.ok_or_else(|| anyhow::anyhow!("raw-insert-worker printed no result: {output:?}"))?;
    Ok(Round {
        calls,
        errors,
        seconds,
        latencies,
    })
}

// ----------------------------------------------------------------------------------------
// Ours: ForecastMilestone through `pipeline serve`

fn date(d: NaiveDate) -> v1::Date {
    v1::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// One project and one CONSTRUCTION_START milestone per client; returns the milestone names.
async fn set_up_milestones(
    channel: Channel,
    bearer: &MetadataValue<Ascii>,
    clients: usize,
    baseline: NaiveDate,
) -> anyhow::Result<Vec<String>> {
    let mut projects = ProjectServiceClient::new(channel.clone());
    let mut milestones = MilestoneServiceClient::new(channel);
    let mut names = Vec::with_capacity(clients);
    for client in 0..clients {
        let project_id = format!("writes-{client:04}");
        let f = sample_fields(client);
        let project = v1::Project {
            display_name: f.display_name,
            description: f.description,
            project_code: f.project_code.unwrap_or_default(),
            category: v1::ProjectCategory::from(f.category) as i32,
            investment_type: v1::InvestmentType::from(f.investment_type) as i32,
            township: f.township,
            department: f.department,
            owner: f.owner,
            leader: f.leader,
            total_investment_yuan: f.total_investment_yuan,
            annual_planned_investment_yuan: f.annual_planned_investment_yuan,
            completed_investment_yuan: f.completed_investment_yuan,
            ..Default::default()
        };
        let mut request = Request::new(v1::CreateProjectRequest {
            project: Some(project),
            project_id: project_id.clone(),
            initial_stage: v1::ProjectStage::Preparation as i32,
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        projects.create_project(request).await?;
        let mut request = Request::new(v1::CreateMilestoneRequest {
            parent: format!("projects/{project_id}"),
            milestone: Some(v1::Milestone {
                kind: v1::MilestoneKind::ConstructionStart as i32,
                title: "主体工程开工".into(),
                baseline_date: Some(date(baseline)),
                ..Default::default()
            }),
            milestone_id: "start".into(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("authorization", bearer.clone());
        let milestone = milestones.create_milestone(request).await?.into_inner();
        names.push(milestone.name);
    }
    Ok(names)
}

/// The shared state of the forecasting clients: each moves its own milestone back and forth
/// between two dates, so every call changes the forecast.
#[derive(Clone)]
struct Forecasts {
    clients: Vec<MilestoneServiceClient<Channel>>,
    bearer: MetadataValue<Ascii>,
    names: Arc<Vec<String>>,
    seqs: Arc<Vec<AtomicU64>>,
    dates: [v1::Date; 2],
}

impl Forecasts {
    async fn forecast(&self, client: usize) -> anyhow::Result<()> {
        let seq = self.seqs[client].fetch_add(1, Ordering::Relaxed);
        let mut request = Request::new(v1::ForecastMilestoneRequest {
            name: self.names[client].clone(),
            forecast_date: Some(self.dates[(seq % 2) as usize]),
            reason: "征地拆迁进度滞后，开工时间相应调整".into(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("authorization", self.bearer.clone());
        let mut grpc = self.clients[client % self.clients.len()].clone();
        grpc.forecast_milestone(request).await?;
        Ok(())
    }
}

async fn ours_round(forecasts: &Forecasts, clients: usize, duration: Duration) -> Round {
    let forecasts = forecasts.clone();
    drive(clients, WARM_UP, duration, move |client| {
        let forecasts = forecasts.clone();
        async move { forecasts.forecast(client).await }
    })
    .await
}

// ----------------------------------------------------------------------------------------
// One database

/// The numbers of one database.
struct Outcome {
    label: &'static str,
    ours_rates: Vec<f64>,
    ours_latencies: Histogram<u64>,
    ours_errors: u64,
    raw_rates: Vec<f64>,
    raw_latencies: Histogram<u64>,
    raw_errors: u64,
    ratios: Vec<f64>,
}

impl Outcome {
    fn ours_rate(&self) -> f64 {
        median(self.ours_rates.clone())
    }

    fn raw_rate(&self) -> f64 {
        median(self.raw_rates.clone())
    }

    fn ratio(&self) -> f64 {
        median(self.ratios.clone())
    }

    fn target(&self) -> String {
        match self.label {
            "sqlite" => format!(
                "≥ {SQLITE_TARGET:.0} writes/s {}",
                if self.ours_rate() >= SQLITE_TARGET {
                    "met"
                } else {
                    "NOT met"
                }
            ),
            _ => "ratio reported".into(),
        }
    }

    fn row(&self, clients: usize) -> String {
        format!(
            "| {} | {clients} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {:.3} | {} |",
            if self.label == "sqlite" {
                "SQLite (WAL)"
            } else {
                "PostgreSQL"
            },
            self.ours_rate(),
            ms(&self.ours_latencies, 0.50),
            ms(&self.ours_latencies, 0.99),
            self.raw_rate(),
            ms(&self.raw_latencies, 0.50),
            ms(&self.raw_latencies, 0.99),
            self.ratio(),
            self.target(),
        )
    }

    fn json(&self) -> String {
        let ratios: Vec<String> = self.ratios.iter().map(|r| format!("{r:.4}")).collect();
        let mut json = format!(
            "{{\"forecasts_per_s\":{:.1},\"forecast_p50_ms\":{:.3},\"forecast_p99_ms\":{:.3},\
             \"forecast_errors\":{},\"raw_inserts_per_s\":{:.1},\"raw_p50_ms\":{:.3},\
             \"raw_p99_ms\":{:.3},\"raw_errors\":{},\"ratio\":{:.4},\"ratios\":[{}]",
            self.ours_rate(),
            ms(&self.ours_latencies, 0.50),
            ms(&self.ours_latencies, 0.99),
            self.ours_errors,
            self.raw_rate(),
            ms(&self.raw_latencies, 0.50),
            ms(&self.raw_latencies, 0.99),
            self.raw_errors,
            self.ratio(),
            ratios.join(","),
        );
        if self.label == "sqlite" {
            json.push_str(&format!(
                ",\"target_writes_per_s\":{SQLITE_TARGET},\"target_met\":{}",
                self.ours_rate() >= SQLITE_TARGET
            ));
        }
        json.push('}');
        json
    }
}

/// Sets up the milestones on a running server, then alternates raw / ours rounds.
async fn measure(
    label: &'static str,
    database: Database,
    raw_url: &str,
    options: &Options,
) -> anyhow::Result<Outcome> {
    let server_cpus = options.server_cpus.as_deref();
    let server = start_server(database, server_cpus, &[]).await?;
    let bearer = server.bearer()?;
    let today = chrono::Utc::now().date_naive();
    let baseline = today + chrono::Days::new(200);
    let names =
        set_up_milestones(server.channel().await?, &bearer, options.clients, baseline).await?;
    create_raw_table(raw_url).await?;
    let channels =
        connect_all(&server.addr, options.clients.div_ceil(TASKS_PER_CONNECTION)).await?;
    let forecasts = Forecasts {
        clients: channels
            .into_iter()
            .map(MilestoneServiceClient::new)
            .collect(),
        bearer,
        seqs: Arc::new((0..names.len()).map(|_| AtomicU64::new(0)).collect()),
        names: Arc::new(names),
        dates: [
            date(baseline + chrono::Days::new(10)),
            date(baseline + chrono::Days::new(20)),
        ],
    };
    let duration = Duration::from_secs_f64(options.seconds / options.rounds as f64);
    let mut outcome = Outcome {
        label,
        ours_rates: Vec::new(),
        ours_latencies: histogram(),
        ours_errors: 0,
        raw_rates: Vec::new(),
        raw_latencies: histogram(),
        raw_errors: 0,
        ratios: Vec::new(),
    };
    for r in 0..options.rounds {
        let raw = raw_round(raw_url, options.clients, duration, server_cpus).await?;
        let ours = ours_round(&forecasts, options.clients, duration).await;
        eprintln!(
            "{label} round {}: raw INSERT {:.0}/s (p99 {:.2} ms), ForecastMilestone {:.0}/s (p99 {:.2} ms), ratio {:.3}",
            r + 1,
            raw.rate(),
            ms(&raw.latencies, 0.99),
            ours.rate(),
            ms(&ours.latencies, 0.99),
            ours.rate() / raw.rate(),
        );
        outcome.ratios.push(ours.rate() / raw.rate());
        outcome.raw_rates.push(raw.rate());
        outcome.raw_latencies.add(&raw.latencies)?;
        outcome.raw_errors += raw.errors;
        outcome.ours_rates.push(ours.rate());
        outcome.ours_latencies.add(&ours.latencies)?;
        outcome.ours_errors += ours.errors;
    }
    drop(forecasts);
    server.stop();
    drop_raw_table(raw_url).await?;
    Ok(outcome)
}

async fn sqlite(options: &Options) -> anyhow::Result<Outcome> {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "pipeline-bench-writes-{}-{}",
        std::process::id(),
        now_us()
    ));
    std::fs::create_dir_all(&dir)?;
    let url = Store::sqlite_url(&dir);
    let result = measure("sqlite", Database::Dir(dir.clone()), &url, options).await;
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn postgres(admin_url: &str, options: &Options) -> anyhow::Result<Outcome> {
    let scratch = crate::common::ScratchPostgres::create(admin_url, "pipeline_bench").await?;
    let url = scratch.url.clone();
    let result = measure("postgres", Database::Url(url.clone()), &url, options).await;
    scratch.drop().await;
    result
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    anyhow::ensure!(options.clients > 0 && options.rounds > 0 && options.seconds > 0.0);
    pin_self(options.client_cpus.as_deref())?;
    let total = Instant::now();
    let sqlite = sqlite(&options).await?;
    let postgres = match &options.postgres_url {
        Some(url) => Some(postgres(url, &options).await?),
        None => None,
    };
    let pinned = options.server_cpus.as_deref().unwrap_or("unpinned");
    println!(
        "Writes: ForecastMilestone (update + revision + event per transaction) vs a raw one-row INSERT \
         loop through the same driver and pool, server and raw worker on CPU {pinned}, {} alternating \
         rounds of {:.2} s per target",
        options.rounds,
        options.seconds / options.rounds as f64
    );
    println!(
        "| database | clients | ForecastMilestone/s | p50 / p99 ms | raw INSERT/s | raw p50 / p99 ms | ours/raw (median of pairs) | target |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!("{}", sqlite.row(options.clients));
    match &postgres {
        Some(outcome) => println!("{}", outcome.row(options.clients)),
        None => println!("(PostgreSQL skipped: pass --postgres-url to measure it)"),
    }
    println!(
        "{{\"bench\":\"writes\",\"clients\":{},\"seconds\":{},\"rounds\":{},\"server_cpus\":\"{pinned}\",\
         \"sqlite\":{},\"postgres\":{}}}",
        options.clients,
        options.seconds,
        options.rounds,
        sqlite.json(),
        postgres.as_ref().map_or("null".to_string(), Outcome::json),
    );
    for outcome in std::iter::once(&sqlite).chain(postgres.as_ref()) {
        if outcome.ours_errors + outcome.raw_errors > 0 {
            println!(
                "({}: {} ForecastMilestone errors, {} raw INSERT errors)",
                outcome.label, outcome.ours_errors, outcome.raw_errors
            );
        }
    }
    eprintln!("writes: done in {:.1} s", total.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::common::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x").unwrap(),
            "postgres://h:5432/x"
        );
    }
}
