//! `heldar`: parse settings, start logging, then serve or run a maintenance command.

use std::process::ExitCode;

use clap::Parser;
use heldar::app::{Application, shutdown_signal};
use heldar::audit::Actor;
use heldar::auth::principal::Role;
use heldar::auth::users::{self, NewApiKey, NewUser};
use heldar::config::{ApiKeyCommand, Cli, Command, UserCommand};
use heldar::error::AppError;
use heldar::state::AppState;

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
        Command::Serve { demo } => serve(cli.config, demo).await,
        Command::Worker {
            server,
            api_key,
            worker_id,
            task_types,
            lease_seconds,
        } => {
            let worker_id = worker_id.unwrap_or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .map(|h| h.trim().to_owned())
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "worker".to_owned())
            });
            let options = heldar::worker::WorkerOptions {
                server,
                api_key,
                worker_id,
                task_types,
                lease_seconds,
            };
            match heldar::worker::run(options, heldar::app::shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("heldar worker: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::User(UserCommand::Add { name, role }) => {
            run_admin(cli.config, |state| async move {
                let role: Role = role
                    .parse()
                    .map_err(|e: String| AppError::bad_input("--role", e))?;
                let mut password = String::new();
                std::io::stdin()
                    .read_line(&mut password)
                    .map_err(AppError::internal)?;
                let password = password.trim_end_matches(['\r', '\n']).to_owned();
                let new = NewUser {
                    username: name,
                    password,
                    role,
                    display_name: None,
                    camera_ids: None,
                };
                let user = users::create_user(&state, &Actor::system(), new).await?;
                println!(
                    "created user {} ({}) with role {}",
                    user.username, user.id, user.role
                );
                Ok(())
            })
            .await
        }
        Command::Apikey(ApiKeyCommand::Create {
            name,
            role,
            cameras,
        }) => {
            run_admin(cli.config, |state| async move {
                let role: Role = role
                    .parse()
                    .map_err(|e: String| AppError::bad_input("--role", e))?;
                let camera_ids = (!cameras.is_empty()).then_some(cameras);
                let new = NewApiKey {
                    name,
                    role,
                    camera_ids,
                    expires_at: None,
                };
                let (key, secret) = users::create_api_key(&state, &Actor::system(), new).await?;
                eprintln!(
                    "created API key {} ({}); it is shown only now:",
                    key.name, key.id
                );
                println!("{secret}");
                Ok(())
            })
            .await
        }
    }
}

/// Runs a maintenance command against a migrated database.
async fn run_admin<F, Fut>(config: heldar::config::Config, work: F) -> ExitCode
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    let state = match heldar::app::admin_state(config).await {
        Ok(state) => state,
        Err(err) => {
            eprintln!("heldar: {err}");
            return ExitCode::FAILURE;
        }
    };
    match work(state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("heldar: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut config: heldar::config::Config, demo: bool) -> ExitCode {
    if demo {
        // The demo camera's source is a generated pattern, a local source.
        config.allow_local_sources = true;
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("heldar: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    if demo {
        match heldar::footage::demo::ensure_demo_camera(app.state()).await {
            Ok(true) => {
                tracing::info!("created the demo camera `demo`; footage appears within a minute")
            }
            Ok(false) => tracing::info!("demo camera `demo` already exists"),
            Err(err) => {
                eprintln!("heldar: cannot create the demo camera: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    // Handlers first: whoever reads "listening" may send SIGTERM at once.
    let shutdown = shutdown_signal();
    tracing::info!(port = app.port(), "listening; GraphiQL at /graphql");
    match app.run_until(shutdown).await {
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
