//! `heldar`: parse settings, start logging, then serve or run a maintenance command.

use std::process::ExitCode;

use clap::Parser;
use heldar::cli;
use heldar::config::{ApiKeyCommand, Cli, Command, UserCommand};

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
            print!("{}", heldar::schema::sdl());
            ExitCode::SUCCESS
        }
        Command::Migrate => cli::migrate(&cli.config).await,
        Command::Serve { demo } => cli::serve(cli.config, demo).await,
        Command::Worker {
            server,
            api_key,
            worker_id,
            task_types,
            lease_seconds,
        } => cli::worker(server, api_key, worker_id, task_types, lease_seconds).await,
        Command::User(UserCommand::Add { name, role }) => {
            cli::add_user(cli.config, name, role).await
        }
        Command::User(UserCommand::Unlock { name }) => cli::unlock_user(cli.config, name).await,
        Command::Apikey(ApiKeyCommand::Create {
            name,
            role,
            cameras,
        }) => cli::create_api_key(cli.config, name, role, cameras).await,
    }
}
