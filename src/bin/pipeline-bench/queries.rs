//! The read side at county scale: a seeded data set of 100,000 projects and 500,000 milestones
//! by default, on SQLite and (with a URL) PostgreSQL. Measures the scanner's first pass over
//! it (the start-up cost), the server's memory at rest, the supervisor's morning query
//! (ListMilestones: the RED milestones of one township, a page of 50) and the leaders' reports.

use std::time::{Duration, Instant};

use pipeline::api::Services;
use pipeline::domain::clock::Clock;
use pipeline::domain::milestone::Policy;
use pipeline::proto::v1;
use pipeline::store::Store;
use sea_orm::ConnectionTrait;
use v1::milestone_service_client::MilestoneServiceClient;
use v1::report_service_client::ReportServiceClient;

use crate::common::{Database, histogram, ms, peak_rss_kib, rss_kib, start_server};
use crate::seed::{self, TOWNSHIPS};

pub struct Options {
    pub projects: u64,
    pub milestones_per_project: u64,
    pub requests: u64,
    pub postgres_url: Option<String>,
    pub server_cpus: Option<String>,
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    println!(
        "read side with {} projects and {} milestones; status date {}",
        o.projects,
        o.projects * o.milestones_per_project,
        seed::status_date()
    );
    println!("| backend | measure | value | target |");
    println!("| --- | --- | --- | --- |");
    let dir = std::env::temp_dir().join(format!("pipeline-bench-queries-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = one_backend(
        &o,
        "sqlite",
        &Store::sqlite_url(&dir),
        Database::Dir(dir.clone()),
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
    result?;
    match &o.postgres_url {
        None => println!("(PostgreSQL skipped: pass --postgres-url postgres://user@host:port/db)"),
        Some(admin_url) => {
            let name = format!("pipeline_bench_q_{}", std::process::id());
            let admin = sea_orm::Database::connect(admin_url.as_str()).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let url = match admin_url.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => anyhow::bail!("--postgres-url must end with /database"),
            };
            let result = one_backend(&o, "postgres", &url, Database::Url(url.clone())).await;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .ok();
            result?;
        }
    }
    Ok(())
}

fn row(backend: &str, measure: &str, value: String, target: &str) {
    println!("| {backend} | {measure} | {value} | {target} |");
}

async fn one_backend(
    o: &Options,
    backend: &str,
    url: &str,
    database: Database,
) -> anyhow::Result<()> {
    let seconds = seed::seed(url, o.projects, o.milestones_per_project).await?;
    row(
        backend,
        "seeding the data set (SQL)",
        format!("{seconds:.1} s"),
        "—",
    );

    let (first, emitted, second) = scan_twice(url).await?;
    row(
        backend,
        "scanner first pass (alerts raised)",
        format!("{first:.2} s ({emitted} alerts)"),
        "< 2 s",
    );
    row(
        backend,
        "scanner pass with nothing new",
        format!("{second:.2} s"),
        "—",
    );

    let started = Instant::now();
    let server = start_server(
        database,
        o.server_cpus.as_deref(),
        &["--today", "2026-10-15"],
    )
    .await?;
    row(
        backend,
        "server start to serving",
        format!("{:.2} s", started.elapsed().as_secs_f64()),
        "—",
    );
    let channel = server.authed().await?;
    let mut milestones = MilestoneServiceClient::new(channel.clone());
    let mut reports = ReportServiceClient::new(channel);

    // The supervisor's morning query.
    let mut h = histogram();
    let mut found = 0usize;
    for i in 0..o.requests + 10 {
        let request = v1::ListMilestonesRequest {
            parent: "projects/-".into(),
            filter: format!("township = \"镇{}\" AND light = RED", i % TOWNSHIPS),
            page_size: 50,
            ..Default::default()
        };
        let call = Instant::now();
        let page = milestones.list_milestones(request).await?.into_inner();
        if i >= 10 {
            h.record((call.elapsed().as_micros() as u64).max(1))?;
            found += page.milestones.len();
        }
    }
    row(
        backend,
        "ListMilestones, RED of one township, page of 50: p50 / p99 ms",
        format!(
            "{:.2} / {:.2} (mean page {:.0})",
            ms(&h, 0.5),
            ms(&h, 0.99),
            found as f64 / o.requests as f64
        ),
        "p99 < 20 ms",
    );
    println!(
        "{{\"bench\":\"list_milestones\",\"backend\":\"{backend}\",\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"scan_first_pass_s\":{first:.3}}}",
        ms(&h, 0.5),
        ms(&h, 0.99)
    );

    // Reports, few calls: each aggregates the whole data set (seconds on SQLite at full size).
    let report_calls = (o.requests / 40).max(3);
    let mut summary = histogram();
    let mut rankings = histogram();
    let mut funding = histogram();
    for _ in 0..report_calls {
        let call = Instant::now();
        reports
            .get_pipeline_summary(v1::GetPipelineSummaryRequest::default())
            .await?;
        summary.record((call.elapsed().as_micros() as u64).max(1))?;
        let call = Instant::now();
        reports
            .list_rankings(v1::ListRankingsRequest {
                dimension: v1::RankingDimension::Department as i32,
                ..Default::default()
            })
            .await?;
        rankings.record((call.elapsed().as_micros() as u64).max(1))?;
        let call = Instant::now();
        reports
            .get_funding_summary(v1::GetFundingSummaryRequest::default())
            .await?;
        funding.record((call.elapsed().as_micros() as u64).max(1))?;
    }
    for (name, h) in [
        ("GetPipelineSummary", &summary),
        ("ListRankings by department", &rankings),
        ("GetFundingSummary", &funding),
    ] {
        row(
            backend,
            &format!("{name}: p50 / p99 ms"),
            format!("{:.1} / {:.1}", ms(h, 0.5), ms(h, 0.99)),
            "—",
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid();
    row(
        backend,
        "server memory at rest (RSS / peak)",
        format!(
            "{:.1} / {:.1} MiB",
            rss_kib(pid) as f64 / 1024.0,
            peak_rss_kib(pid) as f64 / 1024.0
        ),
        "—",
    );
    println!(
        "{{\"bench\":\"reports\",\"backend\":\"{backend}\",\"summary_p50_ms\":{:.3},\"rankings_p50_ms\":{:.3},\"funding_p50_ms\":{:.3},\"rss_kib\":{}}}",
        ms(&summary, 0.5),
        ms(&rankings, 0.5),
        ms(&funding, 0.5),
        rss_kib(pid)
    );
    server.stop();
    Ok(())
}

/// The scanner's first pass over a seeded data set, in process as `serve` runs it at start-up,
/// then a second pass that finds nothing new: (first seconds, alerts raised, second seconds).
pub async fn scan_twice(url: &str) -> anyhow::Result<(f64, usize, f64)> {
    let store = Store::connect(url).await?;
    let services = Services {
        store: store.clone(),
        clock: Clock::new(chrono_tz::Asia::Shanghai, Some(seed::status_date())),
        policy: Policy::default(),
        max_message_bytes: pipeline::api::DEFAULT_MAX_MESSAGE_BYTES,
    };
    let started = Instant::now();
    let emitted = pipeline::scanner::scan_once(&services).await?;
    let first = started.elapsed().as_secs_f64();
    let started = Instant::now();
    pipeline::scanner::scan_once(&services).await?;
    let second = started.elapsed().as_secs_f64();
    store.close().await?;
    Ok((first, emitted, second))
}
