//! The county's spreadsheet ledger (台账) in and out, as a client of the running service:
//! `pipeline ledger import` reads an XLSX or CSV ledger (checked whole first, `--dry-run` to
//! only report), `pipeline ledger export` writes the ledger offices read. See `parse` for the
//! layout and values a ledger may use.

pub mod export;
pub mod import;
pub mod parse;
pub mod sheet;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(AsciiMetadataValue);

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

/// A channel whose calls carry a token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// Wraps `channel` so that its calls carry `token` (a token that is not ASCII is sent empty,
/// and the service answers UNAUTHENTICATED).
pub fn authed(channel: Channel, token: &str) -> Authed {
    let value = format!("Bearer {token}")
        .parse()
        .unwrap_or_else(|_| AsciiMetadataValue::from_static(""));
    InterceptedService::new(channel, Bearer(value))
}

/// Runs `pipeline ledger import|export`. An import that skipped or had refused rows exits 1
/// after its summary; an unreadable file or a file with bad rows (without --skip-bad-rows)
/// exits 1 having written nothing.
pub async fn run(command: crate::config::LedgerCommand) -> anyhow::Result<()> {
    use crate::config::LedgerCommand;
    match command {
        LedgerCommand::Import(args) => {
            let mut maps = parse::Mappings::new();
            for m in &args.maps {
                let (header, field) = parse::mapping(m).map_err(anyhow::Error::msg)?;
                maps.insert(header, field);
            }
            let bytes = std::fs::read(&args.file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
            let file_name = args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let options = import::ImportOptions {
                dry_run: args.dry_run,
                skip_bad_rows: args.skip_bad_rows,
                maps,
                year: args
                    .year
                    .unwrap_or_else(|| chrono::Datelike::year(&chrono::Local::now().date_naive())),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let channel = connect(&args.server.server).await?;
            let report =
                import::import(channel, &args.server.token, &file_name, &bytes, &options).await;
            for problem in &report.problems {
                println!("{problem}");
            }
            print_summary(&report, args.dry_run);
            if report.clean() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        LedgerCommand::Export(args) => {
            let channel = connect(&args.server.server).await?;
            let status_date = args
                .status_date
                .unwrap_or_else(|| chrono::Local::now().date_naive());
            let bytes = export::export(
                channel,
                &args.server.token,
                &export::ExportOptions {
                    status_date,
                    filter: args.filter.clone(),
                    title: args.title.clone(),
                },
            )
            .await?;
            std::fs::write(&args.output, bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.output.display()))?;
            println!(
                "wrote {} (status date {status_date})",
                args.output.display()
            );
            Ok(())
        }
    }
}

async fn connect(server: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(server.to_string())
        .map_err(|e| anyhow::anyhow!("--server {server:?}: {e}"))?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {server}: {e}"))
}

fn print_summary(report: &import::ImportReport, dry_run: bool) {
    use import::Outcome::*;
    let list = |outcome| {
        let labels = report.labels(outcome);
        if labels.is_empty() || labels.len() > 20 {
            String::new()
        } else {
            format!(" ({})", labels.join(", "))
        }
    };
    if dry_run || !report.written {
        println!(
            "{}: {} good row(s), {} bad{}; nothing written",
            if dry_run { "dry run" } else { "refused" },
            report.good_rows,
            report.count(Skipped),
            list(Skipped),
        );
        return;
    }
    println!(
        "created {}{}, updated {}{}, unchanged {}, skipped {}{}",
        report.count(Created),
        list(Created),
        report.count(Updated),
        list(Updated),
        report.count(Unchanged),
        report.count(Skipped),
        list(Skipped),
    );
}
