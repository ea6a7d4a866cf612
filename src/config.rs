//! Typed configuration, read once: command-line flags with `PIPELINE_*` environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pipeline",
    version,
    about = "County investment project pipeline service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format.
    #[arg(long, env = "PIPELINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve gRPC until SIGINT or SIGTERM.
    Serve(ServeConfig),
    /// Run the database migrations and exit.
    Migrate(DatabaseConfig),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Load the county demo scenario (the README's "demo county") into the database, then exit.
    ///
    /// The scenario is the county's autumn push of 2026: its eight headline projects (绵遂内铁路,
    /// 祠堂湾水库, the 鑫鸣灏 and 臻秦 battery plants, 城乡供水一体化, 县水网（一期）, 琴泉片区有机更新,
    /// 力诚食品) with their approvals, milestones and slips, sixteen newly reserved projects for
    /// the fifth fund batch, and special bond, central budget, fund and long-term loan windows
    /// with applications in every state. It is written through the same store methods as the
    /// API, so it leaves the same revisions and events. Its steps are dated from 3 August to
    /// 14 October 2026 and are recorded on their own dates; steps after --today are left for a
    /// later run. Running it again changes nothing.
    ///
    /// Load it into a data directory (or database) of its own, not one holding your projects,
    /// and serve it as of mid-October 2026: `pipeline demo --data-dir demo-data --today
    /// 2026-10-15`, then `pipeline serve --data-dir demo-data --today 2026-10-15` (a
    /// construction start at risk, a trial production 35 days late, the fifth fund batch closing
    /// in a week with projects undeclared). Served with a later date, the October milestones
    /// show as overdue.
    Demo(DemoConfig),
    /// The county's spreadsheet ledger (台账) in and out, through a running server's API.
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

/// `pipeline ledger`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Import a ledger (XLSX, XLS, ODS, or CSV in UTF-8 or GB18030): projects matched by
    /// 项目代码, else by an id column (系统编号), created or updated with their prerequisites
    /// (用地/规划/环评/能评/施工许可 columns) and milestone baselines (计划开工时间, 计划试生产时间).
    /// The file is checked whole first: every problem is printed as `sheet!cell: message`, and
    /// a file with bad rows writes none of them unless --skip-bad-rows is given. Importing the
    /// same file again changes nothing. Exits 1 when any row was skipped or refused.
    Import(LedgerImport),
    /// Export the ledger as XLSX: projects (money in 万元), milestones with their lights as fills,
    /// and the funding coverage of open windows, as of a status date.
    Export(LedgerExport),
}

/// Where the service is and who calls it.
#[derive(Debug, Clone, Args)]
pub struct LedgerServer {
    /// The server's address, e.g. http://127.0.0.1:50051.
    #[arg(
        long,
        env = "PIPELINE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// The API token (an EDITOR's for its scope, or an ADMIN's).
    #[arg(long, env = "PIPELINE_TOKEN")]
    pub token: String,
}

/// `pipeline ledger import`.
#[derive(Debug, Clone, Args)]
pub struct LedgerImport {
    /// The ledger file.
    pub file: std::path::PathBuf,
    #[command(flatten)]
    pub server: LedgerServer,
    /// Check the file and print every problem; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the good rows of a file that has bad ones.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// A column the built-in header table does not know: `列名=field`, e.g. `责任人=leader`
    /// (fields: display_name, project_code, project_id, description, category,
    /// investment_type, township, department, owner, leader, total_investment_yuan,
    /// annual_planned_investment_yuan, completed_investment_yuan, stage, construction_start,
    /// trial_production, statistics_enrolment_date, prerequisite.land, ..., ignore).
    /// Repeatable.
    #[arg(long = "map", value_name = "列名=FIELD")]
    pub maps: Vec<String>,
    /// The year of dates written without one (`10月底`); the current year by default.
    #[arg(long)]
    pub year: Option<i32>,
}

/// `pipeline ledger export`.
#[derive(Debug, Clone, Args)]
pub struct LedgerExport {
    #[command(flatten)]
    pub server: LedgerServer,
    /// The status date (YYYY-MM-DD) lights and windows are judged on; today by default.
    #[arg(long)]
    pub status_date: Option<NaiveDate>,
    /// A ListProjects filter choosing the projects, e.g. `township = "城关镇"`.
    #[arg(long, default_value = "")]
    pub filter: String,
    /// The title row's first words.
    #[arg(long, default_value = "重点项目台账")]
    pub title: String,
    /// The file to write.
    #[arg(short = 'o', long = "output")]
    pub output: std::path::PathBuf,
}

/// `pipeline demo`: where to load the scenario, and as of which day.
#[derive(Debug, Clone, Args)]
pub struct DemoConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// The day the demo is loaded on (YYYY-MM-DD); scenario steps dated after it are left for a
    /// later run, so nothing is recorded in its future. Default: today in --time-zone.
    #[arg(long, env = "PIPELINE_TODAY")]
    pub today: Option<NaiveDate>,
    /// The jurisdiction's time zone (IANA name); the default --today is taken in it.
    #[arg(long, env = "PIPELINE_TIME_ZONE", default_value = "Asia/Shanghai")]
    pub time_zone: Tz,
}

/// `pipeline token …`: works on the database directly, so it needs no running server.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once and never stored.
    Create(TokenCreate),
    /// List tokens: names, roles, scopes and whether revoked (never secrets).
    List(DatabaseConfig),
    /// Revoke a token by name; it stops working with the next call.
    Revoke(TokenRevoke),
}

/// A token's role on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, including funding windows.
    Admin,
    /// Change projects (and their prerequisites, milestones, applications) of its departments
    /// or townships; read everything.
    Editor,
    /// Read and watch.
    Viewer,
    /// Watch, and its own subscriptions.
    Subscriber,
}

#[derive(Debug, Clone, Args)]
pub struct TokenCreate {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// The token's name, recorded as the actor of every change made with it (e.g. 县住建局-张三).
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum, ignore_case = true)]
    pub role: RoleArg,
    /// A department whose projects an editor may change; repeat for more.
    #[arg(long = "department")]
    pub departments: Vec<String>,
    /// A township whose projects an editor may change; repeat for more.
    #[arg(long = "township")]
    pub townships: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenRevoke {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// The token's name.
    #[arg(long)]
    pub name: String,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Directory for the embedded SQLite database (created if missing). Ignored when
    /// --database-url is given.
    #[arg(long, env = "PIPELINE_DATA_DIR", default_value = "pipeline-data")]
    pub data_dir: PathBuf,
    /// Database URL, e.g. postgres://user@host:5432/pipeline. Default: SQLite in --data-dir.
    #[arg(long, env = "PIPELINE_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DatabaseConfig {
    /// Connects to the configured database and brings its schema up to date.
    pub async fn open(&self) -> anyhow::Result<crate::store::Store> {
        use anyhow::Context;
        let url = self
            .resolve_url()
            .with_context(|| format!("creating the data directory {}", self.data_dir.display()))?;
        let store = crate::store::Store::connect(&url)
            .await
            .context("connecting to the database")?;
        store.migrate().await.context("running migrations")?;
        Ok(store)
    }

    /// The URL to connect to, creating the data directory for SQLite.
    pub fn resolve_url(&self) -> std::io::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => {
                std::fs::create_dir_all(&self.data_dir)?;
                Ok(crate::store::Store::sqlite_url(&self.data_dir))
            }
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// Address to listen on.
    #[arg(long, env = "PIPELINE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// The jurisdiction's time zone (IANA name); "today" is taken in it.
    #[arg(long, env = "PIPELINE_TIME_ZONE", default_value = "Asia/Shanghai")]
    pub time_zone: Tz,
    /// Fix today's date (YYYY-MM-DD) for demos and tests instead of reading the clock.
    #[arg(long, env = "PIPELINE_TODAY")]
    pub today: Option<NaiveDate>,
    /// A CONSTRUCTION_START this many days ahead (inclusive) with open prerequisites is AT_RISK.
    /// Milestone thresholds live in the active light rule set (14 in `default@1`); given, this
    /// is applied at start as a new revision of the active set when it differs.
    #[arg(long, env = "PIPELINE_WARNING_HORIZON_DAYS", value_parser = clap::value_parser!(i32).range(0..=366))]
    pub warning_horizon_days: Option<i32>,
    /// A milestone whose variance exceeds this many days is RED. Like the horizon: kept in the
    /// active light rule set (30 in `default@1`), applied at start when given and different.
    #[arg(long, env = "PIPELINE_TOLERANCE_DAYS", value_parser = clap::value_parser!(i32).range(0..=3660))]
    pub tolerance_days: Option<i32>,
    /// A funding window closing within this many days (inclusive) raises a daily
    /// FUNDING_WINDOW_CLOSING alert while drafts are unsubmitted or eligible projects undeclared.
    #[arg(long, env = "PIPELINE_FUNDING_HORIZON_DAYS", default_value_t = 7, value_parser = clap::value_parser!(i32).range(0..=366))]
    pub funding_horizon_days: i32,
    /// The escalation ladder of overdue problems, e.g. 0,7,15: the days overdue from which the
    /// scanner raises PROBLEM_OVERDUE (to the responsible unit), then PROBLEM_ESCALATED to the
    /// responsible leader and to the county leader, each once per problem and deadline. Three
    /// counts 0 to 366, none below the one before. The ladder lives in the active light rule
    /// set (0,7,15 in `default@1`); given, this is applied at start as a new revision of the
    /// active set when it differs, like --tolerance-days.
    #[arg(long, env = "PIPELINE_PROBLEM_ESCALATION_DAYS", value_parser = crate::domain::problem::EscalationLadder::parse)]
    pub problem_escalation_days: Option<crate::domain::problem::EscalationLadder>,
    /// The county's departments and townships, a UTF-8 text file with one name a line (e.g.
    /// 县水利局, 城关镇; blank lines and lines starting with # are skipped, names trimmed, at
    /// most 100 characters each). Given, a problem's responsible unit must be one of them;
    /// without it any unit is accepted. An unreadable file or a bad name fails the start.
    #[arg(long, env = "PIPELINE_UNITS_FILE")]
    pub units_file: Option<PathBuf>,
    /// How often the scanner checks whether the date changed.
    #[arg(long, env = "PIPELINE_SCAN_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub scan_interval: Duration,
    /// The log tailer reads the database at least this often when no wake-up arrives.
    #[arg(long, env = "PIPELINE_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// A stream with nothing to send gets a progress heartbeat after this long.
    #[arg(long, env = "PIPELINE_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,
    /// A client that reads nothing for this long loses its stream (RESOURCE_EXHAUSTED).
    #[arg(long, env = "PIPELINE_STALL_LIMIT", default_value = "60s", value_parser = parse_duration)]
    pub stall_limit: Duration,
    /// Events older than this are deleted, unless a live subscription still needs them.
    #[arg(long, env = "PIPELINE_EVENT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub event_retention: Duration,
    /// How long shutdown waits for in-flight calls before closing them.
    #[arg(long, env = "PIPELINE_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// PEM certificate chain; with --tls-key the server speaks only TLS.
    #[arg(long, env = "PIPELINE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "PIPELINE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request or response message, in bytes (64 KiB to 64 MiB); a larger request gets
    /// RESOURCE_EXHAUSTED (reason MESSAGE_TOO_LARGE). Every resource and event fits in 64 KiB,
    /// and list pages and event batches are cut to fit the limit.
    #[arg(long, env = "PIPELINE_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(64 * 1024..=64 * 1024 * 1024))]
    pub max_message_bytes: u32,
    /// Concurrent calls (HTTP/2 streams, event streams included) per client connection.
    #[arg(long, env = "PIPELINE_MAX_STREAMS_PER_CONNECTION", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_streams_per_connection: u32,
    /// Event streams (WatchEvents, StreamSubscription) one token may hold open at once.
    #[arg(long, env = "PIPELINE_MAX_STREAMS_PER_TOKEN", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_streams_per_token: u32,
    /// An origin (`scheme://host[:port]`) whose web pages may call the API over gRPC-Web;
    /// repeat for more. None by default: the dashboard served at `/` is the server's own origin
    /// and needs none.
    #[arg(long = "cors-allowed-origin", env = "PIPELINE_CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = crate::web::parse_origin)]
    pub cors_allowed_origins: Vec<String>,
}

/// Reads `serve --units-file`: the county's units, one a line (`CountyUnits::parse`). Errors
/// name the file: unreadable or not UTF-8, a name over the unit bound (with its line), or no
/// name at all.
pub fn load_units(path: &std::path::Path) -> anyhow::Result<crate::domain::problem::CountyUnits> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the units file {}", path.display()))?;
    crate::domain::problem::CountyUnits::parse(&text)
        .map_err(|err| anyhow::anyhow!("the units file {}: {err}", path.display()))
}

/// Parses `500ms`, `10s`, `5m`, `2h`, `90d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| text.split_at(i))
        .unwrap_or((text, "s"));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s or 5m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        "h" => Ok(Duration::from_secs(value * 3600)),
        "d" => Ok(Duration::from_secs(value * 86_400)),
        _ => Err(format!(
            "{text:?} is not a duration like 500ms, 10s, 5m, 2h or 90d"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            parse_duration("90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert!(parse_duration("5y").is_err());
    }
}
