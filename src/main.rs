//! `heldar`: parse settings, start logging, then serve or run a maintenance command.

use std::process::ExitCode;

use clap::Parser;
use heldar::app::{Application, shutdown_signal};
use heldar::config::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = cli.config.validate() {
        eprintln!("heldar: {err}");
        return ExitCode::from(2);
    }
    heldar::telemetry::init_tracing(&cli.config);
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Schema => {
            print!("{}", heldar::graphql::sdl());
            ExitCode::SUCCESS
        }
        Command::Migrate => {
            let result = async {
                let db = heldar::db::connect(&cli.config).await?;
                heldar::db::migrate(&db).await
            }
            .await;
            match result {
                Ok(()) => {
                    tracing::info!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("heldar: migration failed: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { demo: _ } => serve(cli.config).await,
    }
}

async fn serve(config: heldar::config::Config) -> ExitCode {
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("heldar: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(port = app.port(), "listening; GraphiQL at /graphql");
    match app.run_until(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}
