//! The read side at county scale: a seeded data set of 100,000 projects and 500,000 milestones
//! by default, on SQLite and (with a URL) PostgreSQL. Measures the scanner's first pass over
//! it (the start-up cost), the server's memory at rest, the supervisor's morning query
//! (ListMilestones: the RED milestones of one township, a page of 50) and the leaders' reports.
//! Then it adds the monthly investment cycle (issue 17: plans and 12 months of reports for the
//! projects in CONSTRUCTION, see `seed::seed_investment`), runs the scanner and the same reads
//! again, and measures ListInvestmentPace against a bare SQL query of the same rows.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use pipeline::api::Services;
use pipeline::domain::clock::Clock;
use pipeline::domain::milestone::Policy;
use pipeline::proto::v1;
use pipeline::store::Store;
use sea_orm::{ConnectionTrait, Statement};
use v1::investment_service_client::InvestmentServiceClient;
use v1::milestone_service_client::MilestoneServiceClient;
use v1::report_service_client::ReportServiceClient;

use crate::common::{Authed, Database, histogram, ms, peak_rss_kib, rss_kib, start_server};
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
            let scratch =
                crate::common::ScratchPostgres::create(admin_url, "pipeline_bench_q").await?;
            let url = scratch.url.clone();
            let result = one_backend(&o, "postgres", &url, Database::Url(url.clone())).await;
            scratch.drop().await;
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
    println!(
        "{{\"bench\":\"scanner\",\"backend\":\"{backend}\",\"data\":\"no monthly reports\",\"first_pass_s\":{first:.3},\"alerts\":{emitted}}}"
    );

    let without = reads(
        o,
        backend,
        "no monthly reports",
        database.clone(),
        url,
        false,
    )
    .await?;

    let seeded = seed::seed_investment(url).await?;
    row(
        backend,
        "seeding the monthly cycle (SQL)",
        format!(
            "{:.1} s: {} plans for {} ({} with a monthly plan), {} reports (2026-01 to 2026-12)",
            seeded.seconds,
            seeded.plans,
            seed::PLAN_YEAR,
            seeded.monthly_plans,
            seeded.reports
        ),
        "—",
    );
    let (first, emitted, second) = scan_twice(url).await?;
    row(
        backend,
        "scanner first pass with the monthly cycle (alerts raised)",
        format!("{first:.2} s ({emitted} alerts)"),
        "—",
    );
    row(
        backend,
        "scanner pass with nothing new, with the monthly cycle",
        format!("{second:.2} s"),
        "—",
    );
    println!(
        "{{\"bench\":\"scanner\",\"backend\":\"{backend}\",\"data\":\"12 months of reports\",\"first_pass_s\":{first:.3},\"alerts\":{emitted}}}"
    );
    let with = reads(o, backend, "12 months of reports", database, url, true).await?;
    for (name, before, after) in [
        (
            "ListMilestones morning query",
            &without.morning,
            &with.morning,
        ),
        ("GetPipelineSummary", &without.summary, &with.summary),
    ] {
        row(
            backend,
            &format!("{name}, with reports / without: p50 / p99"),
            format!(
                "{:.2}× / {:.2}×",
                ms(after, 0.5) / ms(before, 0.5),
                ms(after, 0.99) / ms(before, 0.99)
            ),
            "—",
        );
    }
    println!(
        "{{\"bench\":\"monthly_reads\",\"backend\":\"{backend}\",\"plans\":{},\"reports\":{},\"morning_p99_ms_without\":{:.3},\"morning_p99_ms_with\":{:.3},\"summary_p99_ms_without\":{:.3},\"summary_p99_ms_with\":{:.3}}}",
        seeded.plans,
        seeded.reports,
        ms(&without.morning, 0.99),
        ms(&with.morning, 0.99),
        ms(&without.summary, 0.99),
        ms(&with.summary, 0.99)
    );
    Ok(())
}

/// The latencies of one round of reads, in microseconds.
struct Reads {
    morning: Histogram<u64>,
    summary: Histogram<u64>,
}

/// Starts the server on the seeded database and measures the morning query and the reports
/// (rows labelled with `data`); with `pace`, ListInvestmentPace too, and the memory at rest.
async fn reads(
    o: &Options,
    backend: &str,
    data: &str,
    database: Database,
    url: &str,
    pace: bool,
) -> anyhow::Result<Reads> {
    let started = Instant::now();
    let server = start_server(
        database,
        o.server_cpus.as_deref(),
        &["--today", "2026-10-15"],
    )
    .await?;
    row(
        backend,
        &format!("server start to serving ({data})"),
        format!("{:.2} s", started.elapsed().as_secs_f64()),
        "—",
    );
    let channel = server.authed().await?;
    let mut milestones = MilestoneServiceClient::new(channel.clone());
    let mut reports = ReportServiceClient::new(channel.clone());

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
        &format!("ListMilestones, RED of one township, page of 50 ({data}): p50 / p99 ms"),
        format!(
            "{:.2} / {:.2} (mean page {:.0})",
            ms(&h, 0.5),
            ms(&h, 0.99),
            found as f64 / o.requests as f64
        ),
        "p99 < 20 ms",
    );
    println!(
        "{{\"bench\":\"list_milestones\",\"backend\":\"{backend}\",\"data\":\"{data}\",\"p50_ms\":{:.3},\"p99_ms\":{:.3}}}",
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
            &format!("{name} ({data}, {report_calls} calls): p50 / p99 ms"),
            format!("{:.1} / {:.1}", ms(h, 0.5), ms(h, 0.99)),
            "—",
        );
    }
    println!(
        "{{\"bench\":\"reports\",\"backend\":\"{backend}\",\"data\":\"{data}\",\"summary_p50_ms\":{:.3},\"summary_p99_ms\":{:.3},\"rankings_p50_ms\":{:.3},\"funding_p50_ms\":{:.3}}}",
        ms(&summary, 0.5),
        ms(&summary, 0.99),
        ms(&rankings, 0.5),
        ms(&funding, 0.5),
    );

    if pace {
        investment_pace(o, backend, InvestmentServiceClient::new(channel), url).await?;
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid();
    row(
        backend,
        &format!("server memory at rest ({data}; RSS / peak)"),
        format!(
            "{:.1} / {:.1} MiB",
            rss_kib(pid) as f64 / 1024.0,
            peak_rss_kib(pid) as f64 / 1024.0
        ),
        "—",
    );
    println!(
        "{{\"bench\":\"memory\",\"backend\":\"{backend}\",\"data\":\"{data}\",\"rss_kib\":{}}}",
        rss_kib(pid)
    );
    server.stop();
    Ok(Reads {
        morning: h,
        summary,
    })
}

/// The month ListInvestmentPace is measured for: the status date's month.
const PACE_MONTH: &str = "2026-10";

/// ListInvestmentPace for `PACE_MONTH`, pages of 50 and 1000, the first page and one from the
/// middle of the list (by page_token), each call followed by its reference: the bare SQL query
/// that reads the same page's plans and reports through the same driver (no lights, no
/// justifications, no gRPC), so the ratio is what the service adds on top of the rows.
async fn investment_pace(
    o: &Options,
    backend: &str,
    mut client: InvestmentServiceClient<Authed>,
    url: &str,
) -> anyhow::Result<()> {
    // Walk every page of 50 once: the lights of the month, and the token of the page that
    // starts nearest the middle of the list (with the project it follows, for the reference).
    let mut lights = [0u64; 4];
    let mut tokens: Vec<(String, String)> = Vec::new();
    let mut token = String::new();
    let mut after = String::new();
    let mut listed = 0u64;
    let walk = Instant::now();
    loop {
        let page = client
            .list_investment_pace(v1::ListInvestmentPaceRequest {
                month: PACE_MONTH.into(),
                page_size: 50,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        for pace in &page.paces {
            lights[pace.light.clamp(0, 3) as usize] += 1;
        }
        listed += page.paces.len() as u64;
        if let Some(last) = page.paces.last() {
            after = last.project.trim_start_matches("projects/").to_string();
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        tokens.push((token.clone(), after.clone()));
    }
    let walk = walk.elapsed().as_secs_f64();
    row(
        backend,
        &format!("ListInvestmentPace {PACE_MONTH}, every page of 50 once"),
        format!(
            "{listed} projects in {} calls, {walk:.2} s: GREEN {}, YELLOW {}, RED {}",
            tokens.len() + 1,
            lights[1],
            lights[2],
            lights[3]
        ),
        "—",
    );
    let middle = tokens
        .get(tokens.len().saturating_sub(1) / 2)
        .cloned()
        .unwrap_or_default();

    let store = Store::connect(url).await?;
    let db = store.connection();
    let first_month = seed::PLAN_YEAR * 12;
    let last_month = first_month + 9;
    for page_size in [50u32, 1000] {
        for (where_, (page_token, after)) in [
            ("first page", (String::new(), String::new())),
            ("middle page", middle.clone()),
        ] {
            // Pages of 1000 take 20 times the work: a quarter of the calls.
            let calls = if page_size > 50 {
                (o.requests / 4).max(5)
            } else {
                o.requests
            };
            let reference_sql = format!(
                "SELECT page.project_id, page.total_yuan, page.monthly_yuan, r.month_index, \
                 r.amount_yuan, r.report_date FROM (SELECT p.id, p.project_id, pl.total_yuan, \
                 pl.monthly_yuan FROM investment_plans pl JOIN projects p ON p.id = pl.project_pk \
                 WHERE pl.year = {} AND p.project_id > '{after}' ORDER BY p.project_id \
                 LIMIT {page_size}) page LEFT JOIN investment_reports r ON r.project_pk = page.id \
                 AND r.month_index BETWEEN {first_month} AND {last_month}",
                seed::PLAN_YEAR
            );
            let mut ours = histogram();
            let mut reference = histogram();
            let mut entries = 0usize;
            let mut rows = 0usize;
            for i in 0..calls + 3 {
                let call = Instant::now();
                let page = client
                    .list_investment_pace(v1::ListInvestmentPaceRequest {
                        month: PACE_MONTH.into(),
                        page_size: page_size as i32,
                        page_token: page_token.clone(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                let took = call.elapsed();
                let call = Instant::now();
                let bare = db
                    .query_all_raw(Statement::from_string(
                        db.get_database_backend(),
                        reference_sql.clone(),
                    ))
                    .await?;
                let bare_took = call.elapsed();
                if i >= 3 {
                    ours.record((took.as_micros() as u64).max(1))?;
                    reference.record((bare_took.as_micros() as u64).max(1))?;
                    entries = page.paces.len();
                    rows = bare.len();
                }
            }
            row(
                backend,
                &format!(
                    "ListInvestmentPace {PACE_MONTH}, {where_} of {page_size} ({entries} projects, {calls} calls): p50 / p99 ms"
                ),
                format!(
                    "{:.2} / {:.2}; bare SQL of the same rows ({rows} rows) {:.2} / {:.2}: {:.1}× / {:.1}×",
                    ms(&ours, 0.5),
                    ms(&ours, 0.99),
                    ms(&reference, 0.5),
                    ms(&reference, 0.99),
                    ms(&ours, 0.5) / ms(&reference, 0.5),
                    ms(&ours, 0.99) / ms(&reference, 0.99)
                ),
                "—",
            );
            println!(
                "{{\"bench\":\"list_investment_pace\",\"backend\":\"{backend}\",\"page\":\"{}\",\"page_size\":{page_size},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"reference_p50_ms\":{:.3},\"reference_p99_ms\":{:.3}}}",
                where_.replace(' ', "_"),
                ms(&ours, 0.5),
                ms(&ours, 0.99),
                ms(&reference, 0.5),
                ms(&reference, 0.99)
            );
        }
    }
    store.close().await?;
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
        units: None,
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
