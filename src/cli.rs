//! The command-line bodies: `serve`, `migrate`, `worker`, `user add` and `apikey create`.

use std::process::ExitCode;

use crate::app::{Application, shutdown_signal};
use crate::audit::Actor;
use crate::auth::accounts::{self, NewApiKey, NewUser};
use crate::auth::principal::Role;
use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;

/// `heldar migrate`: applies pending migrations.
pub async fn migrate(config: &Config) -> ExitCode {
    let result = async {
        let db = crate::db::connect(config).await?;
        crate::db::migrate(&db).await
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

/// `heldar worker`: the reference AI worker against a server.
pub async fn worker(
    server: String,
    api_key: String,
    worker_id: Option<String>,
    task_types: Vec<String>,
    lease_seconds: i32,
) -> ExitCode {
    let worker_id = worker_id.unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".to_owned())
    });
    let options = crate::worker::WorkerOptions {
        server,
        api_key,
        worker_id,
        task_types,
        lease_seconds,
    };
    match crate::worker::run(options, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("heldar worker: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `heldar user add <name> --role <role>`, password on stdin.
pub async fn add_user(config: Config, name: String, role: String) -> ExitCode {
    run_admin(config, |state| async move {
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
        let user = accounts::create_user(&state, &Actor::system(), new).await?;
        println!(
            "created user {} ({}) with role {}",
            user.username, user.id, user.role
        );
        Ok(())
    })
    .await
}

/// `heldar user unlock <name>`: clears a lockout from the host, for an admin locked out of the API.
pub async fn unlock_user(config: Config, name: String) -> ExitCode {
    run_admin(config, |state| async move {
        let user = accounts::find_by_username(&state, &name)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no user `{name}`")))?;
        accounts::unlock_user(&state, &Actor::system(), &user.id).await?;
        println!("unlocked user {} ({})", user.username, user.id);
        Ok(())
    })
    .await
}

/// `heldar apikey create <name> --role <role> [--camera <id>…]`: prints the key once.
pub async fn create_api_key(
    config: Config,
    name: String,
    role: String,
    cameras: Vec<String>,
) -> ExitCode {
    run_admin(config, |state| async move {
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
        let (key, secret) = accounts::create_api_key(&state, &Actor::system(), new).await?;
        eprintln!(
            "created API key {} ({}); it is shown only now:",
            key.name, key.id
        );
        println!("{secret}");
        Ok(())
    })
    .await
}

/// Runs a maintenance command against a migrated database.
async fn run_admin<F, Fut>(config: Config, work: F) -> ExitCode
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    let state = match crate::app::admin_state(config).await {
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

/// `heldar serve [--demo]`: serves until SIGINT or SIGTERM.
/// The demo camera's generated source is written by the server itself; `--demo` does not let
/// anyone else use local sources (that takes `HELDAR_ALLOW_LOCAL_SOURCES`).
pub async fn serve(config: Config, demo: bool) -> ExitCode {
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            eprintln!("heldar: cannot start: {err}");
            return ExitCode::FAILURE;
        }
    };
    if demo {
        match crate::demo::ensure_demo_camera(app.state()).await {
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
