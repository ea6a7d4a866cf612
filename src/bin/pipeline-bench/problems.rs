//! The problem ledger at county scale (issue 20): the weekly scheduling meeting's question,
//! "which problems of this responsible unit are overdue as of the status date", over a ledger
//! of 100,000 problems by default, on SQLite and (with a URL) PostgreSQL.
//!
//! The data set: `seed::seed`'s projects (one milestone each), then `problems` problems spread
//! evenly over them with `seed_problems`, which writes what the service would have written for
//! the same history (the problem rows and one revision per version, CREATED, STARTED, RESOLVED,
//! CLOSED; not the PROBLEM_* events of the log, as `seed::seed` writes none for projects). The
//! scanner then raises the PROBLEM_OVERDUE and PROBLEM_ESCALATED alerts once, in process, so the
//! server starts with nothing new to raise.
//!
//! Measured over gRPC, one client calling back to back, each round of four calls in turn:
//! ListProblems (`projects/-`, `responsible_unit` = U, `overdue_as_of` = the status date, a page
//! of 50) with U cycling over the 40 units; the county-wide overdue list's first page (no unit);
//! GetProblem by name, the reference (one row by its key, through the same server and token); and
//! the unit query's SQL sent bare through the same driver from this process (no gRPC, no
//! conversion), so the ratios say what the list costs against the cheapest read and against its
//! own rows. The plans of both list queries (EXPLAIN) are printed before the calls.

use std::time::Instant;

use chrono::NaiveDate;
use hdrhistogram::Histogram;
use pipeline::domain::values::day_number;
use pipeline::proto::v1;
use pipeline::store::Store;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use v1::problem_service_client::ProblemServiceClient;

use crate::common::{Database, histogram, ms, start_server};
use crate::queries::scan_twice;
use crate::seed;

pub struct Options {
    /// Problems in the ledger.
    pub problems: u64,
    /// Projects they are spread over (evenly).
    pub projects: u64,
    /// Measured rounds (each one call of every measure), after 10 unmeasured ones.
    pub requests: u64,
    /// Also run on PostgreSQL: an admin URL; a scratch database is made and dropped.
    pub postgres_url: Option<String>,
    /// Pin the server to these CPUs (a `taskset -c` list).
    pub server_cpus: Option<String>,
    /// SQL run on each backend after the seed, before the scanner, the plans and the calls
    /// (then ANALYZE): to measure an index before a migration adds it.
    pub sql: Vec<String>,
}

/// How many responsible units the ledger uses: 20 departments (部门0 … 部门19, the project
/// seed's own) and 20 townships (镇0 … 镇19), interleaved from the busiest down.
pub const UNITS: usize = 40;

/// The responsible units, busiest first: 部门0, 镇0, 部门1, 镇1, …
pub fn units() -> Vec<String> {
    (0..UNITS / 2)
        .flat_map(|k| [format!("部门{k}"), format!("镇{k}")])
        .collect()
}

/// Buckets of the unit draw: unit k gets a share proportional to 1 / (k + 1) (Zipf, s = 1), so
/// the busiest unit holds about 23 % of the problems and the quietest about 0.6 %.
const UNIT_BUCKETS: u64 = 10_000;

/// A prime above any seeded row number: `(i² a + i b) % HASH_PRIME` with different a and b gives
/// each attribute of problem `i` its own evenly spread, reproducible draw, on either backend (a
/// linear `i a` alone leaves gaps: at 2,000 problems two of the 40 units got none).
const HASH_PRIME: u64 = 1_000_003;

const CATEGORIES: [&str; 10] = [
    "LAND",
    "DEMOLITION",
    "POWER",
    "WATER",
    "GAS",
    "ROAD",
    "FUNDING",
    "APPROVAL",
    "ENTERPRISE_REQUEST",
    "OTHER",
];

/// What `seed_problems` made, counted back from the database.
pub struct ProblemSeed {
    pub seconds: f64,
    pub problems: u64,
    pub revisions: u64,
    /// Problems by state: OPEN, IN_PROGRESS, RESOLVED, CLOSED.
    pub by_state: [u64; 4],
    /// OPEN or IN_PROGRESS with a deadline before the status date.
    pub overdue: u64,
    /// Problems and overdue problems of the busiest and the quietest unit.
    pub busiest: (u64, u64),
    pub quietest: (u64, u64),
}

/// Adds `problems` problems to the projects `bench-1` … `bench-{projects}` of `seed::seed`
/// (problem `i` to project `1 + i % projects`, id `bench-p{i}`), in bulk `INSERT … SELECT` on
/// either backend, then one revision per version and ANALYZE.
///
/// Each problem is raised on a day of the year before the status date (2025-10-16 to
/// 2026-10-15), 09:00–17:00 Shanghai, with a deadline 15 to 120 days later, so deadlines run from
/// late 2025 to February 2027. The younger a problem, the likelier it is still open: 4 % of
/// those raised a year ago and 44 % of those raised on the status date are OPEN or IN_PROGRESS
/// (one in three of them OPEN), the rest RESOLVED (one in four) or CLOSED; at 100,000 problems
/// 24 % are open and 16 % overdue on the status date. The responsible unit is drawn by `units` with Zipf
/// weights; the responsible leader is one of 12 per unit; one in four blocks the project's
/// milestone m1. Times follow the service's transitions: started a day after creation, resolved
/// two thirds of the way from raise to the status date, closed two days after. Version and
/// revisions match: OPEN 1, IN_PROGRESS 2, RESOLVED 3, CLOSED 4.
pub async fn seed_problems(url: &str, problems: u64, projects: u64) -> anyhow::Result<ProblemSeed> {
    let started = Instant::now();
    let store = Store::connect(url).await?;
    let db = store.connection();
    let status = day_number(seed::status_date());
    let draw = |a: u64, b: u64, modulus: u64| {
        format!("(((i * i) % {HASH_PRIME} * {a} + i * {b}) % {HASH_PRIME} % {modulus})")
    };
    let age = draw(7919, 31, 365);
    let offset = format!("(15 + {})", draw(31337, 17, 106));
    let state_draw = draw(15485863, 101, 100);
    // Zipf shares as cumulative bucket bounds.
    let names = units();
    let harmonic: f64 = (1..=UNITS).map(|k| 1.0 / k as f64).sum();
    let mut cumulative = 0.0;
    let mut arms = String::new();
    for (k, name) in names.iter().enumerate() {
        cumulative += 1.0 / (k + 1) as f64 / harmonic;
        let bound = ((cumulative * UNIT_BUCKETS as f64).round() as u64).max(k as u64 + 1);
        if k + 1 < UNITS {
            arms.push_str(&format!(" WHEN u < {bound} THEN '{name}'"));
        } else {
            arms.push_str(&format!(" ELSE '{name}'"));
        }
    }
    let categories: String = CATEGORIES
        .iter()
        .enumerate()
        .map(|(k, c)| format!(" WHEN {k} THEN '{c}'"))
        .collect();
    const DAY_US: i64 = 86_400_000_000;
    // 09:00 Shanghai is 01:00 UTC; spread over the working day, unique to the microsecond.
    let created = format!("(raise_day * {DAY_US} + 3600000000 + (i % 28800) * 1000000 + i % 997)");
    let resolved = format!("({created} + (1 + age_days * 2 / 3) * {DAY_US})");
    let closed = format!("({resolved} + 2 * {DAY_US})");
    db.execute_unprepared(&format!(
        "WITH RECURSIVE n(i) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < {problems}), \
         d AS (SELECT i, {age} AS age_days, {status} - {age} AS raise_day, {offset} AS span, \
         {} AS u, \
         CASE WHEN {state_draw} < 4 + 40 * (365 - {age}) / 365 \
         THEN CASE WHEN i % 3 = 0 THEN 'OPEN' ELSE 'IN_PROGRESS' END \
         ELSE CASE WHEN i % 4 = 0 THEN 'RESOLVED' ELSE 'CLOSED' END END AS state FROM n) \
         INSERT INTO problems (project_pk, problem_id, uid, category, description, raised_by, \
         raise_date, responsible_unit, responsible_leader, deadline, milestone_id, state, \
         resolution_note, extension_count, resolved_at_us, closed_at_us, created_at_us, \
         updated_at_us, version) \
         SELECT p.id, 'bench-p' || i, 'bench-problem-uid-' || i, CASE i % 10{categories} END, \
         '基准问题' || i, 'bench-raiser', raise_day, CASE{arms} END, '责任领导' || (u % 12), raise_day + span, \
         CASE WHEN i % 4 = 0 THEN 'm1' ELSE '' END, state, \
         CASE WHEN state IN ('RESOLVED', 'CLOSED') THEN '已解决' ELSE '' END, 0, \
         CASE WHEN state IN ('RESOLVED', 'CLOSED') THEN {resolved} ELSE NULL END, \
         CASE WHEN state = 'CLOSED' THEN {closed} ELSE NULL END, {created}, \
         CASE state WHEN 'OPEN' THEN {created} WHEN 'IN_PROGRESS' THEN {created} + {DAY_US} \
         WHEN 'RESOLVED' THEN {resolved} ELSE {closed} END, \
         CASE state WHEN 'OPEN' THEN 1 WHEN 'IN_PROGRESS' THEN 2 WHEN 'RESOLVED' THEN 3 ELSE 4 END \
         FROM d JOIN projects p ON p.project_id = 'bench-' || (1 + i % {projects})",
        draw(104729, 7919, UNIT_BUCKETS),
    ))
    .await?;
    db.execute_unprepared(&format!(
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 4) \
         INSERT INTO problem_revisions (problem_pk, number, action, actor, created_at_us, \
         from_state, to_state, changed_fields, reason, old_deadline, new_deadline) \
         SELECT p.id, k.n, \
         CASE k.n WHEN 1 THEN 'CREATED' WHEN 2 THEN 'STARTED' WHEN 3 THEN 'RESOLVED' ELSE 'CLOSED' END, \
         p.raised_by, \
         CASE k.n WHEN 1 THEN p.created_at_us WHEN 2 THEN p.created_at_us + {DAY_US} \
         WHEN 3 THEN p.resolved_at_us ELSE p.closed_at_us END, \
         CASE k.n WHEN 1 THEN '' WHEN 2 THEN 'OPEN' WHEN 3 THEN 'IN_PROGRESS' ELSE 'RESOLVED' END, \
         CASE k.n WHEN 1 THEN 'OPEN' WHEN 2 THEN 'IN_PROGRESS' WHEN 3 THEN 'RESOLVED' ELSE 'CLOSED' END, \
         '', CASE k.n WHEN 3 THEN p.resolution_note ELSE '' END, NULL, p.deadline \
         FROM problems p CROSS JOIN k WHERE k.n <= p.version AND p.problem_id LIKE 'bench-p%'"
    ))
    .await?;
    db.execute_unprepared("ANALYZE").await?;
    let seconds = started.elapsed().as_secs_f64();

    let open = "state IN ('OPEN', 'IN_PROGRESS')";
    let overdue = format!("{open} AND deadline < {status}");
    let mut by_state = [0u64; 4];
    for (k, state) in ["OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED"]
        .iter()
        .enumerate()
    {
        by_state[k] = count(
            db,
            &format!("SELECT COUNT(*) FROM problems WHERE state = '{state}'"),
        )
        .await?;
    }
    let of_unit = async |unit: &str| -> anyhow::Result<(u64, u64)> {
        let unit = format!("responsible_unit = '{unit}'");
        Ok((
            count(db, &format!("SELECT COUNT(*) FROM problems WHERE {unit}")).await?,
            count(
                db,
                &format!("SELECT COUNT(*) FROM problems WHERE {unit} AND {overdue}"),
            )
            .await?,
        ))
    };
    let seeded = ProblemSeed {
        seconds,
        problems: count(db, "SELECT COUNT(*) FROM problems").await?,
        revisions: count(db, "SELECT COUNT(*) FROM problem_revisions").await?,
        by_state,
        overdue: count(
            db,
            &format!("SELECT COUNT(*) FROM problems WHERE {overdue}"),
        )
        .await?,
        busiest: of_unit(&names[0]).await?,
        quietest: of_unit(&names[UNITS - 1]).await?,
    };
    store.close().await?;
    Ok(seeded)
}

/// Reads the first 12 seeded problems back through the API and
/// checks that they are what the service's own transitions would have left: the revisions
/// numbered 1 to the version, the last one ending in the problem's state, and the times in
/// order (created, resolved, closed). An error names the first problem that is not.
async fn check_seeded(
    client: &mut ProblemServiceClient<crate::common::Authed>,
    o: &Options,
) -> anyhow::Result<()> {
    let micros = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
    };
    for n in 1..=12.min(o.problems) {
        let name = format!("projects/bench-{}/problems/bench-p{n}", 1 + n % o.projects);
        let problem = client
            .get_problem(v1::GetProblemRequest { name: name.clone() })
            .await?
            .into_inner();
        let revisions = client
            .list_problem_revisions(v1::ListProblemRevisionsRequest {
                name: name.clone(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .revisions;
        let numbers: Vec<i32> = revisions.iter().map(|r| r.number).collect();
        let expected: Vec<i32> = (1..=numbers.len() as i32).collect();
        let (created, resolved, closed) = (
            micros(&problem.create_time),
            micros(&problem.resolve_time),
            micros(&problem.close_time),
        );
        anyhow::ensure!(
            numbers == expected
                && problem.etag == pipeline::domain::names::etag(numbers.len() as i64)
                && revisions.last().map(|r| r.to_state) == Some(problem.state)
                && created.is_some()
                && resolved.is_none_or(|r| Some(r) > created)
                && closed.is_none_or(|c| resolved.is_some_and(|r| c > r)),
            "seeded {name} is not what the service would write: {problem:?} with revisions {revisions:?}"
        );
    }
    Ok(())
}

/// The first column of the first row of `sql`, a count.
async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<u64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count from {sql}"))?;
    Ok(row.try_get_by_index::<i64>(0)? as u64)
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    println!(
        "\n## Problem ledger: overdue problems by responsible unit, {} problems over {} projects, status date {}\n",
        o.problems,
        o.projects,
        seed::status_date()
    );
    let dir = std::env::temp_dir().join(format!("pipeline-bench-problems-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = one_backend(
        &o,
        "SQLite",
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
                crate::common::ScratchPostgres::create(admin_url, "pipeline_bench_problems")
                    .await?;
            let url = scratch.url.clone();
            let result = one_backend(&o, "PostgreSQL", &url, Database::Url(url.clone())).await;
            scratch.drop().await;
            result?;
        }
    }
    Ok(())
}

/// The SQL of ListProblems(`projects/-`, `unit`, overdue as of `date`, first page of `limit`),
/// as the store builds it (literal values instead of bound ones): for EXPLAIN and the bare
/// reference.
fn list_sql(unit: Option<&str>, date: NaiveDate, limit: u64) -> String {
    let unit = unit
        .map(|u| format!("responsible_unit = '{u}' AND "))
        .unwrap_or_default();
    format!(
        "SELECT * FROM problems WHERE {unit}state IN ('OPEN', 'IN_PROGRESS') AND deadline < {} \
         ORDER BY created_at_us DESC, uid DESC LIMIT {}",
        day_number(date),
        limit + 1
    )
}

/// Prints the plan of `sql` on this backend, one line per plan row (EXPLAIN QUERY PLAN on
/// SQLite, EXPLAIN ANALYZE on PostgreSQL).
async fn explain(
    db: &DatabaseConnection,
    backend: &str,
    what: &str,
    sql: &str,
) -> anyhow::Result<()> {
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let (prefix, column) = if postgres {
        ("EXPLAIN (ANALYZE, COSTS OFF) ", 0)
    } else {
        ("EXPLAIN QUERY PLAN ", 3)
    };
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("{prefix}{sql}"),
        ))
        .await?;
    println!("plan, {backend}, {what}:");
    for row in rows {
        println!("    {}", row.try_get_by_index::<String>(column)?);
    }
    Ok(())
}

async fn one_backend(
    o: &Options,
    backend: &str,
    url: &str,
    database: Database,
) -> anyhow::Result<()> {
    let projects_seconds = seed::seed(url, o.projects, 1).await?;
    let seeded = seed_problems(url, o.problems, o.projects).await?;
    let [open, in_progress, resolved, closed] = seeded.by_state;
    println!(
        "{backend}: seeded {} projects in {projects_seconds:.1} s; {} problems and {} revisions in {:.1} s: \
         OPEN {open}, IN_PROGRESS {in_progress}, RESOLVED {resolved}, CLOSED {closed}; overdue on {} {}; \
         busiest unit {} problems ({} overdue), quietest {} ({} overdue)",
        o.projects,
        seeded.problems,
        seeded.revisions,
        seeded.seconds,
        seed::status_date(),
        seeded.overdue,
        seeded.busiest.0,
        seeded.busiest.1,
        seeded.quietest.0,
        seeded.quietest.1,
    );
    let store = Store::connect(url).await?;
    let db = store.connection();
    if !o.sql.is_empty() {
        for sql in &o.sql {
            db.execute_unprepared(sql).await?;
            println!("{backend}: ran {sql}");
        }
        db.execute_unprepared("ANALYZE").await?;
    }
    let (first, alerts, second) = scan_twice(url).await?;
    println!(
        "{backend}: scanner first pass {first:.2} s ({alerts} alerts), pass with nothing new {second:.2} s"
    );

    let date = seed::status_date();
    let names = units();
    explain(
        db,
        backend,
        &format!("overdue of the busiest unit {}", names[0]),
        &list_sql(Some(&names[0]), date, 50),
    )
    .await?;
    explain(
        db,
        backend,
        &format!("overdue of the quietest unit {}", names[UNITS - 1]),
        &list_sql(Some(&names[UNITS - 1]), date, 50),
    )
    .await?;
    explain(
        db,
        backend,
        "overdue county-wide",
        &list_sql(None, date, 50),
    )
    .await?;

    let server = start_server(
        database,
        o.server_cpus.as_deref(),
        &["--today", "2026-10-15"],
    )
    .await?;
    let mut client = ProblemServiceClient::new(server.authed().await?);
    check_seeded(&mut client, o).await?;
    let list = |unit: &str| v1::ListProblemsRequest {
        parent: "projects/-".into(),
        responsible_unit: unit.to_string(),
        overdue_as_of: Some(pipeline::proto::date(date)),
        page_size: 50,
        ..Default::default()
    };
    let mut by_unit = histogram();
    let mut county = histogram();
    let mut reference = histogram();
    let mut bare = histogram();
    let (mut by_unit_found, mut county_found, mut bare_rows) = (0usize, 0usize, 0usize);
    let record = |h: &mut Histogram<u64>, took: std::time::Duration| {
        h.record((took.as_micros() as u64).max(1))
    };
    for i in 0..o.requests + 10 {
        let measured = i >= 10;
        let unit = &names[i as usize % UNITS];
        let call = Instant::now();
        let page = client.list_problems(list(unit)).await?.into_inner();
        let took = call.elapsed();
        anyhow::ensure!(
            page.problems.iter().all(|p| p.responsible_unit == *unit),
            "ListProblems for {unit} returned another unit's problem"
        );
        if measured {
            record(&mut by_unit, took)?;
            by_unit_found += page.problems.len();
        }

        let call = Instant::now();
        let page = client.list_problems(list("")).await?.into_inner();
        let took = call.elapsed();
        if measured {
            record(&mut county, took)?;
            county_found += page.problems.len();
        }

        // Problem i of the seed, cycling over the ledger.
        let n = 1 + (i * 7919) % o.problems;
        let name = format!("projects/bench-{}/problems/bench-p{n}", 1 + n % o.projects);
        let call = Instant::now();
        client.get_problem(v1::GetProblemRequest { name }).await?;
        let took = call.elapsed();
        if measured {
            record(&mut reference, took)?;
        }

        let sql = list_sql(Some(unit), date, 50);
        let call = Instant::now();
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?;
        let took = call.elapsed();
        if measured {
            record(&mut bare, took)?;
            bare_rows += rows.len().min(50);
        }
    }
    store.close().await?;
    server.stop();

    let calls = o.requests as f64;
    println!();
    println!(
        "| backend | call ({} calls each, one client, back to back) | mean page | p50 ms | p99 ms | max ms | calls/s | p50 / p99 against GetProblem |",
        o.requests
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let line = |what: &str, h: &Histogram<u64>, found: Option<usize>| {
        println!(
            "| {backend} | {what} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1}× / {:.1}× |",
            found.map_or("—".to_string(), |f| format!("{:.1}", f as f64 / calls)),
            ms(h, 0.5),
            ms(h, 0.99),
            h.max() as f64 / 1000.0,
            1e6 / h.mean(),
            ms(h, 0.5) / ms(&reference, 0.5),
            ms(h, 0.99) / ms(&reference, 0.99),
        );
    };
    line("GetProblem by name (reference)", &reference, None);
    line(
        "ListProblems, overdue of one unit (40 in turn), page of 50",
        &by_unit,
        Some(by_unit_found),
    );
    line(
        "ListProblems, overdue county-wide, first page of 50",
        &county,
        Some(county_found),
    );
    line(
        "bare SQL of the unit query, same driver, no gRPC",
        &bare,
        Some(bare_rows),
    );
    println!(
        "{backend}: overdue of one unit against its bare SQL: p50 {:.1}×, p99 {:.1}×",
        ms(&by_unit, 0.5) / ms(&bare, 0.5),
        ms(&by_unit, 0.99) / ms(&bare, 0.99)
    );
    println!(
        "{{\"bench\":\"problems_overdue\",\"backend\":\"{backend}\",\"problems\":{},\"overdue\":{},\"unit_p50_ms\":{:.3},\"unit_p99_ms\":{:.3},\"unit_max_ms\":{:.3},\"county_p50_ms\":{:.3},\"county_p99_ms\":{:.3},\"get_problem_p50_ms\":{:.3},\"get_problem_p99_ms\":{:.3},\"bare_sql_p50_ms\":{:.3},\"bare_sql_p99_ms\":{:.3}}}",
        seeded.problems,
        seeded.overdue,
        ms(&by_unit, 0.5),
        ms(&by_unit, 0.99),
        by_unit.max() as f64 / 1000.0,
        ms(&county, 0.5),
        ms(&county, 0.99),
        ms(&reference, 0.5),
        ms(&reference, 0.99),
        ms(&bare, 0.5),
        ms(&bare, 0.99),
    );
    Ok(())
}
