//! Building and running the application.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use futures_util::future::BoxFuture;
use tokio::task::JoinSet;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::{self, HttpShared, HttpState};
use crate::schema::{self, SchemaLimits};
use crate::state::AppState;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// The listener could not bind.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Anything else at start-up.
    #[error("{0}")]
    Other(String),
}

/// A built application: migrated database, bound listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
}

impl Application {
    /// Opens the database, migrates it, and binds the listener.
    pub async fn build(config: Config) -> Result<Application, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`build`](Self::build) with a chosen clock (tests step time with a `ManualClock`).
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartError> {
        let _ = crate::telemetry::prometheus();
        let state = open_state(config, clock).await?;
        crate::evidence::exports::recover(&state)
            .await
            .map_err(|e| StartError::Other(format!("cannot recover media jobs: {e}")))?;
        crate::webhooks::sealing::seal_stored(&state)
            .await
            .map_err(|e| StartError::Other(format!("cannot seal webhook secrets: {e}")))?;
        crate::zones::consumer::restore_engine(&state)
            .await
            .map_err(|e| StartError::Other(format!("cannot restore the zone engine: {e}")))?;
        crate::perception::consumers::replay(&state)
            .await
            .map_err(|e| StartError::Other(format!("cannot replay detection batches: {e}")))?;
        match crate::auth::accounts::bootstrap_admin(&state).await {
            Ok(Some((username, password))) => {
                // Printed once, on the first start only; the hash is all that is kept.
                tracing::warn!(%username, "created the first admin user; its generated password is printed on stdout once");
                println!(
                    "\n  created the admin user `{username}` with password: {password}\n  Sign in and change it (updateUser), or set HELDAR_ADMIN_PASSWORD before the first start.\n"
                );
            }
            Ok(None) => {}
            Err(err) => {
                return Err(StartError::Other(format!(
                    "cannot create the admin user: {err}"
                )));
            }
        }
        let limits = SchemaLimits {
            max_depth: state.config.max_query_depth as usize,
            max_complexity: state.config.max_query_complexity as usize,
            introspection: state.config.introspection,
        };
        let persisted = crate::graphql::persisted::PersistedDocuments::load(
            state.config.trusted_documents.as_deref(),
        )
        .map_err(|err| StartError::Other(format!("HELDAR_TRUSTED_DOCUMENTS: {err}")))?;
        let schemas = schema::build_schemas(state.clone(), limits);
        let router = http::router(HttpState::new(HttpShared {
            app: state.clone(),
            schemas,
            documents: Default::default(),
            persisted: std::sync::Arc::new(persisted),
            operation_labels: Default::default(),
        }));
        let addr = state.config.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The application state (tests reach the database through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains for at most the configured timeout. The
    /// background workers run beside the server; one that ends (it never should) is logged with
    /// how it ended and stops the server, rather than leaving, say, footage unindexed unnoticed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        crate::footage::recorder::reap_orphans(&state);
        // Before any sweep: retention's size limits count only the segments this server knows
        // to be on its disk.
        if let Err(err) = crate::footage::indexer::adopt_local(&state).await {
            tracing::warn!(error = %err, "could not place the segments of this server's recordings; the next start tries again");
        }
        crate::fleet::ownership::reconcile_all(&state).await;
        let newest = crate::events::store::newest_seq(&state.db)
            .await
            .map_err(std::io::Error::other)?;
        let mut workers = background_workers(&state, newest);
        // A worker that ends stops the server the way a signal does: a graceful drain.
        let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            tokio::select! {
                _ = shutdown => {}
                _ = failed_rx => {}
            }
        };
        let server = self.serve(stop);
        tokio::pin!(server);
        let mut failed_tx = Some(failed_tx);
        let mut failure = None;
        let served = loop {
            tokio::select! {
                result = &mut server => break result,
                Some(ended) = workers.join_next(), if failure.is_none() => {
                    report_exit(&ended);
                    let name = ended.as_ref().map_or("unknown", |name| *name);
                    failure = Some(std::io::Error::other(format!("background worker `{name}` stopped")));
                    if let Some(tx) = failed_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        };
        let result = match failure {
            Some(err) => Err(err),
            None => served,
        };
        workers.shutdown().await;
        crate::webhooks::delivery::stop_all(&state).await;
        state.recorders.stop_all().await;
        state.ai.samplers.stop_all().await;
        // Give the cameras up while the database is still open, then close it.
        crate::fleet::ownership::release_all(&state).await;
        state.db.close_by_ref().await.ok();
        result
    }

    async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let timeout = Duration::from_secs(self.state.config.shutdown_timeout_secs);
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = stopping_tx.send(());
        };
        // The peer address feeds the sign-in throttle.
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(signal);
        let server = tokio::spawn(async move { server.await });
        let result = tokio::select! {
            result = server => result,
            _ = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(timeout).await;
            } => {
                tracing::warn!(seconds = timeout.as_secs(), "shutdown timeout reached; closing remaining connections");
                return Ok(());
            }
        };
        match result {
            Ok(inner) => inner,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}

/// The background workers that run beside the server, each named for the log when it ends.
fn background_workers(state: &AppState, newest: i64) -> JoinSet<&'static str> {
    let mut workers = JoinSet::new();
    let mut spawn = |name: &'static str, work: BoxFuture<'static, ()>| {
        workers.spawn(async move {
            work.await;
            name
        });
    };
    spawn(
        "indexer",
        Box::pin(crate::footage::indexer::run(state.clone())),
    );
    spawn(
        "recorder health",
        Box::pin(crate::footage::health::run(state.clone())),
    );
    spawn(
        "exports",
        Box::pin(crate::evidence::exports::run(state.clone())),
    );
    spawn(
        "retention",
        Box::pin(crate::retention::sweep::run(state.clone())),
    );
    spawn(
        "ownership",
        Box::pin(crate::fleet::ownership::run(state.clone())),
    );
    spawn(
        "hand-off drain",
        Box::pin(crate::perception::consumers::drain(state.clone())),
    );
    spawn("review", Box::pin(crate::review::run(state.clone())));
    spawn(
        "playback leases",
        Box::pin(crate::playback::lease::run(state.clone())),
    );
    spawn("mqtt", Box::pin(crate::mqtt::run(state.clone())));
    spawn(
        "webhooks",
        Box::pin(crate::webhooks::delivery::run(state.clone())),
    );
    if state.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Events written by other instances sharing the database.
        spawn(
            "event listener",
            Box::pin(crate::events::bus::listen(state.clone(), newest)),
        );
    }
    workers
}

/// State for a maintenance command: the database opened and migrated, no listener.
pub async fn admin_state(config: Config) -> Result<AppState, StartError> {
    open_state(config, Arc::new(SystemClock)).await
}

/// Opens and migrates the database, loads the token secret, and builds the state.
async fn open_state(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
    let db = crate::db::connect(&config).await?;
    crate::db::migrate(&db).await?;
    let secret = crate::auth::token::load_secret(&config).map_err(StartError::Other)?;
    Ok(AppState::new(config, db, clock, &secret))
}

/// Logs how a background worker ended: returned (a loop that should run forever), panicked,
/// or was cancelled.
fn report_exit(ended: &Result<&'static str, tokio::task::JoinError>) {
    match ended {
        Ok(name) => tracing::error!(worker = name, "background worker returned; stopping"),
        Err(err) if err.is_panic() => {
            tracing::error!(error = %err, "a background worker panicked; stopping")
        }
        Err(err) => tracing::error!(error = %err, "a background worker was cancelled; stopping"),
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal during start-up is not lost (or fatal).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = int => tracing::info!("SIGINT received; shutting down"),
                _ = term => tracing::info!("SIGTERM received; shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("interrupted; shutting down");
        }
    }
}
