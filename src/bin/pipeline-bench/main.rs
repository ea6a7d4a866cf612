//! Benchmarks of the running service. Each prints a table of numbers; none asserts a timing.
//!
//! `pipeline-bench fanout --subscribers 1000 --rate 100 --seconds 10` starts `pipeline serve`
//! (the binary next to this one, on a fresh SQLite directory), opens that many WatchEvents
//! streams, writes `rate` changes per second, and reports the delivery latency from commit to
//! client (p50, p99, max), deliveries per second, and the server's resident memory per open
//! stream.

mod common;
mod fanout;
mod get_project;
mod grpc_web;
mod ledger;
mod problems;
mod queries;
mod seed;
mod writes;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmarks of the pipeline service")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Fill a SQLite directory (or a database URL) with the benchmark data set and exit.
    Seed {
        /// SQLite data directory (created if missing).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Or a database URL.
        #[arg(long)]
        database_url: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        projects: u64,
        #[arg(long, default_value_t = 5)]
        milestones_per_project: u64,
        /// Also give the projects in CONSTRUCTION a 2026 plan and 12 monthly reports (issue 17).
        #[arg(long)]
        monthly_reports: bool,
    },
    /// Run the scanner twice over a seeded database (see `seed`) and print how long each
    /// pass took: a first pass raises the backlog, the second finds nothing new. For
    /// profiling the scanner on its own.
    Scan {
        /// SQLite data directory.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Or a database URL.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The read side at county scale: scanner first pass, memory at rest, the morning
    /// ListMilestones query and the reports, on a seeded data set.
    Queries {
        /// Projects in the data set.
        #[arg(long, default_value_t = 100_000)]
        projects: u64,
        /// Milestones per project.
        #[arg(long, default_value_t = 5)]
        milestones_per_project: u64,
        /// Calls per measured query (reports get a fortieth, at least 3).
        #[arg(long, default_value_t = 200)]
        requests: u64,
        /// Also run on PostgreSQL: an admin URL; a scratch database is made and dropped.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Pin the server to these CPUs (a `taskset -c` list).
        #[arg(long)]
        server_cpus: Option<String>,
    },
    /// Event stream fan-out: latency, throughput and memory per subscriber.
    Fanout {
        /// Open streams; repeat the flag for several rounds.
        #[arg(long, default_values_t = [1000])]
        subscribers: Vec<usize>,
        /// Changes written per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// How long to write, in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Streams per HTTP/2 connection.
        #[arg(long, default_value_t = 500)]
        streams_per_connection: usize,
        /// Pin the server to these CPUs (a `taskset -c` list, e.g. `0`); run the benchmark
        /// itself under `taskset -c 1` to keep the load off the server's core.
        #[arg(long)]
        server_cpus: Option<String>,
        /// Read the streams with tonic's client instead of the h2 crate's (heavier: the load
        /// generator then spends more CPU per delivery than the server).
        #[arg(long)]
        tonic_readers: bool,
        /// Also open this many streams that never read, to show what stalled readers cost.
        #[arg(long, default_value_t = 0)]
        stalled: usize,
        /// The HTTP/2 stream window the stalled streams' connections advertise, in bytes.
        #[arg(long, default_value_t = 1024)]
        stalled_window: u32,
        /// The stalled streams' connections also stop reading their sockets (a hung client).
        #[arg(long)]
        stalled_frozen: bool,
    },
    /// GetProject throughput and p99 on SQLite with many projects, against a bare tonic
    /// server returning a message of the same size (alternating rounds).
    GetProject {
        /// Projects loaded before the server starts.
        #[arg(long, default_value_t = 10_000)]
        projects: usize,
        /// Length of each round, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds_per_round: f64,
        /// Rounds per target (reference and ours alternate).
        #[arg(long, default_value_t = 4)]
        rounds: usize,
        /// Client tasks calling GetProject back to back.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Pin both servers to these CPUs (a `taskset -c` list; `none`: unpinned).
        #[arg(long, default_value = "0")]
        server_cpus: String,
        /// Pin this process (the load) to these CPUs (`none`: unpinned).
        #[arg(long, default_value = "1")]
        client_cpus: String,
    },
    /// GetProject over gRPC-Web (HTTP/1.1 and HTTP/2) against native gRPC on the same server
    /// (SQLite, alternating rounds, the same calls in flight).
    GrpcWeb {
        /// Projects loaded before the server starts.
        #[arg(long, default_value_t = 10_000)]
        projects: usize,
        /// Length of each round, in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds_per_round: f64,
        /// Rounds per target (native, HTTP/1.1 and HTTP/2 gRPC-Web alternate).
        #[arg(long, default_value_t = 4)]
        rounds: usize,
        /// Calls in flight on each target.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Pin the server to these CPUs (a `taskset -c` list; `none`: unpinned).
        #[arg(long, default_value = "0")]
        server_cpus: String,
        /// Pin this process (the load) to these CPUs (`none`: unpinned).
        #[arg(long, default_value = "1")]
        client_cpus: String,
    },
    /// ForecastMilestone throughput with concurrent clients on SQLite (and PostgreSQL),
    /// against a raw one-row INSERT loop through the same driver (alternating rounds).
    Writes {
        /// Concurrent clients, each forecasting its own milestone.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Measured seconds per target and database, split into the rounds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Rounds per target and database (raw INSERT and ours alternate).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Also run on PostgreSQL: an admin URL; a scratch database is made and dropped.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Pin the server and the raw INSERT worker to these CPUs (`none`: unpinned).
        #[arg(long, default_value = "0")]
        server_cpus: String,
        /// Pin this process (the load) to these CPUs (`none`: unpinned).
        #[arg(long, default_value = "1")]
        client_cpus: String,
    },
    /// Ledger import (issue 19): rows per second of `pipeline ledger import` of an XLSX ledger,
    /// and of its dry run, against bare CreateProject calls on the same server.
    Ledger {
        /// Rows in the ledger.
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        /// Also run on PostgreSQL: an admin URL; a scratch database is made and dropped.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Pin the server to these CPUs (a `taskset -c` list).
        #[arg(long)]
        server_cpus: Option<String>,
    },
    /// The problem ledger (issue 20): ListProblems of one responsible unit's overdue problems
    /// (and the county-wide overdue list) over a seeded ledger, against GetProblem and the
    /// query's bare SQL in the same run.
    Problems {
        /// Problems in the ledger.
        #[arg(long, default_value_t = 100_000)]
        problems: u64,
        /// Projects they are spread over (evenly).
        #[arg(long, default_value_t = 10_000)]
        projects: u64,
        /// Measured calls of each query.
        #[arg(long, default_value_t = 400)]
        requests: u64,
        /// Also run on PostgreSQL: an admin URL; a scratch database is made and dropped.
        #[arg(long)]
        postgres_url: Option<String>,
        /// Pin the server to these CPUs (a `taskset -c` list).
        #[arg(long)]
        server_cpus: Option<String>,
        /// SQL to run on each backend after seeding, before measuring (then ANALYZE); repeat
        /// for several. For trying an index before a migration adds it.
        #[arg(long = "sql")]
        sql: Vec<String>,
    },
    /// Bench-only: the reference server of `get-project` (GetProject returns a fixed project).
    #[command(hide = true)]
    ReferenceServer {
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    /// Bench-only: the raw INSERT reference of `writes`.
    #[command(hide = true)]
    RawInsertWorker {
        #[arg(long)]
        url: String,
        #[arg(long)]
        clients: usize,
        #[arg(long)]
        seconds: f64,
    },
}

/// The database a `--database-url` or `--data-dir` option names (the URL wins); `create`
/// makes a missing data directory.
fn database(
    url: Option<String>,
    data_dir: Option<std::path::PathBuf>,
    create: bool,
) -> anyhow::Result<String> {
    match (url, data_dir) {
        (Some(url), _) => Ok(url),
        (None, Some(dir)) => {
            if create {
                std::fs::create_dir_all(&dir)?;
            }
            Ok(pipeline::store::Store::sqlite_url(&dir))
        }
        (None, None) => anyhow::bail!("give --data-dir or --database-url"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().bench {
        Bench::Seed {
            data_dir,
            database_url,
            projects,
            milestones_per_project,
            monthly_reports,
        } => {
            let url = database(database_url, data_dir, true)?;
            let seconds = seed::seed(&url, projects, milestones_per_project).await?;
            println!(
                "seeded {projects} projects × {milestones_per_project} milestones in {seconds:.1} s"
            );
            if monthly_reports {
                let seeded = seed::seed_investment(&url).await?;
                println!(
                    "seeded {} plans ({} monthly) and {} reports in {:.1} s",
                    seeded.plans, seeded.monthly_plans, seeded.reports, seeded.seconds
                );
            }
        }
        Bench::Scan {
            data_dir,
            database_url,
        } => {
            let url = database(database_url, data_dir, false)?;
            let (first, emitted, second) = queries::scan_twice(&url).await?;
            println!(
                "scanner first pass {first:.2} s ({emitted} alerts), pass with nothing new {second:.2} s"
            );
        }
        Bench::GetProject {
            projects,
            seconds_per_round,
            rounds,
            concurrency,
            server_cpus,
            client_cpus,
        } => {
            get_project::run(get_project::Options {
                projects,
                seconds_per_round,
                rounds,
                concurrency,
                server_cpus: cpus(server_cpus),
                client_cpus: cpus(client_cpus),
            })
            .await?
        }
        Bench::Writes {
            clients,
            seconds,
            rounds,
            postgres_url,
            server_cpus,
            client_cpus,
        } => {
            writes::run(writes::Options {
                clients,
                seconds,
                rounds,
                postgres_url,
                server_cpus: cpus(server_cpus),
                client_cpus: cpus(client_cpus),
            })
            .await?
        }
        Bench::GrpcWeb {
            projects,
            seconds_per_round,
            rounds,
            concurrency,
            server_cpus,
            client_cpus,
        } => {
            grpc_web::run(grpc_web::Options {
                projects,
                seconds_per_round,
                rounds,
                concurrency,
                server_cpus: cpus(server_cpus),
                client_cpus: cpus(client_cpus),
            })
            .await?
        }
        Bench::Ledger {
            rows,
            postgres_url,
            server_cpus,
        } => {
            ledger::run(ledger::Options {
                rows,
                postgres_url,
                server_cpus,
            })
            .await?
        }
        Bench::Problems {
            problems,
            projects,
            requests,
            postgres_url,
            server_cpus,
            sql,
        } => {
            anyhow::ensure!(
                problems > 0 && projects > 0,
                "--problems and --projects must be at least 1"
            );
            problems::run(problems::Options {
                problems,
                projects,
                requests,
                postgres_url,
                server_cpus,
                sql,
            })
            .await?
        }
        Bench::ReferenceServer { listen } => get_project::reference_server(listen).await?,
        Bench::RawInsertWorker {
            url,
            clients,
            seconds,
        } => writes::raw_insert_worker(url, clients, seconds).await?,
        Bench::Queries {
            projects,
            milestones_per_project,
            requests,
            postgres_url,
            server_cpus,
        } => {
            queries::run(queries::Options {
                projects,
                milestones_per_project,
                requests,
                postgres_url,
                server_cpus,
            })
            .await?
        }
        Bench::Fanout {
            subscribers,
            rate,
            seconds,
            streams_per_connection,
            server_cpus,
            tonic_readers,
            stalled,
            stalled_window,
            stalled_frozen,
        } => {
            println!(
                "fan-out: one change per write, SQLite, server and load on the same 2-core machine"
            );
            println!(
                "| subscribers | stalled readers | writes | write call p50 / p99 ms | deliveries | p50 ms | p99 ms | max ms | deliveries/s | server CPU µs per delivery | load CPU µs per delivery | server KiB per stream | server KiB per stalled stream | server RSS before KiB | server RSS after KiB |"
            );
            println!(
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
            );
            for n in subscribers {
                fanout::fanout(
                    n,
                    rate,
                    seconds,
                    streams_per_connection,
                    server_cpus.as_deref(),
                    tonic_readers,
                    fanout::Stalled {
                        count: stalled,
                        window: stalled_window,
                        frozen: stalled_frozen,
                    },
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// A `taskset -c` list, or None for `none` (or empty).
fn cpus(list: String) -> Option<String> {
    (!list.is_empty() && list != "none").then_some(list)
}
