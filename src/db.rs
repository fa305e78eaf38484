//! Connecting to SQLite or PostgreSQL, and migrations.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::Config;

/// Opens the pool for the configured database; creates the data dir (`0700`) and the SQLite
/// file (`0600`) if needed.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let url = config.effective_database_url();
    let embedded = url.starts_with("sqlite:") && config.database_url.is_none();
    private_dir(&config.data_dir).map_err(|err| {
        DbErr::Custom(format!(
            "cannot create data dir {}: {err}",
            config.data_dir.display()
        ))
    })?;
    let synchronous = if config.sqlite_synchronous == "normal" {
        SqliteSynchronous::Normal
    } else {
        SqliteSynchronous::Full
    };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(config.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(20))
        // A connection is pinged before use only after 30 s idle (when a PostgreSQL server
        // may have dropped it), not on every acquire: on SQLite each ping is a round trip to
        // the connection's thread, and an ingest batch acquires twice.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(15))
                .foreign_keys(true)
        });
    let db = Database::connect(options).await?;
    if embedded {
        // Camera passwords are in it: readable by the server's user only.
        for suffix in ["", "-wal", "-shm"] {
            let file = config.data_dir.join(format!("heldar.db{suffix}"));
            if file.exists() {
                private_file(&file).map_err(|err| {
                    DbErr::Custom(format!("cannot restrict {}: {err}", file.display()))
                })?;
            }
        }
    }
    Ok(db)
}

/// Creates `dir` (and its parents) if needed and makes it `0700`: recordings, exports, the
/// JWT secret and the database live under it.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Makes `file` `0600`.
fn private_file(file: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
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

/// How a claim went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The claimer holds the row now (it inserted it, renewed its own claim, or took over).
    Won,
    /// Someone else holds it.
    Lost,
    /// What the row would refer to is gone (a foreign key failed): nothing to claim.
    Gone,
}

/// The one claim rule, for camera ownership, AI leases and queued jobs: insert the row if
/// nobody holds its key (`insert`, on conflict with its key column do nothing); otherwise
/// update the existing row where `claimable` holds (it is the claimer's own, has lapsed, or is
/// still queued), setting `set`. The condition is part of the UPDATE, so of two claimers
/// exactly one wins, on SQLite and on PostgreSQL alike.
pub async fn claim<E>(
    db: &impl sea_orm::ConnectionTrait,
    insert: Option<(E::ActiveModel, E::Column)>,
    row: sea_orm::Condition,
    claimable: sea_orm::Condition,
    set: Vec<(E::Column, sea_orm::sea_query::SimpleExpr)>,
) -> Result<Claim, crate::error::AppError>
where
    E: sea_orm::EntityTrait,
    E::ActiveModel: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    use sea_orm::QueryFilter;
    use sea_orm::sea_query::OnConflict;
    if let Some((active, key)) = insert {
        let inserted = E::insert(active)
            .on_conflict(OnConflict::column(key).do_nothing().to_owned())
            .exec_without_returning(db)
            .await;
        match inserted {
            Ok(1) => return Ok(Claim::Won),
            Ok(_) => {}
            Err(err) if crate::error::is_foreign_key_violation(&err) => return Ok(Claim::Gone),
            Err(err) => return Err(err.into()),
        }
    }
    let mut update = E::update_many().filter(row).filter(claimable);
    for (column, value) in set {
        update = update.col_expr(column, value);
    }
    Ok(if update.exec(db).await?.rows_affected == 1 {
        Claim::Won
    } else {
        Claim::Lost
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    /// The bundled SQLite is built with `SQLITE_ENABLE_QPSG` (`.cargo/config.toml`): without
    /// it every `LIMIT ?` statement (each SeaORM `.one()`) is prepared again whenever its
    /// binding changes, a cost paid on every camera lookup of every ingest batch.
    #[tokio::test]
    async fn the_embedded_sqlite_keeps_its_plans_whatever_the_bindings() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::connect(&crate::config::Config::for_tests(dir.path()))
            .await
            .unwrap();
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) AS n FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'",
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(
            n, 1,
            "the linked SQLite lacks ENABLE_QPSG: is LIBSQLITE3_FLAGS from .cargo/config.toml overridden?"
        );
    }
}
