//! Connecting to SQLite or PostgreSQL, and migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::Config;

/// Opens the pool for the configured database; creates the SQLite file and data dir if needed.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let url = config.effective_database_url();
    if url.starts_with("sqlite:") && config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|err| {
            DbErr::Custom(format!(
                "cannot create data dir {}: {err}",
                config.data_dir.display()
            ))
        })?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(config.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(20))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(15))
                .foreign_keys(true)
        });
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Whether the database answers and every migration is applied: `Err` names what is wrong.
pub async fn readiness(db: &DatabaseConnection) -> Result<(), &'static str> {
    match tokio::time::timeout(Duration::from_secs(3), db.ping()).await {
        Ok(Ok(())) => {}
        _ => return Err("database"),
    }
    match tokio::time::timeout(Duration::from_secs(3), Migrator::get_pending_migrations(db)).await {
        Ok(Ok(pending)) if pending.is_empty() => Ok(()),
        Ok(Ok(_)) => Err("migrations"),
        _ => Err("database"),
    }
}
