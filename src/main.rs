use clap::Parser;
use pipeline::config::{Cli, Command};
use pipeline::{app, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Serve(config) => app::serve(config).await,
        Command::Migrate(database) => app::migrate(&database).await,
        Command::Token(command) => pipeline::admin::token(command).await,
        Command::Demo(config) => pipeline::demo::run(config).await,
        Command::Ledger(command) => pipeline::ledger::run(command).await,
    }
}
